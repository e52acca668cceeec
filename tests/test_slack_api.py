"""SlackApiConnector against recorded Web API responses replayed by a local HTTP server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from connectors.records import Page, TerminalError, TransientError
from connectors.slack_api import SlackApiConnector
from tests.replay import Exchange, ReplayServer

WORKSPACE = Path(__file__).parent / "fixtures" / "slack" / "api" / "workspace.json"
PARENT_TS = "1709287800.000200"
NEWEST_GENERAL_TS = "1709373600.000900"
SECRET_TS = "1709287300.000100"


def recorded() -> list[Exchange]:
    return [Exchange(**entry) for entry in json.loads(WORKSPACE.read_text())]


def ok(path: str, query: dict[str, str], **body) -> Exchange:
    return Exchange(path=path, query=query, body={"ok": True, **body})


@pytest.fixture
def server():
    with ReplayServer(recorded()) as replay:
        yield replay


@pytest.fixture
def http():
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connector(server, http, sleeps):
    return SlackApiConnector(
        "xoxb-test", base_url=server.url, client=http, page_size=2, sleep=sleeps.append, lookback_s=0
    )


def docs_by_native_id(pages: list[Page]) -> dict:
    return {doc.native_id: doc for page in pages for doc in page.docs}


def calls(server: ReplayServer, path: str) -> list[dict[str, str]]:
    return [r.query for r in server.requests if r.path == path]


def test_pull_pages_through_users_and_history(connector, server):
    pages = list(connector.pull(None))
    docs = docs_by_native_id(pages)
    assert set(docs) == {
        "m-009",
        "C01GENERAL/1709289000.000400",
        "m-002",
        "m-003",
        "m-001",
        "m-101",
    }
    assert [sorted(d.native_id for d in p.docs) for p in pages] == [
        ["C01GENERAL/1709289000.000400", "m-009"],
        ["m-001", "m-002", "m-003"],
        ["m-101"],
    ]
    history = calls(server, "/conversations.history")
    assert history[0] == {"channel": "C01GENERAL", "limit": "2"}
    assert history[1] == {"channel": "C01GENERAL", "limit": "2", "cursor": "bmV4dF90czoy"}
    assert [q.get("cursor") for q in calls(server, "/users.list")] == [None, "dXNlcjpVMDND"]
    assert calls(server, "/conversations.list")[0]["types"] == "public_channel,private_channel"
    assert all(
        r.headers.get("Authorization", r.headers.get("authorization")) == "Bearer xoxb-test"
        for r in server.requests
    )
    first = docs["m-001"]
    assert first.text == "Hi @U02BOB, see the spec (https://example.com/spec) & more"
    assert first.people == ["U01ALICE", "U02BOB"]
    assert first.meta["user_name"] == "Alice Adams"
    assert first.group == "C01GENERAL/2024-03-01"
    assert docs["m-009"].updated_at is not None
    bot = docs["C01GENERAL/1709289000.000400"]
    assert (bot.author, bot.meta["user_name"]) == ("B01DEPLOY", "deploybot")


def test_cursor_moves_only_past_a_channels_last_history_page(connector):
    cursors = [page.cursor for page in connector.pull(None)]
    assert cursors == [
        {"channels": {}, "threads": {}},
        {"channels": {"C01GENERAL": NEWEST_GENERAL_TS}, "threads": {}},
        {"channels": {"C01GENERAL": NEWEST_GENERAL_TS, "G01SECRET": SECRET_TS}, "threads": {}},
    ]


def test_thread_replies_are_fetched_and_grouped(connector, server):
    docs = docs_by_native_id(connector.pull(None))
    assert calls(server, "/conversations.replies") == [
        {"channel": "C01GENERAL", "ts": PARENT_TS, "limit": "2"}
    ]
    reply = docs["m-003"]
    assert reply.group == docs["m-002"].group == f"C01GENERAL/{PARENT_TS}"
    assert reply.meta["thread_ts"] == PARENT_TS
    assert reply.meta["user_name"] == "Carol Chen"
    assert reply.text == "Agreed, @here please review"


def test_private_channel_acl_is_its_member_list(connector, server):
    pages = list(connector.pull(None))
    docs = docs_by_native_id(pages)
    readers = {ref: r for p in pages for ref, r in p.containers.items()}
    assert docs["m-101"].acl == ["quarry:container/slack/G01SECRET"]
    assert readers["quarry:container/slack/G01SECRET"] == ["U01ALICE", "U02BOB"]
    assert docs["m-101"].container == "secret"
    assert readers[docs["m-001"].acl[0]] == ["*"]
    assert [q["channel"] for q in calls(server, "/conversations.members")] == ["G01SECRET"]


def test_rate_limit_honours_retry_after(connector, server, sleeps):
    server.exchanges.insert(
        0, Exchange(path="/users.list", status=429, headers={"Retry-After": "7"}, times=1)
    )
    server.exchanges.insert(
        0,
        Exchange(
            path="/conversations.list",
            body={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": "3"},
            times=1,
        ),
    )
    docs = docs_by_native_id(connector.pull(None))
    assert len(docs) == 6
    assert sleeps == [7.0, 3.0]
    assert len(calls(server, "/users.list")) == 3


def test_server_errors_back_off_then_give_up_as_transient(server, http, sleeps):
    server.exchanges.insert(0, Exchange(path="/users.list", status=503))
    connector = SlackApiConnector(
        "xoxb-test", base_url=server.url, client=http, max_retries=3, sleep=sleeps.append
    )
    with pytest.raises(TransientError, match="HTTP 503"):
        list(connector.pull(None))
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(calls(server, "/users.list")) == 4


def test_a_passing_server_error_is_retried(connector, server, sleeps):
    server.exchanges.insert(0, Exchange(path="/conversations.history", status=500, times=1))
    assert len(docs_by_native_id(connector.pull(None))) == 6
    assert sleeps == [1.0]


def test_unreachable_api_is_transient(http, sleeps):
    connector = SlackApiConnector(
        "xoxb-test",
        base_url="http://127.0.0.1:9",
        client=http,
        max_retries=2,
        sleep=sleeps.append,
    )
    with pytest.raises(TransientError, match="connection failed"):
        list(connector.list_ids())
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("error", ["invalid_auth", "not_authed", "account_inactive"])
def test_bad_credentials_are_terminal(server, http, sleeps, error):
    server.exchanges.insert(0, Exchange(path="/users.list", body={"ok": False, "error": error}))
    connector = SlackApiConnector("xoxb-bad", base_url=server.url, client=http, sleep=sleeps.append)
    with pytest.raises(TerminalError, match=error):
        list(connector.pull(None))
    assert sleeps == []
    assert len(server.requests) == 1


def test_a_channel_that_cannot_be_read_is_a_failure(connector, server):
    server.exchanges.insert(
        0, Exchange(path="/conversations.members", body={"ok": False, "error": "missing_scope"})
    )
    pages = list(connector.pull(None))
    failures = [f for p in pages for f in p.failures]
    assert [(f.native_id, f.reason) for f in failures] == [
        ("G01SECRET", "#secret: conversations.members: missing_scope")
    ]
    assert "m-101" not in docs_by_native_id(pages)
    assert pages[-1].cursor == {"channels": {"C01GENERAL": NEWEST_GENERAL_TS}, "threads": {}}
    assert pages[-1].containers == {"quarry:container/slack/G01SECRET": ["quarry:unresolved"]}


def test_incremental_pull_sends_oldest_and_returns_only_new_messages(connector, server):
    cursor = list(connector.pull(None))[-1].cursor
    new = {
        "type": "message",
        "client_msg_id": "m-010",
        "user": "U03CAROL",
        "ts": "1709460000.001000",
        "text": "Release notes are up",
    }
    server.exchanges[:0] = [
        ok(
            "/conversations.history",
            {"channel": "C01GENERAL", "oldest": NEWEST_GENERAL_TS},
            messages=[new],
            has_more=False,
        ),
        ok(
            "/conversations.history",
            {"channel": "G01SECRET", "oldest": SECRET_TS},
            messages=[],
            has_more=False,
        ),
    ]
    del server.requests[:]
    pages = list(connector.pull(cursor))
    assert [d.native_id for p in pages for d in p.docs] == ["m-010"]
    assert [q.get("oldest") for q in calls(server, "/conversations.history")] == [
        NEWEST_GENERAL_TS,
        SECRET_TS,
    ]
    assert pages[-1].cursor == {
        "channels": {"C01GENERAL": "1709460000.001000", "G01SECRET": SECRET_TS}, "threads": {}
    }


def test_a_lookback_window_catches_new_replies_to_older_threads_and_edits(server, http, sleeps):
    """With a day of lookback, the next pull re-reads history from a day before the cursor:
    the thread whose latest reply moved has its replies read again, edits come through,
    and a thread whose latest reply did not move is not read again."""
    connector = SlackApiConnector("xoxb-test", base_url=server.url, client=http, page_size=2,
                                  sleep=sleeps.append, lookback_s=86400)
    cursor = list(connector.pull(None))[-1].cursor
    assert cursor["threads"] == {"C01GENERAL": {PARENT_TS: "1709288400.000300"}}
    parent = {"type": "message", "client_msg_id": "m-002", "user": "U02BOB", "ts": PARENT_TS,
              "thread_ts": PARENT_TS, "text": "Should we ship on Friday?", "reply_count": 2,
              "latest_reply": "1709380000.000100"}
    late_reply = {"type": "message", "client_msg_id": "m-011", "user": "U01ALICE", "ts": "1709380000.000100",
                  "thread_ts": PARENT_TS, "text": "Friday works now the fix is in"}
    edited = {"type": "message", "client_msg_id": "m-009", "user": "U02BOB", "ts": NEWEST_GENERAL_TS,
              "text": "Standup moved to 11am", "edited": {"user": "U02BOB", "ts": "1709380100.000000"}}
    window = {"channel": "C01GENERAL", "oldest": "1709287200.000900"}
    server.exchanges[:0] = [
        ok("/conversations.history", window, messages=[edited, parent], has_more=False),
        ok("/conversations.replies", {"channel": "C01GENERAL", "ts": PARENT_TS},
           messages=[parent, late_reply]),
        ok("/conversations.history", {"channel": "G01SECRET", "oldest": "1709200900.000100"},
           messages=[], has_more=False),
    ]
    del server.requests[:]
    pages = list(connector.pull(cursor))
    docs = docs_by_native_id(pages)
    assert {"m-011", "m-009", "m-002"} <= set(docs)
    assert docs["m-011"].group == docs["m-002"].group and docs["m-009"].text == "Standup moved to 11am"
    assert pages[-1].cursor["threads"] == {"C01GENERAL": {PARENT_TS: "1709380000.000100"}}
    assert pages[-1].cursor["channels"]["C01GENERAL"] == NEWEST_GENERAL_TS

    unchanged = {"channel": "C01GENERAL", "oldest": window["oldest"]}
    server.exchanges[:0] = [ok("/conversations.history", unchanged, messages=[edited, parent], has_more=False)]
    del server.requests[:]
    again = list(connector.pull(pages[-1].cursor))
    assert calls(server, "/conversations.replies") == []
    assert "m-011" not in docs_by_native_id(again)


def test_channel_filter_by_name_or_id(server, http):
    connector = SlackApiConnector(
        "xoxb-test", base_url=server.url, client=http, channels=["#secret"]
    )
    assert set(docs_by_native_id(connector.pull(None))) == {"m-101"}
    assert {q["channel"] for q in calls(server, "/conversations.history")} == {"G01SECRET"}


def test_list_ids_finds_replies_and_deleted_messages(connector, server):
    pulled = set(docs_by_native_id(connector.pull(None)))
    assert set(connector.list_ids()) == pulled
    assert all("oldest" not in q for q in calls(server, "/conversations.history"))
    server.exchanges.insert(
        0,
        ok(
            "/conversations.history",
            {"channel": "C01GENERAL", "cursor": "bmV4dF90czoy"},
            messages=[],
            has_more=False,
        ),
    )
    assert pulled - set(connector.list_ids()) == {"m-001", "m-002", "m-003"}


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("SLACK_TOKEN"), reason="SLACK_TOKEN not set")
def test_live_slack_first_page():
    with httpx.Client(timeout=30.0) as client:
        connector = SlackApiConnector(os.environ["SLACK_TOKEN"], client=client, page_size=20)
        page = next(iter(connector.pull(None)), None)
    assert page is None or all(d.source == "slack" for d in page.docs)
