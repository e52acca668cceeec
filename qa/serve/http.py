"""The HTTP API for chatbots: ask, search, documents, an OpenAI-compatible chat endpoint,
health, readiness and Prometheus metrics.

Every `/v1` route needs `Authorization: Bearer <key>`; the key's principal and groups decide
what exists for the request (see `qa.serve.service`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from qa.records import Answer, Hop
from qa.serve.auth import Caller, RateLimiter, scope_headers
from qa.serve.models import (
    MAX_DOC_ID_CHARS,
    MAX_QUESTION_CHARS,
    AskRequest,
    ChatCompletion,
    ChatRequest,
    DocumentResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    SearchRequest,
    SearchResponse,
    ServeError,
)
from qa.serve.service import Service, answer_text
from qa.serve.store import Snapshot

log = logging.getLogger("quarry.api")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 404, 413, 422, 429, 503)
}
SSE = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}}


class ApiError(HTTPException):
    """A 4xx/5xx with a machine-readable type; rendered as `ErrorResponse`."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.type = type_


class ApiState:
    """What the routes share: the service, its metrics and the model name."""

    def __init__(self, service: Service, model_name: str):
        self.service = service
        self.limits = service.limits
        self.metrics = ApiMetrics()
        self.model_name = model_name


class ApiMetrics:
    """Requests by route, method and status, and latency, in a registry of the app's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "quarry_api_requests", "HTTP requests by route, method and status.",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "quarry_api_request_duration_seconds", "Time to the end of the response.",
            ["route", "method"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)


def error_body(type_: str, message: str, request_id: str | None, details: Any = None) -> dict:
    """The JSON body of an error response."""
    body: dict[str, Any] = {"type": type_, "message": message, "request_id": request_id}
    if details is not None:
        body["details"] = details
    return {"error": body}


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(413, "body_too_large", f"request bodies are limited to {limit} bytes")


class RequestContext:
    """ASGI middleware: request ids, the body size limit, metrics and one JSON log line per
    request; an unexpected error becomes a JSON 500 that carries the request id."""

    def __init__(self, app: Any, state: ApiState):
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope)
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        limit = self.state.limits.max_body_bytes
        sent = {"status": 500, "started": False}
        received = 0

        async def receive_limited() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
            return message

        async def send_tagged(message: dict) -> None:
            if message["type"] == "http.response.start":
                sent.update(status=message["status"], started=True)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            length = headers.get("content-length", "0")
            if not length.isdigit() or int(length) > limit:
                raise BodyTooLarge(limit) if length.isdigit() else ApiError(400, "bad_request", "bad Content-Length")
            await self.app(scope, receive_limited, send_tagged)
        except Exception as exc:
            if not isinstance(exc, ApiError):
                log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if not sent["started"]:
                error = exc if isinstance(exc, ApiError) else ApiError(500, "internal", "internal error")
                response = JSONResponse(error_body(error.type, error.detail, request_id), error.status_code)
                await response(scope, receive, send_tagged)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", "unmatched")
            seconds = time.perf_counter() - start
            self.state.metrics.observe(label, scope["method"], sent["status"], seconds)
            caller = scope["state"].get("caller")
            log.info("request", extra={"fields": {
                "request_id": request_id, "method": scope["method"], "path": scope["path"], "route": label,
                "status": sent["status"], "ms": round(seconds * 1000, 1),
                "key_id": caller.key_id if caller else None, "principal": caller.principal if caller else None,
            }})


bearer = HTTPBearer(auto_error=False, description="An API key made by `quarry keys create`.")


def state_of(request: Request) -> ApiState:
    return request.app.state.quarry


def api_error(exc: ServeError) -> ApiError:
    """A service error as an HTTP error, with its challenge or Retry-After header."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429:
        headers = {"Retry-After": RateLimiter.retry_after(exc.retry_after)}
    return ApiError(exc.status, exc.type, exc.message, headers)


def authorized(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """The caller a bearer key speaks for, within its rate limit."""
    peer = request.client.host if request.client else None
    try:
        caller = state_of(request).service.authenticate(
            credentials.credentials if credentials else None, peer, request.headers.get("x-forwarded-for")
        )
    except ServeError as exc:
        raise api_error(exc) from None
    request.state.caller = caller
    return caller


def snapshot(request: Request) -> Snapshot:
    """The catalog snapshot a request reads."""
    try:
        return state_of(request).service.snapshot()
    except ServeError as exc:
        raise api_error(exc) from None


Authorized = Annotated[Caller, Depends(authorized)]
Current = Annotated[Snapshot, Depends(snapshot)]


def sse(data: Any, event: str | None = None) -> str:
    """One Server-Sent Event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, default=str)}\n\n"


async def ask_events(state: ApiState, snapshot: Snapshot, caller: Caller, question: str) -> AsyncIterator[str]:
    """Each hop as an event the moment the answerer takes it, then the answer, then [DONE];
    an `error` event instead of the answer if answering fails after the stream began."""
    loop = asyncio.get_running_loop()
    hops: asyncio.Queue[Hop | None] = asyncio.Queue()

    def work() -> Answer:
        try:
            return state.service.answer(
                caller, question, lambda hop: loop.call_soon_threadsafe(hops.put_nowait, hop), snapshot
            )
        finally:
            loop.call_soon_threadsafe(hops.put_nowait, None)

    answering = asyncio.ensure_future(run_in_threadpool(work))
    while (hop := await hops.get()) is not None:
        yield sse(hop.model_dump(mode="json"), "hop")
    try:
        answer = await answering
    except Exception:
        log.exception("answer failed mid-stream", extra={"fields": {"key_id": caller.key_id}})
        yield sse({"type": "internal", "message": "the answer failed; see the server log"}, "error")
        return
    yield sse(answer.model_dump(mode="json", exclude={"hops"}), "answer")
    yield "data: [DONE]\n\n"


def chat_question(body: ChatRequest) -> str:
    """The text of the last user message."""
    users = [m for m in body.messages if m.role == "user"]
    question = users[-1].plain_text().strip() if users else ""
    if not question:
        raise ApiError(422, "invalid_request", "the last user message has no text")
    if len(question) > MAX_QUESTION_CHARS or "\x00" in question:
        raise ApiError(422, "invalid_request", f"questions are limited to {MAX_QUESTION_CHARS} characters")
    return question


async def chat_chunks(head: dict, text: str, tail: dict) -> AsyncIterator[str]:
    """An OpenAI chat.completion.chunk stream: role, content pieces, stop with citations."""
    head = {**head, "object": "chat.completion.chunk"}
    yield sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
    for piece in text.splitlines(keepends=True):
        yield sse({**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    yield sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], **tail})
    yield "data: [DONE]\n\n"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        type_ = getattr(exc, "type", {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error"))
        body = error_body(type_, str(exc.detail), request.state.request_id)
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details[:5])
        return JSONResponse(error_body("invalid_request", message, request.state.request_id, details), 422)


def create_app(service: Service, model_name: str = "quarry") -> FastAPI:
    """The HTTP API over `service`; closing the app closes the service."""
    state = ApiState(service, model_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="Quarry API", version="1", lifespan=lifespan,
                  description=__doc__, responses={413: {"model": ErrorResponse}})
    app.state.quarry = state
    app.add_middleware(RequestContext, state=state)
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"model": ErrorResponse}})
    def readyz(request: Request) -> dict[str, str]:
        """The store can be read: a catalog snapshot and the chunk index are open."""
        try:
            service.chunks(service.snapshot())
        except ServeError as exc:
            raise api_error(exc) from None
        return {"status": "ready"}

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models", tags=["openai"], responses=ERRORS)
    def models(caller: Authorized) -> ModelList:
        """The one model: Quarry's answerer."""
        return ModelList(data=[ModelCard(id=state.model_name)])

    @app.post("/v1/ask", tags=["quarry"], response_model=Answer, responses={**ERRORS, **SSE})
    async def ask(body: AskRequest, caller: Authorized, current: Current) -> Any:
        """A typed answer with citations and the hop trace; `stream` sends them as events."""
        if body.stream:
            return StreamingResponse(ask_events(state, current, caller, body.question), media_type="text/event-stream")
        return await run_in_threadpool(service.answer, caller, body.question, None, current)

    @app.post("/v1/search", tags=["quarry"], responses=ERRORS)
    def search(body: SearchRequest, caller: Authorized, current: Current) -> SearchResponse:
        """Hybrid search over the chunks the caller may read."""
        try:
            return service.search(caller, body, current)
        except ServeError as exc:
            raise api_error(exc) from None

    @app.get("/v1/documents/{doc_id:path}", tags=["quarry"], responses=ERRORS)
    def document(
        doc_id: Annotated[str, PathParam(min_length=1, max_length=MAX_DOC_ID_CHARS)],
        caller: Authorized,
        current: Current,
    ) -> DocumentResponse:
        """One document by id (`source:native_id`); 404 when missing or not readable."""
        try:
            return service.document(caller, doc_id, current)
        except ServeError as exc:
            raise api_error(exc) from None

    @app.post("/v1/chat/completions", tags=["openai"], response_model=ChatCompletion, responses={**ERRORS, **SSE})
    async def chat(body: ChatRequest, request: Request, caller: Authorized,
                   current: Current) -> Any:
        """OpenAI-compatible chat: the last user message is the question; the reply cites its
        sources in the text and lists them all in `citations`."""
        if body.model != state.model_name:
            raise ApiError(404, "model_not_found", f"unknown model {body.model!r}; try {state.model_name!r}")
        question = chat_question(body)
        answer = await run_in_threadpool(service.answer, caller, question, None, current)
        text = answer_text(answer, state.limits.chat_citations)
        head = {"id": f"chatcmpl-{request.state.request_id}", "created": int(time.time()), "model": state.model_name}
        tail = {"citations": [c.model_dump() for c in answer.citations], "answerable": answer.answerable}
        if body.stream:
            return StreamingResponse(chat_chunks(head, text, tail), media_type="text/event-stream")
        prompt, completion = len(question.split()), len(text.split())
        return ChatCompletion(
            **head, **tail, choices=[{"message": {"content": text}}],
            usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        )

    return app
