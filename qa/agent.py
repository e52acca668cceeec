"""The multi-hop answerer: link the question's entities and plan a graph path; or route it
to a plan for evidence the graph holds as text; read, check and answer with citations, or
decline when the evidence does not support an answer.

The answerer reads one catalog and one chunk store; a caller who may not read everything
gets an answerer over their permitted view (`qa.permitted`), so nothing here filters by
reader.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from qa.analysis import QuestionAnalyzer
from qa.graphview import GraphView
from qa.lexicon import Lexicon
from qa.linking import Linker, Links
from qa.planner import GraphResult, Planner
from qa.plans import SEARCH, PlanContext
from qa.reasoner import OfflineReasoner, Reasoner
from qa.records import Analysis, Answer, Citation, Evidence, Hop, Trace
from qa.render import label_items
from qa.router import KnowledgeRouter
from qa.structured import CatalogHops

LIST_TYPES = ("person", "company", "pr", "url")
MAX_CITATIONS = 3000
NAME_LIKE = re.compile(
    r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b|\b[A-Za-z]+[a-z][A-Z][A-Za-z]*\b|(?<=[a-z,] )[A-Z][a-z]{2,}\b"
)


class Answerer:
    """Answers questions over one store; `store` and `embedder` enable text hops."""

    def __init__(
        self,
        catalog: Any,
        store: Any | None = None,
        embedder: Any | None = None,
        reasoner: Reasoner | None = None,
        max_reformulations: int = 1,
    ):
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.reasoner = reasoner or OfflineReasoner()
        self.lexicon = Lexicon.from_catalog(catalog)
        self.analyzer = QuestionAnalyzer(self.lexicon)
        self.hops = CatalogHops(catalog)
        self.context = PlanContext(self.hops, self.lexicon, store, embedder, max_reformulations)
        self.router = KnowledgeRouter(self.context)
        self.graph = GraphView(catalog)
        people = self.lexicon.employees.values()
        self.linker = Linker(
            self.graph, roles=self.lexicon.roles,
            locations=sorted({p["location"] for p in people if p.get("location")}),
            orgs=sorted({p["org"] for p in people if p.get("org")}),
        )
        self.planner = Planner(self.graph, catalog, store, embedder)

    def answer(self, question: str, on_hop: Callable[[Hop], None] | None = None) -> Answer:
        """Answer one question; `on_hop` gets each hop of the trace as soon as it is taken.

        A complete graph path answers; a question the graph cannot fully account for goes
        to the plan its analysis matches, else to text search."""
        start = time.perf_counter()
        analysis = self.reasoner.refine(self.analyzer.analyze(question))
        trace = Trace(on_hop)
        trace.append(Hop(step="analyse", action=self.reasoner.name, detail=analysis.model_dump(exclude={"question"})))
        route = self.router.route(analysis)
        links = self.linker.link(question)
        result = self.planner.answer(links, trace)
        if result is not None and ((result.answerable and result.complete) or route.plan is SEARCH):
            answer = self.finish_graph(analysis, result, trace)
        else:
            trace.append(route.hop())
            unknown = self.unknown_names(links) if route.plan is SEARCH and analysis.product is None else []
            if unknown:
                evidence = Evidence(note=f"the store knows nothing named {', '.join(repr(u) for u in unknown)}")
            else:
                evidence = route.plan.gather(analysis, route.containers, self.context, trace)
            answer = self.finish(analysis, self.with_naming(analysis, evidence), trace)
        answer.labels = label_items(answer.items, answer.answer_type, self.graph)
        answer.seconds = time.perf_counter() - start
        return answer

    def unknown_names(self, links: Links) -> list[str]:
        """Names the question gives (capitalised words within it, CamelCase) that link to
        nothing and that no indexed document holds: entities the store does not have."""
        linked = [(m.start, m.end) for m in links.mentions]
        spans = [m for m in NAME_LIKE.finditer(links.question) if not any(s < m.end() and m.start() < e for s, e in linked)]
        out = []
        for m in spans:
            found = self.catalog.query(
                "SELECT 1 FROM documents WHERE status = 'indexed' AND (text ILIKE ? OR title ILIKE ?) LIMIT 1",
                [f"%{m.group(0)}%", f"%{m.group(0)}%"])
            if not found:
                out.append(m.group(0))
        return out

    def finish_graph(self, analysis: Analysis, result: GraphResult, trace: list[Hop]) -> Answer:
        """The planner's answer, or its decline with the reason."""
        kind = "list" if result.answer_type in LIST_TYPES else "text"
        answer = Answer(question=analysis.question, answer_type=result.answer_type, kind=kind,
                        items=result.items, text=result.text, answerable=result.answerable)
        if answer.answerable:
            answer.citations = self.cite(result.support)
        trace.append(Hop(step="answer", action="answer" if answer.answerable else "decline",
                         detail={"note": result.reason} if result.reason else {},
                         found=len(answer.items) or int(answer.answerable)))
        answer.hops = trace
        return answer

    def with_naming(self, analysis: Analysis, evidence: Evidence) -> Evidence:
        """Evidence extended with the discussions that renamed the product the question names,
        which tie the question's name to the names used in the evidence."""
        groups = self.lexicon.naming.get(analysis.product or "", [])
        if not groups or not evidence.support:
            return evidence
        naming = [m["native_id"] for m in self.hops.in_groups(groups) if m["source"] == "slack"]
        return evidence.model_copy(update={"support": [*evidence.support, *naming]})

    def finish(self, analysis: Analysis, evidence: Evidence, trace: list[Hop]) -> Answer:
        answer = Answer(question=analysis.question, answer_type=analysis.answer_type, hops=trace)
        if analysis.answer_type in LIST_TYPES:
            answer.kind = "list"
            answer.items = [i for i in evidence.items if self.is_typed(analysis, i)]
            answer.answerable = bool(answer.items)
        else:
            answer.kind = "text"
            answer.text = self.reasoner.compose(analysis, evidence) if evidence.text else ""
            answer.answerable = bool(answer.text.strip())
        if answer.answerable:
            answer.citations = self.cite(evidence.support)
        trace.append(
            Hop(step="answer", action="answer" if answer.answerable else "decline",
                detail={"note": evidence.note} if evidence.note else {}, found=len(answer.items) or int(answer.answerable))
        )
        answer.hops = trace
        return answer

    def is_typed(self, analysis: Analysis, item: str) -> bool:
        """Whether a candidate has the asked-for type (an id in the directory, a company, a URL)."""
        if analysis.answer_type == "person":
            return item in self.lexicon.employees
        if analysis.answer_type == "company":
            return item in self.lexicon.companies
        if analysis.answer_type == "pr":
            return "/pull/" in item
        return item.startswith("http")

    def cite(self, native_ids: list[str]) -> list[Citation]:
        """Citations with titles and links for supporting native ids, in order, no repeats;
        an id the catalog does not hold (a URL a message names) is cited as a web link."""
        ids = list(dict.fromkeys(native_ids))[:MAX_CITATIONS]
        rows = self.hops.by_native_ids(ids)
        out = []
        for nid in ids:
            row = rows.get(nid)
            out.append(
                Citation(native_id=nid, source=row["source"] if row else "web",
                         title=(row or {}).get("title") or "", url=(row or {}).get("url") or (nid if nid.startswith("http") else None))
            )
        return out
