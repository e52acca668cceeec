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
- For any tf and length, doc_weight with A_visible is at most max(1, A_visible / A) times
  doc_weight with A. So V(d) <= R * S(d), with R = max(1, A_visible / A) * max over terms
  of v(t) / w(t). A chunk the index has not returned yet has S(d) no higher than the last
  one returned, so once the k-th best V seen is above R times that, no unread chunk can
  enter the top k; otherwise the index is read further.

Only the first read carries the chunks' terms. A deeper read asks the index for scores
alone, and terms are read (by row id) only for the chunks it added that could still
enter the top k: those with R * S(d) at least the k-th best V so far. Terms cost more to
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

from index.bm25 import CorpusStats, bm25, frequencies, idf, lengths_of, query_terms, term_id

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
    ratio = max(1.0, visible.average_length / everything.average_length) * float(
        np.max(visible_weight[counted] / table_weight[counted])
    )

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
        if threshold > ratio * indexed[-1] * (1 + TOLERANCE):
            break
        limit *= GROWTH
        ranked = search(limit, RANKED)
        indexed = ranked.column("_score").to_numpy().astype(np.float64)
        known = np.concatenate([np.asarray(t.column("_rowid")) for t in scored])
        added = ~np.isin(np.asarray(ranked.column("_rowid")), known)
        contenders = np.flatnonzero(added & (ratio * indexed * (1 + TOLERANCE) >= threshold))
        if len(contenders):
            rowids = ranked.column("_rowid").take(pa.array(contenders, pa.int64()))
            rows = fetch(rowids.to_pylist())
            scored.append(rows.select(["id", "_rowid"]))
            scores.append(exact(rows, indexed[contenders]))
    return pa.concat_tables(scored), np.concatenate(scores)

