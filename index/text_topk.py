"""The best full-text matches among what a caller may read, without scoring every match.

The ranking is BM25 with the statistics of the visible chunks alone (`index/bm25.py`), so
a caller's results are those of a store that never held what they may not read. Scoring
every visible chunk that holds a query term costs as much as there are such chunks; this
module finds the same top k by reading the full-text index's own ranking only as deep as
a bound requires (the threshold idea of Fagin, Lotem and Naor):

- The index ranks the chunks under the caller's filter by BM25 with whole-table
  statistics: S(d) = sum over terms of w(t) * doc_weight(tf, length, A), with w the
  whole-table idf (times the term's repeats) and A the whole-table average length.
- Every chunk it returns is scored exactly with the visible statistics: V(d) = sum of
  v(t) * doc_weight(tf, length, A_visible).
- For any tf and length, doc_weight with A_visible is at most F = max(1, A_visible / A)
  times doc_weight with A, and always below k1 + 1. So the most V(d) can be for a chunk
  with S(d) <= s is the fractional knapsack M(s): give each term a doc weight below
  k1 + 1, spending w(t) / F of the budget s per unit and earning v(t), terms with the
  best v / w first. M(s) is at most F * s * max v / w, and much less when no one term can
  reach s alone, as in most multi-term questions. A chunk the index has not returned yet
  has S(d) no higher than the last one returned, so once the k-th best V seen is above M
  of that, no unread chunk can enter the top k; otherwise the index is read further.

Only the first read carries the chunks' terms. A deeper read asks the index for scores
alone, and terms are read (by row id) only for the chunks it added that could still
enter the top k: those with M(S(d)) at least the k-th best V so far. Terms cost more to
read than the index costs to rank, so a deep read costs little more than the ranking.

Chunks are told apart by row id, so a deeper read that orders ties otherwise scores
each chunk once.

The index's scores are checked against S for every chunk whose terms are read (they
agree when the index is current); a mismatch raises `OrderMismatch`, and the caller
scores every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from index.bm25 import K1, CorpusStats, bm25, frequencies, idf, lengths_of, query_terms, term_id

FIRST_READ = 2
GROWTH = 4
TOLERANCE = 1e-4  # the index scores in float32
SCORED = ["id", "terms", "_score"]
RANKED = ["_score"]

# search(limit, columns): the index's best `limit` chunks for the query under the caller's
# filter, best first, with `_rowid` and `columns`.
Search = Callable[[int, list[str]], pa.Table]
# fetch(row ids): those chunks' `id`, `terms` and `_rowid`, in that order.
Fetch = Callable[[list[int]], pa.Table]


class OrderMismatch(RuntimeError):
    """The index scored chunks otherwise than BM25 with the whole table's statistics."""


def most_visible(visible_weight: np.ndarray, table_weight: np.ndarray, factor: float) -> Callable[[np.ndarray], np.ndarray]:
    """M: the highest visible score of any chunk whose whole-table score is at most each of
    the given ones (terms weighted `visible_weight` and `table_weight`; `factor` bounds
    how much more a term weighs in a chunk under the visible average length)."""
    held = table_weight > 0
    gain = visible_weight[held] / table_weight[held]
    order = np.argsort(-gain, kind="stable")
    gain = gain[order]
    cost = np.cumsum(table_weight[held][order] * (K1 + 1.0))
    value = np.cumsum(visible_weight[held][order] * (K1 + 1.0))

    def most(scores: np.ndarray) -> np.ndarray:
        budget = factor * np.asarray(scores, dtype=np.float64)
        full = np.searchsorted(cost, budget, side="right")
        spent = np.where(full > 0, cost[np.maximum(full - 1, 0)], 0.0)
        earned = np.where(full > 0, value[np.maximum(full - 1, 0)], 0.0)
        rest = np.where(full < len(gain), (budget - spent) * gain[np.minimum(full, len(gain) - 1)], 0.0)
        return earned + rest

    return most


def visible_top(
    search: Search,
    fetch: Fetch,
    words: Sequence[str],
    visible_df: np.ndarray,
    table_df: np.ndarray,
    visible: CorpusStats,
    everything: CorpusStats,
    k: int,
) -> tuple[pa.Table, np.ndarray]:
    """Chunks (`id`, `_rowid`) that include the exact top `k` by visible BM25, and their
    visible scores.

    `words` are the query's analyzed terms; `visible_df` and `table_df` how many visible
    and stored chunks hold each distinct term (in `query_terms` order).
    """
    wanted, repeats = query_terms([term_id(w) for w in words])
    visible_weight = np.where(visible_df > 0, idf(visible_df, visible.documents) * repeats, 0.0)
    table_weight = np.where(table_df > 0, idf(table_df, everything.documents) * repeats, 0.0)
    counted = visible_weight > 0
    if not counted.any():
        return pa.table({"id": pa.array([], pa.string()), "_rowid": pa.array([], pa.uint64())}), np.zeros(0)
    most = most_visible(visible_weight, table_weight, max(1.0, visible.average_length / everything.average_length))

    def exact(rows: pa.Table, indexed: np.ndarray) -> np.ndarray:
        """The visible scores of `rows` (with terms), once their index scores are checked."""
        terms = rows.column("terms").combine_chunks()
        tf = frequencies(terms, wanted) if len(terms) else np.zeros((0, len(wanted)))
        lengths = lengths_of(terms)
        if not np.allclose(indexed, bm25(tf, lengths, table_weight, everything.average_length), rtol=TOLERANCE, atol=1e-6):
            raise OrderMismatch("the full-text index's scores are not BM25 of the whole table")
        return bm25(tf, lengths, visible_weight, visible.average_length)

    limit = FIRST_READ * k
    ranked = search(limit, SCORED)
    indexed = ranked.column("_score").to_numpy().astype(np.float64)
    scored = [ranked.select(["id", "_rowid"])]
    scores = [exact(ranked, indexed)]
    while ranked.num_rows == limit:
        best = np.sort(np.concatenate(scores))[::-1]
        threshold = best[k - 1] if len(best) >= k else -np.inf
        if threshold > most(indexed[-1:] * (1 + TOLERANCE))[0]:
            break
        limit *= GROWTH
        ranked = search(limit, RANKED)
        indexed = ranked.column("_score").to_numpy().astype(np.float64)
        known = np.concatenate([np.asarray(t.column("_rowid")) for t in scored])
        added = ~np.isin(np.asarray(ranked.column("_rowid")), known)
        contenders = np.flatnonzero(added & (most(indexed * (1 + TOLERANCE)) >= threshold))
        if len(contenders):
            rowids = ranked.column("_rowid").take(pa.array(contenders, pa.int64()))
            rows = fetch(rowids.to_pylist())
            scored.append(rows.select(["id", "_rowid"]))
            scores.append(exact(rows, indexed[contenders]))
    return pa.concat_tables(scored), np.concatenate(scores)

