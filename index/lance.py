"""The chunk store: LanceDB table of chunks with vectors, full-text and metadata columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.records import RESERVED
from index.bm25 import TERMS_TYPE, CorpusStats, score, term_ids, terms_column, top
from index.records import Hit, Query
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

TABLE = "chunks"
INDEXED = ("text", "group_id", "source", "id")
CONTAINERS = "container_acl"
CONTAINER_SCHEMA = pa.schema([("ref", pa.string()), ("readers", pa.list_(pa.string()))])
RRF_K = 60


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
            ("terms", TERMS_TYPE),
            ("n_terms", pa.int32()),
        ]
    )


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    """A SQL list of string literals."""
    return "(" + ", ".join(quote(v) for v in values) + ")"


class LanceStore:
    """Chunks, vectors and a full-text index in one LanceDB table at `uri`.

    Each row also keeps its text's full-text terms (`terms`, `n_terms`), so that a search
    restricted to some principals ranks text with statistics of what they may read alone.
    A chunk whose ACL is a container ref is readable by that container's readers, kept in
    a second table (`container_acl`, as of when the store was opened) and joined into the
    ACL filter of every restricted search.
    """

    def __init__(self, uri: str, dimensions: int = DIMENSIONS):
        import lancedb

        self.db = lancedb.connect(uri)
        self.schema = chunk_schema(dimensions)
        self._stats: dict[tuple[int, str], CorpusStats] = {}
        self._containers: dict[str, list[str]] | None = None
        if TABLE not in self.db.list_tables().tables:
            self.table = self.db.create_table(TABLE, schema=self.schema)
            return
        self.table = self.db.open_table(TABLE)
        stored = self.table.schema
        if "terms" not in stored.names or stored.field("terms").type != TERMS_TYPE:
            self._add_terms()

    def _add_terms(self) -> None:
        """Upgrade a table written before rows kept their term ids: rewrite it, then build
        its indexes again."""
        data = self.table.to_arrow()
        data = data.drop_columns([c for c in ("terms", "n_terms") if c in data.column_names])
        self.table = self.db.create_table(TABLE, with_terms(data), schema=self.schema, mode="overwrite")
        self.optimize()

    def count(self, where: str | None = None) -> int:
        """Number of chunks, optionally matching a SQL filter."""
        return self.table.count_rows(where)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of `ids` already stored."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            rows = self.table.search().where(f"id IN {in_list(batch)}").select(["id"])
            found.update(rows.limit(len(batch)).to_arrow().column("id").to_pylist())
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
            fields = [f for f in self.schema if f.name not in ("terms", "n_terms")]
            rows = with_terms(pa.Table.from_pylist([c.model_dump() for c in new_chunks], schema=pa.schema(fields)))
            self.table.merge_insert("id").when_not_matched_insert_all().execute(rows)

    def remove_stale(self, group_ids: Iterable[str], keep: set[str]) -> None:
        """Delete the stored chunks of `group_ids` whose id is not in `keep`."""
        groups = sorted(set(group_ids))
        for start in range(0, len(groups), 500):
            where = f"group_id IN {in_list(groups[start : start + 500])}"
            stored = self.table.search().where(where).select(["id"]).limit(None).to_arrow()
            stale = [i for i in stored.column("id").to_pylist() if i not in keep]
            for s in range(0, len(stale), 500):
                self.table.delete(f"id IN {in_list(stale[s : s + 500])}")

    def group_ids(self) -> set[str]:
        """Every group that has chunks."""
        return set(self.table.to_lance().to_table(columns=["group_id"]).column("group_id").to_pylist())

    def set_containers(self, readers: dict[str, list[str]]) -> None:
        """Store the readers of containers (by ref), replacing what was known of them."""
        if not readers:
            return
        rows = pa.Table.from_pylist(
            [{"ref": ref, "readers": sorted(set(r))} for ref, r in sorted(readers.items())],
            schema=CONTAINER_SCHEMA,
        )
        if CONTAINERS in self.db.list_tables().tables:
            table = self.db.open_table(CONTAINERS)
            table.merge_insert("ref").when_matched_update_all().when_not_matched_insert_all().execute(rows)
        else:
            self.db.create_table(CONTAINERS, rows, schema=CONTAINER_SCHEMA)
        self.containers().update((ref, sorted(set(r))) for ref, r in readers.items())

    def containers(self) -> dict[str, list[str]]:
        """Readers of every known container by ref, as of the first call."""
        if self._containers is None:
            self._containers = {}
            if CONTAINERS in self.db.list_tables().tables:
                rows = self.db.open_table(CONTAINERS).to_arrow().to_pylist()
                self._containers = {r["ref"]: list(r["readers"] or []) for r in rows}
        return self._containers

    def visible_sql(self, principals: Sequence[str]) -> str:
        """The ACL filter of chunks `principals` may read, container refs resolved."""
        allowed = {"*", *callers(principals)}
        refs = [ref for ref, readers in self.containers().items() if allowed & set(readers)]
        return acl_sql(principals, sorted(refs))

    def missing_indexes(self) -> list[str]:
        """The indexes a non-empty table should have and does not."""
        if self.count() == 0:
            return []
        names = {i.name for i in self.table.list_indices()}
        return [f"{column}_idx" for column in INDEXED if f"{column}_idx" not in names]

    def optimize(self) -> None:
        """Compact fragments and bring the full-text and scalar indexes up to date."""
        from lancedb.index import FTS, BTree

        if self.count() == 0:
            return
        for name in self.missing_indexes():
            column = name.removesuffix("_idx")
            self.table.create_index(column, config=FTS() if column == "text" else BTree())
        self.table.optimize()

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        """Hybrid (reciprocal rank fusion of vector and full-text), vector or text search."""
        visible = None if query.principals is None else self.visible_sql(query.principals)
        where = filter_sql(query, visible)
        depth = max(query.k * 3, 30)
        ranked: list[list[dict]] = []
        if query.mode in ("hybrid", "vector") and vector is not None:
            ranked.append(self._vector(vector, where, depth))
        if query.mode in ("hybrid", "text"):
            ranked.append(self._text(query, visible, where, depth))
        return fuse(ranked, query.k)

    def _vector(self, vector: np.ndarray, where: str | None, depth: int) -> list[dict]:
        search = self.table.search(vector.astype(np.float32), vector_column_name="vector")
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).select([*HIT_COLUMNS, "_distance"]).to_list()

    def _text(self, query: Query, visible: str | None, where: str | None, depth: int) -> list[dict]:
        text = " ".join("".join(c if c.isalnum() else " " for c in query.text).split())
        if not text:
            return []
        if visible is not None:
            return self._text_visible(text, visible, where, depth)
        search = self.table.search(text, query_type="fts", fts_columns="text")
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).select([*HIT_COLUMNS, "_score"]).to_list()

    def _text_visible(self, text: str, visible: str, where: str | None, depth: int) -> list[dict]:
        """Full-text hits ranked by BM25 over the `visible` chunks alone.

        Every visible chunk that holds a query term is a candidate, so the statistics
        (and with them the order) are those of a table holding only what is visible.
        """
        stats = self.visible_stats(visible)
        if stats.documents == 0:
            return []
        candidates = self.matching(text, visible, stats.documents, ["id", "terms"])
        scores = score(candidates.column("terms").combine_chunks(), term_ids(text), stats)
        ids = candidates.column("id").combine_chunks()
        if where != visible:
            allowed = self.matching(text, where, stats.documents, ["id"]).column("id").combine_chunks()
            scores = np.where(np.asarray(pc.is_in(ids, value_set=allowed)), scores, 0.0)
        best = top(scores, ids, depth)
        names = ids.take(pa.array(best, pa.int64())).to_pylist()
        rows = {r["id"]: r for r in self._rows(names)}
        return [rows[name] | {"_score": float(scores[i])} for name, i in zip(names, best, strict=True)]

    def matching(self, text: str, where: str | None, limit: int, columns: list[str]) -> pa.Table:
        """Every chunk under `where` that holds one of the terms of `text`."""
        search = self.table.search(text, query_type="fts", fts_columns="text")
        return search.where(where, prefilter=True).limit(limit).select([*columns, "_score"]).to_arrow()

    def _rows(self, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        search = self.table.search().where(f"id IN {in_list(ids)}").select(HIT_COLUMNS)
        return search.limit(len(ids)).to_list()

    def visible_stats(self, visible: str) -> CorpusStats:
        """Count and average length of the chunks under `visible` that have any terms (as
        LanceDB counts them), cached for the table's current version only."""
        key = (self.table.version, visible)
        if key not in self._stats:
            self._stats = {k: v for k, v in self._stats.items() if k[0] == key[0]}
            where = f"{visible} AND n_terms > 0"
            documents = self.count(where)
            lengths = self.table.search().where(where).select(["n_terms"]).limit(max(documents, 1))
            total = pc.sum(lengths.to_arrow().column("n_terms")).as_py() or 0
            self._stats[key] = CorpusStats(documents, total / documents if documents else 0.0)
        return self._stats[key]


HIT_COLUMNS = [
    "id", "text", "source", "kind", "title", "url", "container", "group_id",
    "doc_ids", "native_ids", "people", "created_at",
]


def fuse(ranked: list[list[dict]], k: int) -> list[Hit]:
    """Reciprocal rank fusion of ranked lists into the top `k` hits."""
    scores: dict[str, float] = {}
    rows: dict[str, dict] = {}
    for results in ranked:
        for rank, row in enumerate(results):
            scores[row["id"]] = scores.get(row["id"], 0.0) + 1.0 / (RRF_K + rank + 1)
            rows.setdefault(row["id"], row)
    best = sorted(scores, key=lambda i: -scores[i])[:k]
    return [to_hit(rows[i], scores[i]) for i in best]


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


def filter_sql(query: Query, visible: str | None = None) -> str | None:
    """The SQL filter for a query's sources, containers, people and dates, and `visible`
    (the ACL filter of its principals)."""
    clauses = []
    if query.sources:
        clauses.append(f"source IN {in_list(query.sources)}")
    if query.kinds:
        clauses.append(f"kind IN {in_list(query.kinds)}")
    if query.containers:
        clauses.append(f"container IN {in_list(query.containers)}")
    if query.group_ids:
        clauses.append(f"group_id IN {in_list(query.group_ids)}")
    if query.people:
        clauses.append(f"array_has_any(people, [{', '.join(quote(p) for p in query.people)}])")
    if query.since:
        clauses.append(f"created_at >= {timestamp(query.since)}")
    if query.until:
        clauses.append(f"created_at <= {timestamp(query.until)}")
    if visible is not None:
        clauses.append(visible)
    return " AND ".join(clauses) or None


def acl_sql(principals: Sequence[str], refs: Sequence[str] = ()) -> str:
    """The SQL filter for rows readable by everyone, one of `principals` or the readers of
    one of the container `refs`. Reserved principals (`quarry:...`) are no caller's: they
    are dropped from `principals`, so an ACL of `quarry:unresolved` matches nobody."""
    allowed = ["*", *callers(principals), *refs]
    return f"array_has_any(acl, [{', '.join(quote(p) for p in allowed)}])"


def callers(principals: Sequence[str]) -> list[str]:
    """The principals a caller may hold: reserved ones (`quarry:...`) are nobody's."""
    return [p for p in principals if not p.startswith(RESERVED)]


def with_terms(rows: pa.Table) -> pa.Table:
    """`rows` with the full-text terms of their text and how many there are."""
    terms = terms_column(rows.column("text").to_pylist())
    counts = pc.list_value_length(terms).cast(pa.int32())
    return rows.append_column("terms", terms).append_column("n_terms", counts)


def timestamp(value: datetime) -> str:
    """A SQL timestamp literal."""
    return f"timestamp '{value.strftime('%Y-%m-%d %H:%M:%S')}'"
