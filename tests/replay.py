"""A local HTTP server that replays recorded API responses, for connector tests.

Each recorded exchange matches a method, a path and a subset of query parameters (and,
optionally, request headers) and answers with a status, headers and a JSON body. An
exchange with `times=N` answers only its first N matches, so a test can script a 429
followed by a 200. Every request the server receives is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Exchange:
    path: str
    body: Any = None
    status: int = 200
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    match_headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    times: int | None = None


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ReplayServer:
    """Serve `exchanges` on a loopback port; use as a context manager."""

    def __init__(self, exchanges: list[Exchange] | None = None):
        self.exchanges: list[Exchange] = list(exchanges or [])
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, received: Received) -> Exchange | None:
        with self._lock:
            self.requests.append(received)
            for ex in self.exchanges:
                if ex.method != received.method or ex.path != received.path:
                    continue
                if any(received.query.get(k) != v for k, v in ex.query.items()):
                    continue
                lowered = {k.lower(): v for k, v in received.headers.items()}
                if any(lowered.get(k.lower()) != v for k, v in ex.match_headers.items()):
                    continue
                if ex.times is not None:
                    if ex.times <= 0:
                        continue
                    ex.times -= 1
                return ex
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Type", "").startswith(
                    "application/x-www-form-urlencoded"
                ):
                    query.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
                received = Received(self.command, parts.path, query, dict(self.headers), body)
                ex = replay._answer(received)
                if ex is None:
                    payload, status, headers = {"error": "no recorded response"}, 404, {}
                else:
                    payload, status, headers = ex.body, ex.status, ex.headers
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v.replace("{base}", replay.url))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                return None

        return Handler
