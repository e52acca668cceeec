"""People's identities across sources: one person node per directory employee, and every id,
account and name a source knows them by, resolved explicitly and never by guess.

An account (a Slack user id, a GitHub login, a document's author field, a transcript's
speaker name) joins a directory person when its id *is* the employee id, or when its name
is the full name of exactly one employee (among the people the artifact names, when it
names some, else in the whole directory). Two people who share a name are never merged:
an account whose name fits several employees stays a person of its own, with the
candidates kept on it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(r"[a-z0-9]+")


def norm(text: str | None) -> str:
    """A name or title folded for matching: no accents or case, words joined by one space."""
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return " ".join(TOKEN.findall(folded.lower()))


@dataclass
class Person:
    """A directory person as the graph keeps them."""

    node: str
    employee_id: str
    name: str
    attrs: dict[str, str]
    doc: str


@dataclass
class Identities:
    """Directory people by id and by name, and the accounts resolved to them."""

    people: dict[str, Person] = field(default_factory=dict)
    by_id: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[tuple[str, str], str] = field(default_factory=dict)
    unresolved: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, rows: list[dict[str, Any]]) -> Identities:
        """Identities seeded from the directory's person rows (catalog documents)."""
        out = cls()
        for row in rows:
            meta = row["meta"]
            eid = row["native_id"]
            node = f"person:{eid}"
            name = meta.get("name") or row.get("title") or eid
            attrs = {k: meta[k] for k in ("role", "location", "org", "email") if meta.get(k)}
            out.people[node] = Person(node=node, employee_id=eid, name=name, attrs=attrs, doc=row["id"])
            out.by_id[eid.lower()] = node
            if meta.get("email"):
                out.by_id[meta["email"].lower()] = node
            out.by_name[norm(name)].append(node)
        return out

    def by_full_name(self, name: str, among: set[str] | None = None) -> list[str]:
        """Directory people with this full name, narrowed to `among` when that leaves some."""
        found = self.by_name.get(norm(name), [])
        if among:
            narrowed = [n for n in found if n in among]
            if narrowed:
                return narrowed
        return list(found)

    def resolve(self, source: str, account: str | None, name: str | None = None,
                among: set[str] | None = None) -> str | None:
        """The person node of a source account (an id, a login or only a name).

        The account's id is tried as an employee id or e-mail, then its name as one
        employee's full name (or first name, among `among` alone); otherwise the account
        becomes a person of its own (`person:<source>:<account>`), candidates kept.
        """
        if not (account or name):
            return None
        key = (source, (account or "").lower())
        if account and key in self.accounts:
            return self.accounts[key]
        node = self.by_id.get((account or "").lower())
        if node is None and name:
            found = self.by_full_name(name, among)
            if not found and among:
                found = [n for n in among if n in self.people and norm(self.people[n].name).split()[:1] == norm(name).split()]
            if len(found) == 1:
                node = found[0]
            else:
                node = f"person:{source}:{account or norm(name)}"
                self.unresolved[node] = {"name": name or account, "source": source, "candidates": sorted(found)}
        if node is None:
            node = f"person:{source}:{account}"
            self.unresolved[node] = {"name": name or account, "source": source, "candidates": []}
        if account:
            self.accounts[key] = node
        return node
