"""Structured hops: rows from the DuckDB catalog (messages, pull requests, documents,
meetings, bookmarks) by source, container, group or native id; what a caller may read is
the catalog view it is given."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from index.catalog import Catalog

COLUMNS = (
    "id, source, native_id, kind, group_id, title, url, author, people, created_at, "
    "container, meta, text, acl"
)


class CatalogHops:
    """Read-only structured queries over one catalog (a caller's permitted view, or the whole
    catalog for the trusted local caller)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._cache: dict[tuple, list[dict[str, Any]]] = {}

    def _rows(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        key = (sql, tuple(tuple(p) if isinstance(p, list) else p for p in params))
        if key not in self._cache:
            rows = self.catalog.query(sql + " ORDER BY created_at NULLS LAST, native_id", list(params))
            for row in rows:
                row["meta"] = json.loads(row["meta"] or "{}")
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = rows
        return self._cache[key]

    def in_containers(self, source: str, containers: Sequence[str]) -> list[dict[str, Any]]:
        """Every indexed document of a source in the given containers, oldest first."""
        if not containers:
            return []
        return self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND source = ? "
            "AND container IN (SELECT unnest(?::VARCHAR[]))",
            [source, sorted(containers)],
        )

    def of_source(self, source: str) -> list[dict[str, Any]]:
        """Every indexed document of a source."""
        return self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND source = ?",
            [source],
        )

    def in_groups(self, groups: Sequence[str]) -> list[dict[str, Any]]:
        """Every indexed document of the given groups (a thread, a channel-day), oldest first."""
        if not groups:
            return []
        return self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' "
            "AND group_id IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(set(groups))],
        )

    def by_native_ids(self, native_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Documents by native id (any source)."""
        if not native_ids:
            return {}
        rows = self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND native_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [sorted(set(native_ids))],
        )
        return {r["native_id"]: r for r in rows}
