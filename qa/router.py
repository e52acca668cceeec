"""The knowledge router: picks a plan of dependent hops for an analysed question and routes
each hop to the sources and containers whose profiles say they hold its evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qa.lexicon import Lexicon
from qa.records import Analysis, Hop

BUG_WORDS = ("no_fix", "reopened", "unresolved", "resolved", "dismissed", "active")
PLANS = {
    "bugs": ["find the entity's bug-triage channels", "read bug reports and outcomes",
             "keep bugs meeting the constraints", "resolve customers and engineers", "aggregate"],
    "doc_review": ["find the entity's documents of the type", "find where they were discussed",
                   "read authors, reviewers and suggestions", "filter by role"],
    "demos": ["find the entity's channels", "read shared demo links", "keep competitor or own-release links"],
    "competitors": ["find the entity's channels", "find competitor discussions", "read what was said"],
    "prs": ["find the pull requests meetings name for the topic and who was assigned it",
            "find those and the assignees' pull requests in the entity's repositories", "check review and merge state"],
    "release_team": ["find the entity's documents", "keep versions superseded by newer ones", "read their authors",
                     "filter by role", "find where the earlier versions were shared"],
    "feedback": ["find the entity's planning channels", "find threads of customer or QA feedback", "read statements and customers"],
    "search": ["route the question to likely containers", "hybrid search", "read the best passages"],
}


@dataclass
class Route:
    """Where each source's evidence for a plan lives."""

    plan: str
    containers: dict[str, list[str]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def hop(self) -> Hop:
        return Hop(
            step="route",
            action=self.plan,
            detail={"sub_questions": PLANS[self.plan], "containers": self.containers, "why": self.reasons},
            found=sum(len(v) for v in self.containers.values()),
        )


def choose_plan(analysis: Analysis) -> tuple[str, str]:
    """The plan for a question and why it was chosen."""
    a = analysis
    if a.doc_type and (a.roles or a.has("reviewed", "authored", "suggestions")):
        return "doc_review", f"names a document type ({a.doc_type})"
    if a.has("demo") and a.answer_type in ("url", "person"):
        return "demos", "asks for shared demos"
    if a.has("previous_release") and a.answer_type == "person" and not a.has("demo"):
        return "release_team", "asks who worked on an earlier release"
    if a.has("previous_release") and not a.has("demo"):
        return "feedback", "asks about feedback on an earlier release"
    if a.has("competitor"):
        return "competitors", "asks about competitor products"
    bugish = a.has(*BUG_WORDS) or (a.has("bugs") and (a.companies or a.has("customer") or a.answer_type == "company"))
    if bugish and a.has("bugs") and not a.has("feature_dev", "approved", "not_approved", "to_merge", "to_close", "reverted"):
        return "bugs", "asks about bugs and their outcome"
    if a.answer_type == "pr" or re.search(r"\bPRs?\b|pull request", a.question, re.IGNORECASE):
        return "prs", "asks about pull requests"
    return "search", "no structured source answers it directly"


class KnowledgeRouter:
    """Routes hops to containers using source profiles (entity, purpose, key terms)."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon

    def route(self, analysis: Analysis) -> Route:
        plan, why = choose_plan(analysis)
        route = Route(plan=plan, reasons=[why])
        entity = analysis.product
        if entity is None:
            route.reasons.append("no known entity named: search the whole store")
            route.plan = "search" if plan != "doc_review" else plan
            return route
        lex = self.lexicon
        route.reasons.append(f"entity {entity} (known as {', '.join(lex.names_of.get(entity, []))})")
        slack = lex.containers_of(entity, "slack")
        if plan == "bugs":
            purpose = [p for p in slack if p.get("purpose") == "bug"]
            route.containers["slack"] = [p["container"] for p in purpose]
            route.containers["github"] = [p["container"] for p in lex.containers_of(entity, "github")]
        elif plan == "doc_review":
            route.containers["slack"] = [p["container"] for p in slack]
            route.containers["meetings"] = [p["container"] for p in lex.containers_of(entity, "meetings")]
            route.containers["docs"] = ["*"]
        elif plan == "release_team":
            route.containers["docs"] = ["*"]
            route.containers["slack"] = [p["container"] for p in slack if p.get("purpose") == "planning"]
        elif plan == "feedback":
            route.containers["slack"] = [p["container"] for p in slack if p.get("purpose") == "planning"]
        elif plan in ("demos", "competitors"):
            route.containers["slack"] = [p["container"] for p in slack if p.get("purpose") != "bug"]
        elif plan == "prs":
            route.containers["github"] = [p["container"] for p in lex.containers_of(entity, "github")]
            route.containers["slack"] = [p["container"] for p in slack if p.get("purpose") == "develop"]
            route.containers["meetings"] = [p["container"] for p in lex.containers_of(entity, "meetings")]
        else:
            route.containers = self.rank_containers(analysis, entity)
        return route

    def rank_containers(self, analysis: Analysis, entity: str) -> dict[str, list[str]]:
        """The entity's containers, ordered by overlap of their key terms with the topic."""
        terms = set(analysis.topic_terms)
        out: dict[str, list[str]] = {}
        for profile in sorted(
            self.lexicon.containers_of(entity),
            key=lambda p: -len(terms & set(p.get("terms") or [])),
        ):
            out.setdefault(profile["source"], []).append(profile["container"])
        return out
