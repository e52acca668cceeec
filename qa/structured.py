"""Structured hops: rows from the DuckDB catalog (messages, pull requests, documents,
meetings, bookmarks), filtered by container, kind and reader."""

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
    """Read-only structured queries over the catalog, restricted to what a principal may read."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._cache: dict[tuple, list[dict[str, Any]]] = {}

    def _rows(self, sql: str, params: Sequence[Any], principal: str | None) -> list[dict[str, Any]]:
        key = (sql, tuple(tuple(p) if isinstance(p, list) else p for p in params), principal)
        if key not in self._cache:
            acl = ""
            args = list(params)
            if principal is not None:
                acl = " AND list_has_any(acl, ['*', ?])"
                args.append(principal)
            rows = self.catalog.query(sql + acl + " ORDER BY created_at NULLS LAST, native_id", args)
            for row in rows:
                row["meta"] = json.loads(row["meta"] or "{}")
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = rows
        return self._cache[key]

    def in_containers(
        self, source: str, containers: Sequence[str], principal: str | None = None
    ) -> list[dict[str, Any]]:
        """Every indexed document of a source in the given containers, oldest first."""
        if not containers:
            return []
        return self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND source = ? "
            "AND container IN (SELECT unnest(?::VARCHAR[]))",
            [source, sorted(containers)],
            principal,
        )

    def of_source(self, source: str, principal: str | None = None) -> list[dict[str, Any]]:
        """Every indexed document of a source."""
        return self._rows(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND source = ?",
            [source],
            principal,
        )

    def by_native_ids(self, native_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Documents by native id (any source)."""
        if not native_ids:
            return {}
        rows = self.catalog.query(
            f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND native_id IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [sorted(set(native_ids))],
        )
        return {r["native_id"]: r for r in rows}

    def links(self, urls: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Bookmarked links by URL, matching http and https spellings."""
        wanted = {u.rstrip("/").split("://", 1)[-1]: u for u in urls}
        if not wanted:
            return {}
        rows = self.catalog.query(
            "SELECT native_id, title, url FROM documents WHERE status = 'indexed' "
            "AND source = 'links'"
        )
        found = {}
        for row in rows:
            key = row["native_id"].rstrip("/").split("://", 1)[-1]
            if key in wanted:
                found[wanted[key]] = row
        return found
