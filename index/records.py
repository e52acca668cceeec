"""Records of the index: search queries and hits."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Mode = Literal["hybrid", "vector", "text"]


class Query(BaseModel, frozen=True):
    """A search over chunks: text, mode and filters.

    `principal` and `groups` restrict hits to chunks whose ACL names one of them or "*";
    with neither given, the caller is trusted (the CLI on the store's own machine).
    """

    text: str
    k: int = Field(default=10, ge=1, le=1000)
    mode: Mode = "hybrid"
    sources: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    containers: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    group_ids: list[str] = Field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    principals: list[str] | None = None


class Hit(BaseModel, frozen=True):
    """One chunk returned by a search, with the artifacts it cites."""

    chunk_id: str
    score: float
    text: str
    source: str
    kind: str
    title: str
    url: str | None
    container: str | None
    group_id: str
    doc_ids: list[str]
    native_ids: list[str]
    people: list[str]
    created_at: datetime | None
