"""Quarry as a Slack bot (slack-bolt): a question asked by mention or in a DM is answered in
the thread where it was asked, with citations as Slack links, under the asking user's
permissions.

The Slack user id is the principal that Slack channel ACLs name, so it is the caller's
principal; a user the store does not know (not in the directory, the author of no message,
a member of no channel) is told so and gets no answer. In a channel, an answer that cites
anything not everyone may read is shown to the asker alone (an ephemeral reply), so the
channel never sees what only the asker may read. Slack retries an event it thinks was
lost; each event id is answered once.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from connectors.records import doc_id
from qa.records import Answer
from qa.serve.auth import Caller
from qa.serve.models import MAX_QUESTION_CHARS, ServeError
from qa.serve.service import Service, answer_text

log = logging.getLogger("quarry.slack")
MENTION = re.compile(r"<@[A-Z0-9]+>")
UNKNOWN_USER = ("I don't know your Slack account: it is not in the directory Quarry has indexed, "
                "so I can't tell what you may read. Ask an admin to add you.")
EMPTY = "Ask me a question, e.g. `@quarry who reviewed the vision document?`"
KNOWN_SQL = (
    "SELECT 1 FROM documents WHERE status = 'indexed' AND ((source = 'directory' AND native_id = ?) "
    "OR (source = 'slack' AND (author = ? OR list_contains(acl, ?)))) LIMIT 1"
)


def slack_link(title: str, url: str | None) -> str:
    """A citation as Slack mrkdwn: `<url|title>`, or the title alone."""
    title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "/")
    return f"<{url}|{title}>" if url else title


class SeenEvents:
    """The ids of the last `size` events handled, so a retried event is answered once."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)
            return True


class SlackBot:
    """Answers Slack questions through `service`."""

    def __init__(self, service: Service):
        self.service = service
        self.seen = SeenEvents()

    def caller(self, user: str) -> Caller | None:
        """The caller a Slack user speaks as, None when the store does not know them."""
        if not self.service.snapshot().query(KNOWN_SQL, [user, user, user]):
            return None
        return Caller(key_id=f"slack:{user}", principal=user)

    def public(self, answer: Answer) -> bool:
        """Whether everyone may read every document the answer cites."""
        ids = [doc_id(c.source, c.native_id) for c in answer.citations]
        if not ids:
            return True
        rows = self.service.snapshot().query(
            "SELECT count(*) AS n FROM documents WHERE id IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT list_contains(acl, '*')", [ids],
        )
        return rows[0]["n"] == 0

    def handle(self, body: dict[str, Any], client: WebClient) -> None:
        """Answer the question in an `app_mention` or direct `message` event, once."""
        event = body.get("event", {})
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return
        if not self.seen.first_time(str(body.get("event_id") or event.get("client_msg_id") or event.get("ts"))):
            return
        channel, user = event["channel"], event["user"]
        thread = event.get("thread_ts") or event["ts"]
        question = MENTION.sub("", event.get("text", "")).strip()[:MAX_QUESTION_CHARS]
        in_dm = event.get("channel_type") == "im"
        text, public = self.reply(user, question)
        if public or in_dm:
            client.chat_postMessage(channel=channel, thread_ts=thread, text=text, unfurl_links=False)
        else:
            client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, text=text)
        log.info("slack question", extra={"fields": {"user": user, "channel": channel, "public": public}})

    def reply(self, user: str, question: str) -> tuple[str, bool]:
        """The reply text, and whether the whole channel may see it."""
        caller = self.caller(user)
        if caller is None:
            return UNKNOWN_USER, True
        if not question:
            return EMPTY, True
        wait = self.service.guard.requests.take(caller.key_id)
        if wait:
            return f"You are asking faster than I can answer; try again in {wait:.0f} s.", True
        try:
            answer = self.service.answer(caller, question)
        except ServeError as exc:
            return exc.message, True
        return answer_text(answer, self.service.limits.chat_citations, slack_link), self.public(answer)


def create_slack_app(
    service: Service, token: str, signing_secret: str, api_url: str | None = None
) -> App:
    """A bolt app answering mentions and DMs; `api_url` points the Web API client elsewhere
    (a proxy, or a local replay in tests)."""
    client = WebClient(token=token, base_url=api_url) if api_url else WebClient(token=token)
    app = App(client=client, signing_secret=signing_secret, process_before_response=False)
    bot = SlackBot(service)

    @app.event("app_mention")
    def mention(body: dict[str, Any], client: WebClient) -> None:
        bot.handle(body, client)

    @app.event("message")
    def message(body: dict[str, Any], client: WebClient) -> None:
        if body.get("event", {}).get("channel_type") == "im":
            bot.handle(body, client)

    return app


def events_app(app: App, service: Service) -> Any:
    """An ASGI app taking the Events API's signed requests at `/slack/events`."""
    from contextlib import asynccontextmanager

    from slack_bolt.adapter.starlette import SlackRequestHandler
    from starlette.applications import Starlette
    from starlette.routing import Route

    handler = SlackRequestHandler(app)

    async def events(request: Any) -> Any:
        return await handler.handle(request)

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        yield
        service.close()

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])], lifespan=lifespan)
