"""The MCP server through the official SDK's client: streamable HTTP against a real uvicorn
server, and stdio against `quarry mcp` in a subprocess, over a store with private channels."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from qa.serve.mcp import http_app
from qa.serve.models import ApiLimits
from qa.serve.service import Service
from tests.api_server import (
    BUGS,
    NIGHTJAR,
    NIGHTJAR_CHANNEL,
    SECRET_CHANNEL,
    LiveServer,
    build_store,
    leaks,
    make_keys,
    private_docs,
    public_docs,
)

ROOT = Path(__file__).parents[1]
GENEROUS = ApiLimits(rate_per_minute=60000, burst=10000, refresh_s=0)


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("mcp-store")
    build_store(root, embedder, public_docs() + private_docs()).close()
    return root


@pytest.fixture(scope="module")
def keys(store_root):
    return make_keys(store_root)


@pytest.fixture(scope="module")
def live(store_root, keys, embedder):
    with LiveServer(http_app(Service(store_root, embedder, limits=GENEROUS))) as server:
        yield server


def over_http(server: LiveServer, key: str, calls: list[tuple[str, dict]]) -> dict:
    """Tool list and the results of `calls`, through the SDK client over streamable HTTP."""

    async def session() -> dict:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
        async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
            return await run_calls(client, calls)

    return anyio.run(session)


async def run_calls(client: Client, calls: list[tuple[str, dict]]) -> dict:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    results = [await client.call_tool(name, arguments) for name, arguments in calls]
    return {"tools": tools, "results": results}


def outsider_calls() -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = [("ask", {"question": q}) for q in (BUGS, NIGHTJAR, "Who reported the Kestrel Export Crash bug?")]
    for q in ("violet falcon codename", "Kestrel export crash reopened", "Nightjar launch"):
        calls += [("search", {"query": q, "mode": mode, "k": 100}) for mode in ("hybrid", "text")]
    calls.append(("search", {"query": "bug", "containers": [SECRET_CHANNEL]}))
    calls += [("document", {"id": f"slack:{n}"}) for n in ("sec-0", "sec-4", "nj-1")]
    return calls


def dump(result) -> str:
    return json.dumps(result.model_dump(mode="json"))


def test_tools_have_typed_input_schemas(live, keys):
    tools = over_http(live, keys["alice"], [])["tools"]
    assert set(tools) == {"search", "ask", "document"}
    ask = tools["ask"].input_schema
    assert ask["required"] == ["question"] and ask["properties"]["question"]["maxLength"] == 2000
    search = tools["search"].input_schema["properties"]
    assert search["k"]["maximum"] == 100 and search["mode"]["enum"] == ["hybrid", "vector", "text"]
    assert tools["document"].input_schema["required"] == ["id"]
    assert all(t.annotations.read_only_hint for t in tools.values())
    assert "citations" in tools["ask"].output_schema["properties"]


def test_a_member_gets_answers_with_citations_and_documents(live, keys):
    out = over_http(live, keys["alice"], [
        ("ask", {"question": BUGS}), ("ask", {"question": NIGHTJAR}),
        ("search", {"query": "violet falcon codename"}), ("document", {"id": "slack:nj-1"}),
    ])
    bugs, nightjar, search, document = out["results"]
    assert bugs.structured_content["items"] == ["TechCorp"]
    assert {"sec-2", "sec-3"} <= {c["native_id"] for c in bugs.structured_content["citations"]}
    assert "Sources:" in bugs.structured_content["text"]
    assert nightjar.structured_content["answerable"]
    assert "nj-1" in {c["native_id"] for c in nightjar.structured_content["citations"]}
    assert "sec-4" in {n for h in search.structured_content["hits"] for n in h["native_ids"]}
    assert document.structured_content["container"] == NIGHTJAR_CHANNEL


def test_an_outsider_sees_none_of_a_private_channel_over_http(live, keys):
    out = over_http(live, keys["bob"], outsider_calls())
    for (name, arguments), result in zip(outsider_calls(), out["results"]):
        asked = " ".join(str(v) for v in arguments.values())
        assert not leaks(dump(result), asked), (name, arguments, leaks(dump(result), asked))
    documents = out["results"][-3:]
    assert all(r.is_error and "no such document" in r.content[0].text for r in documents)


def test_bad_input_is_a_tool_error_and_no_key_is_refused(live, keys):
    out = over_http(live, keys["bob"], [("search", {"query": "x", "k": 1000}), ("ask", {"question": ""})])
    assert all(r.is_error for r in out["results"])
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    refused = httpx.post(f"{live.url}/mcp", json=body, headers=headers)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "unauthorized"
    wrong = httpx.post(f"{live.url}/mcp", json=body, headers=headers | {"Authorization": "Bearer quarry_x_y"})
    assert wrong.status_code == 401


@pytest.mark.slow
def test_stdio_server_in_a_subprocess_answers_as_its_key(store_root, keys):
    def over_stdio(key: str) -> dict:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "QUARRY_API_KEY": key, "QUARRY_API_REFRESH_S": "0"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "flows.cli", "--store", str(store_root), "mcp"], env=env, cwd=str(ROOT)
        )

        async def session() -> dict:
            async with Client(params) as client:
                return await run_calls(client, outsider_calls())

        return anyio.run(session)

    bob = over_stdio(keys["bob"])
    assert set(bob["tools"]) == {"search", "ask", "document"}
    for (name, arguments), result in zip(outsider_calls(), bob["results"]):
        asked = " ".join(str(v) for v in arguments.values())
        assert not leaks(dump(result), asked), (name, arguments)
    alice = over_stdio(keys["alice"])
    assert alice["results"][0].structured_content["items"] == ["TechCorp"]
    assert not alice["results"][-1].is_error
