"""The enterprise graph: identities across the six sources, typed relations with their
evidence, and a permitted view that hides what a caller may not read."""

from __future__ import annotations

import json
import shutil

import pytest

from index.graph import RELATIONS
from qa.permitted import PermittedCatalog
from tests.graph_store import ingest_graph_corpus


@pytest.fixture(scope="module")
def graph_store(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("graph")
    catalog, store = ingest_graph_corpus(root, embedder)
    yield root, catalog, store
    catalog.close()


def edges(catalog, rel, src=None, dst=None):
    sql = "SELECT src, dst, evidence, attrs FROM graph_edges WHERE rel = ?"
    args = [rel]
    if src:
        sql, args = sql + " AND src = ?", [*args, src]
    if dst:
        sql, args = sql + " AND dst = ?", [*args, dst]
    return catalog.query(sql + " ORDER BY src, dst", args)


def test_one_person_across_directory_slack_github_docs_and_meetings(graph_store):
    _, catalog, _ = graph_store
    maya = "person:eid_lead0001"
    kinds = {r["kind"] for r in catalog.query("SELECT kind FROM graph_names WHERE node = ?", [maya])}
    assert {"name", "id", "slack_name", "meetings_name"} <= kinds
    assert edges(catalog, "posted", src=maya) and edges(catalog, "authored", src=maya)
    assert edges(catalog, "attended", src=maya) and edges(catalog, "spoke_in", src=maya)
    omar = "person:eid_dev00002"
    assert [e["dst"] for e in edges(catalog, "authored", src=omar)] == ["pr:https://github.com/acme/Glimmer/pull/7"]


def test_a_shared_name_is_never_merged_by_guess(graph_store):
    _, catalog, _ = graph_store
    speaker = edges(catalog, "spoke_in", dst="meeting:Glimmer_planning_1")
    assert "person:eid_alex0003" in {e["src"] for e in speaker}, "the only Alex Kim among the participants"
    guest = catalog.query("SELECT attrs FROM graph_nodes WHERE id = 'person:slack:U0GUEST'")
    assert json.loads(guest[0]["attrs"])["candidates"] == "person:eid_alex0003,person:eid_alex0004"
    assert catalog.query("SELECT 1 FROM graph_nodes WHERE id = 'person:github:octo-guest'")


def test_relations_carry_their_evidence_and_state(graph_store):
    _, catalog, _ = graph_store
    pr = "pr:https://github.com/acme/Glimmer/pull/7"
    reviews = {e["src"]: json.loads(e["attrs"])["state"] for e in edges(catalog, "reviewed", dst=pr)}
    assert reviews == {"person:eid_alex0003": "APPROVED", "person:eid_qa000005": "CHANGES_REQUESTED"}
    assert [e["src"] for e in edges(catalog, "approved", dst=pr)] == ["person:eid_alex0003"]
    assert edges(catalog, "reports_to", src="person:eid_dev00002")[0]["dst"] == "person:eid_lead0001"
    assert edges(catalog, "works_at", src="customer:CUST-0101")[0]["dst"] == "company:NorthStar"
    assert edges(catalog, "created", dst="channel:planning-Glimmer")[0]["src"] == "person:eid_lead0001"
    assert {e["src"] for e in edges(catalog, "member_of", dst="channel:planning-Glimmer")} == {
        "person:eid_lead0001", "person:eid_dev00002"}
    shared = edges(catalog, "shared", src="person:eid_lead0001")
    assert [(e["dst"], e["evidence"]) for e in shared] == [("document:glimmer_vision_document.md", "m-share")]
    assert edges(catalog, "mentions", dst="customer:CUST-0101")
    assert {r["rel"] for r in catalog.query("SELECT DISTINCT rel FROM graph_edges")} <= set(RELATIONS)


def test_a_permitted_view_holds_only_what_its_documents_evidence(graph_store, tmp_path):
    root, catalog, _ = graph_store
    assert edges(catalog, "posted", dst="message:m-secret")
    catalog.db.execute("CHECKPOINT")
    snapshot = tmp_path / "snapshot.duckdb"
    shutil.copy(root / "catalog.duckdb", snapshot)
    outsider = PermittedCatalog(snapshot, ["eid_dev00002"])
    try:
        assert not outsider.query("SELECT * FROM graph_edges WHERE evidence = 'm-secret'")
        assert not outsider.query("SELECT * FROM graph_nodes WHERE id LIKE '%secret%'")
        assert outsider.query("SELECT * FROM graph_edges WHERE evidence = 'm-share'")
    finally:
        outsider.close()
    member = PermittedCatalog(snapshot, ["eid_lead0001"])
    try:
        assert member.query("SELECT * FROM graph_edges WHERE evidence = 'm-secret'")
    finally:
        member.close()
