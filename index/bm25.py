"""BM25 over a chosen set of chunks, with LanceDB's own scoring.

LanceDB's full-text index scores with statistics (document count, document frequencies,
average length) of the whole table, whatever the filter. For a caller who may read only
part of the table, those statistics would let chunks they cannot read reorder the ones
they can. This module scores candidates with statistics of a given set instead.

Text is tokenized once, here, with LanceDB's English analyzer (stemmed, no stop words);
the tokens are stored space-joined beside the text and the full-text index is built on
them with a whitespace tokenizer and no further filters. The index then counts exactly
the terms and lengths this module counts, so over the whole table both give the same
scores (to float32 precision), and a single-term search of the index lists chunks in the
order of this module's term weight: what `index/text_topk.py` relies on.
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


def tokens(text: str) -> list[str]:
    """The terms LanceDB's English analyzer makes of `text` (stemmed, no stop words)."""
    return [token.text for token in lance.tokenize(text)]


def term_id(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little", signed=True)


def analyzed_columns(texts: Sequence[str]) -> tuple[pa.Array, pa.Array]:
    """Each text's terms space-joined (what the full-text index reads) and as term ids
    (what candidates are scored from)."""
    analyzed = [tokens(t) for t in texts]
    joined = pa.array([" ".join(a) for a in analyzed], type=pa.string())
    ids = pa.array([[term_id(t) for t in a] for a in analyzed], type=TERMS_TYPE)
    return joined, ids


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


def doc_weight(tf: np.ndarray, lengths: np.ndarray, average_length: float) -> np.ndarray:
    """BM25's weight of a term occurring `tf` times in documents of `lengths` terms."""
    norm = K1 * (1.0 - B + B * lengths / average_length)
    return tf * (K1 + 1.0) / (tf + norm)


def idf(df: np.ndarray, documents: int) -> np.ndarray:
    """BM25's inverse document frequency, as LanceDB computes it."""
    return np.log(1.0 + (documents - df + 0.5) / (df + 0.5))


def frequencies(terms: pa.Array, wanted: np.ndarray) -> np.ndarray:
    """How often each of the `wanted` term ids occurs in each candidate (rows x terms)."""
    flat = np.asarray(terms.flatten(), dtype=np.int64)
    rows = np.asarray(pc.list_parent_indices(terms))
    return np.stack([np.bincount(rows[flat == term], minlength=len(terms)) for term in wanted], axis=1)


def lengths_of(terms: pa.Array) -> np.ndarray:
    """Each candidate's length in terms."""
    return np.asarray(pc.list_value_length(terms), dtype=np.float64)


def bm25(tf: np.ndarray, lengths: np.ndarray, weights: np.ndarray, average_length: float) -> np.ndarray:
    """BM25 of each candidate (rows of `tf`): the sum over the query's terms of the term's
    weight (idf times repeats) times its term weight in the candidate."""
    return (doc_weight(tf, lengths[:, None], average_length) * weights).sum(axis=1)


def query_terms(query: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct term ids of a query and how many times it repeats each (a repeated term
    counts once for each time, as in LanceDB)."""
    return np.unique(np.asarray(query, dtype=np.int64), return_counts=True)


def score(terms: pa.Array, query: Sequence[int], stats: CorpusStats) -> np.ndarray:
    """BM25 of each candidate's term ids for the query's term ids.

    The candidates must be every chunk of the measured set that holds at least one query
    term: document frequencies are counted among them.
    """
    wanted, repeats = query_terms(query)
    if len(wanted) == 0 or len(terms) == 0:
        return np.zeros(len(terms))
    tf = frequencies(terms, wanted)
    weights = idf((tf > 0).sum(axis=0), stats.documents) * repeats
    return bm25(tf, lengths_of(terms), weights, stats.average_length)
