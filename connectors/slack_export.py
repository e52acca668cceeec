"""A Slack workspace export (a folder or a .zip) as a source: its channel lists and daily
files of messages."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.records import (
    UNRESOLVED,
    Failure,
    IncompleteListing,
    Page,
    SourceDoc,
    TerminalError,
    guarded,
    is_utf8,
)
from connectors.slack import (
    SOURCE,
    SlackChannel,
    message_doc,
    message_native_id,
    read_channel,
    read_user_names,
    unresolved,
)

CHANNEL_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
META_FILES = ("users.json", *CHANNEL_LISTS)
DAY_FILE = re.compile(r"^([^/]+)/(\d{4}-\d{2}-\d{2})\.json$")
LISTS = "(channel lists)"
MAX_BYTES = 64 * 1024 * 1024


class ExportFiles:
    """The JSON files of a Slack export, in a directory or a .zip, by relative path."""

    def __init__(self, path: Path, archive: zipfile.ZipFile | None, max_bytes: int = MAX_BYTES):
        self._path = path
        self._archive = archive
        self.max_bytes = max_bytes
        self._prefix = ""
        if archive is not None:
            names = archive.namelist()
            roots = [n[: -len(m)] for n in names for m in META_FILES if n.endswith("/" + m)]
            if not any(n in META_FILES for n in names) and len(set(roots)) == 1:
                self._prefix = roots[0]

    def signatures(self) -> dict[str, str]:
        """Relative path -> a signature that changes when the file changes, for the list
        files and daily files."""
        if self._archive is not None:
            found = {
                info.filename.removeprefix(self._prefix): f"crc:{info.CRC:08x}:{info.file_size}"
                for info in self._archive.infolist()
                if info.filename.startswith(self._prefix)
            }
        else:
            paths = [*self._path.glob("*.json"), *self._path.glob("*/*.json")]
            stats = {p.relative_to(self._path).as_posix(): p.stat() for p in paths if p.is_file()}
            found = {rel: f"{st.st_mtime_ns}:{st.st_size}" for rel, st in stats.items()}
        return {rel: sig for rel, sig in found.items() if rel in META_FILES or DAY_FILE.match(rel)}

    def read(self, rel: str) -> bytes:
        """The bytes of one file; ValueError when it is over `max_bytes`."""
        if self._archive is not None:
            size = self._archive.getinfo(self._prefix + rel).file_size
        else:
            size = (self._path / rel).stat().st_size
        if size > self.max_bytes:
            raise ValueError(f"{rel} is larger than the limit of {self.max_bytes} bytes")
        if self._archive is not None:
            return self._archive.read(self._prefix + rel)
        return (self._path / rel).read_bytes()


@contextmanager
def open_export(path: Path, max_bytes: int = MAX_BYTES) -> Iterator[ExportFiles]:
    """The files of the export at `path`; a missing or unreadable export is terminal."""
    if path.is_dir():
        yield ExportFiles(path, None, max_bytes)
        return
    if not path.is_file():
        raise TerminalError(f"Slack export not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise TerminalError(f"Slack export {path} is not a readable zip: {err}") from err
    with archive:
        yield ExportFiles(path, archive, max_bytes)


def load_json(files: ExportFiles, rel: str) -> Any:
    """A file's JSON; raises ValueError with a reason when it cannot be read.

    Bytes that are not UTF-8 stay in the strings they sit in (as lone surrogates), so only
    the messages holding them fail (`is_utf8`); a list file must be UTF-8 throughout.
    """
    try:
        raw = files.read(rel)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(f"cannot read {rel}: {err}") from err
    try:
        value = json.loads(raw.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{rel} is malformed JSON: {err}") from err
    except RecursionError as err:
        raise ValueError(f"{rel} is nested too deeply to read") from err
    if rel in META_FILES and not is_utf8(value):
        raise ValueError(f"{rel} is not UTF-8")
    return value


@dataclass
class ExportDirectory:
    """Users and channels of an export, with what could not be read of them.

    `complete` is False when a channel list could not be read in full: a folder it does
    not list may then be a private channel, so every unlisted folder is unresolved.
    """

    user_names: dict[str, str]
    channels: dict[str, SlackChannel]
    failures: list[Failure]
    complete: bool = True

    def channel(self, folder: str) -> SlackChannel:
        """The channel a daily-file folder belongs to; unresolved when no list names it."""
        return self.channels.get(folder) or unresolved(folder)

    def folder_failures(self, folders: Iterable[str]) -> list[Failure]:
        """Why each folder no channel list names is readable by nobody."""
        why = "no channel list names it" if self.complete else "a channel list is unreadable"
        return [
            Failure(
                source=SOURCE, native_id=f"{folder}/", input=LISTS,
                reason=f"channel folder {folder!r} has unknown readers ({why}): its messages "
                "are readable by nobody but the trusted local caller",
            )
            for folder in sorted(set(folders))
            if folder not in self.channels
        ]


def read_directory(files: ExportFiles, present: Mapping[str, str]) -> ExportDirectory:
    """Users and channels from the export's list files that are present."""
    failures: list[Failure] = []
    entries: dict[str, Any] = {}
    for name in META_FILES:
        if name in present:
            try:
                entries[name] = load_json(files, name)
            except ValueError as err:
                failures.append(list_failure(name, str(err)))
    channels: dict[str, SlackChannel] = {}
    complete = all(name in entries for name in CHANNEL_LISTS if name in present)
    for name in CHANNEL_LISTS:
        listed = entries.get(name) or []
        if not isinstance(listed, list):
            failures.append(list_failure(name, f"{name} is not a list"))
            complete = False
            continue
        for index, entry in enumerate(listed):
            try:
                private = name != "channels.json" or bool(entry.get("is_private"))
                channel = read_channel(entry, private)
                if channel.acl == (UNRESOLVED,):
                    raise ValueError(f"private channel {channel.id} lists no members")
            except (ValueError, TypeError, AttributeError) as err:
                failures.append(list_failure(f"{name}#{index}", f"{name}: {err}"))
                channel = unreadable_entry(entry)
                if channel is None:
                    complete = False
                    continue
            channels.setdefault(channel.name, channel)
            channels.setdefault(channel.id, channel)
    return ExportDirectory(read_user_names(entries.get("users.json")), channels, failures, complete)


def list_failure(native_id: str, reason: str) -> Failure:
    return Failure(source=SOURCE, native_id=native_id, input=LISTS, reason=reason)


def unreadable_entry(entry: Any) -> SlackChannel | None:
    """The unresolved channel of a list entry that names a channel but not its readers."""
    if not isinstance(entry, Mapping) or not (entry.get("id") or entry.get("name")):
        return None
    channel_id = str(entry.get("id") or entry.get("name"))
    return unresolved(channel_id, str(entry.get("name") or channel_id))


class SlackExportConnector:
    """Messages of a Slack workspace export (a directory or a .zip), one SourceDoc each.

    Cursor: {"files": {relative path: signature}}; a pull re-reads the daily files that are
    new or changed, or all of them when a users / channels list changed. Every page's cursor
    holds the list files' signatures and the daily files read so far, so a crash resumes.
    Every pull's first page carries the readers of every channel and what is wrong with
    the channel lists, so membership changes and fixes apply to old messages too.
    """

    source = SOURCE

    def __init__(self, path: Path, workspace_url: str | None = None, max_bytes: int = MAX_BYTES):
        self.path = Path(path)
        self.workspace_url = workspace_url
        self.max_bytes = max_bytes

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """One page for the channel lists, one per new or changed daily file, then one that
        drops deleted files."""
        previous: dict[str, str] = dict((cursor or {}).get("files") or {})
        with open_export(self.path, self.max_bytes) as files:
            current = files.signatures()
            directory = read_directory(files, current)
            days = sorted(k for k in current if k not in META_FILES)
            folders = {rel.split("/", 1)[0] for rel in days}
            readers = {directory.channel(f).ref: list(directory.channel(f).acl) for f in folders}
            yield Page(
                failures=[*directory.failures, *directory.folder_failures(folders)],
                containers=readers | {c.ref: list(c.acl) for c in directory.channels.values()},
                finished=[LISTS, *sorted(k for k in previous if k not in current)],
            )
            refresh = any(previous.get(name) != current.get(name) for name in META_FILES)
            state = {k: current[k] for k in META_FILES if k in current}
            if not refresh:
                state.update({k: v for k, v in previous.items() if current.get(k) == v})
            last = previous
            for rel in days:
                if state.get(rel) == current[rel]:
                    continue
                docs, failures = self._read_day(files, rel, directory)
                state[rel] = current[rel]
                last = dict(state)
                yield Page(docs=docs, failures=failures, cursor={"files": last}, finished=[rel])
            if state != last:
                yield Page(cursor={"files": state})

    def list_ids(self) -> Iterator[str]:
        """Native ids of every message in the export; IncompleteListing if a file is unreadable."""
        with open_export(self.path, self.max_bytes) as files:
            current = files.signatures()
            directory = read_directory(files, current)
            for rel in sorted(k for k in current if k not in META_FILES):
                channel = directory.channel(rel.split("/", 1)[0])
                try:
                    messages = load_json(files, rel)
                except ValueError as err:
                    raise IncompleteListing(str(err)) from err
                if not isinstance(messages, list):
                    raise IncompleteListing(f"{rel} is not a JSON list of messages")
                for message in messages:
                    if isinstance(message, dict) and message.get("ts"):
                        yield message_native_id(message, channel.id)

    def _read_day(
        self, files: ExportFiles, rel: str, directory: ExportDirectory
    ) -> tuple[list[SourceDoc], list[Failure]]:
        """The messages of one daily file, each one that cannot be read a Failure of its own;
        a file that cannot be read at all is one Failure, whatever the error."""
        read = guarded(lambda: self._messages(files, rel, directory), SOURCE, rel)
        return ([], [read]) if isinstance(read, Failure) else read

    def _messages(
        self, files: ExportFiles, rel: str, directory: ExportDirectory
    ) -> tuple[list[SourceDoc], list[Failure]]:
        folder, day = DAY_FILE.match(rel).groups()  # type: ignore[union-attr]
        try:
            messages = load_json(files, rel)
        except ValueError as err:
            return [], [Failure(source=SOURCE, native_id=rel, reason=str(err))]
        if not isinstance(messages, list):
            reason = f"{rel} is not a JSON list of messages"
            return [], [Failure(source=SOURCE, native_id=rel, reason=reason)]
        channel = directory.channel(folder)
        docs: dict[str, SourceDoc] = {}
        failures = []
        for index, message in enumerate(messages):
            doc = guarded(
                lambda m=message: message_doc(m, channel, directory.user_names, self.workspace_url, day),
                SOURCE, f"{rel}#{index}", rel,
            )
            if isinstance(doc, Failure):
                failures.append(doc)
            else:
                docs.setdefault(doc.id, doc)
        return list(docs.values()), failures
