"""The enterprise graph: who did what to which artifact, kept in DuckDB beside the catalog.

Built from the catalog after each sync that changed something (`build_graph`), in three
tables (schema in `GRAPH_SCHEMA`):

- `graph_nodes`: people (directory employees, and source accounts that match none),
  customers, companies, orgs, products, repositories, channels, meetings, documents, pull
  requests, messages and links, each with a name, attributes and the catalog document
  that defines it (`doc`; NULL for containers that only their members evidence);
- `graph_names`: every name a node goes by (full name, id, login, Slack display name,
  title, product code name, channel name, ...), folded for matching;
- `graph_edges`: typed relations `src -rel-> dst`, each with the catalog document that
  evidences it (`doc`, and its native id in `evidence`), a date where the source has one,
  and attributes (a review's state).

Only what sources state plainly becomes an edge; the vocabulary is `RELATIONS`. A caller's
permitted view filters all three tables by the documents the caller may read
(`visible_graph_sql`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pyarrow as pa
from dateutil.parser import isoparse

from index.catalog import Catalog
from index.identity import Identities, norm
from index.profile import (
    CHANNEL_RENAME,
    channel_entity,
    container_entity,
    file_entity,
    load_profiles,
)

NODES, NAMES, EDGES = "graph_nodes", "graph_names", "graph_edges"
RELATIONS = {
    "reports_to": "person -> their manager (directory)",
    "works_at": "customer -> company (directory)",
    "in_org": "person -> org (directory)",
    "posted": "person -> message",
    "in_channel": "message -> channel",
    "mentions": "message -> person or customer it names",
    "links_to": "message or meeting -> document, pull request or link whose URL it holds",
    "shared": "person -> document, pull request or link they posted the URL of",
    "created": "person -> channel they created",
    "member_of": "person -> channel they joined or were invited to",
    "renamed_to": "channel -> the channel it was renamed to",
    "about": "channel, repository, meeting or document -> the product it belongs to",
    "authored": "person -> pull request or document",
    "reviewed": "person -> pull request (attrs.state: APPROVED, CHANGES_REQUESTED, COMMENTED)",
    "approved": "person -> pull request they approved",
    "in_repo": "pull request -> repository",
    "reverts": "pull request -> the pull request it reverts",
    "attended": "person -> meeting they were a participant of",
    "spoke_in": "person -> meeting they spoke in",
    "superseded_by": "document -> the newer version of the same product and type",
}
GRAPH_SCHEMA = {
    NODES: [("id", pa.string()), ("type", pa.string()), ("name", pa.string()),
            ("native_id", pa.string()), ("url", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")), ("attrs", pa.string()), ("doc", pa.string())],
    NAMES: [("node", pa.string()), ("name", pa.string()), ("norm", pa.string()),
            ("kind", pa.string()), ("doc", pa.string())],
    EDGES: [("src", pa.string()), ("rel", pa.string()), ("dst", pa.string()),
            ("doc", pa.string()), ("evidence", pa.string()),
            ("at", pa.timestamp("us", tz="UTC")), ("attrs", pa.string())],
}
URL = re.compile(r"https?://[^\s<>|)\]\"'`]+")
PR_URL = re.compile(r"^https?://[^/]+/[\w.-]+/[\w.-]+/pull/\d+$")
ID_TOKEN = re.compile(r"[A-Za-z0-9][\w-]*[A-Za-z0-9]")
CREATED = re.compile(r"@([\w.-]+) created this channel")
JOINED = re.compile(r"@[\w.-]+ (?:has )?joined\b")
MENTION = re.compile(r"@([\w.-]+)")
REVERT = re.compile(r"\brevert(?:s|ed|ing)?\b[^#\d]{0,40}#\s*(\d+)", re.IGNORECASE)
COLUMNS = "id, source, native_id, kind, group_id, title, url, author, people, created_at, container, meta, text"


def as_time(value: Any) -> datetime | None:
    """A timestamp from a source value (ISO text or a datetime), in UTC; None when unreadable."""
    if isinstance(value, str):
        try:
            value = isoparse(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def url_key(url: str) -> str:
    """A URL folded for lookup: no scheme, no trailing slash or punctuation, lower case."""
    return re.sub(r"^https?://", "", url.rstrip(".,;:!?/")).lower()


class GraphBuilder:
    """Collects nodes, names and edges while reading the catalog once."""

    def __init__(self, identities: Identities, aliases: dict[str, str]):
        self.ids = identities
        self.aliases = aliases
        self.names_of: dict[str, list[str]] = defaultdict(list)
        for alias, canon in sorted(aliases.items()):
            self.names_of[canon].append(alias)
        self.nodes: dict[str, dict[str, Any]] = {}
        self.names: dict[tuple[str, str, str], tuple[str | None, str]] = {}
        self.edges: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.targets: dict[str, str] = {}
        self.customer_ids: dict[str, str] = {}

    def node(self, node: str, type_: str, name: str, doc: str | None = None, native_id: str | None = None,
             url: str | None = None, at: Any = None, **attrs: Any) -> str:
        if node not in self.nodes or (doc and not self.nodes[node]["doc"]):
            self.nodes[node] = {"id": node, "type": type_, "name": name, "native_id": native_id, "url": url,
                                "at": at, "attrs": {k: v for k, v in attrs.items() if v not in (None, "")}, "doc": doc}
        if name:
            self.name(node, name, "name", doc)
        return node

    def name(self, node: str, name: str, kind: str, doc: str | None = None) -> None:
        folded = norm(name)
        if folded and (node, folded, kind) not in self.names:
            self.names[(node, folded, kind)] = (doc, name)

    def edge(self, src: str | None, rel: str, dst: str | None, row: dict[str, Any], at: Any = None, **attrs: Any) -> None:
        if not src or not dst or src == dst:
            return
        key = (src, rel, dst, row["id"])
        if key not in self.edges:
            self.edges[key] = {"evidence": row["native_id"], "at": as_time(at) or row["created_at"],
                               "attrs": {k: v for k, v in attrs.items() if v not in (None, "")}}

    def person(self, source: str, account: str | None, name: str | None = None, among: set[str] | None = None) -> str | None:
        node = self.ids.resolve(source, account, name, among)
        if node and node not in self.nodes:
            extra = self.ids.unresolved.get(node, {})
            self.node(node, "person", extra.get("name") or account or "", None, account,
                      source=source, candidates=",".join(extra.get("candidates", [])))
        if node and account and account.lower() != node.split(":", 1)[-1].lower():
            self.name(node, account, f"{source}_account")
        if node and name:
            self.name(node, name, f"{source}_name")
        return node

    def product_of(self, row: dict[str, Any]) -> str | None:
        entity = container_entity(row["source"], row["container"] or "", self.aliases)
        if row["source"] in ("docs", "meetings") and entity is None:
            entity = file_entity(row["native_id"], self.aliases)
        if not entity:
            return None
        node = f"product:{entity}"
        if node not in self.nodes:
            self.node(node, "product", entity)
            for alias in self.names_of.get(entity, []):
                self.name(node, alias, "alias")
        return node

    def target(self, url: str) -> str:
        """The node a URL points at: a known document, pull request or link, else a new link."""
        key = url_key(url)
        found = self.targets.get(key)
        if found:
            return found
        node = f"link:{url}"
        self.node(node, "link", url, None, url, url)
        self.targets[key] = node
        return node

    def customers_in(self, text: str) -> list[str]:
        return list(dict.fromkeys(
            self.customer_ids[t.lower()] for t in ID_TOKEN.findall(text or "") if t.lower() in self.customer_ids
        ))

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        nodes = [{**n, "attrs": json.dumps(n["attrs"], sort_keys=True, default=str)} for n in self.nodes.values()]
        names = [{"node": node, "name": shown, "norm": folded, "kind": kind, "doc": doc}
                 for (node, folded, kind), (doc, shown) in self.names.items()]
        edges = [{"src": s, "rel": r, "dst": d, "doc": doc, "evidence": e["evidence"], "at": e["at"],
                  "attrs": json.dumps(e["attrs"], sort_keys=True)} for (s, r, d, doc), e in self.edges.items()]
        return {NODES: nodes, NAMES: names, EDGES: edges}


def stream(catalog: Catalog, where: str, batch: int = 4096) -> Iterator[dict[str, Any]]:
    """Indexed documents matching a condition, oldest first, read in bounded batches."""
    cursor = catalog.db.cursor()
    cursor.execute(f"SELECT {COLUMNS} FROM documents WHERE status = 'indexed' AND {where} "
                   "ORDER BY created_at NULLS LAST, native_id")
    names = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(batch):
        for row in rows:
            out = dict(zip(names, row))
            out["meta"] = json.loads(out["meta"] or "{}")
            yield out
    cursor.close()


def add_directory(g: GraphBuilder, catalog: Catalog) -> None:
    for node, person in g.ids.people.items():
        g.node(node, "person", person.name, person.doc, person.employee_id, None, None, **person.attrs)
        g.name(node, person.employee_id, "id", person.doc)
        if person.attrs.get("org"):
            org = g.node(f"org:{person.attrs['org']}", "org", person.attrs["org"])
            g.edge(node, "in_org", org, {"id": person.doc, "native_id": person.employee_id, "created_at": None})
    for row in stream(catalog, "source = 'directory' AND kind = 'person'"):
        manager = g.ids.by_id.get((row["meta"].get("manager_id") or "").lower())
        g.edge(f"person:{row['native_id']}", "reports_to", manager, row)
    for row in stream(catalog, "source = 'directory' AND kind = 'customer'"):
        meta = row["meta"]
        node = g.node(f"customer:{row['native_id']}", "customer", meta.get("name") or row["native_id"], row["id"],
                      row["native_id"], role=meta.get("role"), company=meta.get("company"))
        g.name(node, row["native_id"], "id", row["id"])
        g.customer_ids[row["native_id"].lower()] = node
        if meta.get("company"):
            g.edge(node, "works_at", g.node(f"company:{meta['company']}", "company", meta["company"]), row)


def add_artifacts(g: GraphBuilder, catalog: Catalog) -> None:
    """Documents, pull requests and links first, so URLs in messages resolve to them."""
    versions: dict[tuple[str, str], list[tuple[Any, str, dict]]] = defaultdict(list)
    for row in stream(catalog, "source = 'docs'"):
        meta = row["meta"]
        doc_type = meta.get("doc_type") or row["title"] or ""
        node = g.node(f"document:{row['native_id']}", "document", row["title"] or row["native_id"], row["id"],
                      row["native_id"], row["url"], row["created_at"], doc_type=doc_type, format=meta.get("format"))
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", row["native_id"].rsplit("/", 1)[-1])
        g.name(node, stem.replace("_", " "), "file", row["id"])
        if row["url"]:
            g.targets[url_key(row["url"])] = node
        product = g.product_of(row)
        g.edge(node, "about", product, row)
        author = row["author"]
        if author:
            g.edge(g.person("docs", author if author.lower() in g.ids.by_id else None, author), "authored", node, row)
        if product:
            versions[(product, norm(doc_type))].append((row["created_at"], node, row))
    for docs in versions.values():
        docs.sort(key=lambda d: (d[0] is None, d[0]))
        for (_, older, _), (_, newer, row) in pairwise(docs):
            g.edge(older, "superseded_by", newer, row)
    by_number: dict[tuple[str, str], str] = {}
    reverts: list[tuple[str, str, str, dict]] = []
    for row in stream(catalog, "source = 'github'"):
        meta = row["meta"]
        kind = "pr" if row["kind"] == "pull_request" else row["kind"]
        node = g.node(f"{kind}:{row['native_id']}", kind, row["title"] or row["native_id"], row["id"], row["native_id"],
                      row["url"], row["created_at"], repo=row["container"], number=meta.get("number"),
                      state=meta.get("state"), merged=meta.get("merged"), approved=meta.get("approved"),
                      merged_at=meta.get("merged_at"))
        g.targets[url_key(row["native_id"])] = node
        repo = g.node(f"repo:{row['container']}", "repository", row["container"] or "")
        g.name(repo, (row["container"] or "").rsplit("/", 1)[-1], "name")
        g.edge(node, "in_repo", repo, row)
        g.edge(repo, "about", g.product_of(row), row)
        g.edge(g.person("github", row["author"]), "authored", node, row)
        for review in json.loads(meta.get("review_states") or "[]"):
            reviewer = g.person("github", review.get("user"))
            at = review.get("submitted_at")
            g.edge(reviewer, "reviewed", node, row, at=at, state=review.get("state"))
            if review.get("state") == "APPROVED":
                g.edge(reviewer, "approved", node, row, at=at)
        by_number[(row["container"] or "", meta.get("number") or "")] = node
        if m := REVERT.search(row["title"] or ""):
            reverts.append((node, row["container"] or "", m.group(1), row))
    for node, repo, number, row in reverts:
        g.edge(node, "reverts", by_number.get((repo, number)), row)
    for row in stream(catalog, "source = 'links'"):
        meta = row["meta"]
        node = g.node(f"link:{row['native_id']}", "link", row["title"] or row["native_id"], row["id"], row["native_id"],
                      row["url"], row["created_at"], folder=meta.get("folder"), host=meta.get("host"))
        g.targets[url_key(row["native_id"])] = node


def add_meetings(g: GraphBuilder, catalog: Catalog) -> None:
    for row in stream(catalog, "source = 'meetings'"):
        meta = row["meta"]
        name = meta.get("meeting") or row["native_id"]
        node = f"meeting:{name}"
        if row["kind"] != "chat" or node not in g.nodes:
            g.node(node, "meeting", row["title"] or name, row["id"] if row["kind"] != "chat" else None,
                   row["native_id"], None, row["created_at"], topic=meta.get("topic"), series=row["container"])
        g.name(node, name.replace("_", " "), "meeting", row["id"])
        if meta.get("topic"):
            g.name(node, meta["topic"], "topic", row["id"])
        g.edge(node, "about", g.product_of(row), row)
        participants = {n for n in (g.person("meetings", p) for p in row["people"] or []) if n}
        for person in participants:
            g.edge(person, "attended", node, row)
        for speaker in json.loads(meta.get("speakers") or "[]"):
            g.edge(g.person("meetings", None, speaker, participants), "spoke_in", node, row)
        for url in json.loads(meta.get("urls") or "[]"):
            g.edge(node, "links_to", g.target(url.rstrip(".,;:!?")), row)


def add_messages(g: GraphBuilder, catalog: Catalog) -> None:
    for row in stream(catalog, "source = 'slack'"):
        meta, text = row["meta"], row["text"] or ""
        channel = g.node(f"channel:{row['container']}", "channel", row["container"] or "")
        g.name(channel, f"#{row['container']}", "channel")
        node = g.node(f"message:{row['native_id']}", "message", "", row["id"], row["native_id"], row["url"],
                      row["created_at"], channel=row["container"])
        g.edge(node, "in_channel", channel, row)
        author = g.person("slack", row["author"], meta.get("user_name")) if row["author"] else None
        g.edge(author, "posted", node, row)
        if channel_entity(row["container"] or ""):
            g.edge(channel, "about", g.product_of(row), row)
        if m := CREATED.search(text):
            g.edge(g.person("slack", m.group(1)), "created", channel, row)
        if JOINED.match(text) or meta.get("subtype") == "channel_join":
            for account in MENTION.findall(text) or [row["author"]]:
                g.edge(g.person("slack", account), "member_of", channel, row)
        for new in CHANNEL_RENAME.findall(text):
            g.edge(channel, "renamed_to", g.node(f"channel:{new}", "channel", new), row)
        for person in row["people"] or []:
            if person != row["author"]:
                g.edge(node, "mentions", g.person("slack", person), row)
        for customer in g.customers_in(text):
            g.edge(node, "mentions", customer, row)
        for url in dict.fromkeys(u.rstrip(".,;:!?") for u in URL.findall(text)):
            target = g.target(url)
            g.edge(node, "links_to", target, row)
            g.edge(author, "shared", target, row)


def compute_graph(catalog: Catalog) -> dict[str, list[dict[str, Any]]]:
    """Rows of the three graph tables, computed from the catalog."""
    _, aliases = load_profiles(catalog)
    people = list(stream(catalog, "source = 'directory' AND kind = 'person'"))
    g = GraphBuilder(Identities.from_directory(people), aliases)
    add_directory(g, catalog)
    add_artifacts(g, catalog)
    add_meetings(g, catalog)
    add_messages(g, catalog)
    return g.rows()


def build_graph(catalog: Catalog) -> dict[str, int]:
    """Rebuild the graph tables in one transaction; returns their row counts."""
    tables = compute_graph(catalog)
    db = catalog.db
    db.execute("BEGIN")
    try:
        for name, rows in tables.items():
            arrow = pa.Table.from_pylist(rows, schema=pa.schema(GRAPH_SCHEMA[name]))
            db.register("incoming_graph", arrow)
            db.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM incoming_graph")
            db.unregister("incoming_graph")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return {name: len(rows) for name, rows in tables.items()}


def visible_graph_sql(source: str) -> list[str]:
    """Statements that create the graph tables of a permitted view from those of `source`
    (an attached catalog), keeping only what the view's `documents` let evidence: a node
    its defining document (or, for a container, one visible edge) shows; an edge its
    evidence and both ends; a name its node and its evidence."""
    docs = "(SELECT id FROM documents)"
    return [
        f"CREATE TEMP TABLE {EDGES}_seen AS SELECT * FROM {source}.{EDGES} WHERE doc IN {docs}",
        (f"CREATE TEMP TABLE {NODES} AS SELECT * FROM {source}.{NODES} n WHERE "
         f"(n.doc IS NOT NULL AND n.doc IN {docs}) OR (n.doc IS NULL AND (n.id IN (SELECT src FROM {EDGES}_seen) "
         f"OR n.id IN (SELECT dst FROM {EDGES}_seen)))"),
        (f"CREATE TEMP TABLE {EDGES} AS SELECT * FROM {EDGES}_seen WHERE src IN (SELECT id FROM {NODES}) "
         f"AND dst IN (SELECT id FROM {NODES})"),
        f"DROP TABLE {EDGES}_seen",
        (f"CREATE TEMP TABLE {NAMES} AS SELECT * FROM {source}.{NAMES} WHERE node IN (SELECT id FROM {NODES}) "
         f"AND (doc IS NULL OR doc IN {docs})"),
    ]


def has_graph(catalog: Any) -> bool:
    """Whether a catalog holds the graph tables."""
    found = {r["name"] for r in catalog.query("SELECT table_name AS name FROM duckdb_tables()")}
    return {NODES, NAMES, EDGES} <= found
