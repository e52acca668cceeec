"""The multi-hop answerer: analyse, route, run structured and text hops, read, check and
answer with citations, or decline when the evidence does not support an answer."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from index.catalog import Catalog
from index.profile import file_entity
from index.records import Query
from qa import bugs as bug_reader
from qa import readers
from qa.analysis import QuestionAnalyzer
from qa.graphview import GraphView
from qa.lexicon import Lexicon
from qa.linking import Linker
from qa.planner import GraphResult, Planner
from qa.reasoner import OfflineReasoner, Reasoner
from qa.records import Analysis, Answer, Citation, Evidence, Hop, Trace
from qa.router import KnowledgeRouter, Route
from qa.structured import CatalogHops, Principal, principals_of

LIST_TYPES = ("person", "company", "pr", "url")
MAX_CITATIONS = 3000


class Answerer:
    """Answers questions over one store; `store` and `embedder` enable text hops."""

    def __init__(
        self,
        catalog: Catalog,
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
        self.router = KnowledgeRouter(self.lexicon)
        self.hops = CatalogHops(catalog)
        self.max_reformulations = max_reformulations
        self.graph = GraphView(catalog)
        people = self.lexicon.employees.values()
        self.linker = Linker(
            self.graph, roles=self.lexicon.roles,
            locations=sorted({p["location"] for p in people if p.get("location")}),
            orgs=sorted({p["org"] for p in people if p.get("org")}),
        )
        self.planner = Planner(self.graph, catalog, store, embedder)

    def answer(
        self, question: str, principal: Principal = None, on_hop: Callable[[Hop], None] | None = None
    ) -> Answer:
        """Answer one question as the principal (None: trusted local caller); `on_hop` gets
        each hop of the trace as soon as it is taken."""
        start = time.perf_counter()
        analysis = self.reasoner.refine(self.analyzer.analyze(question))
        trace = Trace(on_hop)
        trace.append(Hop(step="analyse", action=self.reasoner.name, detail=analysis.model_dump(exclude={"question"})))
        route = self.router.route(analysis)
        answer = None
        result = self.planner.answer(self.linker.link(question), trace)
        herb_plan = route.plan != "search" and analysis.product is not None
        if result is not None and ((result.answerable and result.complete) or not herb_plan):
            answer = self.finish_graph(analysis, result, trace, principal)
        if answer is None:
            trace.append(route.hop())
            evidence = self.gather(analysis, route, principal, trace)
            evidence = self.with_naming(analysis, evidence, principal)
            answer = self.finish(analysis, evidence, trace, principal)
        answer.seconds = time.perf_counter() - start
        return answer

    def finish_graph(self, analysis: Analysis, result: GraphResult, trace: list[Hop], principal: Principal) -> Answer:
        """The planner's answer, or its decline with the reason."""
        kind = "list" if result.answer_type in LIST_TYPES else "text"
        answer = Answer(question=analysis.question, answer_type=result.answer_type, kind=kind,
                        items=result.items, text=result.text, answerable=result.answerable)
        if answer.answerable:
            answer.citations = self.cite(result.support, principal)
        trace.append(Hop(step="answer", action="answer" if answer.answerable else "decline",
                         detail={"note": result.reason} if result.reason else {},
                         found=len(answer.items) or int(answer.answerable)))
        answer.hops = trace
        return answer

    def gather(self, analysis: Analysis, route: Route, principal: Principal, trace: list[Hop]) -> Evidence:
        plan = route.plan
        slack = self.hops.in_containers("slack", route.containers.get("slack", []), principal)
        if plan == "bugs":
            found = bug_reader.read_bugs(slack, self.lexicon)
            trace.append(Hop(step="read", action="bug reports", detail={"messages": len(slack)}, found=len(found)))
            chosen = bug_reader.select_bugs(found, analysis, self.lexicon)
            specific = [t for t in analysis.topic_terms if t not in bug_reader.GENERIC]
            if analysis.aggregate is None and len(specific) >= 4 and not analysis.companies:
                chosen = bug_reader.rank_by_topic(chosen, analysis.topic_terms)
            trace.append(Hop(step="check", action="constraints", detail={"constraints": analysis.constraints}, found=len(chosen)))
            evidence = self.bug_evidence(analysis, chosen, slack)
            if analysis.aggregate and evidence.items:
                population = [m["native_id"] for m in slack] + [p for b in found for p in b.prs]
                evidence = evidence.model_copy(update={"support": population})
            return evidence
        if plan == "doc_review":
            docs = readers.docs_of(self.hops.of_source("docs", principal), analysis.product or "", analysis.doc_type, self.lexicon)
            meetings = self.hops.in_containers("meetings", route.containers.get("meetings", []), principal)
            trace.append(Hop(step="find", action="documents", detail={"doc_type": analysis.doc_type}, found=len(docs)))
            if not docs:
                return Evidence(note="document not found")
            return readers.read_doc_review(analysis, docs, slack, meetings, self.lexicon)
        if plan == "release_team":
            docs = readers.docs_of(self.hops.of_source("docs", principal), analysis.product or "", None, self.lexicon)
            return readers.read_release_team(analysis, docs, slack, self.lexicon)
        if plan == "feedback":
            return readers.read_feedback(analysis, slack, self.lexicon)
        if plan == "demos":
            return readers.read_demos(analysis, slack)
        if plan == "competitors":
            return readers.read_competitors(analysis, slack)
        if plan == "prs":
            prs = self.hops.in_containers("github", route.containers.get("github", []), principal)
            trace.append(Hop(step="find", action="pull requests", found=len(prs)))
            if analysis.answer_type == "person":
                return self.with_discussion(readers.read_pr_authors(analysis, prs), slack)
            meetings = self.hops.in_containers("meetings", route.containers.get("meetings", []), principal)
            evidence = readers.read_owned_prs(analysis, prs, meetings, self.lexicon)
            trace.append(Hop(step="read", action="task owners in meetings", detail={"note": evidence.note}, found=len(evidence.items)))
            if not evidence.items:
                evidence = readers.read_feature_prs(analysis, prs)
            return self.with_discussion(evidence, slack)
        return self.search(analysis, route, principal, trace)

    def bug_evidence(self, analysis: Analysis, chosen: list, slack: list[dict]) -> Evidence:
        if not chosen:
            return Evidence(note="no bug meets the constraints")
        groups = set().union(*(b.groups for b in chosen))
        support = [m["native_id"] for m in slack if m["group_id"] in groups]
        support += [p for b in chosen for p in b.prs]
        if analysis.answer_type in LIST_TYPES:
            items = bug_reader.aggregate(chosen, analysis, self.lexicon)
            return Evidence(items=items, support=support)
        text = "\n".join(f"- {b.title}" for b in chosen)
        return Evidence(text=text, support=support)

    def with_naming(self, analysis: Analysis, evidence: Evidence, principal: Principal) -> Evidence:
        """Evidence extended with the discussions that renamed the product the question names,
        which tie the question's name to the names used in the evidence."""
        groups = self.lexicon.naming.get(analysis.product or "", [])
        if not groups or not evidence.support:
            return evidence
        naming = [m["native_id"] for m in self.hops.in_groups(groups, principal) if m["source"] == "slack"]
        return evidence.model_copy(update={"support": [*evidence.support, *naming]})

    def with_discussion(self, evidence: Evidence, slack: list[dict]) -> Evidence:
        """Evidence extended with the messages that mention its pull requests."""
        wanted = set(evidence.items) | set(evidence.support)
        groups = {m["group_id"] for m in slack if any(u in (m["text"] or "") for u in wanted)}
        extra = [m["native_id"] for m in slack if m["group_id"] in groups]
        return evidence.model_copy(update={"support": [*evidence.support, *extra]})

    def search(self, analysis: Analysis, route: Route, principal: Principal, trace: list[Hop]) -> Evidence:
        """Text hops: hybrid search filtered to the routed containers, reformulated once."""
        if self.store is None or self.embedder is None or analysis.product is None:
            return Evidence(note="no text index or no entity to search within")
        containers = [c for cs in route.containers.values() for c in cs]
        queries = [analysis.question, analysis.topic]
        hits = []
        principals = principals_of(principal)
        for attempt, text in enumerate(queries[: 1 + self.max_reformulations]):
            vector = self.embedder.encode([text])[0]
            hits = self.store.search(Query(text=text, k=20, containers=containers, principals=principals), vector)
            files = self.store.search(Query(text=text, k=20, sources=["docs"], principals=principals), vector)
            hits += [h for h in files if any(file_entity(n, self.lexicon.aliases) == analysis.product for n in h.native_ids)]
            hits.sort(key=lambda h: -h.score)
            overlap = self.topic_overlap(analysis, hits)
            trace.append(Hop(step="search", action="hybrid", detail={"query": text, "attempt": attempt, "overlap": round(overlap, 2)}, found=len(hits)))
            if overlap >= 0.5:
                break
        else:
            return Evidence(note="search found nothing on the topic")
        texts = [h.text for h in hits[:5]]
        return Evidence(text="\n".join(texts), support=[n for h in hits[:10] for n in h.native_ids])

    @staticmethod
    def topic_overlap(analysis: Analysis, hits: list) -> float:
        terms = {t for t in analysis.topic_terms if len(t) > 3}
        if not terms or not hits:
            return 0.0
        words = set(re.findall(r"[a-z0-9]+", " ".join(h.text for h in hits[:5]).lower()))
        return len(terms & words) / len(terms)

    def finish(self, analysis: Analysis, evidence: Evidence, trace: list[Hop], principal: Principal = None) -> Answer:
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
            answer.citations = self.cite(evidence.support, principal)
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

    def cite(self, native_ids: list[str], principal: Principal = None) -> list[Citation]:
        """Citations with titles and links for supporting native ids, in order, no repeats;
        stored documents the principal may not read are never cited."""
        ids = list(dict.fromkeys(native_ids))[:MAX_CITATIONS]
        rows = self.hops.by_native_ids(ids, principal)
        hidden = set(self.hops.by_native_ids(ids)) - set(rows) if principal is not None else set()
        out = []
        for nid in ids:
            if nid in hidden:
                continue
            row = rows.get(nid)
            out.append(
                Citation(native_id=nid, source=row["source"] if row else "web",
                         title=(row or {}).get("title") or "", url=(row or {}).get("url") or (nid if nid.startswith("http") else None))
            )
        return out
