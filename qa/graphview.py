"""Read access to the enterprise graph of one catalog (or one caller's permitted view):
names for linking, the schema of relations between node types, and relation hops."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from index.graph import EDGES, NAMES, NODES, has_graph, url_key

ARTIFACTS = ("pr", "document", "meeting", "message", "link", "issue")


@dataclass(frozen=True)
class Step:
    """One hop of a path: a relation followed forward (src -> dst) or backward."""

    rel: str
    forward: bool
    to_type: str

    def describe(self) -> str:
        return f"{'' if self.forward else '<-'}{self.rel}{'->' if self.forward else ''} {self.to_type}"


class GraphView:
    """The graph tables of a catalog, queried by hop; names and node types held in memory."""

    def __init__(self, catalog: Any):
        self.catalog = catalog
        self.present = has_graph(catalog)
        self.names: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.types: dict[str, str] = {}
        self.display: dict[str, str] = {}
        self.schema: dict[tuple[str, str, str], int] = {}
        self.directory: set[str] = set()
        self.urls: dict[str, str] = {}
        if not self.present:
            return
        for row in catalog.query(f"SELECT id, type, name, doc, url, native_id FROM {NODES} WHERE type <> 'message'"):
            self.types[row["id"]] = row["type"]
            self.display[row["id"]] = row["name"] or ""
            if row["type"] == "person" and row["doc"]:
                self.directory.add(row["id"])
            for url in (row["url"], row["native_id"]):
                if url and url.startswith("http"):
                    self.urls.setdefault(url_key(url), row["id"])
        for row in catalog.query(f"SELECT node, norm, kind FROM {NAMES}"):
            if row["node"] in self.types:
                self.names[row["norm"]].append((row["node"], row["kind"]))
        for row in catalog.query(
            f"SELECT s.type AS st, e.rel, d.type AS dt, count(*) AS n FROM {EDGES} e "
            f"JOIN {NODES} s ON s.id = e.src JOIN {NODES} d ON d.id = e.dst GROUP BY ALL"
        ):
            self.schema[(row["st"], row["rel"], row["dt"])] = row["n"]

    def type_of(self, node: str) -> str:
        return self.types.get(node) or node.split(":", 1)[0]

    def node_types(self) -> list[str]:
        """Every node type that takes part in a relation, messages aside."""
        return sorted({t for (s, _, d) in self.schema for t in (s, d)} - {"message"})

    def steps_from(self, node_type: str) -> list[Step]:
        """Every relation a node of this type takes part in, either way."""
        out = [Step(rel, True, dt) for (st, rel, dt) in self.schema if st == node_type]
        out += [Step(rel, False, st) for (st, rel, dt) in self.schema if dt == node_type]
        return out

    def nodes(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Node rows by id, attributes parsed."""
        ids = sorted(set(ids))
        if not ids or not self.present:
            return {}
        rows = self.catalog.query(f"SELECT * FROM {NODES} WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        for row in rows:
            row["attrs"] = json.loads(row["attrs"] or "{}")
        return {r["id"]: r for r in rows}

    def follow(self, ids: Sequence[str], step: Step) -> list[dict[str, Any]]:
        """Edges of one step from a set of nodes: rows of (start, end, evidence, at, attrs)."""
        if not ids or not self.present:
            return []
        start, end = ("src", "dst") if step.forward else ("dst", "src")
        rows = self.catalog.query(
            f"SELECT e.{start} AS start, e.{end} AS end, e.evidence, e.at, e.attrs FROM {EDGES} e "
            f"JOIN {NODES} n ON n.id = e.{end} WHERE e.rel = ? AND n.type = ? "
            f"AND e.{start} IN (SELECT unnest(?::VARCHAR[])) ORDER BY e.at NULLS LAST, e.{end}",
            [step.rel, step.to_type, sorted(set(ids))],
        )
        for row in rows:
            row["attrs"] = json.loads(row["attrs"] or "{}")
        return rows

    def names_of(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Every folded name of the given nodes."""
        out: dict[str, list[str]] = defaultdict(list)
        if ids and self.present:
            for row in self.catalog.query(
                f"SELECT node, norm FROM {NAMES} WHERE node IN (SELECT unnest(?::VARCHAR[]))", [sorted(set(ids))]
            ):
                out[row["node"]].append(row["norm"])
        return dict(out)

    def of_type(self, node_type: str) -> list[str]:
        """Every node of a type (message nodes excepted)."""
        return [n for n, t in self.types.items() if t == node_type]

    def nodes_for_native(self, native_ids: Sequence[str]) -> dict[str, str]:
        """Native id -> node id for artifacts."""
        if not native_ids or not self.present:
            return {}
        rows = self.catalog.query(
            f"SELECT native_id, id FROM {NODES} WHERE native_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND type IN ('pr', 'document', 'meeting', 'message', 'link', 'issue')",
            [sorted(set(native_ids))],
        )
        return {r["native_id"]: r["id"] for r in rows}
