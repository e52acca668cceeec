"""Slack messages and channels as source documents and readers: the conversion the export
and Web API connectors share."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.records import (
    UNRESOLVED,
    SourceDoc,
    container_ref,
    doc_id,
    is_utf8,
)

SOURCE = "slack"
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
