"""Views of the store in which only what some principals may read exists.

A `PermittedCatalog` is an in-memory database in which `documents` is a view of a catalog
file's rows whose ACL, resolved at query time (container refs joined with the container
readers of the latest sync), names one of the principals (or "*"); the catalog's other
views are rebuilt over it, and source profiles and aliases are computed from it. A `PermittedStore`
adds the principals to every chunk search. An answerer over the two cannot be shaped by
anything the principals may not read: not its routing, reading, counts or citations.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np

from index.catalog import fetch_dicts
from index.graph import visible_graph_sql
from index.lock import CatalogCopy, copy_catalog, is_lock_conflict
from index.profile import build_profiles
from index.records import Hit, Query
from index.sql import acl_sql, quote


class PermittedCatalog:
    """A read-only catalog of the documents that one of `principals` (or everyone) may read."""

    def __init__(self, snapshot: Path, principals: Sequence[str]):
        self.path = str(snapshot)
        self.db = duckdb.connect(":memory:")
        self.db.execute("SET TimeZone = 'UTC'")
        self._copy = attach_reader(self.db, Path(snapshot))
        self.db.execute(f"CREATE TEMP VIEW documents AS SELECT * FROM src.documents WHERE {acl_sql(principals)}")
        views = self.db.execute(
            "SELECT sql FROM duckdb_views() WHERE database_name = 'src' AND NOT internal "
            "AND view_name <> 'documents'"
        ).fetchall()
        for (sql,) in views:
            self.db.execute(sql.replace("CREATE VIEW", "CREATE TEMP VIEW", 1))
        build_profiles(self)
        tables = {r[0] for r in self.db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall()}
        if "graph_edges" in tables:
            for sql in visible_graph_sql("src"):
                self.db.execute(sql)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return fetch_dicts(self.db, sql, params)

    def close(self) -> None:
        self.db.close()
        if self._copy is not None:
            self._copy.cleanup()


def attach_reader(db: duckdb.DuckDBPyConnection, path: Path) -> CatalogCopy | None:
    """Attach the catalog at `path` read-only as `src`, or a private copy of its last
    committed state when a writer holds it (returned, to be cleaned up)."""
    try:
        db.execute(f"ATTACH {quote(str(path))} AS src (READ_ONLY)")
        return None
    except duckdb.Error as error:
        if not is_lock_conflict(error):
            raise
    copy = copy_catalog(path)
    db.execute(f"ATTACH {quote(str(copy.path))} AS src (READ_ONLY)")
    return copy


class Searchable(Protocol):
    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]: ...


class PermittedStore:
    """A chunk store whose every search is restricted to chunks `principals` may read."""

    def __init__(self, store: Searchable, principals: Sequence[str]):
        self.store = store
        self.principals = list(principals)

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        return self.store.search(query.model_copy(update={"principals": self.principals}), vector)
