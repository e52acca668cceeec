"""Request and response records of the serving wing (HTTP API, MCP, Slack bot), with the
limits that bound every input and the one set of limit defaults."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from index.records import Hit

MAX_QUESTION_CHARS = 2000
MAX_K = 100
MAX_FILTER_VALUES = 50
MAX_MESSAGES = 100
MAX_MESSAGE_CHARS = 16000
MAX_DOC_ID_CHARS = 2048

Name = Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]+$")]
Question = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"^[^\x00]*[^\x00\s][^\x00]*$")
]


class ApiLimits(BaseModel, frozen=True):
    """Server-side limits, the one place their defaults live: body size, per-key rate (a
    token bucket), failed keys per client address (another bucket: once empty, keys from
    that address are checked slowly, see `KeyGuard`), the proxies whose `X-Forwarded-For`
    is believed, chunk searches at once, caches and refresh."""

    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_per_minute: float = Field(default=120.0, gt=0)
    burst: int = Field(default=30, ge=1)
    failed_keys_per_minute: float = Field(default=10.0, gt=0)
    failed_keys_burst: int = Field(default=20, ge=1)
    refresh_s: float = Field(default=2.0, ge=0)
    answerers: int = Field(default=16, ge=1)
    searches: int = Field(default=4, ge=1)
    chat_citations: int = Field(default=10, ge=0)
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def networks(cls, value: list[str]) -> list[str]:
        """Each entry an IP address or network (`10.0.0.0/8`)."""
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value


class ServeError(Exception):
    """A request that cannot be served: an HTTP-like `status`, a machine-readable `type`, a
    message for the caller, and for 429 the seconds until it may retry."""

    def __init__(self, status: int, type_: str, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.retry_after = retry_after


class ErrorBody(BaseModel):
    type: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body."""

    error: ErrorBody


class AskRequest(BaseModel):
    """A question; `stream` asks for Server-Sent Events (one per hop, then the answer)."""

    model_config = ConfigDict(extra="forbid")

    question: Question
    stream: bool = False


class SearchRequest(BaseModel):
    """A hybrid (or vector, or full-text) search with filters."""

    model_config = ConfigDict(extra="forbid")

    query: Question
    k: int = Field(default=10, ge=1, le=MAX_K)
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    sources: list[Name] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    kinds: list[Name] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    containers: list[Name] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    people: list[Name] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("since", "until")
    @classmethod
    def utc_in_range(cls, value: datetime | None) -> datetime | None:
        """A date as naive UTC, between the years 1900 and 2200."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if not 1900 <= value.year <= 2200:
            raise ValueError("dates must fall between the years 1900 and 2200")
        return value


class SearchResponse(BaseModel):
    count: int
    hits: list[Hit]


class DocumentResponse(BaseModel):
    """One document the caller may read, with its link at the source."""

    id: str
    source: str
    native_id: str
    kind: str
    title: str
    url: str | None
    author: str | None
    people: list[str]
    container: str | None
    created_at: datetime | None
    updated_at: datetime | None
    text: str
    meta: dict[str, Any]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Annotated[str, StringConstraints(max_length=50)]
    text: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)] | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: (
        Annotated[str, StringConstraints(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[ContentPart], Field(max_length=50)]
        | None
    ) = None

    def plain_text(self) -> str:
        """The message's text, with the text parts of a multi-part content joined."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatRequest(BaseModel):
    """An OpenAI chat completion request; the last user message is the question."""

    model_config = ConfigDict(extra="ignore")

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "quarry"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ChatReply(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatReply
    finish_reason: Literal["stop"] = "stop"


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCitation(BaseModel):
    native_id: str
    source: str
    title: str
    url: str | None


class ChatCompletion(BaseModel):
    """An OpenAI chat completion, plus `citations` (every supporting artifact) and `answerable`."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    citations: list[ChatCitation]
    answerable: bool
