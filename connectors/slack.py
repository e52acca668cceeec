"""Slack messages as source documents: a workspace export reader, and the message
conversion that the Web API connector shares."""

from __future__ import annotations

import html
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.records import (
    UNRESOLVED,
    Failure,
    IncompleteListing,
    Page,
    SourceDoc,
    TerminalError,
    container_ref,
    doc_id,
    guarded,
    is_utf8,
)

SOURCE = "slack"
LISTS = "(channel lists)"
MAX_BYTES = 64 * 1024 * 1024
CHANNEL_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
META_FILES = ("users.json", *CHANNEL_LISTS)
DAY_FILE = re.compile(r"^([^/]+)/(\d{4}-\d{2}-\d{2})\.json$")
MARKUP = re.compile(r"<((?:[@#!][^<>\s|]*|[A-Za-z][A-Za-z0-9+.-]*:[^<>\s|]*)(?:\|[^<>]*)?)>")
MARKUP_MENTION = re.compile(r"<@([^<>|\s]+)(?:\|[^<>]*)?>")
PLAIN_MENTION = re.compile(r"(?<![\w.@<])@([A-Za-z0-9_]+)")
ID_LIKE = re.compile(r"^(?:eid_[0-9a-f]{8}|[UW][A-Z0-9]{8,})$")
BROADCASTS = ("here", "channel", "everyone")


@dataclass(frozen=True)
class SlackChannel:
    """A conversation as far as documents need it: id, name and who may read it.

    Its messages' ACL is the channel's container ref; `acl` is what the ref resolves to
    (`UNRESOLVED` when the readers cannot be known: nobody but the trusted caller).
    """

    id: str
    name: str
    acl: tuple[str, ...] = ("*",)

    @property
    def ref(self) -> str:
        return container_ref(SOURCE, self.id)


def clean_id(value: Any) -> str:
    """A user id without the stray quotes and spaces some exports wrap it in."""
    return str(value or "").strip().strip("'\"").strip()


def read_channel(entry: Mapping[str, Any], private: bool) -> SlackChannel:
    """The channel of a channels.json / groups.json / conversations.list entry.

    A private channel without a member list is unresolved (the Web API lists members
    apart); one whose member list is not a list of ids raises ValueError.
    """
    if not isinstance(entry, Mapping):
        raise TypeError("channel entry is not a JSON object")
    channel_id = str(entry.get("id") or entry.get("name") or "")
    if not channel_id:
        raise ValueError("channel entry has neither id nor name")
    acl: tuple[str, ...] = ("*",)
    members = entry.get("members")
    if private and members is None:
        acl = (UNRESOLVED,)
    elif private:
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ValueError(f"private channel {channel_id} has no readable member list")
        acl = tuple(sorted({clean_id(m) for m in members if clean_id(m)}))
    return SlackChannel(id=channel_id, name=str(entry.get("name") or channel_id), acl=acl)


def unresolved(channel_id: str, name: str | None = None) -> SlackChannel:
    """A channel whose readers cannot be known: readable by nobody but the trusted caller."""
    return SlackChannel(id=channel_id, name=name or channel_id, acl=(UNRESOLVED,))


def read_user_names(entries: Any) -> dict[str, str]:
    """User id -> real name, from users.json or users.list members."""
    names: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and clean_id(entry.get("id")):
            profile = entry.get("profile") if isinstance(entry.get("profile"), dict) else {}
            name = entry.get("real_name") or profile.get("real_name") or entry.get("name") or ""
            names[clean_id(entry["id"])] = str(name)
    return names


def _render_markup(match: re.Match[str]) -> str:
    body = match.group(1)
    head, _, label = body.partition("|")
    if head.startswith("@"):
        return "@" + clean_id(head[1:])
    if head.startswith("#"):
        return "#" + (label or head[1:])
    if head.startswith("!"):
        command = head[1:].split("^")[0]
        if label:
            return label
        return "@" + command if command in BROADCASTS else command
    if not label or label == head or head == "mailto:" + label:
        return label or head
    return f"{label} ({head})"


def normalise_text(text: str) -> str:
    """Slack mrkdwn as plain text: `<@U1>` -> `@U1`, `<url|label>` -> `label (url)`, entities."""
    return html.unescape(MARKUP.sub(_render_markup, text))


def mentioned_ids(text: str, known_users: Mapping[str, str]) -> list[str]:
    """User ids mentioned in raw message text, as `<@U1>` markup or plain `@id`.

    A plain `@word` counts when it names a known user, or looks like a user id when no
    user list is known.
    """
    found = [clean_id(m) for m in MARKUP_MENTION.findall(text)]
    for token in PLAIN_MENTION.findall(text):
        token = clean_id(token)
        if token in known_users or (not known_users and ID_LIKE.match(token)):
            found.append(token)
    return found


def parse_ts(ts: Any) -> datetime:
    """The UTC time of a Slack timestamp such as "1700000000.000100"."""
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as err:
        raise ValueError(f"bad Slack timestamp {ts!r}") from err


def message_native_id(message: Mapping[str, Any], channel_id: str) -> str:
    """The message's native id: its client_msg_id, else "<channel_id>/<ts>"."""
    return str(message.get("client_msg_id") or f"{channel_id}/{message.get('ts')}")


def is_thread_parent(message: Mapping[str, Any]) -> bool:
    """Whether the message starts a thread that has replies."""
    count = message.get("reply_count")
    ts = message.get("ts")
    return bool(ts) and message.get("thread_ts") == ts and isinstance(count, int) and count > 0


def permalink(workspace_url: str, channel_id: str, ts: str, thread_ts: str | None) -> str:
    """A Slack permalink of a message, as the Slack client builds them."""
    url = f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        url += f"?thread_ts={thread_ts}&cid={channel_id}"
    return url


def _attachment_texts(message: Mapping[str, Any]) -> list[str]:
    texts = []
    for item in message.get("attachments") or []:
        if isinstance(item, dict):
            parts = [str(item[k]) for k in ("title", "text") if item.get(k)]
            texts.append(" ".join(parts) or str(item.get("fallback") or ""))
    return [t for t in texts if t]


def _file_lines(message: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    lines, links = [], []
    for item in message.get("files") or []:
        if not isinstance(item, dict):
            continue
        label = item.get("title") or item.get("name") or "file"
        name = f" [{item['name']}]" if item.get("name") and item.get("name") != label else ""
        link = item.get("permalink") or item.get("url_private")
        lines.append(f"[file: {label}{name}" + (f" ({link})]" if link else "]"))
        if link:
            links.append(str(link))
    return lines, links


def message_doc(
    message: Any,
    channel: SlackChannel,
    user_names: Mapping[str, str],
    workspace_url: str | None = None,
    day: str | None = None,
) -> SourceDoc:
    """One Slack message as a SourceDoc; raises ValueError for a message it cannot read.

    `day` is the channel-day the message is filed under (default: the UTC date of its ts).
    """
    try:
        doc = _build_message_doc(message, channel, user_names, workspace_url, day)
    except (TypeError, AttributeError, KeyError) as err:
        raise ValueError(f"unreadable message: {err}") from err
    if not is_utf8(message):
        raise ValueError("message holds bytes that are not valid UTF-8")
    return doc



def _build_message_doc(
    message: Any,
    channel: SlackChannel,
    user_names: Mapping[str, str],
    workspace_url: str | None,
    day: str | None,
) -> SourceDoc:
    if not isinstance(message, dict):
        raise TypeError("not a JSON object")
    ts = str(message.get("ts") or "")
    created_at = parse_ts(ts)
    native_id = message_native_id(message, channel.id)
    author = clean_id(message.get("user") or message.get("bot_id")) or None
    raw_text = str(message.get("text") or "")
    attachments = _attachment_texts(message)
    file_lines, file_links = _file_lines(message)
    text = "\n".join(normalise_text(t) for t in [raw_text, *attachments, *file_lines] if t)
    mentions = mentioned_ids("\n".join([raw_text, *attachments]), user_names)
    people = list(dict.fromkeys([p for p in [author, *mentions] if p]))
    thread_ts = str(message["thread_ts"]) if message.get("thread_ts") else None
    day = day or created_at.date().isoformat()
    edited = message.get("edited") if isinstance(message.get("edited"), dict) else {}
    meta = {"channel_id": channel.id, "ts": ts}
    if thread_ts:
        meta["thread_ts"] = thread_ts
    bot_profile = message.get("bot_profile") if isinstance(message.get("bot_profile"), dict) else {}
    bot_name = message.get("username") or bot_profile.get("name")
    user_name = user_names.get(author or "") or bot_name
    if user_name:
        meta["user_name"] = str(user_name)
    for key in ("subtype", "bot_id", "reply_count", "parent_user_id"):
        if message.get(key) not in (None, ""):
            meta[key] = str(message[key])
    if file_links:
        meta["file_permalinks"] = json.dumps(file_links)
    return SourceDoc(
        id=doc_id(SOURCE, native_id),
        source=SOURCE,
        native_id=native_id,
        kind="message",
        title=f"#{channel.name} {day}",
        text=text,
        url=permalink(workspace_url, channel.id, ts, thread_ts) if workspace_url else None,
        author=author,
        people=people,
        created_at=created_at,
        updated_at=parse_ts(edited["ts"]) if edited.get("ts") else None,
        container=channel.name,
        group=f"{channel.id}/{thread_ts}" if thread_ts else f"{channel.id}/{day}",
        acl=[channel.ref],
        meta=meta,
    )


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
