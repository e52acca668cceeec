"""Shared links from Netscape bookmark files (the HTML that browsers export)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import urlsplit

from connectors.files import FileRecordsConnector, UnreadableFile, read_text
from connectors.records import Failure, SourceDoc, doc_id

EXTENSIONS = (".html", ".htm")
DOCTYPE = "netscape-bookmark-file"


@dataclass
class Bookmark:
    """One <A> of a bookmark file, with the folder path it sits in."""

    url: str
    folder: str
    line: int
    title: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    added: datetime | None = None
    modified: datetime | None = None


class BookmarkParser(HTMLParser):
    """Collects bookmarks and their folders; tolerates the unclosed <DT>, <DD> and <p> tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bookmarks: list[Bookmark] = []
        self.folders: list[str] = []
        self.netscape = False
        self.listed = 0
        self._pending_folder = ""
        self._heading: list[str] | None = None
        self._anchor: Bookmark | None = None
        self._anchor_text: list[str] = []
        self._description: list[str] | None = None

    def handle_decl(self, decl: str) -> None:
        self.netscape = self.netscape or DOCTYPE in decl.lower()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("dt", "dl", "dd", "h3", "a"):
            self._close_heading()
            self._close_anchor()
            self._close_description()
        if tag == "h3":
            self._heading = []
        elif tag == "dl":
            self.folders.append(self._pending_folder)
            self._pending_folder = ""
        elif tag == "dd" and self.bookmarks and self._pending_folder == "":
            self._description = []
        elif tag == "a":
            self._open_anchor(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()
        elif tag == "h3":
            self._close_heading()
        elif tag == "dl":
            self._close_anchor()
            self._close_description()
            if self.folders:
                self.folders.pop()

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)
        elif self._anchor is not None:
            self._anchor_text.append(data)
        elif self._description is not None:
            self._description.append(data)

    def close(self) -> None:
        super().close()
        self._close_heading()
        self._close_anchor()
        self._close_description()

    def _open_anchor(self, attrs: dict[str, str | None]) -> None:
        url = (attrs.get("href") or "").strip()
        self.listed += bool(self.folders)
        tags = [tag.strip() for tag in (attrs.get("tags") or "").split(",") if tag.strip()]
        self._anchor = Bookmark(
            url=url,
            folder="/" + "/".join(name for name in self.folders if name),
            line=self.getpos()[0],
            tags=tags,
            added=parse_epoch(attrs.get("add_date")),
            modified=parse_epoch(attrs.get("last_modified")),
        )
        self._anchor_text = []

    def _close_heading(self) -> None:
        if self._heading is not None:
            self._pending_folder = " ".join("".join(self._heading).split()) or "untitled"
            self._heading = None

    def _close_anchor(self) -> None:
        if self._anchor is not None:
            self._anchor.title = " ".join("".join(self._anchor_text).split())
            self.bookmarks.append(self._anchor)
            self._anchor = None

    def _close_description(self) -> None:
        if self._description is not None:
            self.bookmarks[-1].description = " ".join("".join(self._description).split())
            self._description = None


class BookmarksConnector(FileRecordsConnector):
    """Bookmarks of one Netscape bookmark file, or of every .html file under a folder."""

    source = "links"
    extensions = EXTENSIONS

    def read(self, relpath: str) -> list[SourceDoc | Failure]:
        path = self.path_of(relpath)
        try:
            bookmarks = parse_bookmarks(read_text(path, self.max_bytes))
        except UnreadableFile as error:
            return [Failure(source=self.source, native_id=relpath, reason=str(error))]
        records: list[SourceDoc | Failure] = []
        seen: set[str] = set()
        for bookmark in bookmarks:
            if not bookmark.url:
                reason = f"bookmark {bookmark.title!r} has no HREF"
                native_id = f"{relpath}#{bookmark.line}"
                records.append(Failure(source=self.source, native_id=native_id, reason=reason))
            elif bookmark.url not in seen:
                seen.add(bookmark.url)
                records.append(self._doc(relpath, bookmark))
        return records

    def _doc(self, relpath: str, bookmark: Bookmark) -> SourceDoc:
        title = bookmark.title or bookmark.url
        text = "\n".join(part for part in (title, bookmark.description, bookmark.url) if part)
        return SourceDoc(
            id=doc_id(self.source, bookmark.url),
            source=self.source,
            native_id=bookmark.url,
            kind="link",
            title=title,
            text=text,
            url=bookmark.url,
            created_at=bookmark.added,
            updated_at=bookmark.modified,
            container=bookmark.folder,
            meta={
                "folder": bookmark.folder,
                "tags": json.dumps(bookmark.tags),
                "host": urlsplit(bookmark.url).hostname or "",
                "file": relpath,
            },
        )


def parse_bookmarks(text: str) -> list[Bookmark]:
    """Bookmarks of a Netscape bookmark file, in file order.

    Raises UnreadableFile when the text is not a bookmark file: no Netscape doctype and no
    links inside a <DL> list.
    """
    parser = BookmarkParser()
    parser.feed(text)
    parser.close()
    if not parser.netscape and not parser.listed:
        raise UnreadableFile("not a Netscape bookmark file (no doctype, no links in a <DL> list)")
    return parser.bookmarks


def parse_epoch(value: str | None) -> datetime | None:
    """A bookmark timestamp: Unix seconds (milli- or microseconds when too large to be seconds)."""
    try:
        number = int((value or "").strip())
    except ValueError:
        return None
    while number > 100_000_000_000:
        number //= 1000
    if number <= 0:
        return None
    return datetime.fromtimestamp(number, tz=UTC)
