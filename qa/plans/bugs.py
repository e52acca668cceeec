"""Bugs and their outcomes: reports read from the entity's bug channels, kept by the
question's status, customer and person constraints, then aggregated."""

from __future__ import annotations

from qa import bugs as reader
from qa.plans.base import Containers, PlanContext
from qa.records import Analysis, Evidence, Hop

OUTCOMES = ("no_fix", "reopened", "unresolved", "resolved", "dismissed", "active")
NOT_BUGS = ("feature_dev", "approved", "not_approved", "to_merge", "to_close", "reverted")
LIST_TYPES = ("person", "company", "pr", "url")


class BugsPlan:
    name = "bugs"
    sub_questions = ("find the entity's bug-triage channels", "read bug reports and outcomes",
                     "keep bugs meeting the constraints", "resolve customers and engineers", "aggregate")

    def match(self, a: Analysis) -> str | None:
        bugish = a.has(*OUTCOMES) or (a.has("bugs") and (a.companies or a.has("customer") or a.answer_type == "company"))
        if bugish and a.has("bugs") and not a.has(*NOT_BUGS):
            return "asks about bugs and their outcome"
        return None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"slack": ctx.of_entity(a.product, "slack", "bug"), "github": ctx.of_entity(a.product, "github")}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        slack = ctx.messages(containers)
        found = reader.read_bugs(slack, ctx.lexicon)
        trace.append(Hop(step="read", action="bug reports", detail={"messages": len(slack)}, found=len(found)))
        chosen = reader.select_bugs(found, a, ctx.lexicon)
        specific = [t for t in a.topic_terms if t not in reader.GENERIC]
        if a.aggregate is None and len(specific) >= 4 and not a.companies:
            chosen = reader.rank_by_topic(chosen, a.topic_terms)
        trace.append(Hop(step="check", action="constraints", detail={"constraints": a.constraints}, found=len(chosen)))
        if not chosen:
            return Evidence(note="no bug meets the constraints")
        groups = set().union(*(b.groups for b in chosen))
        support = [m["native_id"] for m in slack if m["group_id"] in groups] + [p for b in chosen for p in b.prs]
        if a.answer_type not in LIST_TYPES:
            return Evidence(text="\n".join(f"- {b.title}" for b in chosen), support=support)
        items = reader.aggregate(chosen, a, ctx.lexicon)
        if a.aggregate and items:
            support = [m["native_id"] for m in slack] + [p for b in found for p in b.prs]
        return Evidence(items=items, support=support)
