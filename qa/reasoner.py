"""Reasoners: how the offline answerer refines an analysis and words a prose answer. The
rule-based one is the default; LLM mode replaces the whole answerer loop (`qa.llm_agent`)
rather than a reasoner."""

from __future__ import annotations

from typing import Protocol

from qa.records import Analysis, Evidence


class Reasoner(Protocol):
    """What the answerer asks of a reasoner."""

    name: str

    def refine(self, analysis: Analysis) -> Analysis: ...

    def compose(self, analysis: Analysis, evidence: Evidence) -> str: ...


class OfflineReasoner:
    """Keeps the rule-based analysis and answers prose with the supporting statements."""

    name = "offline"

    def __init__(self, max_chars: int = 2500):
        self.max_chars = max_chars

    def refine(self, analysis: Analysis) -> Analysis:
        return analysis

    def compose(self, analysis: Analysis, evidence: Evidence) -> str:
        return evidence.text[: self.max_chars]
