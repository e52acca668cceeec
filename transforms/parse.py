"""Parse a document file into light markdown and the metadata the file states about itself.

`parse_document` turns a `SourceDoc` from the documents connector (text still empty, the
file's absolute path in `meta["path"]`) into one whose text is the file rendered as markdown:
the title as `# Title`, section headings as `## Heading`, paragraphs, list items and tables
as text, so a chunker can split it by titled sections. Title, author, dates, canonical URL and
document type come from the file's own metadata (front matter, `<meta>` tags, core
properties, PDF document info, mail headers), never from the filesystem, so the result
depends on the file's content only.

Text files (md, html, txt) that are not UTF-8 are read as UTF-16 when they carry its byte
order mark, else as cp1252 (latin-1 for the five bytes cp1252 leaves undefined); every
byte maps to a character, nothing is dropped, and `meta["encoding"]` records the fallback.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import io
import re
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

from connectors.dates import parse_datetime
from connectors.files import UnreadableFile, decode_text
from connectors.records import SourceDoc
from transforms.facts import Block, FileFacts, ParseError, first, first_url, is_url, text_value
from transforms.pdf import read_pdf

FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
CORE_XML = "docProps/core.xml"


Reader = Callable[[bytes], tuple[list[Block], FileFacts]]


def parse_document(doc: SourceDoc) -> SourceDoc:
    """The document with its file parsed: markdown text plus the file's own metadata.

    Raises ParseError when the file is missing, unreadable, corrupt, of an unknown format,
    or holds no text. The process must have run `set_up_unstructured_offline` first (every
    engine does at start-up).
    """
    path, fmt = doc.meta.get("path"), doc.meta.get("format", "")
    if not path:
        raise ParseError("no file path in meta['path']")
    reader = READERS.get(fmt)
    if reader is None:
        raise ParseError(f"unsupported document format {fmt!r}")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}") from exc
    if not data:
        raise ParseError("empty file (0 bytes)")
    try:
        blocks, facts = reader(data)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"cannot parse {fmt} file: {type(exc).__name__}: {exc}") from exc
    if not any(b.text.strip() for b in blocks):
        raise ParseError(f"no text extracted from a non-empty {fmt} file")
    title = facts.title or next((b.text for b in blocks if b.level == 1), None) or doc.title
    meta = {k: v for k, v in doc.meta.items() if k != "path"} | facts.meta
    if facts.doc_type:
        meta["doc_type"] = facts.doc_type
    people = facts.people or ([facts.author] if facts.author else [])
    return doc.model_copy(
        update={
            "title": title,
            "text": render_markdown(blocks, title),
            "url": facts.url or doc.url,
            "author": facts.author or doc.author,
            "people": people or doc.people,
            "created_at": facts.created or doc.created_at,
            "updated_at": facts.updated or facts.created or doc.updated_at,
            "meta": meta,
        }
    )


def render_markdown(blocks: list[Block], title: str | None) -> str:
    """Blocks as markdown, led by `# title` when the document does not open with one."""
    lines = [("#" * b.level + " " + b.text) if b.level else b.text for b in blocks if b.text]
    if title and not (blocks and blocks[0].level == 1):
        lines.insert(0, f"# {title}")
    return "\n\n".join(lines)


def element_blocks(elements: list[Any], headings: str = "marked") -> list[Block]:
    """unstructured elements as blocks: titles become headings, the rest paragraphs.

    `headings` says how far to trust Title elements: "marked" (the format marks headings),
    "guessed" (plain text: a title that ends like a sentence is a paragraph) or "none".
    """
    from unstructured.documents.elements import ListItem, PageBreak, PageNumber, Table, Title

    blocks: list[Block] = []
    for element in elements:
        text = (element.text or "").strip()
        if not text or isinstance(element, (PageBreak, PageNumber)):
            continue
        if isinstance(element, Title) and is_heading(text, headings):
            depth = element.metadata.category_depth
            level = 2 if depth is None else min(depth + 1, 6)
            blocks.append(Block(" ".join(text.split()), level))
        elif isinstance(element, ListItem):
            item = f"- {text}"
            if blocks and blocks[-1].text.startswith("- ") and not blocks[-1].level:
                item = f"{blocks.pop().text}\n{item}"
            blocks.append(Block(item))
        elif isinstance(element, Table):
            blocks.append(Block(table_text(element.metadata.text_as_html) or text))
        else:
            blocks.append(Block(text))
    return blocks


def is_heading(text: str, headings: str) -> bool:
    """Whether a Title element is rendered as a heading under the `headings` policy."""
    if headings == "guessed":
        return not text.endswith((".", "!", "?", ";", ":", ","))
    return headings == "marked"


def table_text(table_html: str | None) -> str:
    """A table as text, one row per line and cells separated by ` | `."""
    if not table_html:
        return ""
    from lxml import html as lxml_html

    rows = lxml_html.fromstring(table_html).iter("tr")
    lines = [" | ".join(c.text_content().strip() for c in row.xpath("./th|./td")) for row in rows]
    return "\n".join(line for line in lines if line.strip(" |"))


def text_of(data: bytes) -> tuple[str, dict[str, str]]:
    """Text of a text file, with meta naming the encoding when it is not UTF-8."""
    try:
        text, encoding = decode_text(data, legacy=True)
    except UnreadableFile as exc:
        raise ParseError(f"{exc} in a text file") from exc
    return text, {} if encoding == "utf-8" else {"encoding": encoding}


def read_markdown(data: bytes) -> tuple[list[Block], FileFacts]:
    """A markdown file with optional YAML front matter (title, author, date, type, link)."""
    from unstructured.partition.md import partition_md

    text, meta = text_of(data)
    front: dict[str, Any] = {}
    match = FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise ParseError(f"invalid YAML front matter: {exc}") from exc
        if isinstance(loaded, dict):
            front, text = {str(k).lower(): v for k, v in loaded.items()}, text[match.end() :]
    authors = front.get("author") or front.get("authors") or []
    authors = [str(a) for a in (authors if isinstance(authors, list) else [authors])]
    facts = FileFacts(
        title=text_value(front.get("title")),
        author=authors[0] if authors else None,
        people=authors,
        created=parse_datetime(first(front, "date", "created")),
        updated=parse_datetime(first(front, "updated", "modified", "lastmod")),
        url=text_value(first(front, "link", "url", "canonical_url", "canonical")),
        doc_type=text_value(first(front, "type", "doc_type")),
        meta=meta,
    )
    return element_blocks(partition_md(text=text) if text.strip() else []), facts


def read_html(data: bytes) -> tuple[list[Block], FileFacts]:
    """An HTML page: <title>, <meta name=author|date|type>, <link rel=canonical>."""
    from lxml import html as lxml_html
    from unstructured.partition.html import partition_html

    text, meta = text_of(data)
    page = lxml_html.fromstring(text)
    tags: dict[str, str] = {}
    for tag in page.iter("meta"):
        name = (tag.get("name") or tag.get("property") or "").strip().lower()
        if name and (tag.get("content") or "").strip():
            tags.setdefault(name, tag.get("content").strip())
    canonical = page.xpath(
        "//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]"
    )
    facts = FileFacts(
        title=" ".join((page.findtext(".//title") or "").split()) or first(tags, "og:title"),
        author=first(tags, "author", "dc.creator"),
        created=parse_datetime(first(tags, "date", "created", "dcterms.created", "dc.date")),
        updated=parse_datetime(first(tags, "modified", "last-modified", "dcterms.modified")),
        url=(canonical[0].get("href") if canonical else None) or first(tags, "og:url"),
        doc_type=first(tags, "type", "doc_type", "dc.type"),
        meta=meta,
    )
    return element_blocks(partition_html(text=text)), facts


def read_plain_text(data: bytes) -> tuple[list[Block], FileFacts]:
    """A plain text file: paragraphs, and headings where unstructured detects them."""
    from unstructured.partition.text import partition_text

    text, meta = text_of(data)
    return element_blocks(partition_text(text=text), "guessed"), FileFacts(meta=meta)


def read_email(data: bytes) -> tuple[list[Block], FileFacts]:
    """An .eml message: Subject is the title, From the author, From/To/Cc the people."""
    from unstructured.partition.email import partition_email

    message = email.message_from_bytes(data, policy=email.policy.default)
    addresses = [
        (address or name).lower()
        for header in ("from", "to", "cc")
        for name, address in email.utils.getaddresses([str(v) for v in message.get_all(header, [])])
        if address or name
    ]
    sender = email.utils.parseaddr(str(message.get("from", "")))
    sent = parse_datetime(str(message.get("date", "")))
    attachments = [p.get_filename() for p in message.iter_attachments() if p.get_filename()]
    facts = FileFacts(
        title=" ".join(str(message.get("subject", "")).split()) or None,
        author=(sender[1] or sender[0]).lower() or None,
        people=list(dict.fromkeys(addresses)),
        created=sent,
        meta={"attachments": ", ".join(attachments)} if attachments else {},
    )
    elements = partition_email(file=io.BytesIO(data), process_attachments=False)
    return element_blocks(elements, "none"), facts


def read_office(data: bytes, fmt: str) -> tuple[list[Block], FileFacts]:
    """An Office Open XML file (docx, pptx, xlsx): its text and core properties."""
    import importlib

    partition = getattr(
        importlib.import_module(f"unstructured.partition.{fmt}"), f"partition_{fmt}"
    )
    try:
        core = office_properties(data)
        elements = partition(file=io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ParseError(f"not a valid Office Open XML file: {exc}") from exc
    return element_blocks(elements), office_facts(core)


def office_properties(data: bytes) -> dict[str, str]:
    """Core properties (docProps/core.xml) by local tag name, lower-cased."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if CORE_XML not in archive.namelist():
            return {}
        root = ElementTree.fromstring(archive.read(CORE_XML))
    return {
        child.tag.rsplit("}", 1)[-1].lower(): (child.text or "").strip()
        for child in root
        if (child.text or "").strip()
    }


def office_facts(core: dict[str, str]) -> FileFacts:
    """Core properties as facts; the link is the first URL among identifier, keywords,
    subject and description (comments), the type is the category or a non-URL subject."""
    subject = core.get("subject")
    return FileFacts(
        title=core.get("title"),
        author=core.get("creator"),
        created=parse_datetime(core.get("created")),
        updated=parse_datetime(core.get("modified")),
        url=first_url(core.get(k) for k in ("identifier", "keywords", "subject", "description")),
        doc_type=core.get("category") or (subject if subject and not is_url(subject) else None),
    )


READERS: dict[str, Reader] = {
    "md": read_markdown,
    "html": read_html,
    "txt": read_plain_text,
    "eml": read_email,
    "pdf": read_pdf,
    "docx": partial(read_office, fmt="docx"),
    "pptx": partial(read_office, fmt="pptx"),
    "xlsx": partial(read_office, fmt="xlsx"),
}
