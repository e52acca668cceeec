"""The LLM reasoner against a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.reasoner import LLMReasoner, OfflineReasoner, parse_json_object
from qa.records import Analysis, Evidence


class ScriptedChat:
    """A loopback /v1/chat/completions server replying with scripted (status, content) pairs."""

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                status, content = owner.script.pop(0) if owner.script else (500, "")
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def analysis() -> Analysis:
    return Analysis(question="Which companies reported bugs in X?", answer_type="content")


def test_refine_reads_a_json_object_and_sends_model_key_and_format():
    reply = json.dumps({"answer_type": "company", "constraints": ["bugs"], "topic": "bug reports"})
    with ScriptedChat([(200, reply)]) as chat:
        reasoner = LLMReasoner(chat.url, "tiny-model", api_key="k1", timeout=5)
        refined = reasoner.refine(analysis())
    assert refined.answer_type == "company" and "bugs" in refined.constraints
    request = chat.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k1"
    assert request["body"]["model"] == "tiny-model"
    assert request["body"]["response_format"] == {"type": "json_object"}


def test_retries_on_429_and_5xx_then_succeeds():
    reply = "```json\n" + json.dumps({"answer": "BlueWave reported two bugs.", "supported": True}) + "\n```"
    with ScriptedChat([(429, ""), (503, ""), (200, reply)]) as chat:
        reasoner = LLMReasoner(chat.url, "m", timeout=5, retries=3, backoff=0.01)
        text = reasoner.compose(analysis(), Evidence(text="BlueWave reported two bugs"))
    assert text == "BlueWave reported two bugs." and len(chat.requests) == 3


def test_unsupported_answer_becomes_a_decline():
    with ScriptedChat([(200, json.dumps({"answer": "maybe", "supported": False}))]) as chat:
        text = LLMReasoner(chat.url, "m", timeout=5).compose(analysis(), Evidence(text="unrelated"))
    assert text == ""


def test_endpoint_that_keeps_failing_falls_back_to_offline_behaviour():
    evidence = Evidence(text="- personas in the audience section")
    with ScriptedChat([(500, "")] * 6) as chat:
        reasoner = LLMReasoner(chat.url, "m", timeout=5, retries=2, backoff=0.01)
        assert reasoner.compose(analysis(), evidence) == OfflineReasoner().compose(analysis(), evidence)
        assert reasoner.refine(analysis()) == analysis()
    assert len(chat.requests) == 6


def test_parse_json_object_rejects_non_objects():
    assert parse_json_object('noise {"a": 1} tail') == {"a": 1}
    with pytest.raises(ValueError):
        parse_json_object("[1, 2]")
