"""Document plans: who wrote and reviewed a document of a type and what they suggested, and
who worked on the releases its earlier versions belong to."""

from __future__ import annotations

from qa import readers
from qa.plans.base import Containers, PlanContext
from qa.records import Analysis, Evidence, Hop


class DocReviewPlan:
    name = "doc_review"
    sub_questions = ("find the entity's documents of the type", "find where they were discussed",
                     "read authors, reviewers and suggestions", "filter by role")

    def match(self, a: Analysis) -> str | None:
        if a.doc_type and (a.roles or a.has("reviewed", "authored", "suggestions")):
            return f"names a document type ({a.doc_type})"
        return None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"slack": ctx.of_entity(a.product, "slack"), "meetings": ctx.of_entity(a.product, "meetings"),
                "docs": ["*"]}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        docs = readers.docs_of(ctx.hops.of_source("docs"), a.product or "", a.doc_type, ctx.lexicon)
        trace.append(Hop(step="find", action="documents", detail={"doc_type": a.doc_type}, found=len(docs)))
        if not docs:
            return Evidence(note="document not found")
        meetings = ctx.hops.in_containers("meetings", containers.get("meetings", []))
        return readers.read_doc_review(a, docs, ctx.messages(containers), meetings, ctx.lexicon)


class ReleaseTeamPlan:
    name = "release_team"
    sub_questions = ("find the entity's documents", "keep versions superseded by newer ones", "read their authors",
                     "filter by role", "find where the earlier versions were shared")

    def match(self, a: Analysis) -> str | None:
        if a.has("previous_release") and a.answer_type == "person" and not a.has("demo"):
            return "asks who worked on an earlier release"
        return None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"docs": ["*"], "slack": ctx.of_entity(a.product, "slack", "planning")}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        docs = readers.docs_of(ctx.hops.of_source("docs"), a.product or "", None, ctx.lexicon)
        return readers.read_release_team(a, docs, ctx.messages(containers), ctx.lexicon)
