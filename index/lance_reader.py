"""Read-only search over a store's chunks through pylance alone.

Importing `lancedb` costs 1.3-2 s on 2 cores (its namespace REST client builds some 370
pydantic validators at import, and it loads pandas); `lance` itself loads in a tenth of
that. A command that only searches, as the trusted caller, opens the chunks table with
pylance and runs the same vector and full-text queries on the same indexes: same rows,
same scores, fused the same way as `LanceStore.search`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.lance import HIT_COLUMNS, TABLE, filter_sql, fuse
from index.records import Hit, Query


class LanceReader:
    """Search of the chunks table at `uri` (a LanceDB folder) without importing LanceDB;
    restricted searches (a query with principals) go to `LanceStore`, which ranks text
    with statistics of what the principals may read."""

    def __init__(self, uri: str):
        import lance

        self.uri = uri
        path = Path(uri) / f"{TABLE}.lance"
        self.dataset = lance.dataset(str(path)) if path.exists() else None

    def count(self) -> int:
        """Number of chunks."""
        return self.dataset.count_rows() if self.dataset is not None else 0

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        """Hybrid (reciprocal rank fusion of vector and full-text), vector or text search."""
        if query.principals is not None:
            from index.lance import LanceStore

            return LanceStore(self.uri).search(query, vector)
        if self.dataset is None:
            return []
        where = filter_sql(query)
        depth = max(query.k * 3, 30)
        ranked: list[list[dict]] = []
        if query.mode in ("hybrid", "vector") and vector is not None:
            ranked.append(self._vector(vector, where, depth))
        if query.mode in ("hybrid", "text"):
            ranked.append(self._text(query.text, where, depth))
        return fuse(ranked, query.k)

    def _vector(self, vector: np.ndarray, where: str | None, depth: int) -> list[dict]:
        nearest = {"column": "vector", "q": vector.astype(np.float32), "k": depth}
        return self.dataset.to_table(columns=[*HIT_COLUMNS, "_distance"], nearest=nearest, filter=where,
                                     prefilter=True).to_pylist()

    def _text(self, text: str, where: str | None, depth: int) -> list[dict]:
        text = fts_text(text)
        if not text:
            return []
        return self.dataset.to_table(columns=[*HIT_COLUMNS, "_score"], full_text_query={"query": text, "columns": ["text"]},
                                     filter=where, prefilter=True, limit=depth).to_pylist()


def fts_text(text: str) -> str:
    """A query's words for the full-text index: letters and digits, other characters as spaces."""
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())
