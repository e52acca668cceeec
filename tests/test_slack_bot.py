"""The Slack bot end to end: signed Events API requests into the real bolt app on a uvicorn
server, its Web API calls out to a local replay of Slack that records every post."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from qa.serve.models import ApiLimits
from qa.serve.service import Service
from qa.serve.slack import UNKNOWN_USER, create_slack_app, events_app
from tests.api_server import (
    BUGS,
    NIGHTJAR,
    LiveServer,
    build_store,
    leaks,
    private_docs,
    public_docs,
)

SECRET = "test-signing-secret"
BOT = "UQUARRYBOT"
GENEROUS = ApiLimits(rate_per_minute=60000, burst=10000, refresh_s=0)


class SlackReplay:
    """The part of the Slack Web API the bot calls: auth.test, chat.postMessage and
    chat.postEphemeral, each post recorded."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        self.app = Starlette(routes=[Route("/api/{method}", self.call, methods=["POST"])])

    async def call(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        if request.headers.get("authorization") != "Bearer xoxb-test":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return JSONResponse({"ok": True, "user_id": BOT, "bot_id": "BQUARRY", "team_id": "T1", "user": "quarry"})
        if method in ("chat.postMessage", "chat.postEphemeral"):
            body = await request.json() if "json" in request.headers.get("content-type", "") else dict(await request.form())
            with self.lock:
                self.posts.append({"method": method, **body})
            return JSONResponse({"ok": True, "ts": f"{time.time():.6f}", "channel": body.get("channel")})
        return JSONResponse({"ok": False, "error": "unknown_method"})

    def wait_for(self, count: int, timeout: float = 60.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.05)
        return list(self.posts)


@pytest.fixture(scope="module")
def slack(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("slack-store")
    build_store(root, embedder, public_docs() + private_docs()).close()
    replay = SlackReplay()
    with LiveServer(replay.app) as api:
        service = Service(root, embedder, limits=GENEROUS)
        bot = create_slack_app(service, "xoxb-test", SECRET, f"{api.url}/api/")
        with LiveServer(events_app(bot, service)) as events:
            yield events, replay


def signed(body: dict, secret: str = SECRET, retry: int | None = None) -> dict:
    raw = json.dumps(body)
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{raw}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return {"content": raw, "headers": headers}


def event(event_id: str, user: str, text: str, channel: str = "CGENERAL", kind: str = "app_mention") -> dict:
    ts = f"{time.time():.6f}"
    inner = {"type": kind, "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts}
    if kind == "message":
        inner["channel_type"] = "im"
    return {"type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event_id": event_id,
            "event_time": int(time.time()), "event": inner}


def send(server: LiveServer, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}/slack/events", **signed(body, **kwargs), timeout=30)


def test_a_mention_is_answered_in_its_thread_with_slack_links(slack):
    events, replay = slack
    start = len(replay.posts)
    body = event("Ev-bugs", "eid_b2", f"<@{BOT}> {BUGS}")
    assert send(events, body).status_code == 200
    post = replay.wait_for(start + 1)[start]
    assert post["method"] == "chat.postMessage" and post["channel"] == "CGENERAL"
    assert post["thread_ts"] == body["event"]["ts"]
    assert "BlueWave" in post["text"]
    assert "<https://github.com/acme/WidgetForce/pull/7|Faster dashboard rendering with canvas>" in post["text"]


def test_a_user_who_may_not_read_the_channel_gets_nothing_from_it(slack):
    events, replay = slack
    start = len(replay.posts)
    send(events, event("Ev-outsider", "eid_b2", f"<@{BOT}> {NIGHTJAR}"))
    post = replay.wait_for(start + 1)[start]
    assert post["method"] == "chat.postMessage" and not leaks(post["text"], NIGHTJAR)


def test_a_member_gets_private_answers_in_a_dm_and_only_privately_in_a_channel(slack):
    events, replay = slack
    start = len(replay.posts)
    send(events, event("Ev-dm", "eid_a1", BUGS, channel="D0ALICE", kind="message"))
    dm = replay.wait_for(start + 1)[start]
    assert dm["method"] == "chat.postMessage" and dm["channel"] == "D0ALICE" and "TechCorp" in dm["text"]
    send(events, event("Ev-channel", "eid_a1", f"<@{BOT}> {BUGS}"))
    reply = replay.wait_for(start + 2)[start + 1]
    assert reply["method"] == "chat.postEphemeral" and reply["user"] == "eid_a1" and "TechCorp" in reply["text"]


def test_an_unknown_user_is_told_so(slack):
    events, replay = slack
    start = len(replay.posts)
    send(events, event("Ev-unknown", "U0NOBODY", f"<@{BOT}> {BUGS}"))
    post = replay.wait_for(start + 1)[start]
    assert post["text"] == UNKNOWN_USER and "BlueWave" not in post["text"]


def test_a_retried_event_is_answered_once_and_a_forged_one_never(slack):
    events, replay = slack
    start = len(replay.posts)
    body = event("Ev-retried", "eid_b2", f"<@{BOT}> {BUGS}")
    assert send(events, body).status_code == 200
    assert send(events, body, retry=1).status_code == 200
    assert send(events, body, retry=2).status_code == 200
    forged = send(events, event("Ev-forged", "eid_b2", f"<@{BOT}> {BUGS}"), secret="wrong")
    assert forged.status_code == 401
    replay.wait_for(start + 1)
    time.sleep(1.5)
    assert len(replay.posts) == start + 1
