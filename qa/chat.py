"""A client for any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, Ollama, the
llama.cpp server, a cloud API): httpx for the requests, tenacity for the retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

MAX_WAIT_S = 30.0


class LLMError(RuntimeError):
    """The endpoint gave no usable completion (after retries, where retrying could help)."""


class TransientLLMError(LLMError):
    """A failure that may pass: HTTP 429 or 5xx, a timeout, a transport error."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (HTTP dates are not honoured: backoff applies)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ChatClient:
    """Chat completions with tools over one endpoint and model.

    Transient failures are retried `retries` times: after the server's Retry-After when it
    sends one, else with exponential backoff from `backoff` seconds (at most 30 s a wait).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        versioned = self.client.base_url.path.rstrip("/").endswith("/v1")
        self.path = "chat/completions" if versioned else "v1/chat/completions"

    def close(self) -> None:
        self.client.close()

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        after = getattr(error, "retry_after", None)
        delay = after if after is not None else self.backoff * 2 ** (state.attempt_number - 1)
        return min(delay, MAX_WAIT_S)

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The assistant message of one completion (`content` and/or `tool_calls`)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=self.wait,
            retry=retry_if_exception_type(TransientLLMError),
            reraise=True,
            **({"sleep": self.sleep} if self.sleep else {}),
        )
        return retrying(self.post, body, timeout or self.timeout)

    def post(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            response = self.client.post(self.path, json=body, timeout=timeout)
        except httpx.TransportError as exc:
            raise TransientLLMError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            after = retry_after_seconds(response.headers.get("Retry-After"))
            raise TransientLLMError(f"HTTP {status}", after)
        if status >= 400:
            raise LLMError(f"HTTP {status}: {response.text[:200]}")
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"unusable completion: {exc!r}") from exc
        if not isinstance(message, dict):
            raise LLMError("unusable completion: the message is not an object")
        return message
