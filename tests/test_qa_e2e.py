"""End to end: a small corpus through the real sync pipeline, then questions over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.records import SourceDoc, doc_id
from flows.sync import SourceSync
from index.catalog import Catalog
from index.lance import LanceStore
from index.profile import build_profiles
from qa.agent import Answerer
from tests.conftest import ListConnector
from transforms.engine import LocalEngine

CORPUS = Path(__file__).parent / "fixtures" / "qa" / "corpus.json"


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("store")
    catalog = Catalog(root / "catalog.duckdb")
    store = LanceStore(str(root / "lance"))
    rows = json.loads(CORPUS.read_text())
    docs = [SourceDoc(id=doc_id(r["source"], r["native_id"]), **r) for r in rows]
    engine = LocalEngine(lambda: embedder)
    for source in sorted({d.source for d in docs}):
        mine = [d for d in docs if d.source == source]
        SourceSync(source, ListConnector(mine), catalog, store, engine, "run").run()
    store.optimize()
    build_profiles(catalog)
    yield Answerer(catalog, store, embedder)
    catalog.close()


def test_structured_and_text_hops_over_an_ingested_store(answerer):
    answer = answerer.answer("which company has the most reopened bugs in wdgAIX?")
    assert answer.items == ["BlueWave"]
    cited = {c.native_id for c in answer.citations}
    assert "https://github.com/acme/WidgetForce/pull/7" in cited
    assert all(c.title for c in answer.citations if c.source == "slack")


def test_prose_question_goes_to_hybrid_search_with_the_routing_in_the_trace(answerer):
    answer = answerer.answer("What does WidgetForce render for retail analysts?")
    steps = [(h.step, h.action) for h in answer.hops]
    assert ("route", "search") in steps and ("search", "hybrid") in steps
    assert answer.answerable and "dashboards" in answer.text.lower()


def test_unknown_product_is_declined(answerer):
    answer = answerer.answer("What does GizmoForce render for retail analysts?")
    assert not answer.answerable and not answer.citations
