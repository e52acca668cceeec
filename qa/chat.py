"""A client for any OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, Ollama, the
llama.cpp server, a cloud API), over the project's one retrying HTTP client."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from connectors.http import HttpRejected, RetryingClient
from connectors.records import TransientError

MAX_WAIT_S = 30.0


class LLMError(RuntimeError):
    """The endpoint gave no usable completion (after retries, where retrying could help)."""


class ChatClient:
    """Chat completions with tools over one endpoint and model.

    Transient failures (429, 5xx, timeouts, transport errors) are retried `retries` times:
    after the server's Retry-After when it sends one, else with exponential backoff from
    `backoff` seconds (at most 30 s a wait).
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
        sleep: Callable[[float], None] = time.sleep,
    ):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.http = RetryingClient(
            client, retries=retries, backoff_s=backoff, max_wait_s=MAX_WAIT_S, sleep=sleep
        )
        self.model = model
        self.timeout = timeout
        versioned = client.base_url.path.rstrip("/").endswith("/v1")
        self.path = "chat/completions" if versioned else "v1/chat/completions"

    def close(self) -> None:
        self.http.close()

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The assistant message of one completion (`content` and/or `tool_calls`)."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        try:
            response = self.http.post(self.path, json=body, timeout=timeout or self.timeout)
        except (HttpRejected, TransientError) as exc:
            raise LLMError(str(exc)) from exc
        try:
            message = response.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"unusable completion: {exc!r}") from exc
        if not isinstance(message, dict):
            raise LLMError("unusable completion: the message is not an object")
        return message
