"""BM25 over a chosen set of chunks, with LanceDB's own tokenizer and scoring.

LanceDB's full-text index scores with statistics (document count, document frequencies,
average length) of the whole table, whatever the filter. For a caller who may read only
part of the table, those statistics would let chunks they cannot read reorder the ones
they can. This module scores candidates with statistics of a given set instead: the same
formula and tokenizer as LanceDB, so over the whole table both give the same scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

K1 = 1.2
B = 0.75


TERMS_TYPE = pa.list_(pa.int64())


def term_ids(text: str) -> list[int]:
    """The terms LanceDB's default full-text tokenizer makes of `text` (stemmed, no stop
    words), each as a 64-bit hash: compact to store and fast to compare."""
    return [term_id(token.text) for token in lance.tokenize(text)]


def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little", signed=True)


def terms_column(texts: Sequence[str]) -> pa.Array:
    """Each text's term ids, as stored beside it for scoring."""
    return pa.array([term_ids(t) for t in texts], type=TERMS_TYPE)


@dataclass(frozen=True)
class CorpusStats:
    """The size and average length (in terms) of the set a ranking is measured against."""

    documents: int
    average_length: float


def top(scores: np.ndarray, ids: pa.Array, k: int) -> list[int]:
    """Positions of the `k` best positive scores, ties broken by id (never by the order the
    candidates came in, which LanceDB's whole-table ranking decides)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        threshold = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        positive = positive[scores[positive] >= threshold]
    names = ids.take(pa.array(positive, pa.int64())).to_pylist()
    order = sorted(range(len(positive)), key=lambda j: (-scores[positive[j]], names[j]))[:k]
    return [int(positive[j]) for j in order]


def score(terms: pa.Array, query_terms: Sequence[int], stats: CorpusStats) -> np.ndarray:
    """BM25 of each candidate's term ids for the query's term ids.

    The candidates must be every chunk of the measured set that holds at least one query
    term: document frequencies are counted among them. A term the query repeats counts
    once for each time, as in LanceDB.
    """
    wanted, repeats = np.unique(np.asarray(query_terms, dtype=np.int64), return_counts=True)
    if len(wanted) == 0 or len(terms) == 0:
        return np.zeros(len(terms))
    flat = np.asarray(terms.flatten(), dtype=np.int64)
    rows = np.asarray(pc.list_parent_indices(terms))
    tf = np.stack([np.bincount(rows[flat == term], minlength=len(terms)) for term in wanted], axis=1)
    df = (tf > 0).sum(axis=0)
    idf = np.log(1.0 + (stats.documents - df + 0.5) / (df + 0.5))
    lengths = np.asarray(pc.list_value_length(terms), dtype=np.float64)
    norm = K1 * (1.0 - B + B * lengths / stats.average_length)
    return ((tf * (K1 + 1.0)) / (tf + norm[:, None]) * idf * repeats).sum(axis=1)
