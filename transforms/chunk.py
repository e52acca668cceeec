"""Chunk a group of documents by source: conversations, speaker turns, titled sections."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connectors.records import SourceDoc
from transforms.records import Chunk

MAX_WORDS = 160
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


@dataclass(frozen=True)
class Unit:
    """The smallest piece a chunk is packed from: a message, a speaker turn, a paragraph."""

    text: str
    doc: SourceDoc
    heading: str = ""


def chunk_group(docs: Sequence[SourceDoc], max_words: int = MAX_WORDS) -> list[Chunk]:
    """Chunk the documents of one group (a Slack channel-day or thread, a file, a PR)."""
    if not docs:
        return []
    ordered = sorted(docs, key=lambda d: (d.created_at is None, d.created_at, d.native_id))
    units = [u for doc in ordered for u in split_units(doc)]
    return [
        build_chunk(ordinal, packed) for ordinal, packed in enumerate(pack(units, max_words))
    ]


def split_units(doc: SourceDoc) -> list[Unit]:
    """Split one document into units according to its kind."""
    if doc.kind == "message":
        speaker = doc.meta.get("user_name") or doc.author or "unknown"
        return [Unit(f"{speaker}: {doc.text}".strip(), doc)] if doc.text.strip() else []
    if doc.kind == "document":
        return section_units(doc)
    lines = [line.strip() for line in doc.text.splitlines()]
    return [Unit(line, doc) for line in lines if line]


def section_units(doc: SourceDoc) -> list[Unit]:
    """Paragraphs of a markdown-rendered document, each tagged with its section heading."""
    units: list[Unit] = []
    heading = ""
    for block in re.split(r"\n\s*\n", doc.text):
        lines = [line for line in block.strip().splitlines() if line.strip()]
        body: list[str] = []
        for line in lines:
            match = HEADING.match(line.strip())
            if match:
                if body:
                    units.append(Unit(" ".join(body), doc, heading))
                    body = []
                heading = match.group(2).strip()
            else:
                body.append(line.strip())
        if body:
            units.append(Unit(" ".join(body), doc, heading))
    return units


def pack(units: Iterable[Unit], max_words: int) -> list[list[Unit]]:
    """Greedily pack consecutive units into chunks of at most `max_words` words.

    A new section heading starts a new chunk; a unit longer than the limit is split.
    """
    chunks: list[list[Unit]] = []
    current: list[Unit] = []
    words = 0
    for unit in (piece for u in units for piece in split_long(u, max_words)):
        size = len(unit.text.split())
        new_section = bool(current) and unit.heading != current[-1].heading
        if current and (words + size > max_words or new_section):
            chunks.append(current)
            current, words = [], 0
        current.append(unit)
        words += size
    if current:
        chunks.append(current)
    return chunks


def split_long(unit: Unit, max_words: int) -> list[Unit]:
    """Split a unit over the word limit into pieces that fit."""
    words = unit.text.split()
    if len(words) <= max_words:
        return [unit]
    return [
        Unit(" ".join(words[i : i + max_words]), unit.doc, unit.heading)
        for i in range(0, len(words), max_words)
    ]


def build_chunk(ordinal: int, units: list[Unit]) -> Chunk:
    """Make a chunk from packed units, carrying every artifact's ids and people."""
    first = units[0].doc
    docs = list({u.doc.id: u.doc for u in units}.values())
    header = " - ".join(part for part in (first.title, units[0].heading) if part)
    body = "\n".join(u.text for u in units)
    text = f"{header}\n{body}" if header and first.kind in ("document", "pull_request") else body
    dates = [d.created_at for d in docs if d.created_at]
    updates = [d.updated_at or d.created_at for d in docs if d.updated_at or d.created_at]
    return Chunk(
        group_id=first.group,
        ordinal=ordinal,
        text=text,
        source=first.source,
        kind=first.kind,
        title=first.title,
        url=first.url,
        container=first.container,
        doc_ids=[d.id for d in docs],
        native_ids=[d.native_id for d in docs],
        people=list(dict.fromkeys(p for d in docs for p in d.people)),
        acl=shared_acl(docs),
        created_at=min(dates) if dates else None,
        updated_at=max(updates) if updates else None,
    )


def shared_acl(docs: Sequence[SourceDoc]) -> list[str]:
    """Principals allowed to read every document of a chunk (a chunk never widens access)."""
    restricted = [set(d.acl) for d in docs if "*" not in d.acl]
    if not restricted:
        return ["*"]
    return sorted(set.intersection(*restricted))
