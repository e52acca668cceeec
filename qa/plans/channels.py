"""Plans read from an entity's channels: feedback on an earlier release, shared demos, and
competitor discussions."""

from __future__ import annotations

from qa import readers
from qa.plans.base import Containers, PlanContext
from qa.records import Analysis, Evidence, Hop


class FeedbackPlan:
    name = "feedback"
    sub_questions = ("find the entity's planning channels", "find threads of customer or QA feedback",
                     "read statements and customers")

    def match(self, a: Analysis) -> str | None:
        if a.has("previous_release") and not a.has("demo"):
            return "asks about feedback on an earlier release"
        return None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"slack": ctx.of_entity(a.product, "slack", "planning")}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        return readers.read_feedback(a, ctx.messages(containers), ctx.lexicon)


class DemosPlan:
    name = "demos"
    sub_questions = ("find the entity's channels", "read shared demo links", "keep competitor or own-release links")

    def match(self, a: Analysis) -> str | None:
        return "asks for shared demos" if a.has("demo") and a.answer_type in ("url", "person") else None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"slack": [p["container"] for p in ctx.lexicon.containers_of(a.product, "slack") if p.get("purpose") != "bug"]}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        return readers.read_demos(a, ctx.messages(containers))


class CompetitorsPlan(DemosPlan):
    name = "competitors"
    sub_questions = ("find the entity's channels", "find competitor discussions", "read what was said")

    def match(self, a: Analysis) -> str | None:
        return "asks about competitor products" if a.has("competitor") else None

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        return readers.read_competitors(a, ctx.messages(containers))
