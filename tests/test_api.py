"""The HTTP API against a real uvicorn server on loopback, over a store built by the real
sync pipeline with a private Slack channel, a private planning channel and a private repo.

The store's catalog stays open for writing for the whole module, as an ingest run would hold
it: the API must serve from its own snapshots regardless.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from flows.api_commands import add_api_commands
from flows.qa_commands import add_qa_commands, build_answerer, principals_of
from flows.settings import Settings
from index.lance import LanceStore
from index.records import Query
from qa.reasoner import OfflineReasoner
from qa.serve.auth import KeyStore
from qa.serve.models import ApiLimits
from qa.serve.service import JsonLogFormatter
from qa.serve.store import GatedStore
from tests.api_server import (
    BUGS,
    NIGHTJAR,
    NIGHTJAR_CHANNEL,
    PROSE,
    SECRET_CHANNEL,
    VAULT_PR,
    LiveServer,
    api_app,
    build_store,
    leaks,
    make_keys,
    private_docs,
    public_docs,
    sse_events,
)

GENEROUS = ApiLimits(rate_per_minute=60000, burst=10000, refresh_s=0)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("api-store")
    catalog = build_store(root, embedder, public_docs() + private_docs())
    yield root
    catalog.close()


@pytest.fixture(scope="module")
def keys(store_root):
    return make_keys(store_root)


@pytest.fixture(scope="module")
def live(store_root, keys, embedder):
    with LiveServer(api_app(store_root, embedder, limits=GENEROUS)) as server:
        yield server


@pytest.fixture(scope="module")
def control(tmp_path_factory, embedder):
    """The same server over a store without the private content, for the same outsider."""
    root = tmp_path_factory.mktemp("api-control")
    catalog = build_store(root, embedder, public_docs())
    bob = KeyStore(root / "keys.duckdb").create("eid_b2")[1]
    with LiveServer(api_app(root, embedder, limits=GENEROUS)) as server:
        yield server, bob
    catalog.close()


def client(server: LiveServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def ask(server, key, question, stream=False) -> httpx.Response:
    return client(server, key).post("/v1/ask", json={"question": question, "stream": stream})


def test_health_readiness_metrics_and_schema(live, keys):
    with client(live) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ready"}
        schema = c.get("/openapi.json").json()
        for path in ("/v1/ask", "/v1/search", "/v1/documents/{doc_id}", "/v1/chat/completions", "/v1/models"):
            assert path in schema["paths"]
        assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        client(live, keys["bob"]).post("/v1/search", json={"query": "dashboards"})
        metrics = c.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'quarry_api_requests_total{method="POST",route="/v1/search",status="200"}' in metrics.text
        assert 'quarry_api_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/search"}' in metrics.text


def test_missing_bad_and_revoked_keys_get_401(live, store_root, keys):
    routes = [("GET", "/v1/models", None), ("POST", "/v1/ask", {"question": "hi"}),
              ("POST", "/v1/search", {"query": "hi"}), ("GET", "/v1/documents/slack:sec-0", None),
              ("POST", "/v1/chat/completions", {"model": "quarry", "messages": [{"role": "user", "content": "hi"}]})]
    real_id = keys["bob"].split("_")[1]
    bad = ["nonsense", "quarry_000000000000_secret", f"quarry_{real_id}_wrongsecret", keys["bob"] + "x"]
    attempts = [(None, route) for route in routes] + [(key, routes[1]) for key in bad]
    for key, (method, path, body) in attempts:
        response = client(live, key).request(method, path, json=body)
        assert response.status_code == 401, (key, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["type"] == "unauthorized"
    basic = client(live).get("/v1/models", headers={"Authorization": "Basic dTpw"})
    assert basic.status_code == 401
    store = KeyStore(store_root / "keys.duckdb")
    record, key = store.create("eid_b2")
    assert client(live, key).get("/v1/models").status_code == 200
    assert store.revoke(record.key_id)
    assert client(live, key).get("/v1/models").status_code == 401
    assert not store.revoke(record.key_id)


def test_request_ids_are_echoed_or_made_and_each_request_logs_one_json_line(live, keys, caplog):
    with caplog.at_level(logging.INFO, logger="quarry.api"):
        echoed = client(live, keys["bob"]).get("/v1/models", headers={"X-Request-ID": "abc-123"})
        made = client(live, keys["bob"]).get("/v1/models", headers={"X-Request-ID": "bad id;" + "x" * 200})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 32
    lines = [json.loads(JsonLogFormatter().format(r)) for r in caplog.records if r.getMessage() == "request"]
    mine = next(line for line in lines if line["request_id"] == "abc-123")
    assert mine["route"] == "/v1/models" and mine["status"] == 200 and mine["principal"] == "eid_b2"
    assert mine["level"] == "info" and "ms" in mine and "ts" in mine
    missing = client(live, keys["bob"]).get("/v1/documents/slack:nope", headers={"X-Request-ID": "r-404"})
    assert missing.json()["error"]["request_id"] == "r-404"


def test_ask_gives_a_typed_answer_with_citations_and_hops(live, keys):
    answer = ask(live, keys["bob"], BUGS).json()
    assert answer["kind"] == "list" and answer["items"] == ["BlueWave"] and answer["answerable"]
    cited = {c["native_id"]: c for c in answer["citations"]}
    assert cited["https://github.com/acme/WidgetForce/pull/7"]["url"] == "https://github.com/acme/WidgetForce/pull/7"
    assert [h["step"] for h in answer["hops"]][:2] == ["analyse", "route"]
    prose = ask(live, keys["bob"], PROSE).json()
    assert prose["kind"] == "text" and "dashboards" in prose["text"].lower()


def test_ask_streams_one_event_per_hop_then_the_answer_then_done(live, keys):
    plain = ask(live, keys["bob"], BUGS).json()
    response = ask(live, keys["bob"], BUGS, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [e for e, _ in events] == ["hop"] * len(plain["hops"]) + ["answer", "message"]
    assert [json.loads(d)["step"] for _, d in events[:-2]] == [h["step"] for h in plain["hops"]]
    final = json.loads(events[-2][1])
    assert final["items"] == ["BlueWave"] and len(final["citations"]) == len(plain["citations"])
    assert events[-1][1] == "[DONE]"


class WaitingReasoner(OfflineReasoner):
    """Composes an answer only once the client has read a hop event, so a server that sent
    the hops after answering would keep it waiting."""

    def __init__(self):
        super().__init__()
        self.hop_read = threading.Event()
        self.waited_for_client: bool | None = None

    def compose(self, analysis, evidence):
        self.waited_for_client = self.hop_read.wait(timeout=20)
        return super().compose(analysis, evidence)


def test_ask_streams_each_hop_while_the_answer_is_still_being_worked_out(store_root, keys, embedder):
    reasoner = WaitingReasoner()
    with LiveServer(api_app(store_root, embedder, reasoner=reasoner, limits=GENEROUS)) as server:
        body = {"question": PROSE, "stream": True}
        with client(server, keys["bob"]).stream("POST", "/v1/ask", json=body) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: hop"
            reasoner.hop_read.set()
            rest = list(lines)
    assert reasoner.waited_for_client is True
    assert "event: answer" in rest and rest[-2:] == ["data: [DONE]", ""]


def test_search_applies_filters_and_k(live, keys):
    c = client(live, keys["bob"])
    hits = c.post("/v1/search", json={"query": "dashboard rendering", "k": 3}).json()
    assert hits["count"] == len(hits["hits"]) == 3
    github = c.post("/v1/search", json={"query": "dashboard rendering", "sources": ["github"]}).json()
    assert github["count"] >= 1 and {h["source"] for h in github["hits"]} == {"github"}
    channel = c.post("/v1/search", json={"query": "bug", "containers": ["bug-alice-WidgetForce"], "k": 50}).json()
    assert {h["container"] for h in channel["hits"]} == {"bug-alice-WidgetForce"}
    march = c.post("/v1/search", json={"query": "bug", "since": "2026-03-04T00:00:00Z", "until": "2026-03-31", "k": 50}).json()
    assert march["count"] >= 1 and all("2026-03-04" <= h["created_at"][:10] <= "2026-03-31" for h in march["hits"])
    people = c.post("/v1/search", json={"query": "currency formatting", "people": ["eid_c3"], "mode": "text", "k": 50}).json()
    assert people["count"] >= 1 and all("eid_c3" in h["people"] for h in people["hits"])


def test_documents_return_their_link_and_404_when_missing_or_hidden(live, keys):
    pr = "github:https://github.com/acme/WidgetForce/pull/7"
    doc = client(live, keys["bob"]).get(f"/v1/documents/{quote(pr, safe='')}").json()
    assert doc["url"] == "https://github.com/acme/WidgetForce/pull/7" and doc["title"].startswith("Faster")
    assert "acl" not in doc
    for key, path, status in [
        ("bob", "slack:nope", 404),
        ("bob", "slack:sec-0", 404),
        ("alice", "slack:sec-0", 200),
        ("carol", f"github:{VAULT_PR}", 200),
        ("alice", f"github:{VAULT_PR}", 404),
        ("bob", f"github:{VAULT_PR}", 404),
    ]:
        response = client(live, keys[key]).get(f"/v1/documents/{quote(path, safe='')}")
        assert response.status_code == status, (key, path)
    hidden = client(live, keys["bob"]).get("/v1/documents/slack:sec-0").json()["error"]
    missing = client(live, keys["bob"]).get("/v1/documents/slack:nope").json()["error"]
    assert hidden.pop("request_id") != missing.pop("request_id")
    assert hidden == missing == {"type": "not_found", "message": "no such document"}


def test_chat_completions_over_plain_http(live, keys):
    c = client(live, keys["bob"])
    body = {"model": "quarry", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": BUGS}]},
    ]}
    reply = c.post("/v1/chat/completions", json=body).json()
    assert reply["object"] == "chat.completion" and reply["model"] == "quarry"
    text = reply["choices"][0]["message"]["content"]
    assert text.startswith("- BlueWave") and "Sources:" in text and "[1] " in text
    assert reply["answerable"] and len(reply["citations"]) > 1 and reply["usage"]["total_tokens"] > 0
    streamed = c.post("/v1/chat/completions", json=body | {"stream": True})
    chunks = [json.loads(d) for _, d in sse_events(streamed.text)[:-1]]
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"] == reply["citations"]
    assert sse_events(streamed.text)[-1][1] == "[DONE]"
    unknown = c.post("/v1/chat/completions", json=body | {"model": "gpt-9"})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "model_not_found"
    no_user = c.post("/v1/chat/completions", json={"model": "quarry", "messages": [{"role": "system", "content": "x"}]})
    assert no_user.status_code == 422


def test_chat_completions_through_the_openai_client(live, keys):
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=f"{live.url}/v1", api_key=keys["alice"], max_retries=0)
    assert [m.id for m in api.models.list()] == ["quarry"]
    reply = api.chat.completions.create(model="quarry", messages=[{"role": "user", "content": BUGS}])
    assert reply.choices[0].message.content.startswith("- TechCorp")
    assert "sec-2" in {c["native_id"] for c in reply.model_extra["citations"]}
    stream = api.chat.completions.create(model="quarry", messages=[{"role": "user", "content": BUGS}], stream=True)
    chunks = list(stream)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == reply.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live.url}/v1", api_key="quarry_x_y", max_retries=0).models.list()


def test_bad_input_gets_a_clear_4xx_never_a_5xx(live, keys):
    c = client(live, keys["bob"])
    cases = [
        ("/v1/ask", {"question": ""}, 422),
        ("/v1/ask", {"question": "   "}, 422),
        ("/v1/ask", {"question": "x" * 2001}, 422),
        ("/v1/ask", {"question": "a\x00b"}, 422),
        ("/v1/ask", {"question": "hi", "principal": "eid_a1"}, 422),
        ("/v1/ask", {"question": 7}, 422),
        ("/v1/ask", [], 422),
        ("/v1/search", {"query": "x", "k": 0}, 422),
        ("/v1/search", {"query": "x", "k": 101}, 422),
        ("/v1/search", {"query": "x", "mode": "fuzzy"}, 422),
        ("/v1/search", {"query": "x", "since": "yesterday"}, 422),
        ("/v1/search", {"query": "x", "since": "0001-01-01T00:00:00"}, 422),
        ("/v1/search", {"query": "x", "sources": ["a\x00"]}, 422),
        ("/v1/search", {"query": "x", "containers": ["c"] * 51}, 422),
        ("/v1/chat/completions", {"model": "quarry", "messages": []}, 422),
        ("/v1/chat/completions", {"model": "quarry", "messages": [{"role": "user", "content": "x" * 2001}]}, 422),
        ("/v1/chat/completions", {"model": "quarry", "messages": [{"role": "wizard", "content": "x"}]}, 422),
    ]
    for path, body, status in cases:
        response = c.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        error = response.json()["error"]
        assert error["type"] == "invalid_request" and error["message"]
    broken = c.post("/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    huge = {"question": "x", "pad": "y" * 70_000}
    assert c.post("/v1/ask", json=huge).status_code == 413
    chunked = c.post("/v1/search", content=(b"z" * 8192 for _ in range(10)), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and chunked.json()["error"]["type"] == "body_too_large"
    assert c.get("/v1/nowhere").status_code == 404
    assert c.get("/v1/ask").status_code == 405
    tricky = c.post("/v1/search", json={"query": "' OR 1=1 -- \"; DROP", "containers": ["x' OR '1'='1"]})
    assert tricky.status_code == 200 and tricky.json()["count"] == 0


def test_a_key_over_its_rate_gets_429_with_retry_after(store_root, keys):
    limits = ApiLimits(rate_per_minute=1, burst=2, refresh_s=0)
    with LiveServer(api_app(store_root, limits=limits)) as server:
        c = client(server, keys["bob"])
        assert [c.get("/v1/models").status_code for _ in range(2)] == [200, 200]
        limited = c.get("/v1/models")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["type"] == "rate_limited"
        assert client(server, keys["alice"]).get("/v1/models").status_code == 200


def test_an_address_that_spent_its_failed_keys_is_slowed_but_valid_keys_still_work(store_root, keys):
    limits = ApiLimits(failed_keys_per_minute=1, failed_keys_burst=3, refresh_s=0)
    with LiveServer(api_app(store_root, limits=limits)) as server:
        assert client(server, keys["bob"]).get("/v1/models").status_code == 200
        guesser = client(server, "quarry_000000000000_guess")
        assert [guesser.get("/v1/models").status_code for _ in range(3)] == [401, 401, 401]
        assert [guesser.get("/v1/models").status_code for _ in range(2)] == [401, 429]
        refused = guesser.get("/v1/models")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["type"] == "rate_limited"
        bob_id = keys["bob"].split("_")[1]
        wrong = client(server, f"quarry_{bob_id}_wrong")
        assert [wrong.get("/v1/models").status_code for _ in range(2)] == [401, 429]
        assert client(server, keys["bob"]).get("/v1/models").status_code == 200
        assert client(server, keys["alice"]).get("/v1/models").status_code == 200
        assert client(server, keys["alice"]).get("/v1/models").status_code == 200


def test_forwarded_for_counts_only_from_trusted_proxies(store_root, keys):
    def guess(server, forwarded: str) -> int:
        headers = {"Authorization": "Bearer quarry_000000000000_guess", "X-Forwarded-For": forwarded}
        return httpx.get(f"{server.url}/v1/models", headers=headers).status_code

    untrusted = ApiLimits(failed_keys_per_minute=1, failed_keys_burst=2, refresh_s=0)
    with LiveServer(api_app(store_root, limits=untrusted)) as server:
        assert [guess(server, f"203.0.113.{n}") for n in range(4)] == [401, 401, 401, 429]
    proxied = untrusted.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]})
    with LiveServer(api_app(store_root, limits=proxied)) as server:
        assert [guess(server, f"203.0.113.{n}") for n in range(4)] == [401] * 4
        assert [guess(server, "198.51.100.7, 127.0.0.5") for _ in range(4)] == [401, 401, 401, 429]
        assert guess(server, "198.51.100.8") == 401


def test_chunk_searches_wait_at_the_gate(store_root):
    class Counting(LanceStore):
        active = peak = 0
        lock = threading.Lock()

        def search(self, query, vector=None):
            with Counting.lock:
                Counting.active += 1
                Counting.peak = max(Counting.peak, Counting.active)
            try:
                time.sleep(0.05)
                return super().search(query, vector)
            finally:
                with Counting.lock:
                    Counting.active -= 1

    gated = GatedStore(Counting(str(store_root / "lance")), threading.BoundedSemaphore(2))
    query = Query(text="dashboards for retail", mode="text", principals=["eid_b2"])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: gated.search(query), range(16)))
    assert Counting.peak == 2 and all(r == results[0] for r in results) and results[0]


def outsider_responses(server: LiveServer, key: str) -> dict[tuple[str, str], str]:
    """Every kind of response an outsider can get about the private content, by (what, asked)."""
    c = client(server, key)
    out = {}
    for q in (BUGS, NIGHTJAR, PROSE, "Who reported the Kestrel Export Crash bug?"):
        out["ask", q] = c.post("/v1/ask", json={"question": q}).text
        out["stream", q] = c.post("/v1/ask", json={"question": q, "stream": True}).text
        chat = {"model": "quarry", "messages": [{"role": "user", "content": q}]}
        out["chat", q] = c.post("/v1/chat/completions", json=chat).text
        out["chat stream", q] = c.post("/v1/chat/completions", json=chat | {"stream": True}).text
    for q in ("violet falcon codename", "Kestrel export crash reopened", "Nightjar launch", PROSE):
        for mode in ("hybrid", "text", "vector"):
            out[f"search {mode}", q] = c.post("/v1/search", json={"query": q, "mode": mode, "k": 100}).text
    out["search container", SECRET_CHANNEL] = c.post(
        "/v1/search", json={"query": "bug", "containers": [SECRET_CHANNEL]}
    ).text
    return out


def test_private_channels_never_reach_an_outsider_but_members_see_them(live, keys):
    for (what, asked), text in outsider_responses(live, keys["bob"]).items():
        assert not leaks(text, asked), (what, asked, leaks(text, asked))
    alice = client(live, keys["alice"])
    assert ask(live, keys["alice"], BUGS).json()["items"] == ["TechCorp"]
    assert {"sec-2", "sec-3"} <= {c["native_id"] for c in ask(live, keys["alice"], BUGS).json()["citations"]}
    nightjar = ask(live, keys["alice"], NIGHTJAR).json()
    assert nightjar["answerable"] and "nj-1" in {c["native_id"] for c in nightjar["citations"]}
    assert NIGHTJAR_CHANNEL in ask(live, keys["alice"], NIGHTJAR, stream=True).text
    hits = alice.post("/v1/search", json={"query": "violet falcon codename"}).json()["hits"]
    assert "sec-4" in {n for h in hits for n in h["native_ids"]}
    carol = ask(live, keys["carol"], NIGHTJAR).json()
    assert not carol["answerable"] and "nj-1" not in ask(live, keys["carol"], NIGHTJAR, stream=True).text


def test_an_outsider_cannot_tell_the_private_content_exists(live, control, keys):
    """Answers, citations, counts, scores, hop traces and stream events for an outsider are
    exactly those of a store that never held the private channels and repository: full-text
    ranking included, whose statistics cover only what the caller may read."""
    server, bob = control
    with_private = outsider_responses(live, keys["bob"])
    without = outsider_responses(server, bob)
    differ = [name for name in with_private if normalise(with_private[name]) != normalise(without[name])]
    assert not differ, differ


def normalise(text: str) -> str:
    """A response body without what varies between runs (timings, ids, creation times)."""
    if text.startswith("{"):
        return json.dumps(strip(json.loads(text)), sort_keys=True)
    events = [(e, d if d == "[DONE]" else json.dumps(strip(json.loads(d)), sort_keys=True))
              for e, d in sse_events(text)]
    return json.dumps(events)


def strip(value):
    if isinstance(value, list):
        return [strip(v) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: strip(v) for k, v in value.items() if k not in ("seconds", "id", "created", "request_id")}


def test_the_live_catalog_stays_writable_and_new_documents_show_up(tmp_path, embedder):
    """The server never holds the live catalog: another process writes it while the server
    runs, and the next request sees the new document. A caller who may read nothing at all
    gets a clean decline and empty results."""
    build_store(tmp_path, embedder, private_docs()).close()
    key = KeyStore(tmp_path / "keys.duckdb").create("eid_b2")[1]
    with LiveServer(api_app(tmp_path, embedder, limits=GENEROUS)) as server:
        c = client(server, key)
        assert not c.post("/v1/ask", json={"question": NIGHTJAR}).json()["answerable"]
        assert c.post("/v1/search", json={"query": "kestrel"}).json() == {"count": 0, "hits": []}
        late = public_docs()[15]
        assert c.get(f"/v1/documents/{late.id}").status_code == 404
        writer = (
            "import sys; from connectors.records import SourceDoc; from index.catalog import Catalog;"
            "doc = SourceDoc.model_validate_json(sys.argv[2]); c = Catalog(sys.argv[1]);"
            "c.commit('docs', 'run2', docs=[doc]); c.close()"
        )
        subprocess.run([sys.executable, "-c", writer, str(tmp_path / "catalog.duckdb"), late.model_dump_json()],
                       check=True, cwd=Path(__file__).parents[1], timeout=60)
        assert c.get(f"/v1/documents/{late.id}").json()["title"] == late.title


def cli(argv: list[str], store: Path) -> int:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    add_api_commands(commands)
    add_qa_commands(commands)
    args = parser.parse_args(argv)
    return args.handler(args, Settings(store=store))


def test_keys_commands_create_list_and_revoke(tmp_path, capsys):
    assert cli(["keys", "create", "U123", "--groups", "github:acme/Vault", "finance"], tmp_path) == 0
    key = capsys.readouterr().out.strip()
    caller = KeyStore(tmp_path / "keys.duckdb").verify(key)
    assert caller.principals == ["U123", "github:acme/Vault", "finance"]
    assert cli(["keys", "list", "--json"], tmp_path) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["key_id"], k["revoked_at"]) for k in listed] == [(caller.key_id, None)]
    raw = (tmp_path / "keys.duckdb").read_bytes()
    assert key.split("_", 2)[2].encode() not in raw
    assert cli(["keys", "revoke", caller.key_id], tmp_path) == 0
    assert cli(["keys", "revoke", caller.key_id], tmp_path) == 1
    assert KeyStore(tmp_path / "keys.duckdb").verify(key) is None
    cli(["keys", "list"], tmp_path)
    assert "revoked" in capsys.readouterr().out


def test_cli_ask_as_a_principal_sees_only_what_it_may_read(tmp_path, embedder, capsys):
    """`quarry ask --principal` answers over the same per-caller view as the API: an
    outsider's answers and hop traces (routing included) never name private content."""
    build_store(tmp_path, embedder, public_docs() + private_docs()).close()
    for question in (BUGS, NIGHTJAR, PROSE, "Who reported the Kestrel Export Crash bug?"):
        assert cli(["ask", question, "--json", "--principal", "eid_b2"], tmp_path) == 0
        out = capsys.readouterr().out
        assert not leaks(out, question), (question, leaks(out, question))
    assert cli(["ask", NIGHTJAR, "--json", "--principal", "eid_a1"], tmp_path) == 0
    member = json.loads(capsys.readouterr().out)
    assert member["answerable"] and "nj-1" in {c["native_id"] for c in member["citations"]}
    for groups, sees_vault in (([], False), (["github:acme/Vault"], True)):
        args = argparse.Namespace(principal="eid_zz", groups=groups)
        answerer = build_answerer(Settings(store=tmp_path), principals_of(args))
        prs = {r["native_id"] for r in answerer.catalog.query("SELECT native_id FROM documents")}
        assert (VAULT_PR in prs) is sees_vault


@pytest.mark.slow
def test_serve_command_runs_the_api(tmp_path, embedder):
    build_store(tmp_path, embedder, public_docs()[:5]).close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = (
        "import argparse, sys; from flows.api_commands import add_api_commands;"
        "from flows.settings import Settings; p = argparse.ArgumentParser();"
        "add_api_commands(p.add_subparsers()); a = p.parse_args(sys.argv[2:]);"
        "s = Settings(store=sys.argv[1]); s.prepare_runtime(); sys.exit(a.handler(a, s))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path), "serve", "--port", str(port), "--no-embed"],
        cwd=Path(__file__).parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        ready = None
        for _ in range(300):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert ready is not None and ready.json() == {"status": "ready"}, proc.stderr.read1().decode() if proc.poll() else ""
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log_lines = [json.loads(line) for line in proc.stderr.read().decode().splitlines() if line.startswith("{")]
    assert any(line.get("route") == "/readyz" and line.get("status") == 200 for line in log_lines)
