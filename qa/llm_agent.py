"""LLM mode: a model drives the answerer's tools through an OpenAI-compatible endpoint.

The loop sends the question with the tool schemas; each tool call the model makes is run
(a bad call gets an error message back, never an exception) and traced as a `tool` hop;
the model finishes with the `answer` tool or a plain reply. Steps and wall time are
bounded; when the endpoint fails or the bound is reached the offline answer is returned,
with a hop saying why. An answer may cite only native ids that the tools returned in this
run, so it can never cite what the caller's view does not hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from qa.chat import ChatClient, LLMError
from qa.records import Answer, Hop, Trace
from qa.tools import Finish, ToolResult, Tools

SYSTEM = """You answer questions about one company's Slack messages, GitHub pull requests, \
documents, meeting transcripts, bookmarked links and directory of employees and customers. \
Use the tools; answer only from what they return.

Tools: {tools}.

Usually: find_entities on the question, follow_relation from the entities it links (node ids \
such as person:eid_1 or pr:URL), search and read for what the graph does not hold; plan gives \
the offline answerer's answer, which you may check and return. Finish by calling answer with \
items (employee ids, company names, URLs) or text, and the native ids that support it, as the \
tools returned them. If the evidence does not answer the question, call answer with \
answerable false. You have at most {steps} tool-calling turns."""


class LLMAgent:
    """Answers a question by letting the model call `tools`; `answer` has the Answerer's
    signature, so the agent stands wherever an answerer does."""

    name = "llm"

    def __init__(self, client: ChatClient, tools: Tools, max_steps: int = 8, max_seconds: float = 120.0,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.tools = tools
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.clock = clock

    def answer(self, question: str, on_hop: Callable[[Hop], None] | None = None) -> Answer:
        started = self.clock()
        trace = Trace(on_hop)
        trace.append(Hop(step="llm", action="agent", detail={
            "model": self.client.model, "tools": self.tools.names, "max_steps": self.max_steps}))
        answer = self.loop(question, trace, started + self.max_seconds)
        answer.hops = trace
        answer.seconds = self.clock() - started
        return answer

    def loop(self, question: str, trace: Trace, deadline: float) -> Answer:
        system = SYSTEM.format(tools=", ".join(self.tools.names), steps=self.max_steps)
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": question}]
        schemas = self.tools.schemas()
        returned: dict[str, None] = {}
        for turn in range(self.max_steps):
            left = deadline - self.clock()
            if left <= 0:
                return self.fallback(question, trace, f"wall time of {self.max_seconds:g} s spent")
            try:
                message = self.client.complete(messages, schemas, timeout=min(self.client.timeout, left))
            except LLMError as exc:
                return self.fallback(question, trace, f"the endpoint failed: {exc}")
            calls = message.get("tool_calls") or []
            content = message.get("content")
            if not isinstance(calls, list) or not (calls or isinstance(content, str) and content.strip()):
                return self.fallback(question, trace, "the model replied with neither tool calls nor an answer")
            if not calls:
                mentioned = [n for n in returned if n in content]
                return self.finish(Finish(text=content.strip(), citations=mentioned), question, returned, trace)
            calls = [normal_call(c, turn, i) for i, c in enumerate(calls)]
            messages.append({"role": "assistant", "content": content or "", "tool_calls": calls})
            for call in calls:
                name, raw = call["function"]["name"], call["function"]["arguments"]
                try:
                    result = self.tools.call(name, raw)
                except Exception as exc:  # noqa: BLE001 - a failing tool is reported to the model
                    result = ToolResult(error=f"{name} failed: {type(exc).__name__}: {exc}")
                detail = dict(result.args) if result.args is not None else {"arguments": raw[:500]}
                if result.error:
                    detail["error"] = result.error
                trace.append(Hop(step="tool", action=str(name)[:80], detail=detail, found=result.found))
                if result.finish is not None:
                    return self.finish(result.finish, question, returned, trace)
                returned.update(dict.fromkeys(result.native_ids))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result.content()})
        return self.fallback(question, trace, f"no answer within {self.max_steps} steps")

    def finish(self, final: Finish, question: str, returned: dict[str, None],
               trace: Trace) -> Answer:
        """The model's answer, cited only by native ids the tools returned in this run."""
        asked = list(dict.fromkeys(c.strip() for c in final.citations if c.strip()))
        kept = [c for c in asked if c in returned]
        dropped = [c for c in asked if c not in returned]
        items = list(dict.fromkeys(i for i in map(self.tools.item_of, final.items) if i))
        text = final.text.strip()
        answerable = final.answerable and bool(items or text)
        answer = Answer(
            question=question, kind="list" if items else "text",
            answer_type=final.answer_type or (self.tools.answer_type_of(items) if items else "content"),
            items=items, text=text, answerable=answerable,
            citations=self.tools.cite(kept) if answerable else [],
        )
        detail: dict[str, Any] = {"by": "llm"}
        if dropped:
            detail["dropped citations"] = dropped[:50]
        trace.append(Hop(step="answer", action="answer" if answerable else "decline", detail=detail,
                         found=len(items) or int(answerable)))
        return answer

    def fallback(self, question: str, trace: Trace, reason: str) -> Answer:
        """The offline answer, its hops continuing the trace after one that says why."""
        trace.append(Hop(step="fallback", action="offline", detail={"reason": reason[:300]}))
        return self.tools.offline(question, on_hop=trace.append)


def normal_call(call: Any, turn: int, index: int) -> dict[str, Any]:
    """A tool call in the shape the endpoint expects back: an id, a name, arguments as text."""
    call = call if isinstance(call, dict) else {}
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = "" if arguments is None else json.dumps(arguments)
    return {"id": str(call.get("id") or f"call_{turn}_{index}"), "type": "function",
            "function": {"name": str(function.get("name") or ""), "arguments": arguments}}
