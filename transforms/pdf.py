"""PDF documents: text lines with their font sizes (headings are the larger ones) and the
document info dictionary, read with pypdf."""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from connectors.dates import parse_datetime
from transforms.facts import Block, FileFacts, ParseError, first, first_url, is_url

HEADING_RATIO = 1.15
PARAGRAPH_GAP = 1.5


def read_pdf(data: bytes) -> tuple[list[Block], FileFacts]:
    """A PDF's text (headings found by font size) and its document info dictionary.

    Besides /Title, /Author, /CreationDate and /ModDate, custom keys /Link, /Type, /Date are
    read; a /Creator holding a date (as HERB's exporter writes it) is the authored date, the
    link may sit in /Keywords or /Subject, the type in a non-URL /Subject.
    """
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError("encrypted PDF (needs a password)")
        info = {
            str(k).lstrip("/").lower(): str(v.get_object() if hasattr(v, "get_object") else v)
            for k, v in (reader.metadata or {}).items()
        }
        blocks = pdf_blocks(reader)
    except PdfReadError as exc:
        raise ParseError(f"corrupt PDF: {exc}") from exc
    file_created = parse_datetime(info.get("creationdate"))
    file_modified = parse_datetime(info.get("moddate"))
    created = (
        parse_datetime(first(info, "date", "created"))
        or parse_datetime(info.get("creator"))
        or file_created
    )
    updated = parse_datetime(first(info, "modified", "updated")) or (
        file_modified if file_modified != file_created else None
    )
    subject = info.get("subject")
    facts = FileFacts(
        title=info.get("title") or None,
        author=info.get("author") or None,
        created=created,
        updated=updated or created,
        url=first(info, "link", "url") or first_url(info.get(k) for k in ("keywords", "subject")),
        doc_type=first(info, "type", "doctype")
        or (subject if subject and not is_url(subject) else None),
    )
    return blocks, facts


@dataclass
class PdfLine:
    """One line of PDF text with its dominant font size and vertical position."""

    text: str
    size: float
    y: float
    page: int


class PdfLineCollector:
    """Gathers the lines pypdf extracts, each with its dominant font size and position."""

    def __init__(self) -> None:
        self.lines: list[PdfLine] = []
        self.page = 0
        self.parts: list[str] = []
        self.weights: Counter[tuple[float, float]] = Counter()

    def visit(self, text: str, cm: list, tm: list, _font: Any, size: float) -> None:
        """pypdf's `visitor_text` callback: a run of text under one font and matrix."""
        scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) or 1.0
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            self.parts.append(piece)
            self.weights[(round(size * scale, 1), round(y, 1))] += len(piece.strip())
            if i < len(pieces) - 1:
                self.close_line()

    def close_line(self) -> None:
        """End the current line, keeping it when it holds text."""
        text = " ".join("".join(self.parts).split())
        if text:
            size, y = self.weights.most_common(1)[0][0]
            self.lines.append(PdfLine(text, size, y, self.page))
        self.parts.clear()
        self.weights.clear()


def pdf_lines(reader: Any) -> list[PdfLine]:
    """The text lines of every page, as pypdf extracts them, with font size and position."""
    collector = PdfLineCollector()
    for page_no, page in enumerate(reader.pages):
        collector.page = page_no
        page.extract_text(visitor_text=collector.visit)
        collector.close_line()
    return collector.lines


def pdf_blocks(reader: Any) -> list[Block]:
    """PDF lines grouped into headings (larger than body text) and paragraphs."""
    lines = pdf_lines(reader)
    if not lines:
        return []
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0]
    heading_sizes = sorted({s for s in sizes if s > body * HEADING_RATIO}, reverse=True)
    blocks: list[Block] = []
    current: list[str] = []
    level, previous = 0, None
    for line in lines:
        line_level = heading_sizes.index(line.size) + 1 if line.size in heading_sizes else 0
        continues = (
            previous is not None
            and line_level == level
            and line.page == previous.page
            and 0 < previous.y - line.y <= PARAGRAPH_GAP * max(line.size, previous.size)
        )
        if not continues and current:
            blocks.append(Block(" ".join(current), min(level, 6)))
            current = []
        current.append(line.text)
        level, previous = line_level, line
    blocks.append(Block(" ".join(current), min(level, 6)))
    return blocks
