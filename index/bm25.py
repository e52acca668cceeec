"""BM25 over a chosen set of chunks, with LanceDB's own tokenizer and scoring.

LanceDB's full-text index scores with statistics (document count, document frequencies,
average length) of the whole table, whatever the filter. For a caller who may read only
part of the table, those statistics would let chunks they cannot read reorder the ones
they can. This module scores candidates with statistics of a given set instead: the same
formula and tokenizer as LanceDB, so over the whole table both give the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

K1 = 1.2
B = 0.75


def tokenize(text: str) -> list[str]:
    """The terms LanceDB's default full-text tokenizer makes of `text` (stemmed, no stop words)."""
    return [token.text for token in lance.tokenize(text)]


def terms_column(texts: Sequence[str]) -> pa.Array:
    """Each text's terms, as stored beside it for scoring."""
    return pa.array([tokenize(t) for t in texts], type=pa.list_(pa.string()))


@dataclass(frozen=True)
class CorpusStats:
    """The size and average length (in terms) of the set a ranking is measured against."""

    documents: int
    average_length: float


def score(terms: pa.Array, query_terms: Sequence[str], stats: CorpusStats) -> np.ndarray:
    """BM25 of each candidate's `terms` for `query_terms`.

    The candidates must be every chunk of the measured set that holds at least one query
    term: document frequencies are counted among them. A term the query repeats counts
    once for each time, as in LanceDB.
    """
    wanted = list(dict.fromkeys(query_terms))
    repeats = np.array([list(query_terms).count(t) for t in wanted], dtype=np.float64)
    if not wanted or len(terms) == 0:
        return np.zeros(len(terms))
    flat = terms.flatten()
    term_index = pc.index_in(flat, value_set=pa.array(wanted, pa.string()))
    matched = pc.is_valid(term_index)
    rows = np.asarray(pc.list_parent_indices(terms))[np.asarray(matched)]
    columns = np.asarray(term_index.filter(matched), dtype=np.int64)
    tf = np.zeros((len(terms), len(wanted)))
    np.add.at(tf, (rows, columns), 1.0)
    df = (tf > 0).sum(axis=0)
    idf = np.log(1.0 + (stats.documents - df + 0.5) / (df + 0.5))
    lengths = np.asarray(pc.list_value_length(terms), dtype=np.float64)
    norm = K1 * (1.0 - B + B * lengths / stats.average_length)
    return ((tf * (K1 + 1.0)) / (tf + norm[:, None]) * idf * repeats).sum(axis=1)
