"""Pull requests of a feature: those meetings name for the topic and those of the people
assigned it, checked for review and merge state; or the authors of the PRs that meet it."""

from __future__ import annotations

import re

from qa import readers
from qa.plans.base import Containers, PlanContext, with_discussion
from qa.records import Analysis, Evidence, Hop


class PullRequestsPlan:
    name = "prs"
    sub_questions = ("find the pull requests meetings name for the topic and who was assigned it",
                     "find those and the assignees' pull requests in the entity's repositories",
                     "check review and merge state")

    def match(self, a: Analysis) -> str | None:
        if a.answer_type == "pr" or re.search(r"\bPRs?\b|pull request", a.question, re.IGNORECASE):
            return "asks about pull requests"
        return None

    def route(self, a: Analysis, ctx: PlanContext) -> Containers:
        return {"github": ctx.of_entity(a.product, "github"), "slack": ctx.of_entity(a.product, "slack", "develop"),
                "meetings": ctx.of_entity(a.product, "meetings")}

    def gather(self, a: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        prs = ctx.hops.in_containers("github", containers.get("github", []))
        trace.append(Hop(step="find", action="pull requests", found=len(prs)))
        slack = ctx.messages(containers)
        if a.answer_type == "person":
            return with_discussion(readers.read_pr_authors(a, prs), slack)
        meetings = ctx.hops.in_containers("meetings", containers.get("meetings", []))
        evidence = readers.read_owned_prs(a, prs, meetings, ctx.lexicon)
        trace.append(Hop(step="read", action="task owners in meetings", detail={"note": evidence.note},
                         found=len(evidence.items)))
        if not evidence.items:
            evidence = readers.read_feature_prs(a, prs)
        return with_discussion(evidence, slack)
