"""The text plan: hybrid search over the containers whose profiles best fit the topic (the
whole store when the question names no entity), reformulated once, and the passages'
sentences that answer the question."""

from __future__ import annotations

import re

from index.profile import file_entity
from index.records import Query
from qa.plans.base import Containers, PlanContext
from qa.records import Analysis, Evidence, Hop
from qa.sentences import answering_sentences


class SearchPlan:
    name = "search"
    sub_questions = ("route the question to likely containers", "hybrid search", "read the best passages")

    def match(self, a: Analysis) -> str | None:
        return "no structured source answers it directly"

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        """The entity's containers, ordered by overlap of their key terms with the topic."""
        if a.product is None:
            return {}
        terms = set(a.topic_terms)
        out: Containers = {}
        for profile in sorted(ctx.lexicon.containers_of(a.product), key=lambda p: -len(terms & set(p.get("terms") or []))):
            out.setdefault(profile["source"], []).append(profile["container"])
        return out

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        if ctx.store is None or ctx.embedder is None:
            return Evidence(note="no text index")
        scoped = [c for cs in containers.values() for c in cs]
        hits: list = []
        for attempt, text in enumerate([a.question, a.topic][: 1 + ctx.max_reformulations]):
            vector = ctx.embedder.encode([text])[0]
            hits = ctx.store.search(Query(text=text, k=20, containers=scoped), vector)
            if a.product:
                files = ctx.store.search(Query(text=text, k=20, sources=["docs"]), vector)
                hits += [h for h in files if any(file_entity(n, ctx.lexicon.aliases) == a.product for n in h.native_ids)]
            hits.sort(key=lambda h: -h.score)
            overlap = topic_overlap(a, hits)
            trace.append(Hop(step="search", action="hybrid", detail={
                "query": text, "attempt": attempt, "overlap": round(overlap, 2),
                "routed": "the entity's containers" if scoped else "the whole store"}, found=len(hits)))
            if overlap >= 0.5:
                break
        else:
            return Evidence(note="search found nothing on the topic")
        text = answering_sentences(a.question, hits[:5], ctx.embedder)
        return Evidence(text=text, support=[n for h in hits[:10] for n in h.native_ids])


def topic_overlap(a: Analysis, hits: list) -> float:
    terms = {t for t in a.topic_terms if len(t) > 3}
    if not terms or not hits:
        return 0.0
    words = set(re.findall(r"[a-z0-9]+", " ".join(h.text for h in hits[:5]).lower()))
    return len(terms & words) / len(terms)
