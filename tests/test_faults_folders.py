"""Fault injection on folder acl rules, on real LanceDB, DuckDB and the flow: a rule is a
container whose readers a config change moves at the next sync without re-embedding, and a
file that no rule matches is readable by no caller until one does."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.cli import main
from flows.ingest import ingest
from index.lance import LanceStore
from index.records import Query
from tests.faults import caller_responses, make_corpus
from tests.test_faults import api, failures_of, readable

RETRO = ("retro_2.txt", "retro_2_chat.txt")
SECRETS = ("twelve bugs", "abc123", "retro_2")
"""Words of the folder-private retrospective that no query here names."""
STANDUP = "blocker on the search index"


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def meetings(tmp_path: Path, acl: str) -> tuple[Path, Path]:
    """A meetings folder whose source has the acl rules of TOML line `acl`."""
    return make_corpus(tmp_path, ("meetings",), {"meetings": acl}), tmp_path / "store"


def set_acl(config: Path, acl: str) -> None:
    """Give the meetings source of `config` the acl rules of TOML line `acl`."""
    lines = [line for line in config.read_text().splitlines() if not line.startswith("acl")]
    config.write_text("\n".join([*lines, acl, ""]))


def responses(server, key: str) -> str:
    """What a caller gets back from search, documents and ask (plain and streamed)."""
    return caller_responses(
        server, key, "what went well this sprint bugs", ("What went well this sprint?",),
        [f"meetings:{native}" for native in RETRO],
    )


def test_an_outsider_reads_none_of_a_folder_private_meeting(tmp_path, embedder):
    config, store = meetings(tmp_path, 'acl = { "retro_*" = ["eid_lead"], "*" = ["*"] }')
    assert ingest(str(config), str(store))["status"] == "completed"
    ids, texts = readable(store, ["eid_lead"], "twelve bugs")
    assert set(RETRO) <= ids and any("twelve bugs" in t for t in texts)
    ids, texts = readable(store, ["eid_out"], "twelve bugs")
    assert not set(RETRO) & ids and not any("twelve bugs" in t for t in texts)
    assert "standup_3.srt" in ids
    with api(store, embedder, "eid_out") as (server, [key]):
        body = responses(server, key)
        assert not [s for s in SECRETS if s in body]


def test_a_readers_change_applies_at_the_next_sync_without_reembedding(tmp_path):
    config, store = meetings(tmp_path, 'acl = { "retro_*" = ["eid_lead"], "*" = ["*"] }')
    ingest(str(config), str(store))
    set_acl(config, 'acl = { "retro_*" = ["eid_coach"], "*" = ["*"] }')
    report = ingest(str(config), str(store))
    assert report["chunks_embedded"] == 0 and report["docs_changed"] == 0
    lead, coach = readable(store, ["eid_lead"], "twelve bugs"), readable(store, ["eid_coach"], "twelve bugs")
    assert not set(RETRO) & lead[0] and not any("twelve bugs" in t for t in lead[1])
    assert set(RETRO) <= coach[0] and any("twelve bugs" in t for t in coach[1])


def test_a_changed_pattern_moves_old_documents_to_the_new_rule(tmp_path):
    config, store = meetings(tmp_path, 'acl = { "retro_*" = ["eid_lead"], "*" = ["*"] }')
    ingest(str(config), str(store))
    set_acl(config, 'acl = { "retro_2.txt" = ["eid_lead"], "*" = ["*"] }')
    report = ingest(str(config), str(store))
    assert report["docs_changed"] == 2
    ids, _ = readable(store, ["eid_out"], "twelve bugs abc123")
    assert "retro_2.txt" not in ids and "retro_2_chat.txt" in ids
    assert "retro_2.txt" in readable(store, ["eid_lead"], "twelve bugs")[0]


def test_a_file_no_rule_matches_is_readable_by_nobody_until_one_does(tmp_path, embedder, capsys):
    config, store = meetings(tmp_path, 'acl = { "retro_*" = ["eid_lead"] }')
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures"
    assert "no acl rule matches standup_3.srt" in failures_of(store)["standup_3.srt"]
    capsys.readouterr()
    assert main(["--store", str(store), "failures"]) == 0
    assert "no acl rule matches standup_3.srt" in capsys.readouterr().out
    trusted = LanceStore(str(store / "lance")).search(Query(text=STANDUP, mode="text"))
    assert "standup_3.srt" in {n for h in trusted for n in h.native_ids}
    for caller in (["eid_lead"], ["eid_out"], ["quarry:unresolved"]):
        ids, texts = readable(store, caller, STANDUP)
        assert "standup_3.srt" not in ids and not any(STANDUP in t for t in texts)
    with api(store, embedder, "eid_lead") as (server, [key]):
        auth = {"Authorization": f"Bearer {key}"}
        found = httpx.post(f"{server.url}/v1/search", json={"query": STANDUP, "k": 50}, headers=auth)
        assert found.status_code == 200 and STANDUP not in found.text
        got = httpx.get(f"{server.url}/v1/documents/meetings:standup_3.srt", headers=auth)
        assert got.status_code == 404

    set_acl(config, 'acl = { "retro_*" = ["eid_lead"], "*" = ["*"] }')
    report = ingest(str(config), str(store))
    assert report["status"] == "completed"
    assert not failures_of(store)
    assert "standup_3.srt" in readable(store, ["eid_out"], STANDUP)[0]


def test_a_source_without_acl_rules_is_readable_by_nobody(tmp_path):
    config, store = meetings(tmp_path, "")
    ingest(str(config), str(store))
    failures = failures_of(store)
    assert {"standup_3.srt", *RETRO} <= set(failures)
    assert all("readable by nobody" in reason for reason in failures.values())
    ids, texts = readable(store, ["eid_lead", "*"], "twelve bugs search index")
    assert not ids and not texts
