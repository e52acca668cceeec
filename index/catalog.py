"""The catalog: DuckDB tables of documents, cursors, failures, runs and the directory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.records import CONTAINER, RESERVED, Failure, SourceDoc
from index.lock import open_reader, open_writer

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS document_rows (
    id VARCHAR PRIMARY KEY, connector VARCHAR, source VARCHAR, native_id VARCHAR,
    kind VARCHAR, group_id VARCHAR, title VARCHAR, url VARCHAR, author VARCHAR,
    people VARCHAR[], created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, container VARCHAR,
    acl VARCHAR[], meta JSON, text VARCHAR, content_hash VARCHAR, status VARCHAR,
    indexed_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS cursors (
    connector VARCHAR PRIMARY KEY, cursor JSON, updated_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS failures (
    connector VARCHAR, source VARCHAR, native_id VARCHAR, reason VARCHAR,
    run_id VARCHAR, failed_at TIMESTAMPTZ, input VARCHAR, PRIMARY KEY (connector, native_id)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ,
    status VARCHAR, report JSON
);
CREATE TABLE IF NOT EXISTS container_acl (
    ref VARCHAR PRIMARY KEY, connector VARCHAR, readers VARCHAR[], updated_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS pending_groups (
    connector VARCHAR, group_id VARCHAR, run_id VARCHAR, PRIMARY KEY (connector, group_id)
);
CREATE TABLE IF NOT EXISTS store_state (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE OR REPLACE VIEW documents AS
SELECT d.* REPLACE (list_filter(
    CASE WHEN len(d.acl) = 1 AND starts_with(d.acl[1], '{CONTAINER}')
         THEN coalesce(c.readers, []::VARCHAR[]) ELSE d.acl END,
    lambda p: NOT starts_with(p, '{RESERVED}')) AS acl)
FROM document_rows d LEFT JOIN container_acl c ON c.ref = d.acl[1];
CREATE OR REPLACE VIEW employees AS
SELECT native_id AS employee_id, meta->>'name' AS name, meta->>'role' AS role,
       meta->>'location' AS location, meta->>'org' AS org,
       NULLIF(meta->>'manager_id', '') AS manager_id
FROM documents WHERE source = 'directory' AND kind = 'person' AND status = 'indexed';
CREATE OR REPLACE VIEW customers AS
SELECT native_id AS customer_id, meta->>'name' AS name, meta->>'role' AS role,
       meta->>'company' AS company
FROM documents WHERE source = 'directory' AND kind = 'customer' AND status = 'indexed';
"""
DERIVED_STALE = "derived_stale"
CHUNKS_VERIFIED = "chunks_verified"

DOC_COLUMNS = [
    "id", "connector", "source", "native_id", "kind", "group_id", "title", "url", "author",
    "people", "created_at", "updated_at", "container", "acl", "meta", "text", "content_hash",
    "status", "indexed_at",
]


def now() -> datetime:
    return datetime.now(UTC)


class Catalog:
    """DuckDB catalog at `path`: the source of truth for documents and cursors.

    `documents` is a view of the stored rows (`document_rows`) in which each ACL is resolved:
    a container ref becomes that container's readers of the latest sync, and reserved
    entries (`quarry:...`) drop out, so an unresolved ACL is an empty one that no caller
    matches. A reader (`read_only`) sees the last committed state, from a private copy when
    a writer holds the file; a writer waits `wait_s` for the file, then raises StoreLocked.
    """

    def __init__(self, path: Path | str, read_only: bool = False, wait_s: float = 0.0):
        self.path = str(path)
        if read_only:
            self.db, self._copy = open_reader(Path(path))
        else:
            self.db, self._copy = open_writer(Path(path), wait_s), None
            upgrade(self.db)
            self.db.execute(SCHEMA)
        self.db.execute("SET TimeZone = 'UTC'")

    def close(self) -> None:
        self.db.close()
        if self._copy is not None:
            self._copy.cleanup()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return fetch_dicts(self.db, sql, params)

    def cursor(self, connector: str) -> dict[str, Any] | None:
        """The last committed cursor of a connector."""
        row = self.db.execute(
            "SELECT cursor FROM cursors WHERE connector = ?", [connector]
        ).fetchall()
        return json.loads(row[0][0]) if row else None

    def hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hashes of indexed documents among `ids`."""
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT id, content_hash FROM document_rows WHERE status = 'indexed' AND id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [list(ids)],
        ).fetchall()
        return dict(rows)

    def native_ids(self, connector: str) -> dict[str, str]:
        """Native id -> document id of every indexed document of a connector."""
        rows = self.db.execute(
            "SELECT native_id, id FROM document_rows WHERE connector = ? AND status = 'indexed'",
            [connector],
        ).fetchall()
        return dict(rows)

    def group_docs(self, group_ids: Iterable[str]) -> list[SourceDoc]:
        """The indexed documents of the given groups."""
        groups = list(set(group_ids))
        if not groups:
            return []
        rows = self.query(
            "SELECT * FROM document_rows WHERE status = 'indexed' AND group_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [groups],
        )
        return [row_to_doc(r) for r in rows]

    def groups_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Document id -> group id for indexed documents among `ids`."""
        ids = list(ids)
        if not ids:
            return {}
        rows = self.db.execute(
            "SELECT id, group_id FROM document_rows WHERE id IN (SELECT unnest(?::VARCHAR[]))",
            [ids],
        ).fetchall()
        return dict(rows)

    def text_groups(self, connector: str) -> set[str]:
        """Groups of a connector holding an indexed document with text: each has chunks."""
        rows = self.db.execute(
            "SELECT DISTINCT group_id FROM document_rows WHERE connector = ? "
            "AND status = 'indexed' AND trim(text) <> ''",
            [connector],
        ).fetchall()
        return {r[0] for r in rows}

    def pending_groups(self, connector: str) -> set[str]:
        """Groups whose chunks were being rewritten when a sync stopped before committing."""
        rows = self.db.execute(
            "SELECT group_id FROM pending_groups WHERE connector = ?", [connector]
        ).fetchall()
        return {r[0] for r in rows}

    def mark_pending(self, connector: str, run_id: str, groups: Iterable[str]) -> None:
        """Record that the chunks of `groups` are about to change (cleared by `commit`)."""
        rows = [[connector, g, run_id] for g in sorted(set(groups))]
        if rows:
            self.db.executemany("INSERT OR REPLACE INTO pending_groups VALUES (?, ?, ?)", rows)

    def commit(
        self,
        connector: str,
        run_id: str,
        docs: Sequence[SourceDoc] = (),
        failures: Sequence[Failure] = (),
        deleted_ids: Sequence[str] = (),
        cursor: dict[str, Any] | None = None,
        finished: Sequence[str] = (),
        containers: Mapping[str, Sequence[str]] | None = None,
        groups: Iterable[str] = (),
    ) -> None:
        """Record indexed documents, failures, deletions, container readers and the cursor in
        one transaction; failures of earlier runs in the `finished` inputs are cleared, the
        pending mark of `groups` too, and derived tables are marked stale when documents or
        chunks changed."""
        stamp = now()
        self.db.execute("BEGIN")
        try:
            if docs:
                table = docs_table(connector, docs, stamp)
                self.db.register("incoming_docs", table)
                self.db.execute("INSERT OR REPLACE INTO document_rows SELECT * FROM incoming_docs")
                self.db.unregister("incoming_docs")
                self.db.execute(
                    "DELETE FROM failures WHERE connector = ? AND native_id IN "
                    "(SELECT unnest(?::VARCHAR[]))",
                    [connector, [d.native_id for d in docs]],
                )
            if deleted_ids:
                self.db.execute(
                    "UPDATE document_rows SET status = 'deleted', text = '', indexed_at = ? "
                    "WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                    [stamp, list(deleted_ids)],
                )
            groups = sorted(set(groups))
            if docs or deleted_ids or groups:
                self.db.execute(
                    "INSERT OR REPLACE INTO store_state VALUES (?, ?)", [DERIVED_STALE, run_id]
                )
            if finished:
                self.db.execute(
                    "DELETE FROM failures WHERE connector = ? AND run_id <> ? AND input IN "
                    "(SELECT unnest(?::VARCHAR[]))",
                    [connector, run_id, list(finished)],
                )
            for f in failures:
                self.db.execute(
                    "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [connector, f.source, f.native_id, f.reason, run_id, stamp, f.input],
                )
            if containers:
                refs = sorted(containers)
                self.db.execute(
                    "INSERT OR REPLACE INTO container_acl "
                    "SELECT unnest(?::VARCHAR[]), ?, unnest(?::VARCHAR[][]), ?",
                    [refs, connector, [sorted(set(containers[r])) for r in refs], stamp],
                )
            self.db.execute(
                "DELETE FROM pending_groups WHERE connector = ? AND group_id IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [connector, groups],
            )
            if cursor is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)",
                    [connector, json.dumps(cursor), stamp],
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def derived_stale(self) -> bool:
        """Whether documents changed since derived tables were last rebuilt in full."""
        rows = self.db.execute(
            "SELECT 1 FROM store_state WHERE key = ?", [DERIVED_STALE]
        ).fetchall()
        return bool(rows)

    def derived_current(self) -> None:
        """Record that derived tables were rebuilt from the current documents."""
        self.db.execute("DELETE FROM store_state WHERE key = ?", [DERIVED_STALE])

    def chunks_verified(self) -> int | None:
        """The chunk table version at which every indexed group was last known to have its
        chunks (None: never, or not since)."""
        rows = self.db.execute("SELECT value FROM store_state WHERE key = ?", [CHUNKS_VERIFIED]).fetchall()
        return int(rows[0][0]) if rows else None

    def set_chunks_verified(self, version: int) -> None:
        """Record that at chunk table `version` every indexed group has its chunks."""
        self.db.execute("INSERT OR REPLACE INTO store_state VALUES (?, ?)", [CHUNKS_VERIFIED, str(version)])

    def connectors(self) -> set[str]:
        """The connectors that have documents in the catalog."""
        return {r[0] for r in self.db.execute("SELECT DISTINCT connector FROM document_rows").fetchall()}

    def tables(self) -> set[str]:
        """Names of the catalog's tables."""
        return {r[0] for r in self.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    def record_run(self, run_id: str, started: datetime, status: str, report: dict) -> None:
        """Keep a run's report."""
        self.db.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?)",
            [run_id, started, now(), status, json.dumps(report, default=str)],
        )

    def failures(self) -> list[dict[str, Any]]:
        """Every recorded failure, newest first."""
        return self.query(
            "SELECT connector, source, native_id, reason, run_id, failed_at, input FROM failures "
            "ORDER BY failed_at DESC, connector, native_id"
        )

    def stats(self) -> dict[str, Any]:
        """Counts of documents per source and kind, failures, and the last run."""
        per_source = dict(
            self.db.execute(
                "SELECT source, count(*) FROM document_rows WHERE status = 'indexed' GROUP BY 1"
            ).fetchall()
        )
        per_kind = dict(
            self.db.execute(
                "SELECT source || '/' || kind, count(*) FROM document_rows "
                "WHERE status = 'indexed' GROUP BY 1 ORDER BY 1"
            ).fetchall()
        )
        last = self.query("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")
        if last:
            last[0]["report"] = json.loads(last[0]["report"])
        return {
            "documents": per_source,
            "kinds": per_kind,
            "deleted": self.db.execute(
                "SELECT count(*) FROM document_rows WHERE status = 'deleted'"
            ).fetchall()[0][0],
            "failures": self.db.execute("SELECT count(*) FROM failures").fetchall()[0][0],
            "last_run": last[0] if last else None,
        }


def upgrade(db: duckdb.DuckDBPyConnection) -> None:
    """Bring a catalog written by an earlier version to the current layout: documents kept
    in `document_rows` behind the resolving view, failures with the input they came from."""
    tables = {r[0] for r in db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "documents" in tables:
        db.execute("ALTER TABLE documents RENAME TO document_rows")
    if "failures" in tables:
        columns = {r[0] for r in db.execute("DESCRIBE failures").fetchall()}
        if "input" not in columns:
            db.execute("ALTER TABLE failures ADD COLUMN input VARCHAR")
            db.execute("UPDATE failures SET input = native_id")


def fetch_dicts(
    db: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Rows of a read query as dicts."""
    cursor = db.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def docs_table(connector: str, docs: Sequence[SourceDoc], stamp: datetime) -> pa.Table:
    """Documents as an Arrow table in the catalog's column order."""
    rows = [
        {
            "id": d.id, "connector": connector, "source": d.source, "native_id": d.native_id,
            "kind": d.kind, "group_id": d.group, "title": d.title, "url": d.url,
            "author": d.author, "people": d.people, "created_at": d.created_at,
            "updated_at": d.updated_at, "container": d.container, "acl": d.acl,
            "meta": json.dumps(d.meta, sort_keys=True), "text": d.text,
            "content_hash": d.content_hash, "status": "indexed", "indexed_at": stamp,
        }
        for d in docs
    ]
    stamp_type = pa.timestamp("us", tz="UTC")
    strings = pa.list_(pa.string())
    types = {"people": strings, "acl": strings, "created_at": stamp_type,
             "updated_at": stamp_type, "indexed_at": stamp_type}
    schema = pa.schema([(c, types.get(c, pa.string())) for c in DOC_COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)


def row_to_doc(row: dict[str, Any]) -> SourceDoc:
    """A catalog row back as the SourceDoc it was made from."""
    return SourceDoc(
        id=row["id"], source=row["source"], native_id=row["native_id"], kind=row["kind"],
        title=row["title"] or "", text=row["text"] or "", url=row["url"],
        author=row["author"], people=list(row["people"] or []),
        created_at=row["created_at"], updated_at=row["updated_at"],
        container=row["container"], group=row["group_id"], acl=list(row["acl"] or []),
        meta=json.loads(row["meta"] or "{}"),
    )
