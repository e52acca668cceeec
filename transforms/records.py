"""Records the transforms produce: chunks of text ready for the index."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, Field


class Chunk(BaseModel, frozen=True):
    """A passage of one group of documents, with the native ids of every artifact it holds.

    `id` is a hash of everything but the vector, so an unchanged chunk keeps its id (and its
    vector) across runs and any change to its text or metadata gives a new one.
    """

    id: str = ""
    group_id: str
    ordinal: int
    text: str
    source: str
    kind: str
    title: str = ""
    url: str | None = None
    container: str | None = None
    doc_ids: list[str] = Field(default_factory=list)
    native_ids: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    acl: list[str] = Field(default_factory=lambda: ["*"])
    created_at: datetime | None = None
    updated_at: datetime | None = None
    vector: list[float] | None = None

    def model_post_init(self, _context: object) -> None:
        if not self.id:
            payload = self.model_dump(mode="json", exclude={"id", "vector"})
            digest = hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            object.__setattr__(self, "id", digest)
