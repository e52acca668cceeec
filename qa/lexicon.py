"""The vocabulary of a store, learned from its catalog: entities, roles, customers, people,
document types, and how names map to ids."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from index.catalog import Catalog
from index.profile import NAME_CHANGE, load_profiles

ID_TOKEN = re.compile(r"[A-Za-z0-9][\w-]*[A-Za-z0-9]")


@dataclass
class Lexicon:
    """Names the answerer can recognise in a question and resolve to ids."""

    aliases: dict[str, str] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)
    doc_types: list[str] = field(default_factory=list)
    employees: dict[str, dict] = field(default_factory=dict)
    customers: dict[str, dict] = field(default_factory=dict)
    profiles: list[dict] = field(default_factory=list)
    names_of: dict[str, list[str]] = field(default_factory=dict)
    ids_by_name: dict[str, list[str]] = field(default_factory=dict)
    naming: dict[str, list[str]] = field(default_factory=dict)
    _ids: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._ids = {i.lower(): (i, "employee") for i in self.employees}
        self._ids.update({i.lower(): (i, "customer") for i in self.customers})

    def ids_in(self, text: str, kind: str | None = None, mentioned: bool = False) -> list[str]:
        """Directory ids (of `kind`: employee or customer) written in a text, in order, no
        repeats; `mentioned` keeps only @-mentions. Ids are the directory's own, whatever
        their shape."""
        out = []
        for m in ID_TOKEN.finditer(text or ""):
            if mentioned and text[max(0, m.start() - 1) : m.start()] != "@":
                continue
            found = self._ids.get(m.group(0).lower())
            if found and (kind is None or found[1] == kind) and found[0] not in out:
                out.append(found[0])
        return out

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Lexicon:
        profiles, aliases = load_profiles(catalog)
        employees = {r["employee_id"]: r for r in catalog.query("SELECT * FROM employees")}
        customers = {r["customer_id"]: r for r in catalog.query("SELECT * FROM customers")}
        doc_types = [
            r["t"]
            for r in catalog.query(
                "SELECT DISTINCT coalesce(meta->>'doc_type', title) AS t FROM documents "
                "WHERE source = 'docs' AND status = 'indexed'"
            )
            if r["t"]
        ]
        names_of: dict[str, list[str]] = defaultdict(list)
        for alias, entity in aliases.items():
            names_of[entity].append(alias)
        ids_by_name: dict[str, list[str]] = defaultdict(list)
        for eid, row in employees.items():
            if row.get("name"):
                ids_by_name[row["name"].lower()].append(eid)
        return cls(
            aliases=aliases,
            naming=naming_groups(catalog, aliases),
            roles=sorted({r["role"] for r in employees.values() if r.get("role")}, key=len, reverse=True),
            companies=sorted({r["company"] for r in customers.values() if r.get("company")}),
            doc_types=sorted(set(doc_types), key=len, reverse=True),
            employees=employees,
            customers=customers,
            profiles=profiles,
            names_of=dict(names_of),
            ids_by_name=dict(ids_by_name),
        )

    def role_of(self, person: str) -> str:
        """The directory role of an employee id ('' when unknown)."""
        return (self.employees.get(person) or {}).get("role") or ""

    def company_of(self, customer: str) -> str:
        """The company of a customer id ('' when unknown)."""
        return (self.customers.get(customer) or {}).get("company") or ""

    def customers_of(self, company: str) -> set[str]:
        """Customer ids of a company."""
        return {c for c, r in self.customers.items() if (r.get("company") or "").lower() == company.lower()}

    def resolve_person(self, name: str) -> list[str]:
        """Employee ids with a given full name."""
        return self.ids_by_name.get(name.strip().lower(), [])

    def find_entity(self, text: str) -> str | None:
        """The entity named in a text, by its longest alias found as a word."""
        best: tuple[int, str] | None = None
        lowered = text.lower()
        for alias, entity in self.aliases.items():
            if len(alias) < 3:
                continue
            pattern = rf"(?<![a-z0-9]){re.escape(alias.lower())}(?![a-z0-9])"
            if re.search(pattern, lowered) and (best is None or len(alias) > best[0]):
                best = (len(alias), entity)
        return best[1] if best else None

    def containers_of(self, entity: str, source: str | None = None, purpose: str | None = None) -> list[dict]:
        """Profiles of the containers that belong to an entity."""
        return [
            p
            for p in self.profiles
            if p.get("entity") == entity
            and (source is None or p["source"] == source)
            and (purpose is None or p.get("purpose") == purpose)
        ]


def naming_groups(catalog: Catalog, aliases: dict[str, str]) -> dict[str, list[str]]:
    """Entity -> groups (channel-days) of the discussions that renamed it: the evidence that
    a question's name and the data's other names are one product."""
    rows = catalog.query(
        "SELECT group_id, text FROM documents WHERE source = 'slack' AND status = 'indexed' "
        "AND text LIKE '%name from %' ORDER BY created_at, native_id"
    )
    out: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        for old, new in NAME_CHANGE.findall(row["text"] or ""):
            entity = aliases.get(new) or aliases.get(old)
            if entity and row["group_id"] not in out[entity]:
                out[entity].append(row["group_id"])
    return dict(out)
