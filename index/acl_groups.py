"""ACL groups: the chunks that share one ACL, with the statistics full-text ranking needs.

Every chunk's ACL (principals and container refs) is hashed to an `acl_group` id when the
chunk is written. After each optimize two tables are derived from the chunks: `acl_groups`
(one row a group: its ACL, how many of its chunks hold terms and how many terms they hold)
and `acl_terms` (one row a group and term: how many of the group's chunks hold the term).
A caller's visible set is a union of groups, so the statistics of what they may read are
sums over those groups: the cost grows with the groups and the query's terms, not with the
chunks. The tables carry the chunks table version they describe; a reader of any other
version must not use them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import lance
import numpy as np
import pyarrow as pa

from index.bm25 import CorpusStats

GROUPS = "acl_groups"
TERMS = "acl_terms"
CACHED_ENTRIES = 4_000_000  # per-group term counts kept in memory between queries
GROUP_SCHEMA = pa.schema(
    [
        ("acl_group", pa.int64()),
        ("acl", pa.list_(pa.string())),
        ("documents", pa.int64()),
        ("tokens", pa.int64()),
        ("chunks", pa.int64()),
        ("chunks_version", pa.int64()),
        ("terms_version", pa.int64()),
    ]
)


def acl_group(acl: Iterable[str]) -> int:
    """The group id of an ACL: the same for the same set of entries, in any order."""
    key = "\x1f".join(sorted(set(acl)))
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little", signed=True)


def acl_group_column(acls: pa.Array) -> pa.Array:
    """The group id of each row's ACL."""
    return pa.array([acl_group(a or []) for a in acls.to_pylist()], type=pa.int64())


@dataclass(frozen=True)
class Visible:
    """The groups a caller may read, and the size of what they hold: chunks, those with
    terms (`documents`) and their terms."""

    groups: np.ndarray
    documents: int
    tokens: int
    chunks: int

    @property
    def stats(self) -> CorpusStats:
        return CorpusStats(self.documents, self.tokens / self.documents if self.documents else 0.0)

    def sql(self) -> str:
        """The filter of the chunks in these groups."""
        if len(self.groups) == 0:
            return "acl_group IS NULL AND acl_group IS NOT NULL"
        return f"acl_group IN ({', '.join(str(int(g)) for g in self.groups)})"


class AclStats:
    """The derived group tables of one chunks table version (`current` False when there
    are none for it)."""

    def __init__(self, root: Path, chunks_version: int):
        self.root = root
        self.version = chunks_version
        self.current = False
        self._terms: Any = None
        self._postings: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached = 0
        if not (root / f"{GROUPS}.lance").exists():
            return
        rows = lance.dataset(str(root / f"{GROUPS}.lance")).to_table()
        if rows.num_rows == 0 or rows.column("chunks_version")[0].as_py() != chunks_version:
            return
        self.current = True
        self.terms_version = rows.column("terms_version")[0].as_py()
        self.groups = rows.column("acl_group").to_numpy()
        self.documents = rows.column("documents").to_numpy()
        self.tokens = rows.column("tokens").to_numpy()
        self.chunks = rows.column("chunks").to_numpy()
        self.members: dict[str, list[int]] = defaultdict(list)
        for position, acl in enumerate(rows.column("acl").to_pylist()):
            for entry in acl or []:
                self.members[entry].append(position)

    def visible(self, allowed: Iterable[str]) -> Visible:
        """The groups whose ACL names one of `allowed` (principals, "*", container refs)."""
        positions = sorted({p for entry in allowed for p in self.members.get(entry, ())})
        chosen = np.asarray(positions, dtype=np.int64)
        return Visible(
            np.sort(self.groups[chosen]),
            int(self.documents[chosen].sum()),
            int(self.tokens[chosen].sum()),
            int(self.chunks[chosen].sum()),
        )

    def everything(self) -> CorpusStats:
        """The statistics of the whole table (those the full-text index scores with)."""
        documents = int(self.documents.sum())
        return CorpusStats(documents, int(self.tokens.sum()) / documents if documents else 0.0)

    def frequencies(self, visible: Visible, terms: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """How many visible chunks, and how many chunks in all, hold each of `terms`."""
        missing = [t for t in terms if t not in self._postings]
        if missing:
            self._load(missing)
        visible_df, table_df = [], []
        for term in terms:
            groups, df = self._postings[term]
            at = np.searchsorted(visible.groups, groups)
            seen = (at < len(visible.groups)) & (visible.groups[np.minimum(at, len(visible.groups) - 1)] == groups)
            visible_df.append(int(df[seen].sum()) if len(visible.groups) else 0)
            table_df.append(int(df.sum()))
        return np.array(visible_df, dtype=np.int64), np.array(table_df, dtype=np.int64)

    def _load(self, terms: list[int]) -> None:
        """Read the per-group counts of `terms` into the cache (emptied when it holds more
        than `CACHED_ENTRIES` group counts)."""
        if self._terms is None:
            self._terms = lance.dataset(str(self.root / f"{TERMS}.lance"), version=self.terms_version)
        listed = ", ".join(str(int(t)) for t in terms)
        found = self._terms.to_table(columns=["term", "acl_group", "df"], filter=f"term IN ({listed})")
        term = found.column("term").to_numpy()
        groups = found.column("acl_group").to_numpy()
        df = found.column("df").to_numpy().astype(np.int64)
        if self._cached + len(term) > CACHED_ENTRIES:
            self._postings.clear()
            self._cached = 0
        for t in terms:
            mine = term == t
            order = np.argsort(groups[mine])
            self._postings[t] = (groups[mine][order], df[mine][order])
        self._cached += len(term)


def build(db: Any, dataset: Any) -> None:
    """Derive both group tables from the chunks `dataset` (at its version) through the
    LanceDB connection `db`."""
    from lancedb.index import BTree

    version = dataset.version
    con = duckdb.connect()
    con.register("chunks", dataset)
    terms = con.sql(
        "SELECT term, acl_group, count(*)::INTEGER AS df FROM "
        "(SELECT acl_group, unnest(list_distinct(terms)) AS term FROM chunks) "
        "GROUP BY ALL ORDER BY term, acl_group"
    ).to_arrow_table()
    groups = con.sql(
        "SELECT acl_group, any_value(acl) AS acl, count(DISTINCT acl) AS acls, "
        "count(*) AS chunks, count(*) FILTER (WHERE n_terms > 0) AS documents, coalesce(sum(n_terms), 0)::BIGINT AS tokens "
        "FROM chunks GROUP BY acl_group ORDER BY acl_group"
    ).to_arrow_table()
    con.close()
    if groups.num_rows and max(groups.column("acls").to_pylist()) > 1:
        raise ValueError("two different ACLs share one acl_group id; refusing to merge their readers")
    existing = set(db.list_tables().tables)
    written = db.create_table(TERMS, terms, mode="overwrite" if TERMS in existing else "create")
    if terms.num_rows:
        written.create_index("term", config=BTree())
    stamped = pa.table(
        {
            "acl_group": groups.column("acl_group"),
            "acl": groups.column("acl"),
            "documents": groups.column("documents").cast(pa.int64()),
            "tokens": groups.column("tokens"),
            "chunks": groups.column("chunks"),
            "chunks_version": pa.array([version] * groups.num_rows, pa.int64()),
            "terms_version": pa.array([written.version] * groups.num_rows, pa.int64()),
        },
        schema=GROUP_SCHEMA,
    )
    db.create_table(GROUPS, stamped, schema=GROUP_SCHEMA, mode="overwrite" if GROUPS in existing else "create")
