"""Slack messages read live through the Slack Web API, as the same documents an export gives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from connectors.http import (
    HttpRejected,
    Retry,
    RetryingClient,
    cursor_pages,
    retry_after,
    server_trouble,
)
from connectors.records import (
    UNRESOLVED,
    Failure,
    Page,
    SourceDoc,
    TerminalError,
)
from connectors.slack import (
    SOURCE,
    SlackChannel,
    clean_id,
    is_thread_parent,
    message_doc,
    message_native_id,
    read_channel,
    read_user_names,
)

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


class SlackCallError(TerminalError):
    """A Web API method answered `ok: false` with an error that retrying will not fix."""

    def __init__(self, method: str, error: str):
        super().__init__(f"{method}: {error}")
        self.error = error


def _ts_value(ts: Any) -> Decimal | None:
    try:
        value = Decimal(str(ts))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def cursor_of(state: dict[str, str], threads: dict[str, dict[str, str]]) -> dict[str, Any]:
    """A pull's cursor: each channel's newest ts and the threads its window holds."""
    return {"channels": dict(state), "threads": {k: dict(v) for k, v in threads.items() if v}}


class SlackApiConnector:
    """Messages and thread replies of a workspace's channels, read through the Web API.

    Cursor: {"channels": {channel_id: ts of the newest history message included},
    "threads": {channel_id: {parent ts: its latest reply ts}}}. The next pull asks each
    channel for history after that ts less `lookback_s`: messages in that window come again
    (so edits reach the index; unchanged ones are skipped by their content hash), and a
    thread in it whose latest reply moved has its replies read again. Replies to threads
    older than the window wait for a full pull.
    """

    source = SOURCE

    def __init__(
        self,
        token: str,
        base_url: str = "https://slack.com/api",
        channels: list[str] | None = None,
        client: httpx.Client | None = None,
        max_retries: int = 5,
        page_size: int = 200,
        sleep: Callable[[float], Any] = time.sleep,
        workspace_url: str | None = None,
        lookback_s: float = 7 * 86400,
    ):
        self._headers = {"Authorization": f"Bearer {token}"}
        self._base_url = base_url.rstrip("/")
        self._wanted = {c.lstrip("#") for c in channels} if channels else None
        self._http = RetryingClient(client, retries=max_retries, sleep=sleep)
        self._page_size = page_size
        self._workspace_url = workspace_url
        self._lookback = Decimal(str(lookback_s))

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """One page per history page of each channel, newer than the cursor's ts."""
        state: dict[str, str] = dict((cursor or {}).get("channels") or {})
        threads: dict[str, dict[str, str]] = {
            k: dict(v) for k, v in ((cursor or {}).get("threads") or {}).items()
        }
        user_names = self._user_names()
        for channel in self._channels():
            yield from self._pull_channel(channel, user_names, state, threads)

    def list_ids(self) -> Iterator[str]:
        """Native ids of every message and thread reply in the channels now."""
        for channel in self._channels():
            for messages, _ in self._pages("conversations.history", {"channel": channel.id}):
                for message in messages:
                    if not isinstance(message, dict) or not message.get("ts"):
                        continue
                    yield message_native_id(message, channel.id)
                    if is_thread_parent(message):
                        for reply in self._replies(channel.id, str(message["ts"])):
                            yield message_native_id(reply, channel.id)

    def _pull_channel(
        self,
        channel: SlackChannel,
        user_names: dict[str, str],
        state: dict[str, str],
        threads: dict[str, dict[str, str]],
    ) -> Iterator[Page]:
        """Pages of one channel; its cursor moves only once its last history page is read,
        since Slack returns history newest first."""
        oldest = state.get(channel.id)
        since = self._window_start(oldest)
        params = {"channel": channel.id, **({"oldest": since} if since else {})}
        newest = _ts_value(oldest) if oldest else None
        newest_ts = oldest
        known = threads.get(channel.id, {})
        seen: dict[str, str] = {}
        try:
            if channel.acl != ("*",):
                channel = replace(channel, acl=self._members(channel.id))
            readers = {channel.ref: list(channel.acl)}
            for messages, more in self._pages("conversations.history", params):
                docs, failures = self._convert(channel, user_names, messages, known, seen)
                for message in messages:
                    value = _ts_value(message.get("ts")) if isinstance(message, dict) else None
                    if value is not None and (newest is None or value > newest):
                        newest, newest_ts = value, str(message["ts"])
                if not more:
                    if newest_ts:
                        state[channel.id] = newest_ts
                    threads[channel.id] = self._in_window(seen, newest_ts)
                yield Page(docs=docs, failures=failures, cursor=cursor_of(state, threads),
                           containers=readers)
                readers = {}
        except SlackCallError as err:
            failure = Failure(source=SOURCE, native_id=channel.id, reason=f"#{channel.name}: {err}")
            readers = {channel.ref: [UNRESOLVED]} if channel.acl != ("*",) else {}
            yield Page(failures=[failure], cursor=cursor_of(state, threads), containers=readers)

    def _window_start(self, oldest: str | None) -> str | None:
        """The `oldest` to ask history for: the cursor's ts less the lookback, or None."""
        value = _ts_value(oldest) if oldest else None
        if value is None or not self._lookback:
            return oldest
        return format(max(value - self._lookback, Decimal(0)), "f")

    def _in_window(self, seen: dict[str, str], newest_ts: str | None) -> dict[str, str]:
        """The threads worth remembering: those the next pull's window will hold."""
        start = _ts_value(self._window_start(newest_ts)) if newest_ts else None
        return {ts: latest for ts, latest in seen.items() if start is None or Decimal(ts) > start}

    def _convert(
        self,
        channel: SlackChannel,
        user_names: dict[str, str],
        messages: list[Any],
        known: dict[str, str],
        seen: dict[str, str],
    ) -> tuple[list[SourceDoc], list[Failure]]:
        """Documents of history messages, with the replies of each thread that is new or
        whose latest reply differs from `known`; records each thread's latest in `seen`."""
        docs: dict[str, SourceDoc] = {}
        failures: list[Failure] = []
        for message in messages:
            batch = [message]
            if isinstance(message, dict) and is_thread_parent(message):
                parent = str(message["ts"])
                latest = str(message.get("latest_reply") or "")
                seen[parent] = latest
                if not latest or known.get(parent) != latest:
                    try:
                        batch += self._replies(channel.id, parent)
                    except SlackCallError as err:
                        thread = f"{channel.id}/{parent}"
                        failures.append(Failure(source=SOURCE, native_id=thread, reason=str(err)))
                        seen.pop(parent)
            for item in batch:
                try:
                    doc = message_doc(item, channel, user_names, self._workspace_url)
                except ValueError as err:
                    ts = item.get("ts") if isinstance(item, dict) else None
                    native_id = f"{channel.id}/{ts}"
                    failures.append(Failure(source=SOURCE, native_id=native_id, reason=str(err)))
                    continue
                docs.setdefault(doc.id, doc)
        return list(docs.values()), failures

    def _user_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for members, _ in self._pages("users.list", {}, key="members"):
            names.update(read_user_names(members))
        return names

    def _channels(self) -> Iterator[SlackChannel]:
        params = {"types": "public_channel,private_channel"}
        for entries, _ in self._pages("conversations.list", params, key="channels"):
            for entry in entries:
                if not isinstance(entry, dict) or not entry.get("id"):
                    continue
                if self._wanted is not None and not {entry["id"], entry.get("name")} & self._wanted:
                    continue
                private = any(entry.get(k) for k in ("is_private", "is_group", "is_im", "is_mpim"))
                yield read_channel(entry, private)

    def _members(self, channel_id: str) -> tuple[str, ...]:
        members: set[str] = set()
        for page, _ in self._pages("conversations.members", {"channel": channel_id}, "members"):
            members.update(clean_id(m) for m in page if clean_id(m))
        return tuple(sorted(members))

    def _replies(self, channel_id: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies of a thread, without its parent."""
        replies = []
        params = {"channel": channel_id, "ts": thread_ts}
        for messages, _ in self._pages("conversations.replies", params):
            replies += [m for m in messages if isinstance(m, dict) and m.get("ts") != thread_ts]
        return replies

    def _pages(
        self, method: str, params: dict[str, str], key: str = "messages"
    ) -> Iterator[tuple[list[Any], bool]]:
        """Items of each page of a cursor-paginated method, and whether more pages follow."""

        def call(cursor: str) -> dict[str, Any]:
            query = {**params, "limit": str(self._page_size), **({"cursor": cursor} if cursor else {})}
            return self._call(method, query)

        for body, more in cursor_pages(call):
            items = body.get(key)
            yield (items if isinstance(items, list) else []), more

    def _call(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """The body of a successful call; the client retries what may pass."""
        try:
            response = self._http.get(
                f"{self._base_url}/{method}", params=params, headers=self._headers,
                retry_when=unusable_answer,
            )
        except HttpRejected as err:
            raise TerminalError(f"{method}: HTTP {err.status}") from err
        body = response.json()
        if body.get("ok"):
            return body
        error = str(body.get("error") or "unknown_error")
        if error in AUTH_ERRORS:
            raise TerminalError(f"{method}: {error}")
        raise SlackCallError(method, error)


def unusable_answer(response: httpx.Response) -> Retry | None:
    """Slack's retry rule: besides 429 and 5xx, a body that is no JSON object and an
    `ok: false` of `ratelimited` are asked again."""
    trouble = server_trouble(response)
    if trouble is not None or response.status_code >= 400:
        return trouble
    try:
        body = response.json()
    except ValueError:
        return Retry("a response that is not JSON")
    if not isinstance(body, dict):
        return Retry("a response that is not a JSON object")
    if body.get("error") == "ratelimited" and not body.get("ok"):
        return Retry("ratelimited", retry_after(response))
    return None
