"""Records every connector produces: source documents, failures, pages and errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field, field_validator

SOURCES = ("slack", "github", "docs", "meetings", "links", "directory")
RESERVED = "quarry:"
UNRESOLVED = RESERVED + "unresolved"
CONTAINER = RESERVED + "container/"


def is_utf8(value: Any) -> bool:
    """Whether every string of a JSON value is valid UTF-8 (no lone surrogates, which stand
    for undecodable bytes)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_safe(text: str) -> str:
    """Text that any store can hold: lone surrogates become `\\udcNN` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def container_ref(source: str, container: str) -> str:
    """The ACL entry of a document whose readers are its container's, resolved at query time
    from the container ACLs of the latest sync (`Page.containers`)."""
    return f"{CONTAINER}{source}/{container}"


class SourceDoc(BaseModel, frozen=True):
    """One artifact as its source knows it: a message, a file, a pull request, a link, a person.

    `group` names the unit the transforms chunk together (a Slack thread or channel-day, one
    file, one PR with its reviews); it defaults to the document's own id.
    """

    id: str
    source: str
    native_id: str
    kind: str
    title: str = ""
    text: str = ""
    url: str | None = None
    author: str | None = None
    people: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    container: str | None = None
    group: str = ""
    acl: list[str] = Field(default_factory=lambda: ["*"])
    meta: dict[str, str] = Field(default_factory=dict)

    @field_validator("created_at", "updated_at")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """Dates are UTC and aware (a naive date is taken as UTC)."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def model_post_init(self, _context: Any) -> None:
        if not self.group:
            object.__setattr__(self, "group", self.id)

    @property
    def content_hash(self) -> str:
        """Hash of everything that reaches the index: equal hashes mean nothing to re-embed."""
        payload = self.model_dump(mode="json")
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def doc_id(source: str, native_id: str) -> str:
    """The stable document id for a native id of a source."""
    return f"{source}:{native_id}"


class Failure(BaseModel, frozen=True):
    """An input that could not be read; recorded in the catalog, never fatal to a run.

    `input` names what was read to find it (a file, a day file, a listing; default the
    native id): the row clears when a later pull finishes that input again without it.
    """

    source: str
    native_id: str
    reason: str
    input: str = ""

    @field_validator("native_id", "reason", "input")
    @classmethod
    def storable(cls, value: str) -> str:
        return utf8_safe(value)

    def model_post_init(self, _context: Any) -> None:
        if not self.input:
            object.__setattr__(self, "input", self.native_id)


T = TypeVar("T")


def guarded(read: Callable[[], T], source: str, native_id: str, input: str = "") -> T | Failure:
    """`read()`, or the Failure of any error it raises (deep nesting, a parser bug, a file
    that vanished): one bad input never ends a run."""
    try:
        return read()
    except Exception as error:  # noqa: BLE001 - whatever one input raises is its failure
        reason = f"{type(error).__name__}: {error}"
        return Failure(source=source, native_id=native_id, input=input, reason=reason)


class Page(BaseModel, frozen=True):
    """What one pull step yields: documents, failures and the cursor that follows them.

    The flow saves `cursor` only after the page's documents are indexed. `None` means the
    page does not move the cursor (a connector may yield several pages per cursor step).
    `finished` names the inputs read in full (or found gone) by this page and those before
    it: failures earlier runs recorded for them are cleared. `containers` maps the
    `container_ref` of each container the page saw to its readers now (`UNRESOLVED` when
    they cannot be known); the readers of documents whose ACL is that ref follow them.
    """

    docs: list[SourceDoc] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    cursor: dict[str, Any] | None = None
    finished: list[str] = Field(default_factory=list)
    containers: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("finished")
    @classmethod
    def storable(cls, value: list[str]) -> list[str]:
        return [utf8_safe(v) for v in value]


class TransientError(Exception):
    """An error that may pass on retry: HTTP 429 / 5xx, timeouts, dropped connections."""


class TerminalError(Exception):
    """An error that retrying will not fix: bad credentials, a missing export, bad config."""


class IncompleteListing(Exception):
    """`list_ids` could not read part of the source; deletions must not be inferred this run."""


class Connector(Protocol):
    """A source of documents.

    `pull(cursor)` yields pages of new or changed documents since `cursor` (everything when
    `cursor` is None). `list_ids()` yields the native ids of every document the source holds
    now; the flow removes from the store what it no longer lists. When part of the source
    cannot be read, `list_ids` raises IncompleteListing rather than leave ids out.
    """

    source: str

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]: ...

    def list_ids(self) -> Iterator[str]: ...
