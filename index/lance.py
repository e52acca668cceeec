"""The chunk store: LanceDB table of chunks with vectors, full-text and metadata columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
from lancedb.index import FTS, BTree

from index.records import Hit, Query
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

TABLE = "chunks"
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
        ]
    )


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Iterable[str]) -> str:
    """A SQL list of string literals."""
    return "(" + ", ".join(quote(v) for v in values) + ")"


class LanceStore:
    """Chunks, vectors and a full-text index in one LanceDB table at `uri`."""

    def __init__(self, uri: str, dimensions: int = DIMENSIONS):
        import lancedb

        self.db = lancedb.connect(uri)
        self.schema = chunk_schema(dimensions)
        if TABLE in self.db.list_tables().tables:
            self.table = self.db.open_table(TABLE)
        else:
            self.table = self.db.create_table(TABLE, schema=self.schema)

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

        Stored rows of those groups that are in neither are deleted; `new_chunks` (with
        vectors) are inserted unless already stored, so a re-run changes nothing.
        """
        keep = keep_ids | {c.id for c in new_chunks}
        groups = sorted(set(group_ids))
        for start in range(0, len(groups), 500):
            where = f"group_id IN {in_list(groups[start : start + 500])}"
            stored = self.table.search().where(where).select(["id"]).limit(None).to_arrow()
            stale = [i for i in stored.column("id").to_pylist() if i not in keep]
            for s in range(0, len(stale), 500):
                self.table.delete(f"id IN {in_list(stale[s : s + 500])}")
        if new_chunks:
            rows = pa.Table.from_pylist([c.model_dump() for c in new_chunks], schema=self.schema)
            self.table.merge_insert("id").when_not_matched_insert_all().execute(rows)

    def optimize(self) -> None:
        """Compact fragments and bring the full-text and scalar indexes up to date."""
        if self.count() == 0:
            return
        names = {i.name for i in self.table.list_indices()}
        if "text_idx" not in names:
            self.table.create_index("text", config=FTS())
        for column in ("group_id", "source", "id"):
            if f"{column}_idx" not in names:
                self.table.create_index(column, config=BTree())
        self.table.optimize()

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        """Hybrid (reciprocal rank fusion of vector and full-text), vector or text search."""
        where = filter_sql(query)
        depth = max(query.k * 3, 30)
        ranked: list[list[dict]] = []
        if query.mode in ("hybrid", "vector") and vector is not None:
            ranked.append(self._vector(vector, where, depth))
        if query.mode in ("hybrid", "text"):
            ranked.append(self._text(query.text, where, depth))
        return fuse(ranked, query.k)

    def _vector(self, vector: np.ndarray, where: str | None, depth: int) -> list[dict]:
        search = self.table.search(vector.astype(np.float32), vector_column_name="vector")
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).select([*HIT_COLUMNS, "_distance"]).to_list()

    def _text(self, text: str, where: str | None, depth: int) -> list[dict]:
        terms = " ".join(t for t in "".join(c if c.isalnum() else " " for c in text).split())
        if not terms:
            return []
        search = self.table.search(terms, query_type="fts", fts_columns="text")
        if where:
            search = search.where(where, prefilter=True)
        return search.limit(depth).select([*HIT_COLUMNS, "_score"]).to_list()


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


def filter_sql(query: Query) -> str | None:
    """The SQL filter for a query's sources, containers, people, dates and principals."""
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
    if query.principals is not None:
        allowed = ["*", *query.principals]
        clauses.append(f"array_has_any(acl, [{', '.join(quote(p) for p in allowed)}])")
    return " AND ".join(clauses) or None


def timestamp(value: datetime) -> str:
    """A SQL timestamp literal."""
    return f"timestamp '{value.strftime('%Y-%m-%d %H:%M:%S')}'"
