"""Files under a root folder: walking by extension, change fingerprints, bounded reads, paging."""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from connectors.records import (
    Failure,
    IncompleteListing,
    Page,
    SourceDoc,
    TerminalError,
    guarded,
)

MAX_BYTES = 32 * 1024 * 1024
PAGE_SIZE = 64


class UnreadableFile(Exception):
    """A file whose bytes cannot be used; the message is the reason a Failure reports."""


def walk(root: Path, extensions: Sequence[str]) -> Iterator[tuple[str, Path]]:
    """Yields (posix path relative to root, path) of files with one of the extensions, sorted.

    `root` may be a single file (its relative path is its name). Hidden files and folders
    and Office lock files (`~$...`) are skipped; a missing root is a TerminalError. A name
    that is not valid UTF-8 keeps its bytes as `\\xNN` escapes in the relative path (which
    then names a document or a failure), while `path` still opens the file.
    """
    suffixes = tuple(ext.lower() for ext in extensions)
    if root.is_file():
        if root.name.lower().endswith(suffixes):
            yield utf8_text(root.name), root
        return
    if not root.is_dir():
        raise TerminalError(f"{root} does not exist")
    found: list[tuple[str, Path]] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in names:
            if name.startswith((".", "~$")) or not name.lower().endswith(suffixes):
                continue
            path = Path(folder, name)
            found.append((utf8_text(path.relative_to(root).as_posix()), path))
    yield from sorted(found)


def utf8_text(name: str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 become `\\xNN` escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def fingerprint(path: Path) -> str:
    """'<mtime_ns>:<size>': changes whenever the file is rewritten."""
    stat = path.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def fingerprints(files: Mapping[str, Path]) -> dict[str, str]:
    """Fingerprints of files by relative path (those gone meanwhile left out)."""
    found = {}
    for relpath, path in files.items():
        try:
            found[relpath] = fingerprint(path)
        except FileNotFoundError:
            continue
    return found


def changed_files(current: Mapping[str, str], previous: Mapping[str, str]) -> list[str]:
    """Relative paths that are new or whose fingerprint differs from `previous`, sorted."""
    return sorted(relpath for relpath, mark in current.items() if previous.get(relpath) != mark)


def read_bytes(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes; UnreadableFile when it is empty, over `max_bytes` or unreadable."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise UnreadableFile(f"cannot read file: {error.strerror or error}") from error
    if not data:
        raise UnreadableFile("empty file")
    if len(data) > max_bytes:
        raise UnreadableFile(f"file is larger than the limit of {max_bytes} bytes")
    return data


def decode_text(data: bytes, legacy: bool = False) -> tuple[str, str]:
    """Text of bytes and the encoding it was read as: UTF-16 when a byte order mark says so,
    else UTF-8 (with or without a BOM). With `legacy`, bytes that are not UTF-8 are read as
    cp1252 (latin-1 for the five bytes cp1252 leaves undefined), so every byte maps to a
    character; without it they are an UnreadableFile, and so is binary content (NUL)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text, encoding = data.decode("utf-16"), "utf-16"
    else:
        try:
            text, encoding = data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError as error:
            if not legacy:
                if b"\x00" in data:
                    raise UnreadableFile("binary content (NUL bytes), not text") from error
                raise UnreadableFile(f"not utf-8-sig text: byte {error.start} is invalid") from error
            try:
                text, encoding = data.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:
                text, encoding = data.decode("latin-1"), "latin-1"
    if "\x00" in text:
        raise UnreadableFile("binary content (NUL bytes), not text")
    return text, encoding


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The file as text; UnreadableFile when empty, too large, binary or not UTF-8."""
    text, _ = decode_text(read_bytes(path, max_bytes))
    if not text.strip():
        raise UnreadableFile("file holds only whitespace")
    return text


def guarded_read(
    read: Callable[[str], Iterable[SourceDoc | Failure]], relpath: str, source: str
) -> list[SourceDoc | Failure]:
    """What `read` makes of a file, its failures marked as found in it (so they clear when
    it is read again without them); whatever `read` raises is that file's Failure."""
    records = guarded(lambda: list(read(relpath)), source, relpath)
    if isinstance(records, Failure):
        return [records]
    return [r.model_copy(update={"input": relpath}) if isinstance(r, Failure) else r for r in records]


def pull_pages(
    current: Mapping[str, str],
    cursor: Mapping[str, Any] | None,
    read: Callable[[str], Iterable[SourceDoc | Failure]],
    source: str,
    page_size: int = PAGE_SIZE,
) -> Iterator[Page]:
    """Pages of what `read` makes of each file changed since `cursor` ({"files": {relpath: mark}}).

    Each page's cursor covers only files whose records are all in it or earlier pages, so a
    run stopped mid-way re-reads the rest; the last page's cursor lists exactly `current`.
    Each page's `finished` names the files its cursor newly covers and, first, those gone.
    """
    previous = dict((cursor or {}).get("files", {}))
    done = {relpath: mark for relpath, mark in previous.items() if relpath in current}
    finished = sorted(set(previous) - set(current))
    docs: list[SourceDoc] = []
    failures: list[Failure] = []
    for relpath in changed_files(current, previous):
        for record in guarded_read(read, relpath, source):
            if len(docs) + len(failures) >= page_size:
                yield Page(docs=docs, failures=failures, cursor=files_cursor(done), finished=finished)
                docs, failures, finished = [], [], []
            (docs if isinstance(record, SourceDoc) else failures).append(record)
        done[relpath] = current[relpath]
        finished.append(relpath)
    yield Page(docs=docs, failures=failures, cursor=files_cursor(done), finished=finished)


def files_cursor(marks: Mapping[str, str]) -> dict[str, Any]:
    """The cursor of a file connector: {"files": {relpath: "<mtime_ns>:<size>"}}."""
    return {"files": dict(sorted(marks.items()))}


class FileRecordsConnector:
    """A connector whose files each read into documents and failures (bookmarks, CSVs,
    transcripts).

    Subclasses set `source` and `extensions` and implement `read(relpath)`; pages hold at
    most `page_size` records.
    """

    source: str
    extensions: tuple[str, ...]

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, page_size: int = PAGE_SIZE) -> None:
        self.root = Path(path)
        self.max_bytes = max_bytes
        self.page_size = page_size
        self._paths: dict[str, Path] = {}

    def files(self) -> dict[str, Path]:
        """The connector's files now, by relative path."""
        self._paths = dict(walk(self.root, self.extensions))
        return self._paths

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the records of files added or changed since `cursor`."""
        yield from pull_pages(
            fingerprints(self.files()), cursor, self.read, self.source, self.page_size
        )

    def list_ids(self) -> Iterator[str]:
        """Every record id now present, once each; IncompleteListing when a file cannot be
        read at all, so no deletion is inferred."""
        seen: set[str] = set()
        for relpath in self.files():
            for record in guarded_read(self.read, relpath, self.source):
                if isinstance(record, Failure) and record.native_id == relpath:
                    raise IncompleteListing(f"{relpath}: {record.reason}")
                if isinstance(record, SourceDoc) and record.native_id not in seen:
                    seen.add(record.native_id)
                    yield record.native_id

    def path_of(self, relpath: str) -> Path:
        """The file a relative path names (the root itself when it is a file)."""
        if relpath in self._paths:
            return self._paths[relpath]
        return self.root if self.root.is_file() else self.root / relpath

    def read(self, relpath: str) -> list[SourceDoc | Failure]:
        raise NotImplementedError
