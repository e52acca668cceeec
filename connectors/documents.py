"""A folder of document files (md, html, docx, pdf, txt, eml, pptx, xlsx) as a source.

The connector only finds files and says which changed; `transforms.parse` reads them, so
the heavy work can be spread over the Dask or Beam engines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from connectors.files import acl_for, walk
from connectors.records import Failure, Page, SourceDoc, TerminalError, doc_id

DOCUMENT_EXTENSIONS = ("md", "markdown", "html", "htm", "docx", "pdf", "txt", "eml", "pptx", "xlsx")
FORMATS = {"markdown": "md", "htm": "html"}


@dataclass(frozen=True)
class FileEntry:
    """A document file found under the root."""

    relpath: str
    path: Path
    size: int
    mtime_ns: int

    @property
    def state(self) -> str:
        """What the cursor remembers of the file: `<mtime_ns>:<size>`."""
        return f"{self.mtime_ns}:{self.size}"


class DocumentsConnector:
    """Documents under a folder, found recursively; each file is one document.

    Native ids are paths relative to the root (posix). `acl_rules` maps fnmatch patterns on
    that path (`*` also crosses folders) to principals; the first matching pattern wins and
    files no pattern matches are readable by everyone. Files are found by `files.walk`
    (hidden files and folders and Office lock files skipped). Empty files and files over
    `max_bytes` become Failures. The cursor is `{"files": {relpath: "<mtime_ns>:<size>"}}`;
    `pull` yields new and changed files only, in pages of at most `page_size` documents.
    """

    source = "docs"

    def __init__(
        self,
        path: Path,
        acl_rules: Mapping[str, list[str]] | None = None,
        max_bytes: int = 50_000_000,
        extensions: Iterable[str] = DOCUMENT_EXTENSIONS,
        page_size: int = 32,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.root = Path(path).absolute()
        self.acl_rules = dict(acl_rules or {})
        self.max_bytes = max_bytes
        self.extensions = {e.lower().lstrip(".") for e in extensions}
        self.page_size = page_size

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the files that are new or changed since `cursor` (all files when None).

        Each page's cursor holds the state of every file listed so far plus the unchanged
        ones; files that are gone drop out of it. When nothing changed but files were
        removed, one empty page carries the smaller cursor.
        """
        seen = dict((cursor or {}).get("files", {}))
        entries = self.scan()
        state = {e.relpath: seen[e.relpath] for e in entries if e.relpath in seen}
        changed = [e for e in entries if seen.get(e.relpath) != e.state]
        gone = sorted(set(seen) - set(state))
        for start in range(0, len(changed), self.page_size):
            batch = changed[start : start + self.page_size]
            docs, failures = [], []
            for entry in batch:
                state[entry.relpath] = entry.state
                reason = self.rejection(entry)
                if reason:
                    failures.append(
                        Failure(source=self.source, native_id=entry.relpath, reason=reason)
                    )
                else:
                    docs.append(self.to_doc(entry))
            finished = [*gone, *(e.relpath for e in batch)]
            yield Page(docs=docs, failures=failures, cursor={"files": dict(state)}, finished=finished)
            gone = []
        if not changed and state != seen:
            yield Page(cursor={"files": state}, finished=gone)

    def list_ids(self) -> Iterator[str]:
        """The relative path of every document file under the root now."""
        for entry in self.scan():
            yield entry.relpath

    def scan(self) -> list[FileEntry]:
        """Document files under the root, sorted by relative path."""
        if not self.root.is_dir():
            raise TerminalError(f"documents folder not found: {self.root}")
        extensions = tuple(f".{e}" for e in self.extensions)
        entries = []
        for relpath, path in walk(self.root, extensions):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append(FileEntry(relpath, path, stat.st_size, stat.st_mtime_ns))
        return entries

    def file_format(self, name: str) -> str | None:
        """The document format of a file name, None when it is not one of ours."""
        extension = PurePosixPath(name).suffix.lower().lstrip(".")
        if extension not in self.extensions:
            return None
        return FORMATS.get(extension, extension)

    def rejection(self, entry: FileEntry) -> str | None:
        """Why a file cannot be a document, None when it can."""
        if entry.size == 0:
            return "empty file (0 bytes)"
        if entry.size > self.max_bytes:
            return f"file too large: {entry.size} bytes, over the limit of {self.max_bytes}"
        return None

    def to_doc(self, entry: FileEntry) -> SourceDoc:
        """The unparsed document for a file: text empty, the file's path in meta."""
        parent = PurePosixPath(entry.relpath).parent.as_posix()
        return SourceDoc(
            id=doc_id(self.source, entry.relpath),
            source=self.source,
            native_id=entry.relpath,
            kind="document",
            title=PurePosixPath(entry.relpath).name,
            container="/" if parent == "." else parent,
            acl=acl_for(entry.relpath, self.acl_rules),
            meta={"path": str(entry.path), "format": self.file_format(entry.relpath) or ""},
        )
