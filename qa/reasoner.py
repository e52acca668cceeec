"""Reasoners: the offline rule-based one (the default) and one over any OpenAI-compatible
chat endpoint, behind one interface, with timeouts, retries and JSON-structured outputs."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import httpx

from qa.records import Analysis, Evidence

ANSWER_TYPES = {"person", "company", "pr", "url", "content"}


class Reasoner(Protocol):
    """What the answerer asks of a reasoner."""

    name: str

    def refine(self, analysis: Analysis) -> Analysis: ...

    def compose(self, analysis: Analysis, evidence: Evidence) -> str: ...


class OfflineReasoner:
    """Keeps the rule-based analysis and answers prose with the supporting statements."""

    name = "offline"

    def __init__(self, max_chars: int = 2500):
        self.max_chars = max_chars

    def refine(self, analysis: Analysis) -> Analysis:
        return analysis

    def compose(self, analysis: Analysis, evidence: Evidence) -> str:
        return evidence.text[: self.max_chars]


class ReasonerError(RuntimeError):
    """The LLM endpoint could not give a usable answer."""


class LLMReasoner:
    """A reasoner over an OpenAI-compatible `/v1/chat/completions` endpoint.

    Requests ask for a JSON object (`response_format`), are retried with backoff on
    timeouts, HTTP 429 and 5xx (honouring Retry-After), and fall back to the offline
    behaviour when the endpoint keeps failing, so a question is never lost to it.
    """

    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.fallback = OfflineReasoner()

    def close(self) -> None:
        self.client.close()

    def complete_json(self, system: str, user: str) -> dict[str, Any]:
        """One chat completion parsed as a JSON object."""
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        path = "chat/completions" if self.client.base_url.path.rstrip("/").endswith("/v1") else "v1/chat/completions"
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                response = self.client.post(path, json=body)
            except httpx.TransportError as exc:
                last = f"transport error: {exc}"
                self._sleep(attempt, None)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                self._sleep(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code >= 400:
                raise ReasonerError(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                content = response.json()["choices"][0]["message"]["content"]
                return parse_json_object(content)
            except (KeyError, IndexError, ValueError) as exc:
                last = f"unusable completion: {exc}"
        raise ReasonerError(f"gave up after {self.retries + 1} attempts: {last}")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        if attempt >= self.retries:
            return
        try:
            delay = float(retry_after) if retry_after else self.backoff * 2**attempt
        except ValueError:
            delay = self.backoff * 2**attempt
        time.sleep(min(delay, 30.0))

    def refine(self, analysis: Analysis) -> Analysis:
        system = (
            "You analyse enterprise search questions. Reply with a JSON object with keys "
            "answer_type (one of person, company, pr, url, content), constraints (list of "
            "strings) and topic (short string)."
        )
        user = json.dumps({"question": analysis.question, "draft": analysis.model_dump(include={"answer_type", "constraints", "topic"})})
        try:
            out = self.complete_json(system, user)
        except ReasonerError:
            return analysis
        update: dict[str, Any] = {}
        if out.get("answer_type") in ANSWER_TYPES:
            update["answer_type"] = out["answer_type"]
        if isinstance(out.get("constraints"), list):
            update["constraints"] = sorted({*analysis.constraints, *map(str, out["constraints"])})
        if isinstance(out.get("topic"), str) and out["topic"].strip():
            update["topic"] = out["topic"].strip()
        return analysis.model_copy(update=update)

    def compose(self, analysis: Analysis, evidence: Evidence) -> str:
        system = (
            "Answer the question only from the evidence. Reply with a JSON object "
            '{"answer": "...", "supported": true|false}; supported is false when the evidence '
            "does not answer the question."
        )
        user = json.dumps({"question": analysis.question, "evidence": evidence.text[:12000]})
        try:
            out = self.complete_json(system, user)
        except ReasonerError:
            return self.fallback.compose(analysis, evidence)
        if out.get("supported") is False:
            return ""
        return str(out.get("answer") or "")


def parse_json_object(content: str) -> dict[str, Any]:
    """The JSON object in a completion, tolerating code fences around it."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the completion")
    return json.loads(text[start : end + 1])
