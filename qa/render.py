"""Answers as people read them: a person as "Name, Role (id)", a pull request or a link by
its title and URL; companies and values as they are. The typed items stay unchanged."""

from __future__ import annotations

from index.graph import url_key
from qa.graphview import GraphView


def label_items(items: list[str], answer_type: str, graph: GraphView) -> list[str]:
    """A readable label for each typed item of an answer."""
    if answer_type == "person":
        rows = graph.nodes([f"person:{i}" for i in items])
        out = []
        for item in items:
            row = rows.get(f"person:{item}")
            role = ((row or {}).get("attrs") or {}).get("role")
            if row is None:
                out.append(item)
            else:
                out.append(f"{row['name']}, {role} ({item})" if role else f"{row['name']} ({item})")
        return out
    if answer_type in ("pr", "url"):
        out = []
        for item in items:
            title = graph.display.get(graph.urls.get(url_key(item), ""), "")
            out.append(f"{title} ({item})" if title and title != item else item)
        return out
    return list(items)
