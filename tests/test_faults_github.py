"""Fault injection on GitHub repository permissions, on real LanceDB, DuckDB and the flow:
an unreadable visibility is readable by nobody, and a collaborator change applies at the
next sync without re-embedding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.ingest import ingest
from index.lance import LanceStore
from index.records import Query
from tests.faults import caller_responses, make_corpus, touch_later
from tests.test_faults import api, failures_of, readable

PR7 = "https://github.com/acme/widgets/pull/7"
SECRETS = ("Safari", "flex fallback", "widgets/pull/7")
"""Words of the private repository's pull request that no query here names."""


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def widgets(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A GitHub export whose private acme/widgets repository has bob as collaborator."""
    config = make_corpus(tmp_path, ("github",))
    repo = tmp_path / "corpus" / "github" / "repos" / "acme" / "widgets"
    (repo / "collaborators.json").write_text(json.dumps([{"login": "bob"}]))
    return config, tmp_path / "store", repo


def responses(server, key: str) -> str:
    """What a caller gets back from search and ask (plain and streamed)."""
    return caller_responses(server, key, "widget rendering fix", ("Who fixed the widget rendering?",))


def test_an_unreadable_repository_visibility_is_readable_by_nobody(tmp_path, embedder):
    config, store, repo = widgets(tmp_path)
    (repo / "repo.json").write_text('{"private": tr')
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures"
    assert "readable by nobody" in failures_of(store)["acme/widgets"]
    trusted = LanceStore(str(store / "lance")).search(Query(text="Safari flex fallback", mode="text"))
    assert PR7 in {n for h in trusted for n in h.native_ids}
    assert PR7 not in readable(store, ["github-user:bob", "github:acme/widgets"], "Safari")[0]
    with api(store, embedder, "github-user:bob") as (server, [key]):
        body = responses(server, key)
        assert not [s for s in SECRETS if s in body]

    (repo / "repo.json").write_text('{"private": true}')
    touch_later(repo / "repo.json")
    ingest(str(config), str(store))
    assert "acme/widgets" not in failures_of(store)
    assert PR7 in readable(store, ["github-user:bob"], "Safari")[0]


def test_a_collaborator_change_applies_at_the_next_sync_without_reembedding(tmp_path, embedder):
    config, store, repo = widgets(tmp_path)
    ingest(str(config), str(store))
    assert PR7 in readable(store, ["github-user:bob"], "Safari")[0]
    (repo / "collaborators.json").write_text(json.dumps([{"login": "carol"}]))
    touch_later(repo / "collaborators.json")
    report = ingest(str(config), str(store))
    assert report["chunks_embedded"] == 0 and report["docs_changed"] == 0
    bob, carol = readable(store, ["github-user:bob"], "Safari"), readable(store, ["github-user:carol"], "Safari")
    assert PR7 not in bob[0] and not any("Safari" in t for t in bob[1])
    assert PR7 in carol[0] and any("Safari" in t for t in carol[1])
    with api(store, embedder, "github-user:bob") as (server, [key]):
        body = responses(server, key)
        assert not [s for s in SECRETS if s in body]
