"""The general planner: from the entities a question links and the type it asks for, find
the path of graph relations between them (up to three hops, either direction) and run it.

Paths are found over the graph's own schema (which relations join which node types), so a
new kind of edge at ingest is plannable at once. A path scores by the relations the
question names (its vocabulary in `qa.vocabulary`) less its length; the question's other
entities, dates, roles, locations and states constrain the nodes along it. A quotation is
a text hop: hybrid search finds what said it, and the speaker or artifact continues the
path. Every hop and why it was chosen go to the trace; an entity that does not resolve, an
empty path or an unmet constraint declines with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from index.identity import norm
from index.records import Query
from qa.graphview import ARTIFACTS, GraphView, Step
from qa.linking import Links, Mention
from qa.records import Hop
from qa.vocabulary import (
    STRUCTURAL,
    Ask,
    ask_of,
    inverse_wording,
    leftover_terms,
    relations_in,
    types_named,
)

SAID = {"posted", "spoke_in", "authored", "shared", "mentions", "links_to"}
STATES = [
    (r"\b(?:not|never|un)[ -]?merged\b|\bwithout merging\b", "merged", "false"),
    (r"\bmerged\b", "merged", "true"),
    (r"\b(?:still )?open\b", "state", "open"),
    (r"\bclosed\b", "state", "closed"),
]
MAX_CANDIDATES = 5
SOURCE_OF = {"link": "links", "pr": "github", "document": "docs", "meeting": "meetings"}
COMMON_WORDS = {"what", "which", "where", "when", "link", "links", "url", "about", "article", "post", "blog",
                "page", "document", "meeting", "please", "share", "shared", "someone", "have", "does", "anyone"}


@dataclass
class Anchor:
    """A start of a path: nodes of one type, with the native ids that put them there."""

    type: str
    nodes: list[str]
    why: str
    evidence: dict[str, list[str]] = field(default_factory=dict)
    mention: Mention | None = None
    origin: str = "mention"


@dataclass
class Plan:
    anchor: Anchor
    steps: list[Step]
    score: float
    target: str = ""
    complete: bool = False


@dataclass
class GraphResult:
    """What the planner found: typed items or values, their support, or why not."""

    items: list[str] = field(default_factory=list)
    text: str = ""
    support: list[str] = field(default_factory=list)
    answerable: bool = False
    reason: str = ""
    answer_type: str = "content"
    complete: bool = False


class Planner:
    """Plans and runs graph paths for linked questions; `store` and `embedder` enable text hops."""

    def __init__(self, graph: GraphView, catalog: Any, store: Any | None = None, embedder: Any | None = None):
        self.graph = graph
        self.catalog = catalog
        self.store = store
        self.embedder = embedder

    def answer(self, links: Links, trace: list[Hop]) -> GraphResult | None:
        """The graph's answer to a linked question, or None when it is no graph question."""
        plain = links.rest
        ask = ask_of(plain)
        hints = relations_in(links.rest)
        anchors = self.anchors(links, trace)
        anchors += self.type_anchors(plain, ask, links, anchors)
        if links.quotes:
            anchors = self.quote_anchors(links, ask, trace) + anchors
            hints = [h for h in hints if not h <= SAID]
        target = ask.type or next(iter(types_named(plain)), None) if not anchors else ask.type
        if not anchors and target:
            anchors = self.topic_anchors(links, target, [], trace)
        if not anchors:
            return None
        target = ask.type or (min(anchors, key=specificity).type if ask.attribute else None)
        if target is None and not hints:
            return None
        if target is not None and target not in {a.type for a in anchors}:
            anchors += self.topic_anchors(links, target, anchors, trace)
        targets = [target] if target else self.graph.node_types()
        plans = [p for a in anchors for t in targets for p in self.paths(a, t, hints, links.question, bool(links.dates))]
        if target is None:
            plans = [p for p in plans if p.complete and p.steps]
        if ask.weak and not any(p.complete for p in plans):
            plans = [p for a in anchors for t in self.graph.node_types() for p in self.paths(a, t, hints, links.question, bool(links.dates))
                     if p.complete and p.steps]
        if not plans:
            trace.append(Hop(step="plan", action="no path", detail={"to": target, "relations": [sorted(h) for h in hints]}))
            return None
        best = max(plans, key=lambda p: (p.score, -len(p.steps), -len(p.anchor.nodes)))
        if best.target != target and not ask.attribute:
            ask = Ask(type=best.target, count=ask.count)
        target = best.target
        trace.append(Hop(step="plan", action="graph path", detail={
            "from": best.anchor.why, "path": [s.describe() for s in best.steps], "to": target,
            "attribute": ask.attribute, "relations asked": [sorted(h) for h in hints], "score": best.score}, found=len(best.anchor.nodes)))
        if best.anchor.mention is not None and best.anchor.type == "person" and len(best.anchor.nodes) > 1:
            names = [f"{self.graph.display.get(n, n)} ({n.split(':', 1)[1]})" for n in best.anchor.nodes[:10]]
            return GraphResult(reason=f"'{best.anchor.mention.text}' names {len(best.anchor.nodes)} people: {', '.join(names)}")
        others = [a for a in anchors if a is not best.anchor and a.mention is not None and a.mention is not best.anchor.mention]
        result = self.run(best, ask, target, links, others, plain, trace)
        topic = leftover_terms(plain)
        result.complete = best.complete and len(topic) < 2
        if topic:
            trace.append(Hop(step="check", action="topic", detail={"unexplained": topic, "complete": result.complete}))
        return result

    def anchors(self, links: Links, trace: list[Hop]) -> list[Anchor]:
        """Linked mentions as anchors; ambiguous people narrowed by role, location and the
        question's other entities."""
        out = []
        resolved = [m for m in links.mentions if m.resolved]
        for m in links.mentions:
            nodes = list(m.candidates)
            if m.type == "person" and len(nodes) > 1:
                nodes = self.narrow_people(nodes, links, [r for r in resolved if r is not m])
            if m.type != "person" and len(nodes) > MAX_CANDIDATES * 4:
                continue
            out.append(Anchor(type=m.type, nodes=nodes, why=f"{m.type} '{m.text}' ({m.how})", mention=m))
            for alt_type, alt_nodes in m.alternatives.items():
                if len(alt_nodes) <= MAX_CANDIDATES * 4:
                    out.append(Anchor(type=alt_type, nodes=alt_nodes, why=f"{alt_type} '{m.text}' ({m.how})", mention=m))
        if links.mentions:
            trace.append(Hop(step="link", action="entities", detail=links.summary(), found=len(out)))
        return out

    def type_anchors(self, question: str, ask: Ask, links: Links, anchors: list[Anchor]) -> list[Anchor]:
        """Every node of a type the question names ("the meeting on June 26"), to be narrowed
        by its dates and other entities, when the question names no such node itself."""
        have = {a.type for a in anchors}
        out = []
        for node_type in types_named(question):
            if node_type in have or node_type == ask.type and not links.dates:
                continue
            if links.dates or anchors:
                nodes = self.graph.of_type(node_type)
                if nodes:
                    out.append(Anchor(type=node_type, nodes=nodes, why=f"every {node_type}, narrowed by the question",
                                      origin="type"))
        return out

    def topic_anchors(self, links: Links, target: str, anchors: list[Anchor], trace: list[Hop]) -> list[Anchor]:
        """Artifacts of the asked type that the question describes ("the article about X"):
        a text hop over the source that holds them, kept when most of the question's
        remaining words are in the passage."""
        source = SOURCE_OF.get(target)
        if source is None or self.store is None or self.embedder is None:
            return []
        text = links.rest
        terms = {w for w in norm(text).split() if len(w) > 3 and w not in COMMON_WORDS}
        if len(terms) < 2:
            return []
        vector = self.embedder.encode([text])[0]
        hits = self.store.search(Query(text=text, k=5, sources=[source]), vector)
        kept = []
        for hit in hits:
            overlap = len(terms & set(norm(hit.text).split())) / len(terms)
            if overlap >= 0.6:
                kept.append((overlap, hit))
        trace.append(Hop(step="search", action="topic", detail={
            "query": text, "routed": source, "why": f"{target}s are kept in {source}"}, found=len(kept)))
        if not kept:
            return []
        top = max(o for o, _ in kept)
        native = [n for o, h in kept if o >= top for n in h.native_ids]
        nodes = list(dict.fromkeys(self.graph.nodes_for_native(native).values()))
        nodes = [n for n in nodes if self.graph.type_of(n) == target][:MAX_CANDIDATES]
        if not nodes:
            return []
        return [Anchor(type=target, nodes=nodes, why=f"{target}s the question describes", origin="topic",
                       evidence={n: [n.split(":", 1)[1]] for n in nodes})]

    def best_named(self, nodes: list[str], question: str) -> list[str]:
        """The nodes whose names share the most words with the question (all, when none do)."""
        words = set(norm(question).split())
        shared: dict[str, int] = {}
        for node, names in self.graph.names_of(nodes).items():
            shared[node] = max(len(words & set(n.split())) for n in names)
        top = max(shared.values(), default=0)
        return [n for n in nodes if shared.get(n, 0) == top] if top else nodes

    def narrow_people(self, nodes: list[str], links: Links, others: list[Mention]) -> list[str]:
        rows = self.graph.nodes(nodes)
        same = [o.candidates[0] for o in others if o.type == "person" and o.resolved and o.candidates[0] in nodes]
        if same:
            return same[:1]
        for wanted, key in ((links.roles, "role"), (links.locations, "location"), (links.orgs, "org")):
            if wanted:
                kept = [n for n in nodes if (rows.get(n, {}).get("attrs", {}).get(key) or "").lower() in {w.lower() for w in wanted}]
                nodes = kept or nodes
        for other in others:
            linked = set()
            for step in self.graph.steps_from("person"):
                if step.to_type == other.type:
                    linked |= {r["start"] for r in self.graph.follow(nodes, step) if r["end"] in other.candidates}
            if linked:
                nodes = [n for n in nodes if n in linked]
        return nodes

    def quote_anchors(self, links: Links, ask: Ask, trace: list[Hop]) -> list[Anchor]:
        """Who said each quotation and where: a text hop over hybrid search, kept only where
        the passage holds the quotation nearly word for word."""
        if self.store is None or self.embedder is None:
            return []
        speakers = Anchor(type="person", nodes=[], why="who said the quotation", origin="quote")
        places = Anchor(type="message", nodes=[], why="where the quotation was said", origin="quote")
        meetings = Anchor(type="meeting", nodes=[], why="the meeting where the quotation was said", origin="quote")
        for quote in links.quotes:
            vector = self.embedder.encode([quote])[0]
            hits = self.store.search(Query(text=quote, k=10), vector)
            said = self.find_said(quote, hits)
            trace.append(Hop(step="search", action="quotation", detail={"query": quote, "routed": "all sources",
                             "why": "a quotation is found by its words, wherever it was said"}, found=len(said)))
            for native_id, kind, speaker, place in said:
                if speaker and speaker not in speakers.nodes:
                    speakers.nodes.append(speaker)
                    speakers.evidence.setdefault(speaker, []).append(native_id)
                target = meetings if kind == "meeting" else places
                target.nodes.append(place)
                target.evidence.setdefault(place, []).append(native_id)
        return [a for a in (speakers, places, meetings) if a.nodes]

    def verbatim(self, quote: str) -> list[str]:
        """Ids of documents holding runs of the quotation's words in order (three runs of
        five words, so a typo elsewhere does not hide it)."""
        tokens = norm(quote).split()
        if len(tokens) < 5:
            return []
        starts = sorted({0, (len(tokens) - 5) // 2, len(tokens) - 5})
        found: list[str] = []
        for start in starts:
            pattern = "%" + "%".join(tokens[start : start + 5]) + "%"
            rows = self.catalog.query(
                "SELECT id FROM documents WHERE status = 'indexed' AND text ILIKE ? LIMIT 20", [pattern])
            found += [r["id"] for r in rows if r["id"] not in found]
        return found

    def find_said(self, quote: str, hits: list) -> list[tuple[str, str, str | None, str]]:
        """(native id, kind, speaker node, place node) of passages that hold the quotation."""
        wanted = norm(quote)
        ids = list(dict.fromkeys([*self.verbatim(quote), *(d for h in hits for d in h.doc_ids)]))
        if not ids:
            return []
        rows = self.catalog.query(
            "SELECT id, source, native_id, author, text, meta FROM documents WHERE id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        out = []
        for row in rows:
            if row["source"] == "meetings":
                lines = (row["text"] or "").splitlines()
                scored = [(fuzz.partial_ratio(wanted, norm(line)), line) for line in lines]
                score, line = max(scored, default=(0, ""))
                if score < 90:
                    continue
                meeting = self.graph.nodes_for_native([row["native_id"]]).get(row["native_id"])
                speaker = self.speaker(line.partition(": ")[0], meeting)
                out.append((row["native_id"], "meeting", speaker, meeting or ""))
            elif fuzz.partial_ratio(wanted, norm(row["text"])) >= 90:
                node = self.graph.nodes_for_native([row["native_id"]]).get(row["native_id"])
                if not node:
                    continue
                author_rel = Step("posted" if row["source"] == "slack" else "authored", False, "person")
                authors = [r["end"] for r in self.graph.follow([node], author_rel)]
                out.append((row["native_id"], self.graph.type_of(node), authors[0] if len(authors) == 1 else None, node))
        return out

    def speaker(self, name: str, meeting: str | None) -> str | None:
        """The person a transcript's speaker name is: among the meeting's attendees first."""
        folded = norm(name)
        attendees = [r["end"] for r in self.graph.follow([meeting], Step("attended", False, "person"))] if meeting else []
        fits = [n for n in attendees if norm(self.graph.display.get(n, "")) == folded]
        if not fits:
            fits = [n for n, _ in self.graph.names.get(folded, []) if self.graph.type_of(n) == "person"]
        fits = list(dict.fromkeys(fits))
        return fits[0] if len(fits) == 1 else None

    def paths(self, anchor: Anchor, target: str, hints: list[frozenset[str]], question: str,
              dated: bool = False) -> list[Plan]:
        """Candidate paths from an anchor to the asked type, scored."""
        out = []
        named = set().union(*hints) if hints else set()
        frontier: list[tuple[list[Step], str]] = [([], anchor.type)]
        for depth in range(4):
            next_frontier = []
            for steps, at_type in frontier:
                if at_type == target:
                    out.append(self.score(anchor, steps, hints, target, dated))
                if depth == 3:
                    continue
                for step in self.graph.steps_from(at_type):
                    if step.to_type == at_type and step.forward == inverse_wording(question, step.rel):
                        continue
                    if steps and step.rel == steps[-1].rel and step.forward != steps[-1].forward and step.rel not in named:
                        continue
                    if step.to_type == "message" and step.rel not in named | STRUCTURAL and "posted" not in named:
                        continue
                    next_frontier.append(([*steps, step], step.to_type))
            frontier = next_frontier
        return out

    @staticmethod
    def score(anchor: Anchor, steps: list[Step], hints: list[frozenset[str]], target: str, dated: bool = False) -> Plan:
        """Three for each relation phrase of the question the path takes, less one a hop,
        half a hop no phrase asks for (structural hops aside), one and a half for each
        phrase it leaves out; a date the question gives wants a dated artifact on the path."""
        rels = [s.rel for s in steps]
        named = set().union(*hints) if hints else set()
        met = [h for h in hints if h & set(rels)]
        unasked = sum(1 for r in rels if r not in named and r not in STRUCTURAL)
        score = 3.0 * len(met) - len(steps) - 0.5 * unasked - 1.5 * (len(hints) - len(met))
        score += {"quote": 1.0, "type": -1.0, "topic": -0.5}.get(anchor.origin, 0.0)
        if dated:
            on_path = [anchor.type, *(s.to_type for s in steps)]
            score += 1.0 if any(t in ARTIFACTS for t in on_path) else -2.0
        return Plan(anchor=anchor, steps=steps, score=score, target=target, complete=len(met) == len(hints))

    def run(self, plan: Plan, ask: Ask, target: str, links: Links, others: list[Anchor], question: str,
            trace: list[Hop]) -> GraphResult:
        nodes = list(plan.anchor.nodes)
        evidence: dict[str, list[str]] = {n: list(plan.anchor.evidence.get(n, [])) for n in nodes}
        pending = list(others)
        dated = False
        nodes, evidence, pending, dated = self.constrain(plan.anchor.type, nodes, evidence, pending, links, dated, question, ask)
        if plan.anchor.origin == "type" and len(nodes) > 1:
            nodes = self.best_named(nodes, links.question)
        if plan.anchor.type not in ("person",) and len(nodes) > MAX_CANDIDATES and not plan.steps:
            return GraphResult(reason=f"{plan.anchor.why} fits {len(nodes)} artifacts")
        for step in plan.steps:
            rows = self.graph.follow(nodes, step)
            following: dict[str, list[str]] = {}
            for row in rows:
                following.setdefault(row["end"], []).extend([*evidence.get(row["start"], []), row["evidence"]])
            nodes, evidence = list(following), following
            nodes, evidence, pending, dated = self.constrain(step.to_type, nodes, evidence, pending, links, dated, question, ask)
            trace.append(Hop(step="follow", action=step.describe(), found=len(nodes)))
            if not nodes:
                return GraphResult(reason=f"nothing follows {step.describe()}")
        if links.dates and not dated:
            trace.append(Hop(step="check", action="date", detail={"unmet": [d.text for d in links.dates]}))
            return GraphResult(reason="the date the question gives constrains nothing on the path")
        return self.typed(nodes, evidence, ask, target)

    def constrain(self, node_type: str, nodes: list[str], evidence: dict[str, list[str]], pending: list[Anchor],
                  links: Links, dated: bool, question: str, ask: Ask) -> tuple[list[str], dict, list[Anchor], bool]:
        """Nodes kept by the constraints that apply to their type: dates, states, roles and
        locations, and connection to the question's other entities."""
        if not nodes:
            return nodes, evidence, pending, dated
        rows = self.graph.nodes(nodes) if node_type != "message" or links.dates else {}
        if links.dates and not dated and node_type in ARTIFACTS:
            nodes = [n for n in nodes if any(d.holds(rows.get(n, {}).get("at")) for d in links.dates)]
            dated = True
        if node_type == "pr" and ask.attribute != "state":
            for pattern, key, value in STATES:
                if re.search(pattern, question, re.IGNORECASE):
                    nodes = [n for n in nodes if str(rows.get(n, {}).get("attrs", {}).get(key, "")).lower() == value]
                    break
        left = []
        for other in pending:
            if other.type == node_type:
                kept = [n for n in nodes if n in other.nodes]
                if kept or len(other.nodes) == 1:
                    nodes = kept
                    continue
            steps = [s for s in self.graph.steps_from(node_type) if s.to_type == other.type]
            joined = {r["start"] for s in steps for r in self.graph.follow(nodes, s) if r["end"] in other.nodes}
            if steps and joined:
                nodes = [n for n in nodes if n in joined]
            elif steps:
                nodes = []
            else:
                left.append(other)
        return nodes, {n: evidence.get(n, []) for n in nodes}, left, dated

    def typed(self, nodes: list[str], evidence: dict[str, list[str]], ask: Ask, target: str) -> GraphResult:
        rows = self.graph.nodes(nodes)
        if target == "person" and ask.attribute is None:
            rows = {n: r for n, r in rows.items() if r.get("doc")} or rows
        nodes = [n for n in nodes if n in rows]
        support = list(dict.fromkeys(e for n in nodes for e in evidence.get(n, [])))
        support += [rows[n]["native_id"] for n in nodes if rows[n].get("native_id") and target in ARTIFACTS]
        if not nodes:
            return GraphResult(reason="no node of the asked type")
        if ask.count:
            return GraphResult(text=str(len(nodes)), support=support, answerable=True, answer_type="content")
        values = [value_of(rows[n], ask.attribute, target) for n in nodes]
        values = list(dict.fromkeys(v for v in values if v))
        if not values:
            return GraphResult(reason=f"no {ask.attribute or target} recorded")
        answer_type = ask.answer_type if ask.type else ("url" if ask.attribute == "url" else "content")
        if answer_type in ("person", "company", "pr", "url"):
            return GraphResult(items=values, support=support, answerable=True, answer_type=answer_type)
        return GraphResult(text=", ".join(values), support=support, answerable=True, answer_type="content")


def specificity(anchor: Anchor) -> int:
    """How directly an anchor names the thing whose value is asked: an artifact first, then a
    person or customer, then containers."""
    order = ["pr", "document", "meeting", "link", "issue", "person", "customer", "channel", "repository"]
    return order.index(anchor.type) if anchor.type in order else len(order)


def value_of(row: dict[str, Any], attribute: str | None, node_type: str) -> str:
    """The asked value of a node: its id, name, link, date or an attribute."""
    attrs = row.get("attrs") or {}
    if attribute == "date":
        return row["at"].date().isoformat() if row.get("at") else ""
    if attribute == "url":
        return row.get("url") or (row["native_id"] if str(row.get("native_id", "")).startswith("http") else "")
    if attribute == "state":
        return "merged" if attrs.get("merged") == "true" else attrs.get("state", "")
    if attribute in ("role", "location"):
        return attrs.get(attribute, "")
    if node_type in ("person", "pr", "customer"):
        return row.get("native_id") or row["name"]
    if node_type == "channel":
        return f"#{row['name']}"
    return row.get("name") or row.get("native_id") or ""
