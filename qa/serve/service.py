"""What the HTTP API, the MCP server and the Slack bot share: the store's snapshots, keys and
limits, per-caller answerers, and the three things a caller can do (ask, search, read a
document), each within what the caller may read.

Search and document reads filter by ACL in their own queries; answers run over a catalog
view and a chunk store restricted to the caller (see `qa.serve.store`).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from index.records import Query
from qa.records import Answer, Hop
from qa.serve.auth import Caller, KeyGuard, KeyStore, TrustedProxies
from qa.serve.models import (
    ApiLimits,
    DocumentResponse,
    SearchRequest,
    SearchResponse,
    ServeError,
)
from qa.serve.store import AnswererPool, CatalogSnapshots, GatedStore, Snapshot

NO_ANSWER = "I could not find an answer to that in the sources you can read."
DOCUMENT_SQL = (
    "SELECT id, source, native_id, kind, title, url, author, people, container, created_at, "
    "updated_at, text, meta FROM documents WHERE id = ? AND status = 'indexed' "
    "AND list_has_any(acl, ?::VARCHAR[])"
)


class Service:
    """The store folder `store` (catalog.duckdb, lance/, keys.duckdb) as callers see it.

    `embedder` enables vector search and text hops; `reasoner` is passed to every answerer;
    `agent` (LLM mode) wraps each caller's answerer.
    """

    def __init__(
        self,
        store: Path | str,
        embedder: Any | None = None,
        reasoner: Any | None = None,
        limits: ApiLimits | None = None,
        agent: Callable[[Any], Any] | None = None,
    ):
        self.store = Path(store)
        self.limits = limits or ApiLimits()
        self.work_dir = Path(tempfile.mkdtemp(prefix="quarry-serve-"))
        self.snapshots = CatalogSnapshots(self.store / "catalog.duckdb", self.work_dir, self.limits.refresh_s)
        self.pool = AnswererPool(
            str(self.store / "lance"), embedder, reasoner, self.limits.answerers, self.limits.searches, agent
        )
        self.keys = KeyStore(self.store / "keys.duckdb")
        self.guard = KeyGuard(
            self.keys, self.limits.failed_keys_per_minute, self.limits.failed_keys_burst,
            self.limits.rate_per_minute, self.limits.burst,
        )
        self.proxies = TrustedProxies(self.limits.trusted_proxies)

    def authenticate(self, key: str | None, peer: str | None, forwarded_for: str | None = None) -> Caller:
        """The caller a key speaks for, from the client address a request came from."""
        return self.guard.check(key, self.proxies.client(peer, forwarded_for))

    def snapshot(self) -> Snapshot:
        """The catalog snapshot a request reads."""
        current = self.snapshots.current()
        if current is None:
            raise ServeError(503, "not_ready", "the store has no catalog yet")
        return current

    def chunks(self, snapshot: Snapshot) -> GatedStore:
        """The chunk store opened for `snapshot`."""
        chunks = self.pool.chunks(snapshot)
        if chunks is None:
            raise ServeError(503, "not_ready", "the store has no chunk index yet")
        return chunks

    def answer(
        self, caller: Caller, question: str, on_hop: Callable[[Hop], None] | None = None,
        snapshot: Snapshot | None = None,
    ) -> Answer:
        """The caller's answer, over only what they may read; `on_hop` sees each hop."""
        with self.pool.answerer(snapshot or self.snapshot(), caller.principals) as answerer:
            return answerer.answer(question, on_hop=on_hop)

    def search(self, caller: Caller, request: SearchRequest, snapshot: Snapshot | None = None) -> SearchResponse:
        """Hybrid (or vector, or text) search over the chunks the caller may read."""
        chunks = self.chunks(snapshot or self.snapshot())
        vector = None
        if request.mode != "text" and self.pool.embedder is not None:
            vector = self.pool.embedder.encode([request.query])[0]
        elif request.mode == "vector":
            raise ServeError(422, "invalid_request", "vector search is not available on this server")
        query = Query(
            text=request.query, k=request.k, mode=request.mode, sources=request.sources,
            kinds=request.kinds, containers=request.containers, people=request.people,
            since=request.since, until=request.until, principals=caller.principals,
        )
        hits = chunks.search(query, vector)
        return SearchResponse(count=len(hits), hits=hits)

    def document(self, caller: Caller, doc_id: str, snapshot: Snapshot | None = None) -> DocumentResponse:
        """One document by id (`source:native_id`); 404 when missing or not readable."""
        rows = (snapshot or self.snapshot()).query(DOCUMENT_SQL, [doc_id, ["*", *caller.principals]])
        if not rows:
            raise ServeError(404, "not_found", "no such document")
        row = rows[0]
        return DocumentResponse(
            **row | {"title": row["title"] or "", "text": row["text"] or "", "people": row["people"] or [],
                     "meta": json.loads(row["meta"] or "{}")}
        )

    def close(self) -> None:
        self.snapshots.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def answer_text(answer: Answer, limit: int, link: Callable[[str, str | None], str] | None = None) -> str:
    """The answer as chat text with numbered sources; `link(title, url)` renders a source
    (default `title <url>`)."""
    if not answer.answerable:
        return NO_ANSWER
    body = answer.readable()
    if not answer.citations or limit == 0:
        return body
    link = link or (lambda title, url: title + (f" <{url}>" if url else ""))
    lines = [f"[{n}] {link(c.title or c.native_id, c.url)}" for n, c in enumerate(answer.citations[:limit], 1)]
    if len(answer.citations) > limit:
        lines.append(f"... and {len(answer.citations) - limit} more")
    return body + "\n\nSources:\n" + "\n".join(lines)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, with the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(), "logger": record.name, "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def json_logging(name: str, level: str) -> logging.Logger:
    """The logger `name`, writing JSON lines to stderr at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger
