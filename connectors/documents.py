"""A folder of document files (md, html, docx, pdf, txt, eml, pptx, xlsx) as a source.

The connector only finds files and says which changed; `transforms.parse` reads them, so
the heavy work can be spread over the Dask or Beam engines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from connectors.files import walk
from connectors.folders import FolderRules
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
        """The file's change fingerprint: `<mtime_ns>:<size>`."""
        return f"{self.mtime_ns}:{self.size}"


class DocumentsConnector:
    """Documents under a folder, found recursively; each file is one document.

    Native ids are paths relative to the root (posix). `acl_rules` are the `FolderRules` of
    source `name`: a file's ACL is its first matching rule's container ref, and a file no
    rule matches is readable by nobody and a Failure. Files are found by `files.walk`
    (hidden files and folders and Office lock files skipped). Empty files and files over
    `max_bytes` become Failures. The cursor is
    `{"files": {relpath: "<mtime_ns>:<size>:<rule mark>"}}`; `pull` yields new and changed
    files only (and those a changed rule set moves to another rule), in pages of at most
    `page_size` documents, the first page carrying every rule's readers.
    """

    source = "docs"

    def __init__(
        self,
        path: Path,
        acl_rules: Mapping[str, list[str]] | None = None,
        max_bytes: int = 50_000_000,
        extensions: Iterable[str] = DOCUMENT_EXTENSIONS,
        page_size: int = 32,
        name: str | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.root = Path(path).absolute()
        self.rules = FolderRules(name or self.source, acl_rules)
        self.max_bytes = max_bytes
        self.extensions = {e.lower().lstrip(".") for e in extensions}
        self.page_size = page_size

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the files that are new or changed since `cursor` (all files when None),
        the first carrying every rule's readers.

        Each page's cursor holds the state of every file listed so far plus the unchanged
        ones; files that are gone drop out of it. When nothing changed but files were
        removed, one empty page carries the smaller cursor.
        """
        yield from self.rules.with_readers(self.changed_pages(dict((cursor or {}).get("files", {}))))

    def changed_pages(self, seen: dict[str, str]) -> Iterator[Page]:
        """Pages of the files whose state is not the one `seen` holds."""
        entries = self.scan()
        state = {e.relpath: seen[e.relpath] for e in entries if e.relpath in seen}
        changed = [e for e in entries if seen.get(e.relpath) != self.state(e)]
        gone = sorted(set(seen) - set(state))
        for start in range(0, len(changed), self.page_size):
            batch = changed[start : start + self.page_size]
            docs, failures = [], []
            for entry in batch:
                state[entry.relpath] = self.state(entry)
                reason = self.rejection(entry)
                if reason:
                    failures.append(
                        Failure(source=self.source, native_id=entry.relpath, reason=reason)
                    )
                else:
                    docs.append(self.to_doc(entry))
                    failures.extend(self.rules.failures(self.source, entry.relpath))
            finished = [*gone, *(e.relpath for e in batch)]
            yield Page(docs=docs, failures=failures, cursor={"files": dict(state)}, finished=finished)
            gone = []
        if not changed and state != seen:
            yield Page(cursor={"files": state}, finished=gone)

    def state(self, entry: FileEntry) -> str:
        """What the cursor remembers of a file: its state and the mark of the rule it matched."""
        return f"{entry.state}:{self.rules.mark(entry.relpath)}"

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
            acl=self.rules.acl(entry.relpath),
            meta={"path": str(entry.path), "format": self.file_format(entry.relpath) or ""},
        )
