"""The knowledge router: picks the plan for an analysed question (the first whose match
holds) and routes its hops to the sources and containers whose profiles say they hold its
evidence."""

from __future__ import annotations

from dataclasses import dataclass, field

from qa.plans import PLANS, SEARCH, Plan, PlanContext
from qa.records import Analysis, Hop


@dataclass
class Route:
    """The plan chosen and where each source's evidence for it lives."""

    plan: Plan
    containers: dict[str, list[str]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def hop(self) -> Hop:
        return Hop(
            step="route",
            action=self.plan.name,
            detail={"sub_questions": list(self.plan.sub_questions), "containers": self.containers, "why": self.reasons},
            found=sum(len(v) for v in self.containers.values()),
        )


class KnowledgeRouter:
    """Routes hops to containers using source profiles (entity, purpose, key terms)."""

    def __init__(self, context: PlanContext):
        self.context = context

    def route(self, analysis: Analysis) -> Route:
        if analysis.product is None:
            return Route(plan=SEARCH, reasons=["no known entity named: search the whole store"])
        plan, why = next(((p, w) for p in PLANS if (w := p.match(analysis))), (SEARCH, SEARCH.match(analysis)))
        names = ", ".join(self.context.lexicon.names_of.get(analysis.product, []))
        return Route(plan=plan, containers=plan.route(analysis, self.context),
                     reasons=[why, f"entity {analysis.product} (known as {names})"])
