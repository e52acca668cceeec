"""Source profiles: what each source and container holds, and the entity names it belongs to.

A profile is built per (source, container) from the catalog: document count, kinds, time
span, the most active people, key terms, and the entity (product) it belongs to. Entity
names are learned from the data itself: Slack channel renames ("beginning of the X
channel", "renamed the channel to Y"), announced name changes ("name from X to Y"),
repository names, document and meeting file prefixes and internal link namespaces.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from index.catalog import Catalog

PROFILE_TABLE = "source_profiles"
ALIAS_TABLE = "entity_aliases"
STOP = {"the", "a", "an", "and", "or", "of", "to", "in", "for", "on", "with", "by", "is", "are", "was", "were", "be", "as", "at", "from", "that", "this", "these", "those", "it", "its", "we", "our", "you", "your", "i", "me", "my", "he", "she", "they", "them", "their", "us", "hi", "team", "thanks", "thank", "can", "could", "would", "should", "will", "just", "so", "if", "not", "but", "have", "has", "had", "do", "does", "did", "also", "more", "all", "any", "some", "what", "which", "who", "how", "about", "let", "lets", "sure", "great", "good", "yes", "no", "up", "out", "get", "got", "here", "there", "one", "new", "like", "think", "need", "make", "been", "into", "than", "then", "over", "only", "very"}
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]{2,}")
CHANNEL_START = re.compile(r"beginning of the ([\w-]+) channel")
CHANNEL_RENAME = re.compile(r"renamed the channel to ([\w-]+)")
NAME_CHANGE = re.compile(r"name from ([A-Za-z][\w-]+) to ([A-Za-z][\w-]+)")
NAMESPACE = re.compile(r"https?://[\w.-]+/archives/([A-Za-z][\w-]*)/")
FILE_NOISE = {"final", "latest", "new", "draft", "v1", "v2"}


def channel_entity(name: str) -> str | None:
    """The entity token of a channel name such as `develop-alice-Product` or `planning-X-PM`."""
    parts = [p for p in name.split("-") if p]
    while parts and parts[-1].isupper() and len(parts[-1]) <= 3:
        parts.pop()
    if len(parts) < 2:
        return None
    token = parts[-1]
    if token.lower() == token or re.fullmatch(r"[0-9a-f]+", token):
        return None
    return token


def channel_kind(name: str) -> str:
    """The channel's purpose prefix (`bug`, `develop`, `planning`, ...)."""
    return name.split("-", 1)[0].lower()


class AliasGraph:
    """Union-find over entity names; each group is one entity known under several names."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.latest: dict[str, str] = {}

    def add(self, name: str) -> None:
        self.parent.setdefault(name, name)

    def find(self, name: str) -> str:
        self.add(name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, old: str, new: str) -> None:
        a, b = self.find(old), self.find(new)
        if a != b:
            self.parent[a] = b
        self.latest[self.find(new)] = new

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for name in self.parent:
            out[self.find(name)].append(name)
        return out

    def canonical(self, root: str, names: list[str], weight: Counter) -> str:
        if root in self.latest:
            return self.latest[root]
        return max(names, key=lambda n: (weight[n], n))


def learn_aliases(catalog: Catalog) -> dict[str, str]:
    """Entity name -> canonical entity name, learned from channels, renames and links."""
    graph = AliasGraph()
    weight: Counter = Counter()
    channels = catalog.query(
        "SELECT container, count(*) AS n FROM documents WHERE source = 'slack' "
        "AND status = 'indexed' GROUP BY 1"
    )
    for row in channels:
        entity = channel_entity(row["container"] or "")
        if entity:
            graph.add(entity)
            weight[entity] += row["n"]
    events = catalog.query(
        "SELECT container, text FROM documents WHERE source = 'slack' AND status = 'indexed' "
        "AND (text LIKE '%beginning of the %' OR text LIKE '%renamed the channel to%' "
        "OR text LIKE '%name from %')"
    )
    for row in events:
        current = channel_entity(row["container"] or "")
        text = row["text"] or ""
        for old in CHANNEL_START.findall(text):
            prior = channel_entity(old)
            if prior and current and prior != current:
                graph.union(prior, current)
        for new in CHANNEL_RENAME.findall(text):
            renamed = channel_entity(new)
            if renamed and current and renamed != current:
                graph.union(current, renamed)
        for old, new in NAME_CHANGE.findall(text):
            graph.union(old, new)
    link_namespaces(catalog, graph)
    groups = graph.groups()
    mapping = {}
    for root, names in groups.items():
        canon = graph.canonical(root, names, weight)
        for name in names:
            mapping[name] = canon
    return mapping


def link_namespaces(catalog: Catalog, graph: AliasGraph) -> None:
    """Join internal link namespaces (`.../archives/<Name>/...`) to the entity whose
    channels share them, when one entity holds most of their mentions."""
    rows = catalog.query(
        "SELECT container, text FROM documents WHERE source = 'slack' AND status = 'indexed' "
        "AND text LIKE '%/archives/%'"
    )
    seen: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        entity = channel_entity(row["container"] or "")
        if not entity:
            continue
        for space in NAMESPACE.findall(row["text"] or ""):
            seen[space][graph.find(entity)] += 1
    known = set(graph.parent)
    for space, owners in seen.items():
        owner, count = owners.most_common(1)[0]
        if space in known or count < 2 or count < 0.8 * sum(owners.values()):
            continue
        if space.lower() in ("docs", "files"):
            continue
        graph.union(space, owner)


def file_entity(name: str, aliases: dict[str, str]) -> str | None:
    """The entity a file name such as `final_alyaix_market_report.md` belongs to."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name.rsplit("/", 1)[-1]).lower()
    lowered = {a.lower(): c for a, c in aliases.items()}
    tokens = [t for t in re.split(r"[_\s.-]+", stem) if t and t not in FILE_NOISE]
    for size in (2, 1):
        for i in range(len(tokens) - size + 1):
            candidate = "_".join(tokens[i : i + size])
            if candidate in lowered:
                return lowered[candidate]
    return None


def container_entity(source: str, container: str, aliases: dict[str, str]) -> str | None:
    """The entity a container of a source belongs to, if any."""
    if not container:
        return None
    if source == "slack":
        token = channel_entity(container)
        return aliases.get(token or "")
    if source == "github":
        return aliases.get(container.rsplit("/", 1)[-1])
    if source == "meetings":
        return aliases.get(container.split("_", 1)[0]) or file_entity(container, aliases)
    return None


def key_terms(texts: Iterable[str], limit: int = 25) -> list[str]:
    """The most frequent content words of some texts."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(
            w.lower() for w in WORD.findall(text or "") if w.lower() not in STOP
        )
    return [w for w, _ in counts.most_common(limit)]


def compute_profiles(catalog: Catalog) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Profiles of every (source, container) and the learned alias map."""
    aliases = learn_aliases(catalog)
    rows = catalog.query(
        "SELECT source, coalesce(container, '') AS container, count(*) AS docs, "
        "min(created_at) AS first_at, max(created_at) AS last_at, "
        "list(DISTINCT kind) AS kinds, "
        "list(title ORDER BY created_at, id) FILTER (WHERE title IS NOT NULL) AS titles "
        "FROM documents WHERE status = 'indexed' GROUP BY 1, 2"
    )
    people = catalog.query(
        "SELECT source, coalesce(container, '') AS container, p AS person, count(*) AS n "
        "FROM (SELECT source, container, unnest(people) AS p FROM documents "
        "WHERE status = 'indexed') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    by_container: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in people:
        by_container[(row["source"], row["container"])][row["person"]] = row["n"]
    samples = catalog.query(
        "SELECT source, coalesce(container, '') AS container, "
        "list(left(text, 400) ORDER BY r) AS texts FROM (SELECT *, row_number() OVER "
        "(PARTITION BY source, container ORDER BY created_at, id) AS r FROM documents "
        "WHERE status = 'indexed') WHERE r <= 200 GROUP BY 1, 2"
    )
    texts = {(r["source"], r["container"]): r["texts"] for r in samples}
    profiles = []
    for row in rows:
        key = (row["source"], row["container"])
        entity = container_entity(row["source"], row["container"], aliases)
        profiles.append(
            {
                "source": row["source"],
                "container": row["container"],
                "entity": entity,
                "purpose": channel_kind(row["container"]) if row["source"] == "slack" else row["source"],
                "docs": row["docs"],
                "kinds": sorted(k for k in row["kinds"] if k),
                "first_at": row["first_at"],
                "last_at": row["last_at"],
                "people": [p for p, _ in by_container[key].most_common(20)],
                "terms": key_terms([*(row["titles"] or [])[:200], *texts.get(key, [])]),
            }
        )
    return profiles, aliases


def build_profiles(catalog: Catalog) -> int:
    """Rebuild the `source_profiles` and `entity_aliases` tables; returns the profile count."""
    profiles, aliases = compute_profiles(catalog)
    db = catalog.db
    db.execute(
        f"CREATE OR REPLACE TABLE {PROFILE_TABLE} (source VARCHAR, container VARCHAR, "
        "entity VARCHAR, purpose VARCHAR, docs BIGINT, kinds VARCHAR[], "
        "first_at TIMESTAMPTZ, last_at TIMESTAMPTZ, people VARCHAR[], terms VARCHAR[])"
    )
    if profiles:
        db.executemany(
            f"INSERT INTO {PROFILE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [p["source"], p["container"], p["entity"], p["purpose"], p["docs"], p["kinds"],
                 p["first_at"], p["last_at"], p["people"], p["terms"]]
                for p in profiles
            ],
        )
    db.execute(f"CREATE OR REPLACE TABLE {ALIAS_TABLE} (alias VARCHAR, entity VARCHAR)")
    if aliases:
        db.executemany(f"INSERT INTO {ALIAS_TABLE} VALUES (?, ?)", sorted(aliases.items()))
    return len(profiles)


def load_profiles(catalog: Catalog) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Stored profiles and aliases, or freshly computed ones when none are stored."""
    tables = {r["name"] for r in catalog.query("SELECT table_name AS name FROM duckdb_tables()")}
    if PROFILE_TABLE not in tables or ALIAS_TABLE not in tables:
        return compute_profiles(catalog)
    profiles = catalog.query(f"SELECT * FROM {PROFILE_TABLE}")
    aliases = {r["alias"]: r["entity"] for r in catalog.query(f"SELECT * FROM {ALIAS_TABLE}")}
    return profiles, aliases


def profile_summary(profile: dict[str, Any]) -> str:
    """One line describing a profile, for traces and LLM prompts."""
    span = ""
    if profile.get("first_at") and profile.get("last_at"):
        span = f" {profile['first_at']:%Y-%m-%d}..{profile['last_at']:%Y-%m-%d}"
    return (
        f"{profile['source']}:{profile['container']} [{profile.get('entity') or '-'}] "
        f"{profile['docs']} docs{span}; terms: {', '.join((profile.get('terms') or [])[:8])}"
    )


