"""The chunk store: LanceDB table of chunks with vectors, full-text and metadata columns."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from index import acl_groups, vector_index
from index.acl_groups import AclStats, Visible, acl_group_column
from index.bm25 import (
    TERMS_TYPE,
    CorpusStats,
    analyzed_columns,
    bm25,
    frequencies,
    idf,
    lengths_of,
    query_terms,
    score,
    term_id,
    tokens,
    top,
)
from index.records import Hit, Query
from index.sql import acl_sql, callers, filter_sql, in_list
from index.text_topk import TOLERANCE, OrderMismatch, visible_top
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

TABLE = "chunks"
FTS_COLUMN = "fts_text"
INDEXED = (FTS_COLUMN, "group_id", "source", "id", "acl_group")
DERIVED = (FTS_COLUMN, "terms", "n_terms", "acl_group")
# The text is analyzed once, in index/bm25.py; the index splits its terms and adds nothing.
FTS_OPTIONS = {
    "base_tokenizer": "whitespace", "stem": False, "remove_stop_words": False, "lower_case": False,
    "ascii_folding": False, "max_token_length": None,
}
CACHE_BYTES = 512 * 1024 * 1024
# Versions superseded by an optimize stay this long for readers still on them, then go.
KEEP_VERSIONS = timedelta(hours=1)
CONTAINERS = "container_acl"
CONTAINER_SCHEMA = pa.schema([("ref", pa.string()), ("readers", pa.list_(pa.string()))])
RRF_K = 60
# Lance sizes its CPU work to the cores less two it keeps for I/O, which leaves one on a
# small machine, so the halves of a hybrid search ran one after the other. It reads this
# at its first search.
LANCE_THREADS = "LANCE_CPU_THREADS"


def chunk_schema(dimensions: int = DIMENSIONS) -> pa.Schema:
    """Arrow schema of the chunks table."""
    strings = pa.list_(pa.string())
    return pa.schema(
        [
            ("id", pa.string()),
            ("group_id", pa.string()),
            ("ordinal", pa.int32()),
            ("text", pa.string()),
            ("source", pa.string()),
            ("kind", pa.string()),
            ("title", pa.string()),
            ("url", pa.string()),
            ("container", pa.string()),
            ("doc_ids", strings),
            ("native_ids", strings),
            ("people", strings),
            ("acl", strings),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("updated_at", pa.timestamp("us", tz="UTC")),
            ("vector", pa.list_(pa.float32(), dimensions)),
            (FTS_COLUMN, pa.string()),
            ("terms", TERMS_TYPE),
            ("n_terms", pa.int32()),
            ("acl_group", pa.int64()),
        ]
    )


@dataclass(frozen=True)
class Scope:
    """What a restricted caller may read: the filter of those chunks, and their ACL groups
    with statistics (None when the group tables are not current: rank exhaustively)."""

    sql: str
    visible: Visible | None


class LanceStore:
    """Chunks, vectors and a full-text index in one Lance table under `uri`.

    Reads go through pylance alone (`dataset`, at the version last opened or written);
    writes go through LanceDB, imported on the first write, so a command that only
    searches never pays LanceDB's import.

    Each row also keeps its text analyzed (`fts_text`, `terms`, `n_terms`) and the id of
    its ACL's group (`acl_group`), so that a search restricted to some principals ranks
    text with statistics of what they may read alone (`index/acl_groups.py`,
    `index/text_topk.py`). A chunk whose ACL is a container ref is readable by that
    container's readers, kept in a second table (`container_acl`, as of when the store was
    opened) and resolved into the ACL filter of every restricted search.
    """

    def __init__(self, uri: str, dimensions: int = DIMENSIONS):
        self.uri = uri
        self.schema = chunk_schema(dimensions)
        self._db: Any = None
        self._table: Any = None
        self._stats: dict[tuple[int, str], CorpusStats] = {}
        self._containers: dict[str, list[str]] | None = None
        self._readable: dict[str, list[str]] | None = None
        self._acl_stats: AclStats | None = None
        self._partitions: tuple[int, int | None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        if not self.path(TABLE).exists():
            self._table = self.db.create_table(TABLE, schema=self.schema)
        self.dataset = open_dataset(self.path(TABLE))
        stored = self.dataset.schema
        if any(name not in stored.names for name in DERIVED) or stored.field("terms").type != TERMS_TYPE:
            self._add_derived()

    def path(self, table: str) -> Path:
        """Where one of the store's tables lives."""
        return Path(self.uri) / f"{table}.lance"

    @property
    def db(self) -> Any:
        """The LanceDB connection, for writes."""
        if self._db is None:
            import lancedb

            self._db = lancedb.connect(self.uri)
        return self._db

    @property
    def table(self) -> Any:
        """The chunks as a LanceDB table, for writes."""
        if self._table is None:
            self._table = self.db.open_table(TABLE)
        return self._table

    def _wrote(self) -> None:
        """Read the version just written from now on."""
        self.dataset = open_dataset(self.path(TABLE))

    def _add_derived(self) -> None:
        """Upgrade a table written before rows kept their analyzed text and ACL group:
        rewrite it, then build its indexes again."""
        data = self.dataset.to_table()
        data = data.drop_columns([c for c in DERIVED if c in data.column_names])
        self._table = self.db.create_table(TABLE, with_derived(data), schema=self.schema, mode="overwrite")
        self._wrote()
        self.optimize()

    @property
    def version(self) -> int:
        """The version of the chunks table this store reads."""
        return self.dataset.version

    def count(self, where: str | None = None) -> int:
        """Number of chunks, optionally matching a SQL filter."""
        return self.dataset.count_rows(filter=where)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of `ids` already stored."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            rows = self.dataset.to_table(columns=["id"], filter=f"id IN {in_list(ids[start : start + 500])}")
            found.update(rows.column("id").to_pylist())
        return found

    def replace_groups(
        self, group_ids: Iterable[str], keep_ids: set[str], new_chunks: Sequence[Chunk]
    ) -> None:
        """Make `keep_ids` plus `new_chunks` the whole content of `group_ids`.

        New chunks go in before stale ones go out, so a stop in between leaves the old and
        the new content side by side, never neither; a re-run changes nothing.
        """
        self.add_chunks(new_chunks)
        self.remove_stale(group_ids, keep_ids | {c.id for c in new_chunks})

    def add_chunks(self, new_chunks: Sequence[Chunk]) -> None:
        """Insert chunks (with vectors) that are not stored yet."""
        if new_chunks:
            fields = [f for f in self.schema if f.name not in DERIVED]
            rows = with_derived(pa.Table.from_pylist([c.model_dump() for c in new_chunks], schema=pa.schema(fields)))
            self.table.merge_insert("id").when_not_matched_insert_all().execute(rows)
            self._wrote()

    def remove_stale(self, group_ids: Iterable[str], keep: set[str]) -> None:
        """Delete the stored chunks of `group_ids` whose id is not in `keep`."""
        groups = sorted(set(group_ids))
        for start in range(0, len(groups), 500):
            where = f"group_id IN {in_list(groups[start : start + 500])}"
            stored = self.dataset.to_table(columns=["id"], filter=where)
            stale = [i for i in stored.column("id").to_pylist() if i not in keep]
            for s in range(0, len(stale), 500):
                self.table.delete(f"id IN {in_list(stale[s : s + 500])}")
            if stale:
                self._wrote()

    def group_ids(self) -> set[str]:
        """Every group that has chunks."""
        return set(self.dataset.to_table(columns=["group_id"]).column("group_id").to_pylist())

    def set_containers(self, readers: dict[str, list[str]]) -> None:
        """Store the readers of containers (by ref), replacing what was known of them; refs
        whose readers are unchanged are not written again."""
        known = self.containers()
        changed = {ref: sorted(set(r)) for ref, r in readers.items() if known.get(ref) != sorted(set(r))}
        if not changed:
            return
        rows = pa.Table.from_pylist(
            [{"ref": ref, "readers": r} for ref, r in sorted(changed.items())], schema=CONTAINER_SCHEMA,
        )
        if self.path(CONTAINERS).exists():
            table = self.db.open_table(CONTAINERS)
            table.merge_insert("ref").when_matched_update_all().when_not_matched_insert_all().execute(rows)
        else:
            self.db.create_table(CONTAINERS, rows, schema=CONTAINER_SCHEMA)
        known.update(changed)
        self._readable = None

    def containers(self) -> dict[str, list[str]]:
        """Readers of every known container by ref, as of the first call."""
        if self._containers is None:
            self._containers = {}
            if self.path(CONTAINERS).exists():
                rows = open_dataset(self.path(CONTAINERS)).to_table().to_pylist()
                self._containers = {r["ref"]: list(r["readers"] or []) for r in rows}
        return self._containers

    def readable_refs(self, principals: Sequence[str]) -> list[str]:
        """The container refs whose readers include "*" or one of `principals`."""
        if self._readable is None:
            self._readable = defaultdict(list)
            for ref, readers in self.containers().items():
                for reader in set(readers):
                    self._readable[reader].append(ref)
        return sorted({ref for p in ("*", *callers(principals)) for ref in self._readable.get(p, ())})

    def visible_sql(self, principals: Sequence[str]) -> str:
        """The ACL filter of chunks `principals` may read, container refs resolved."""
        return acl_sql(principals, self.readable_refs(principals))

    def scope(self, principals: Sequence[str]) -> Scope:
        """What `principals` may read, as ACL groups when the group tables are current."""
        refs = self.readable_refs(principals)
        stats = self.acl_stats()
        if not stats.current:
            return Scope(acl_sql(principals, refs), None)
        visible = stats.visible({"*", *callers(principals), *refs})
        return Scope(visible.sql(), visible)

    def acl_stats(self) -> AclStats:
        """The ACL group tables, when they describe this version of the chunks."""
        if self._acl_stats is None or self._acl_stats.version != self.dataset.version:
            self._acl_stats = AclStats(Path(self.uri), self.dataset.version)
        return self._acl_stats

    def missing_indexes(self) -> list[str]:
        """The indexes a non-empty table should have and does not."""
        if self.count() == 0:
            return []
        names = {i.name for i in self.dataset.describe_indices()}
        return [f"{column}_idx" for column in INDEXED if f"{column}_idx" not in names]

    def optimize(self) -> None:
        """Compact fragments, bring the indexes up to date (the full-text index built again
        when its scores have drifted from the table's BM25, new vectors assigned to the
        vector index's public-trained partitions), give the table its vector index when it
        qualifies, and derive the ACL group tables.

        LanceDB's own `optimize` is not used: it re-partitions the vector index as it adds
        rows (splitting a partition by k-means over all its vectors), so chunks a caller
        cannot read would decide which partitions they search."""
        if self.count() == 0:
            return
        for name in self.missing_indexes():
            column = name.removesuffix("_idx")
            self.table.create_index(column, config=index_config(column))
        self._wrote()
        self.dataset.optimize.compact_files()
        self._wrote()
        self.dataset.optimize.optimize_indices(index_names=[f"{column}_idx" for column in INDEXED])
        self._wrote()
        vector_index.absorb(self.dataset)
        self._wrote()
        self.dataset.cleanup_old_versions(older_than=KEEP_VERSIONS)
        self.table.checkout_latest()
        if not full_text_current(self.dataset):
            self.table.create_index(FTS_COLUMN, config=index_config(FTS_COLUMN), replace=True)
            self._wrote()
        if vector_index.ensure_index(self.dataset, self.visible_sql([])) is not None:
            self.table.checkout_latest()
            self._wrote()
        acl_groups.build(self.db, self.dataset)

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        """Hybrid (reciprocal rank fusion of vector and full-text), vector or text search.

        Each half ranks chunks by id and row id alone; the rows of the fused top `k` are
        then read once, which costs less than reading every candidate of both halves."""
        scope = None if query.principals is None else self.scope(query.principals)
        where = filter_sql(query, None if scope is None else scope.sql)
        depth = max(query.k * 3, 30)
        searches = []
        if query.mode in ("hybrid", "vector") and vector is not None:
            searches.append(partial(self._vector, vector, scope, where, depth))
        if query.mode in ("hybrid", "text"):
            searches.append(partial(self._text, query, scope, where, depth))
        if len(searches) < 2:
            ranked = [run() for run in searches]
        else:
            vector_rows = self.pool().submit(searches[0])
            text_rows = searches[1]()
            ranked = [vector_rows.result(), text_rows]
        return hits(self.dataset, fuse(ranked, query.k))

    def pool(self) -> ThreadPoolExecutor:
        """A thread for the vector half of a hybrid search, which runs beside the text half
        (LanceDB releases the interpreter while it searches)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarry-vector")
        return self._pool

    def _vector(self, vector: np.ndarray, scope: Scope | None, where: str | None, depth: int) -> list[dict]:
        """Nearest chunks (row ids and distances) by vector: through the approximate index,
        reading as many of its partitions as the caller's share of the table needs, all of
        them (exact) for a caller who may read little (`index/vector_index.py`). Chunk ids
        are read for the fused hits alone: reading them here cost a tenth of the search."""
        nearest: dict[str, Any] = {"column": "vector", "q": vector.astype(np.float32), "k": depth}
        partitions = self.vector_partitions()
        visible = None if scope is None or scope.visible is None else scope.visible.chunks
        if partitions is not None:
            nearest["nprobes"] = vector_index.nprobes_for(partitions, visible)
        found = self.dataset.to_table(
            columns=["_distance"], nearest=nearest, filter=where, prefilter=True, with_row_id=True
        )
        return found.to_pylist()

    def vector_partitions(self) -> int | None:
        """Partitions of the vector index at this version (None: no index)."""
        if self._partitions is None or self._partitions[0] != self.dataset.version:
            self._partitions = (self.dataset.version, vector_index.partitions_of(self.dataset))
        return self._partitions[1]

    def _text(self, query: Query, scope: Scope | None, where: str | None, depth: int) -> list[dict]:
        words = tokens(query.text)
        if not words:
            return []
        if scope is None:
            # LanceDB's own ranking: row ids and scores are all fusion needs (chunk ids
            # break ties in Quarry's ranking alone, and cost an eighth of this search).
            return self.full_text(" ".join(words), where, depth, ["_score"]).to_pylist()
        if scope.visible is not None:
            try:
                return self._text_top(words, scope.visible, where, depth)
            except OrderMismatch:
                pass
        return self._text_visible(words, scope.sql, where, depth)

    def _text_top(self, words: list[str], visible: Visible, where: str | None, depth: int) -> list[dict]:
        """Full-text hits ranked by BM25 over the `visible` chunks alone, found without
        scoring every visible chunk that holds a query term (`index/text_topk.py`)."""
        if visible.documents == 0:
            return []
        stats = self.acl_stats()
        wanted, _ = query_terms([term_id(w) for w in words])
        visible_df, table_df = stats.frequencies(visible, wanted.tolist())
        text = " ".join(words)

        def search(limit: int, columns: list[str]) -> pa.Table:
            return self.full_text(text, where, limit, columns)

        def fetch(rowids: list[int]) -> pa.Table:
            return rows_at(self.dataset, rowids, ["id", "terms"])

        found, scores = visible_top(
            search, fetch, words, visible_df, table_df, visible.stats, stats.everything(), depth
        )
        if len(scores) == 0:
            return []
        return self._best(found, scores, depth)

    def _text_visible(self, words: list[str], visible: str, where: str | None, depth: int) -> list[dict]:
        """Full-text hits ranked by BM25 over the `visible` chunks alone, scoring every
        visible chunk that holds a query term (the statistics are counted among them)."""
        stats = self.visible_stats(visible)
        if stats.documents == 0:
            return []
        text = " ".join(words)
        candidates = self.matching(text, visible, stats.documents, ["id", "terms"])
        scores = score(candidates.column("terms").combine_chunks(), [term_id(w) for w in words], stats)
        if where != visible:
            allowed = self.matching(text, where, stats.documents, ["id"]).column("id").combine_chunks()
            scores = np.where(np.asarray(pc.is_in(candidates.column("id"), value_set=allowed)), scores, 0.0)
        return self._best(candidates, scores, depth)

    def _best(self, candidates: pa.Table, scores: np.ndarray, depth: int) -> list[dict]:
        """The `depth` best-scored `candidates` (id and row id), best first, with their
        scores."""
        best = top(scores, candidates.column("id").combine_chunks(), depth)
        chosen = candidates.select(["id", "_rowid"]).take(pa.array(best, pa.int64())).to_pylist()
        return [row | {"_score": float(scores[i])} for row, i in zip(chosen, best, strict=True)]

    def matching(self, text: str, where: str | None, limit: int, columns: list[str]) -> pa.Table:
        """Every chunk under `where` that holds one of the analyzed terms in `text`."""
        return self.full_text(text, where, limit, [*columns, "_score"])

    def full_text(self, text: str, where: str | None, limit: int, columns: list[str]) -> pa.Table:
        """The index's best `limit` chunks under `where` for the analyzed terms `text`, with
        their row ids."""
        query = {"query": text, "columns": [FTS_COLUMN]}
        return self.dataset.to_table(
            columns=columns, full_text_query=query, filter=where, prefilter=True, limit=limit, with_row_id=True
        )

    def visible_stats(self, visible: str) -> CorpusStats:
        """Count and average length of the chunks under `visible` that have any terms (as
        LanceDB counts them), cached for the table's current version only."""
        key = (self.dataset.version, visible)
        if key not in self._stats:
            self._stats = {k: v for k, v in self._stats.items() if k[0] == key[0]}
            where = f"{visible} AND n_terms > 0"
            documents = self.count(where)
            lengths = self.dataset.to_table(columns=["n_terms"], filter=where)
            total = pc.sum(lengths.column("n_terms")).as_py() or 0
            self._stats[key] = CorpusStats(documents, total / documents if documents else 0.0)
        return self._stats[key]


HIT_COLUMNS = [
    "id", "text", "source", "kind", "title", "url", "container", "group_id",
    "doc_ids", "native_ids", "people", "created_at",
]


def fuse(ranked: list[list[dict]], k: int) -> list[tuple[dict, float]]:
    """Reciprocal rank fusion of ranked lists (rows with the `_rowid` of one table
    version) into the top `k` rows, with their fused scores."""
    scores: dict[int, float] = {}
    rows: dict[int, dict] = {}
    for results in ranked:
        for rank, row in enumerate(results):
            scores[row["_rowid"]] = scores.get(row["_rowid"], 0.0) + 1.0 / (RRF_K + rank + 1)
            rows.setdefault(row["_rowid"], row)
    best = sorted(scores, key=lambda i: -scores[i])[:k]
    return [(rows[i], scores[i]) for i in best]


def hits(dataset: Any, fused: list[tuple[dict, float]]) -> list[Hit]:
    """The hits of fused rows (with their row ids in `dataset`)."""
    if not fused:
        return []
    found = rows_at(dataset, [row["_rowid"] for row, _ in fused], HIT_COLUMNS).to_pylist()
    return [to_hit(row, score) for row, (_, score) in zip(found, fused, strict=True)]


def rows_at(dataset: Any, rowids: list[int], columns: list[str]) -> pa.Table:
    """The `columns` (and `_rowid`) of the rows with these row ids in `dataset`, in that
    order. This is the call under LanceDB's `take_row_ids`, made through pylance so that
    reads never import LanceDB; a `_rowid IN (...)` filter gives the same rows at half
    the speed."""
    return dataset._take_rows(rowids, columns=[*columns, "_rowid"])


def to_hit(row: dict, score: float) -> Hit:
    """A search row as a Hit."""
    return Hit(
        chunk_id=row["id"],
        score=score,
        text=row["text"],
        source=row["source"],
        kind=row["kind"],
        title=row["title"] or "",
        url=row["url"],
        container=row["container"],
        group_id=row["group_id"],
        doc_ids=row["doc_ids"] or [],
        native_ids=row["native_ids"] or [],
        people=row["people"] or [],
        created_at=row["created_at"],
    )


def with_derived(rows: pa.Table) -> pa.Table:
    """`rows` with their text analyzed (joined terms, term ids, how many) and the group id
    of their ACL."""
    joined, terms = analyzed_columns(rows.column("text").to_pylist())
    counts = pc.list_value_length(terms).cast(pa.int32())
    groups = acl_group_column(rows.column("acl"))
    return (
        rows.append_column(FTS_COLUMN, joined).append_column("terms", terms)
        .append_column("n_terms", counts).append_column("acl_group", groups)
    )


def index_config(column: str) -> Any:
    """The LanceDB index a column of INDEXED gets."""
    from lancedb.index import FTS, Bitmap, BTree

    if column == FTS_COLUMN:
        return FTS(**FTS_OPTIONS)
    return Bitmap() if column == "acl_group" else BTree()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def full_text_current(dataset: Any, probes: int = 3) -> bool:
    """Whether the full-text index scores as BM25 with the table's own statistics, probed
    with single terms of the first rows. An index that has absorbed deletions and appends
    can keep statistics of rows that are gone, which the top-k ranking of restricted
    callers cannot use (`index/text_topk.py`)."""
    rows = dataset.to_table(columns=[FTS_COLUMN, "n_terms"], filter="n_terms > 0", limit=probes)
    lengths = dataset.to_table(columns=["n_terms"], filter="n_terms > 0").column("n_terms")
    stats = CorpusStats(len(lengths), pc.sum(lengths).as_py() / max(len(lengths), 1))
    for text in rows.column(FTS_COLUMN).to_pylist():
        word = text.split()[0]
        found = dataset.to_table(columns=["terms", "_score"], full_text_query={"query": word, "columns": [FTS_COLUMN]}, limit=200)
        df = dataset.count_rows(filter=f"array_has(terms, {term_id(word)})")
        terms = found.column("terms").combine_chunks()
        tf = frequencies(terms, np.array([term_id(word)]))
        expected = bm25(tf, lengths_of(terms), idf(np.array([df]), stats.documents), stats.average_length)
        if not np.allclose(found.column("_score").to_numpy(), expected, rtol=TOLERANCE, atol=1e-6):
            return False
    return True


def open_dataset(path: Path) -> Any:
    """A Lance table at its latest version, read through pylance (its CPU work sized to
    the machine's cores unless LANCE_CPU_THREADS says otherwise)."""
    import lance

    os.environ.setdefault(LANCE_THREADS, str(cores()))

    return lance.dataset(str(path), index_cache_size_bytes=CACHE_BYTES)
