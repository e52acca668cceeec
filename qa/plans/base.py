"""The interface of a plan: whether it fits an analysed question, where its evidence lives,
and how it gathers it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from qa.lexicon import Lexicon
from qa.records import Analysis, Evidence, Hop
from qa.structured import CatalogHops

Containers = dict[str, list[str]]


@dataclass
class PlanContext:
    """What a plan reads: the caller's catalog hops and vocabulary, and the chunk store."""

    hops: CatalogHops
    lexicon: Lexicon
    store: Any | None = None
    embedder: Any | None = None
    max_reformulations: int = 1

    def messages(self, containers: Containers) -> list[dict[str, Any]]:
        """Every Slack message of the routed channels, oldest first."""
        return self.hops.in_containers("slack", containers.get("slack", []))

    def of_entity(self, entity: str, source: str, purpose: str | None = None) -> list[str]:
        """Containers of a source that belong to an entity (of one purpose, when given)."""
        return [p["container"] for p in self.lexicon.containers_of(entity, source, purpose)]


class Plan(Protocol):
    """One family of questions the graph holds no relation for."""

    name: str
    sub_questions: tuple[str, ...]

    def match(self, analysis: Analysis) -> str | None:
        """Why the plan fits the question, or None."""

    def route(self, analysis: Analysis, ctx: PlanContext) -> Containers:
        """Source -> containers that hold the plan's evidence for the question's entity."""

    def gather(self, analysis: Analysis, containers: Containers, ctx: PlanContext, trace: list[Hop]) -> Evidence:
        """Evidence for the question from the routed containers."""


def with_discussion(evidence: Evidence, messages: list[dict[str, Any]]) -> Evidence:
    """Evidence extended with the conversations that mention its items or support."""
    wanted = set(evidence.items) | set(evidence.support)
    groups = {m["group_id"] for m in messages if any(u in (m["text"] or "") for u in wanted)}
    extra = [m["native_id"] for m in messages if m["group_id"] in groups]
    return evidence.model_copy(update={"support": [*evidence.support, *extra]})
