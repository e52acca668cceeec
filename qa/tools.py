"""The answerer's capabilities as typed tools an LLM calls by name: find entities, follow a
relation, search, read, the offline plan, and the final answer.

Each tool is a plain method over one answerer's catalog, graph, linker and store; an
answerer is built per caller over a view of what the caller may read, so a tool can
neither return nor cite anything outside it. Arguments are pydantic models, whose JSON schemas are the
`tools` parameter of a chat completion; a call with unparseable, unknown or invalid
arguments gets an error the model can read, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from index.graph import RELATIONS
from index.records import Query
from qa.graphview import ARTIFACTS
from qa.records import Answer, AnswerType, Citation

if TYPE_CHECKING:
    from qa.agent import Answerer

Relation = Literal[tuple(RELATIONS)]  # type: ignore[valid-type]
NODE_TYPES = "person, customer, company, org, product, repo, channel, meeting, document, pr, message, link, issue"
OfflineAnswer = Callable[..., Answer]


class FindEntities(BaseModel):
    text: str = Field(min_length=1, max_length=2000, description="a question or the names in it")


class FollowRelation(BaseModel):
    entity_id: str = Field(min_length=1, description="a graph node id such as person:eid_1 or pr:URL")
    relation: Relation
    direction: Literal["forward", "backward"] = Field(
        "forward", description="forward: from the relation's source to its target; backward: target to source")
    to_type: str | None = Field(None, description=f"only nodes of this type ({NODE_TYPES})")


class Search(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    sources: list[str] = Field(default_factory=list, description="slack, github, docs, meetings, links, directory")
    containers: list[str] = Field(default_factory=list, description="channels, repositories, folders, meeting series")
    since: datetime | None = None
    until: datetime | None = None
    k: int = Field(8, ge=1, le=20)


class Read(BaseModel):
    native_id: str = Field(min_length=1, description="a native id a search or another tool returned")


class PlanQuestion(BaseModel):
    question: str = Field(min_length=1, max_length=2000)


class Finish(BaseModel):
    items: list[str] = Field(default_factory=list, description="a list answer: employee ids, companies, PR or other URLs")
    text: str = Field("", description="a prose answer")
    citations: list[str] = Field(default_factory=list, description="native ids, returned by tools, that support it")
    answerable: bool = Field(True, description="false when the evidence does not answer the question")
    answer_type: AnswerType | None = None


@dataclass
class ToolResult:
    """What one call gave: a payload for the model, how many things it found, the native ids
    it returned (which the answer may cite), or an error; `finish` for the answer tool."""

    payload: dict[str, Any] = field(default_factory=dict)
    found: int = 0
    native_ids: list[str] = field(default_factory=list)
    error: str | None = None
    args: dict[str, Any] | None = None
    finish: Finish | None = None

    def content(self) -> str:
        return json.dumps({"error": self.error} if self.error else self.payload, default=str)


@dataclass(frozen=True)
class Tool:
    name: str
    args: type[BaseModel]
    description: str


RELATION_LIST = "; ".join(f"{rel}: {meaning}" for rel, meaning in RELATIONS.items())
TOOLS = [
    Tool("find_entities", FindEntities,
         "Link the people, customers, companies, products, repositories, channels, documents, pull "
         "requests, meetings, links and dates named in a text to graph entities: mentions with "
         "types, candidate node ids and display names (several when ambiguous)."),
    Tool("follow_relation", FollowRelation,
         "Follow one typed relation from a graph entity and return the entities at the other end, "
         "with the native ids that evidence each edge. Relations (source -> target): " + RELATION_LIST),
    Tool("search", Search,
         "Hybrid (vector and full-text) search over message, document, transcript and pull request "
         "chunks, optionally filtered by source, container and date; returns text snippets with "
         "their native ids."),
    Tool("read", Read, "The text of a document, or of the whole thread or channel-day of a message, by native id."),
    Tool("plan", PlanQuestion,
         "The offline answerer's full answer to a question: items or text, whether it is "
         "answerable, and its citations. A good first step."),
    Tool("answer", Finish,
         "Finish with the answer: items or text, and the native ids (returned by tools) that "
         "support it; answerable false when the evidence does not answer the question."),
]


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema without the titles pydantic adds."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(model.model_json_schema())


class Tools:
    """The tools over one answerer; `offline(question, on_hop=None)` answers
    without an LLM (the answerer's own `answer` unless given)."""

    def __init__(self, answerer: Answerer, offline: OfflineAnswer | None = None,
                 max_chars: int = 4000, max_rows: int = 50):
        self.catalog = answerer.catalog
        self.graph = answerer.graph
        self.linker = answerer.linker
        self.hops = answerer.hops
        self.store = answerer.store
        self.embedder = answerer.embedder
        self.cite: Callable[[list[str]], list[Citation]] = answerer.cite
        self.offline: OfflineAnswer = offline or answerer.answer
        self.max_chars = max_chars
        self.max_rows = max_rows
        self.by_name = {t.name: t for t in TOOLS}
        self.methods: dict[str, Callable[[Any], ToolResult]] = {
            "find_entities": self.find_entities, "follow_relation": self.follow_relation,
            "search": self.search, "read": self.read, "plan": self.plan, "answer": self.finish,
        }

    @property
    def names(self) -> list[str]:
        return [t.name for t in TOOLS]

    def schemas(self) -> list[dict[str, Any]]:
        """The `tools` parameter of a chat completion."""
        return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": schema_of(t.args)}} for t in TOOLS]

    def call(self, name: Any, arguments: Any) -> ToolResult:
        """Run one tool call as the model sent it (arguments as a JSON string or an object)."""
        tool = self.by_name.get(name) if isinstance(name, str) else None
        if tool is None:
            return ToolResult(error=f"unknown tool {name!r}; the tools are {', '.join(self.names)}")
        if arguments is None or arguments == "":
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as exc:
                return ToolResult(error=f"arguments are not valid JSON ({exc.msg} at {exc.pos}); send a JSON object")
        if not isinstance(arguments, dict):
            return ToolResult(error="arguments must be a JSON object")
        try:
            args = tool.args.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5])
            return ToolResult(error=f"invalid arguments for {tool.name}: {problems}", args=arguments)
        result = self.methods[tool.name](args)
        result.args = args.model_dump(mode="json", exclude_defaults=True)
        return result

    def find_entities(self, args: FindEntities) -> ToolResult:
        links = self.linker.link(args.text)
        ids = [c for m in links.mentions for c in m.candidates[:8]]
        rows = self.graph.nodes(ids)
        mentions, native = [], []
        for m in links.mentions:
            candidates = []
            for node in m.candidates[:8]:
                row = rows.get(node, {})
                candidates.append({"id": node, "name": self.graph.display.get(node) or row.get("name") or ""})
                if row.get("native_id") and self.graph.type_of(node) in ARTIFACTS:
                    native.append(row["native_id"])
            mentions.append({"text": m.text, "type": m.type, "how": m.how, "candidates": candidates,
                             "more": max(0, len(m.candidates) - 8),
                             "other types": {t: ns[:8] for t, ns in m.alternatives.items()}})
        payload = {"entities": mentions, "dates": [d.text for d in links.dates], "quotes": links.quotes}
        return ToolResult(payload, len(mentions), native)

    def resolve(self, entity_id: str) -> str | None:
        """A node id for what the model gave: a node id, or an unambiguous native id."""
        if entity_id in self.graph.types or self.graph.nodes([entity_id]):
            return entity_id
        artifact = self.graph.nodes_for_native([entity_id]).get(entity_id)
        if artifact:
            return artifact
        typed = [f"{t}:{entity_id}" for t in sorted(set(self.graph.types.values()))]
        found = [n for n in typed if n in self.graph.types]
        return found[0] if len(found) == 1 else None

    def follow_relation(self, args: FollowRelation) -> ToolResult:
        node = self.resolve(args.entity_id)
        if node is None:
            return ToolResult(error=f"no entity {args.entity_id!r}; find it with find_entities first")
        forward = args.direction == "forward"
        node_type = self.graph.type_of(node)
        possible = self.graph.steps_from(node_type)
        steps = [s for s in possible if s.rel == args.relation and s.forward == forward
                 and (args.to_type is None or s.to_type == args.to_type)]
        if not steps:
            have = sorted({f"{s.rel} {'forward' if s.forward else 'backward'} to {s.to_type}" for s in possible})
            return ToolResult(error=f"a {node_type} has no {args.relation} {args.direction}"
                                    f"{' to ' + args.to_type if args.to_type else ''}; it has: {', '.join(have) or 'none'}")
        ends: dict[str, dict[str, Any]] = {}
        for step in steps:
            for row in self.graph.follow([node], step):
                end = ends.setdefault(row["end"], {"id": row["end"], "type": step.to_type, "evidence": []})
                end["evidence"].append(row["evidence"])
                if row.get("at") and "at" not in end:
                    end["at"] = row["at"].isoformat()
                if row.get("attrs"):
                    end.setdefault("attrs", {}).update(row["attrs"])
        shown = list(ends.values())[: self.max_rows]
        rows = self.graph.nodes([e["id"] for e in shown])
        native = []
        for end in shown:
            row = rows.get(end["id"], {})
            end["name"] = self.graph.display.get(end["id"]) or row.get("name") or ""
            if row.get("native_id") and end["type"] in ARTIFACTS:
                end["native_id"] = row["native_id"]
                native.append(row["native_id"])
            end["evidence"] = list(dict.fromkeys(e for e in end["evidence"] if e))[:10]
            native += end["evidence"]
        payload = {"from": node, "results": shown, "more": max(0, len(ends) - len(shown))}
        return ToolResult(payload, len(ends), native)

    def search(self, args: Search) -> ToolResult:
        if self.store is None or self.embedder is None:
            return ToolResult(error="this store has no text index; use find_entities and follow_relation")
        query = Query(text=args.query, k=args.k, sources=args.sources, containers=args.containers,
                      since=args.since, until=args.until)
        hits = self.store.search(query, self.embedder.encode([args.query])[0])
        results = [{"native_ids": h.native_ids[:20], "source": h.source, "kind": h.kind, "title": h.title,
                    "container": h.container, "created_at": h.created_at.isoformat() if h.created_at else None,
                    "text": h.text[:600]} for h in hits]
        return ToolResult({"results": results}, len(hits), [n for r in results for n in r["native_ids"]])

    def read(self, args: Read) -> ToolResult:
        row = self.hops.by_native_ids([args.native_id]).get(args.native_id)
        if row is None:
            return ToolResult(error=f"no readable document {args.native_id!r}")
        native = [row["native_id"]]
        text = row["text"] or ""
        if row["source"] == "slack" and row.get("group_id"):
            lines, size, native = [], 0, []
            for m in self.hops.in_groups([row["group_id"]]):
                line = f"[{m['native_id']}] {m['author'] or ''}: {m['text'] or ''}"
                if size + len(line) > self.max_chars and lines:
                    break
                lines.append(line)
                native.append(m["native_id"])
                size += len(line) + 1
            text = "\n".join(lines)
        payload = {"native_id": row["native_id"], "source": row["source"], "kind": row["kind"],
                   "title": row["title"], "url": row["url"], "author": row["author"],
                   "container": row["container"],
                   "created_at": row["created_at"].isoformat() if row.get("created_at") else None,
                   "text": text[: self.max_chars], "truncated": len(text) > self.max_chars}
        return ToolResult(payload, 1, native)

    def plan(self, args: PlanQuestion) -> ToolResult:
        answer = self.offline(args.question)
        cited = [c.native_id for c in answer.citations][: self.max_rows]
        payload = {"answerable": answer.answerable, "kind": answer.kind, "answer_type": answer.answer_type,
                   "items": answer.items[: self.max_rows], "text": answer.text[: self.max_chars],
                   "citations": cited, "more citations": max(0, len(answer.citations) - len(cited))}
        return ToolResult(payload, len(answer.items) or int(answer.answerable), cited)

    def finish(self, args: Finish) -> ToolResult:
        return ToolResult(found=len(args.items) or int(bool(args.text)), finish=args)

    def item_of(self, item: str) -> str:
        """An answer item as the offline answerer gives it: a graph node id becomes the
        person's, pull request's or customer's native id, or the entity's name."""
        item = item.strip()
        if item not in self.graph.types:
            return item
        node_type, _, rest = item.partition(":")
        return rest if node_type in ("person", "pr", "customer", "link") else self.graph.display.get(item) or rest

    def answer_type_of(self, items: list[str]) -> AnswerType:
        """The type of a list answer, from the shape of its items."""
        if items and all("/pull/" in i for i in items):
            return "pr"
        if items and all(i.startswith("http") for i in items):
            return "url"
        for node_type in ("person", "company"):
            if items and all(f"{node_type}:{i}" in self.graph.types for i in items):
                return node_type
        return "content"
