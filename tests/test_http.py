"""The one retrying HTTP client, against real local servers: retries, waits, rejections,
pagination."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Self

import httpx
import pytest

from connectors.http import HttpRejected, Retry, RetryingClient, cursor_pages, link_pages
from connectors.records import TerminalError, TransientError
from tests.replay import Exchange, ReplayServer


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(sleeps: list[float], **options) -> RetryingClient:
    return RetryingClient(httpx.Client(timeout=5.0), sleep=sleeps.append, **options)


class FlakySocket:
    """A loopback server whose first `drops` connections are closed unanswered and whose
    later ones get a 200 (after `delay` seconds)."""

    def __init__(self, drops: int, delay: float = 0.0):
        self.drops = drops
        self.delay = delay
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                conn.recv(65536)
                if self.connections <= self.drops:
                    continue
                time.sleep(self.delay)
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                except OSError:
                    continue

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_a_429_waits_its_retry_after_then_succeeds(sleeps):
    exchanges = [
        Exchange("/x", {"error": "slow down"}, status=429, headers={"Retry-After": "2"}, times=1),
        Exchange("/x", {"ok": True}),
    ]
    with ReplayServer(exchanges) as server:
        response = client(sleeps).get(f"{server.url}/x")
    assert response.json() == {"ok": True}
    assert sleeps == [2.0] and len(server.requests) == 2


def test_server_errors_back_off_exponentially_capped_then_raise_transient(sleeps):
    exchanges = [Exchange("/x", {"message": "down"}, status=503)]
    failing = pytest.raises(TransientError, match="HTTP 503, still after 4 retries")
    with ReplayServer(exchanges) as server, failing:
        client(sleeps, retries=4, max_backoff_s=3.0).get(f"{server.url}/x")
    assert sleeps == [1.0, 2.0, 3.0, 3.0] and len(server.requests) == 5


def test_max_wait_caps_the_servers_retry_after_too(sleeps):
    exchanges = [
        Exchange("/x", status=429, headers={"Retry-After": "600"}, times=1),
        Exchange("/x", {"ok": True}),
    ]
    with ReplayServer(exchanges) as server:
        client(sleeps, max_wait_s=0.5).get(f"{server.url}/x")
    assert sleeps == [0.5]


def test_a_dropped_connection_is_retried(sleeps):
    with FlakySocket(drops=1) as server:
        response = client(sleeps).get(server.url)
    assert response.status_code == 200
    assert server.connections == 2 and sleeps == [1.0]


def test_a_connection_that_keeps_dropping_is_transient(sleeps):
    with FlakySocket(drops=100) as server, pytest.raises(TransientError, match="connection failed"):
        client(sleeps, retries=2).get(server.url)
    assert server.connections == 3 and sleeps == [1.0, 2.0]


def test_a_timeout_is_retried_then_transient(sleeps):
    with FlakySocket(drops=0, delay=0.5) as server, pytest.raises(TransientError, match="timed out"):
        client(sleeps, retries=1).get(server.url, timeout=0.05)
    assert sleeps == [1.0]


def test_a_404_is_permanent_and_not_retried(sleeps):
    with ReplayServer([Exchange("/x", {"message": "Not Found"}, status=404)]) as server:
        with pytest.raises(HttpRejected, match="HTTP 404: Not Found") as caught:
            client(sleeps).get(f"{server.url}/x")
        assert isinstance(caught.value, TerminalError) and caught.value.status == 404
        assert client(sleeps).get(f"{server.url}/x", accept=(404,)).status_code == 404
    assert sleeps == [] and len(server.requests) == 2


def test_a_call_can_retry_answers_the_default_rule_lets_through(sleeps):
    exchanges = [Exchange("/x", {"busy": True}, times=2), Exchange("/x", {"busy": False})]

    def busy(response: httpx.Response) -> Retry | None:
        return Retry("busy", 0.25) if response.json()["busy"] else None

    with ReplayServer(exchanges) as server:
        assert client(sleeps).get(f"{server.url}/x", retry_when=busy).json() == {"busy": False}
    assert sleeps == [0.25, 0.25]


def test_link_pages_follow_rel_next_lazily(sleeps):
    exchanges = [
        Exchange("/items", [1, 2], query={"page": "1"},
                 headers={"Link": '<{base}/items?page=2>; rel="next", <{base}/items?page=3>; rel="last"'}),
        Exchange("/items", [3, 4], query={"page": "2"}, headers={"Link": '<{base}/items?page=3>; rel="next"'}),
        Exchange("/items", [5], query={"page": "3"}),
    ]
    http = client(sleeps)
    with ReplayServer(exchanges) as server:
        pages: Iterator[httpx.Response] = link_pages(http.get, f"{server.url}/items?page=1")
        assert next(pages).json() == [1, 2] and len(server.requests) == 1
        assert [item for page in pages for item in page.json()] == [3, 4, 5]
    assert [r.query["page"] for r in server.requests] == ["1", "2", "3"]


def test_cursor_pages_follow_next_cursor(sleeps):
    exchanges = [
        Exchange("/m", {"ok": True, "n": 1, "response_metadata": {"next_cursor": "c2"}}, times=1),
        Exchange("/m", {"ok": True, "n": 2, "response_metadata": {"next_cursor": "c3"}}, query={"cursor": "c2"}),
        Exchange("/m", {"ok": True, "n": 3, "response_metadata": {"next_cursor": ""}}, query={"cursor": "c3"}),
    ]
    http = client(sleeps)
    with ReplayServer(exchanges) as server:
        bodies = list(cursor_pages(lambda c: http.get(f"{server.url}/m", params={"cursor": c} if c else {}).json()))
    assert [(body["n"], more) for body, more in bodies] == [(1, True), (2, True), (3, False)]
