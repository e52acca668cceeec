"""Quarry as an MCP server (the official `mcp` SDK): `search`, `ask` and `document` tools over
stdio or streamable HTTP.

Over HTTP every request carries `Authorization: Bearer <key>`, checked like `/v1` (same keys,
limits and failed-key guard), and each tool sees only what the key's principals may read.
Over stdio the key is given once at start (the process is the caller's own).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from qa.records import Citation
from qa.serve.auth import Caller, RateLimiter, scope_headers
from qa.serve.models import (
    MAX_DOC_ID_CHARS,
    MAX_FILTER_VALUES,
    MAX_K,
    DocumentResponse,
    Name,
    Question,
    SearchRequest,
    SearchResponse,
    ServeError,
)
from qa.serve.service import Service, answer_text

log = logging.getLogger("quarry.mcp")
READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
Filter = Annotated[list[Name], Field(max_length=MAX_FILTER_VALUES)]


class AskResult(BaseModel):
    """An answer: the text to show (with numbered sources), its typed items, whether the
    sources support an answer at all, and every supporting citation."""

    text: str
    answerable: bool
    kind: Literal["list", "text"]
    items: list[str]
    citations: list[Citation]


def create_mcp(service: Service, caller_of: Callable[[Context], Caller]) -> MCPServer:
    """The MCP server over `service`; `caller_of` says whom a tool call speaks for."""
    server = MCPServer(
        "quarry", title="Quarry", version="1",
        instructions="Search and ask over the company's Slack, GitHub, documents, meetings and "
                     "directory. Answers cite their sources; `document` reads one in full.",
    )

    async def call(ctx: Context, work: Callable[[Caller], Any]) -> Any:
        caller = caller_of(ctx)
        try:
            return await anyio.to_thread.run_sync(work, caller)
        except ServeError as exc:
            raise ToolError(exc.message) from None

    @server.tool(annotations=READ_ONLY)
    async def search(
        ctx: Context,
        query: Question,
        k: Annotated[int, Field(ge=1, le=MAX_K)] = 10,
        mode: Literal["hybrid", "vector", "text"] = "hybrid",
        sources: Filter | None = None,
        kinds: Filter | None = None,
        containers: Filter | None = None,
        people: Filter | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SearchResponse:
        """Hybrid search over the chunks you may read: each hit with its text, source,
        container, title, link and the native ids it contains."""
        request = SearchRequest(
            query=query, k=k, mode=mode, sources=sources or [], kinds=kinds or [],
            containers=containers or [], people=people or [], since=since, until=until,
        )
        return await call(ctx, lambda caller: service.search(caller, request))

    @server.tool(annotations=READ_ONLY)
    async def ask(ctx: Context, question: Question) -> AskResult:
        """Answer a question from what you may read, with citations (native ids, titles and
        links), or say that the sources do not support an answer."""
        answer = await call(ctx, lambda caller: service.answer(caller, question))
        return AskResult(
            text=answer_text(answer, service.limits.chat_citations), answerable=answer.answerable,
            kind=answer.kind, items=answer.items, citations=answer.citations,
        )

    @server.tool(annotations=READ_ONLY)
    async def document(
        ctx: Context, id: Annotated[str, Field(min_length=1, max_length=MAX_DOC_ID_CHARS)]
    ) -> DocumentResponse:
        """One document in full by id (`source:native_id`, as search hits and citations give
        it), with its link at the source."""
        return await call(ctx, lambda caller: service.document(caller, id))

    return server


def fixed_caller(caller: Caller) -> Callable[[Context], Caller]:
    """Every call speaks for `caller` (stdio)."""
    return lambda ctx: caller


def request_caller(ctx: Context) -> Caller:
    """The caller the HTTP request was authenticated as (see `KeyCheck`)."""
    request = ctx.request_context.request
    caller = getattr(getattr(request, "state", None), "caller", None)
    if caller is None:
        raise ToolError("this request carries no authenticated caller")
    return caller


class KeyCheck:
    """ASGI middleware: a bearer key on every HTTP request, checked by the service; the
    caller goes into the request's state, a refusal is a JSON 401 or 429."""

    def __init__(self, app: Any, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope)
        scheme, _, key = headers.get("authorization", "").partition(" ")
        peer = scope["client"][0] if scope.get("client") else None
        try:
            caller = self.service.authenticate(
                key.strip() if scheme.lower() == "bearer" else None, peer, headers.get("x-forwarded-for")
            )
        except ServeError as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            if exc.status == 429:
                extra = [(b"retry-after", RateLimiter.retry_after(exc.retry_after).encode())]
            body = json.dumps({"error": {"type": exc.type, "message": exc.message}}).encode()
            await send({"type": "http.response.start", "status": exc.status,
                        "headers": [(b"content-type", b"application/json"), *extra]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["caller"] = caller
        log.info("mcp request", extra={"fields": {"key_id": caller.key_id, "path": scope["path"]}})
        await self.app(scope, receive, send)


def http_app(service: Service, host: str = "127.0.0.1") -> Any:
    """The streamable HTTP app at `/mcp`, behind the key check."""
    server = create_mcp(service, request_caller)
    app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, host=host)
    return KeyCheck(app, service)
