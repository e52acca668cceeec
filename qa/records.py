"""Records of the answerer: question analyses, hops, citations and answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

AnswerType = Literal["person", "company", "pr", "url", "content"]


class Analysis(BaseModel):
    """What a question asks for: answer type, named entities and constraints."""

    question: str
    answer_type: AnswerType = "content"
    product: str | None = None
    product_names: list[str] = Field(default_factory=list)
    previous_names: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    companies: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    doc_type: str | None = None
    constraints: list[str] = Field(default_factory=list)
    aggregate: str | None = None
    topic: str = ""
    topic_terms: list[str] = Field(default_factory=list)

    def has(self, *names: str) -> bool:
        """Whether any of the named constraints is present."""
        return any(n in self.constraints for n in names)


class Hop(BaseModel):
    """One step of answering: what was asked, where it went, what came back."""

    step: str
    action: str
    detail: dict[str, Any] = Field(default_factory=dict)
    found: int = 0


class Trace(list[Hop]):
    """The hops of one answer, in order; each is also handed to `on_hop` as it is taken, so
    a caller can report progress (the API streams them) while the answer is still coming."""

    def __init__(self, on_hop: Callable[[Hop], None] | None = None):
        super().__init__()
        self.on_hop = on_hop

    def append(self, hop: Hop) -> None:
        super().append(hop)
        if self.on_hop is not None:
            self.on_hop(hop)


class Citation(BaseModel):
    """A supporting artifact by native id, with its title and link."""

    native_id: str
    source: str
    title: str = ""
    url: str | None = None


class Answer(BaseModel):
    """A typed answer with citations and the trace of hops that produced it."""

    question: str
    kind: Literal["list", "text"] = "list"
    answer_type: AnswerType = "content"
    items: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    text: str = ""
    answerable: bool = False
    citations: list[Citation] = Field(default_factory=list)
    hops: list[Hop] = Field(default_factory=list)
    seconds: float = 0.0

    def payload(self) -> list[str] | str:
        """The answer in the benchmark's shape: a list of items or a text."""
        return self.items if self.kind == "list" else self.text

    def readable(self) -> str:
        """The answer as a person reads it: one labelled item a line, or the text."""
        if not self.answerable:
            return "No answer in the store."
        if self.kind == "list":
            return "\n".join(f"- {label}" for label in (self.labels or self.items))
        return self.text


class Evidence(BaseModel):
    """What a reader produced: candidates (typed values or prose) and their support."""

    items: list[str] = Field(default_factory=list)
    text: str = ""
    support: list[str] = Field(default_factory=list)
    note: str = ""
