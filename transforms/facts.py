"""What a document file says about itself, and the pieces its text is rendered from: the
records every reader returns, and helpers for metadata values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ParseError(Exception):
    """A document file that cannot be read, or that yields no text."""


@dataclass
class FileFacts:
    """What a file says about itself; any of it may be missing."""

    title: str | None = None
    author: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    url: str | None = None
    doc_type: str | None = None
    people: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """One rendered piece of a document: a heading (with its level) or a paragraph."""

    text: str
    level: int = 0


def first(values: dict[str, Any], *keys: str) -> Any:
    """The first non-empty value among `keys`."""
    return next((values[k] for k in keys if values.get(k) not in (None, "")), None)


def text_value(value: Any) -> str | None:
    """A metadata value as a stripped string, None when empty."""
    text = str(value).strip() if value is not None else ""
    return text or None


def is_url(value: str) -> bool:
    """Whether a metadata value is an http(s) URL."""
    return value.strip().lower().startswith(("http://", "https://"))


def first_url(values: Any) -> str | None:
    """The first value that is an http(s) URL."""
    return next((v.strip() for v in values if v and is_url(v)), None)
