"""Mechanisms of the answerer: directory id lookup, renaming evidence, revert reasons,
earlier-release discussions, group principals, and the paraphrase bench's rewrites."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest

from index.catalog import Catalog
from index.profile import build_profiles
from qa.agent import Answerer
from qa.analysis import constraints_of
from qa.lexicon import Lexicon
from qa.permitted import PermittedCatalog
from qa.readers import read_release_team, reverted_numbers
from qa.records import Analysis
from tests.test_qa_units import corpus_docs

BUGS = "Find the name of company that has the maximum number of reopened bugs in WidgetForce."


def commit(catalog: Catalog, docs) -> None:
    for source in sorted({d.source for d in docs}):
        catalog.commit(source, "run", [d for d in docs if d.source == source])
    build_profiles(catalog)


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.duckdb")
    commit(cat, corpus_docs())
    yield cat
    cat.close()


def test_directory_ids_are_found_by_lookup_not_by_shape(catalog):
    lexicon = Lexicon.from_catalog(catalog)
    text = "ping @eid_b2 about CUST-0001, cc eid_c3; eid_zz and CUST-9999 are unknown"
    assert lexicon.ids_in(text) == ["eid_b2", "CUST-0001", "eid_c3"]
    assert lexicon.ids_in(text, "customer") == ["CUST-0001"]
    assert lexicon.ids_in(text, "employee", mentioned=True) == ["eid_b2"]
    assert lexicon.ids_in("who fixed bugs for cust-0001") == ["CUST-0001"]


def test_the_renaming_discussion_is_cited_with_answers_about_the_product(catalog):
    lexicon = Lexicon.from_catalog(catalog)
    assert lexicon.naming["WidgetForce"] == ["ch-wdg-2/2026-02-12"]
    answer = Answerer(catalog).answer(BUGS)
    assert answer.items == ["BlueWave"]
    assert "20260212-0-pla" in {c.native_id for c in answer.citations}
    declined = Answerer(catalog).answer("Find bugs reported by TechCorp in WidgetForce that did not require any fixes?")
    assert not declined.citations


def pr(number: str, title: str, text: str = "") -> dict:
    return {"title": title, "text": f"{title}\n\n{text}", "meta": {"number": number}}


@pytest.mark.parametrize(
    "question, expected",
    [
        ("PRs for search that were reverted due to changes in product direction", {"3"}),
        ("PRs for search that were reverted because they introduced bugs", {"5"}),
        ("PRs for search that got reverted", {"3", "5"}),
    ],
)
def test_reverted_prs_are_kept_only_for_the_reason_asked(question, expected):
    prs = [
        pr("4", "Revert PR# 3: Search index", "This revert is necessary due to a change in product direction."),
        pr("6", "Revert PR#5: Fix ranking errors", "Reverting to address critical bugs introduced by PR#5."),
    ]
    analysis = Analysis(question=question, constraints=constraints_of(question))
    assert reverted_numbers(prs, analysis) == expected


def test_release_team_cites_every_version_of_their_documents_and_where_the_old_ones_were_shared():
    lexicon = Lexicon(employees={"eid_pm": {"role": "Product Manager"}, "eid_ar": {"role": "Architect"}})
    old, new = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    docs = [
        {"native_id": "x_prd_final.md", "author": "eid_pm", "created_at": old, "title": "PRD", "meta": {"doc_type": "PRD"}, "url": "https://w/docs/x_prd_final"},
        {"native_id": "latest_x_prd.md", "author": "eid_pm", "created_at": new, "title": "PRD", "meta": {"doc_type": "PRD"}, "url": None},
        {"native_id": "x_design_final.md", "author": "eid_ar", "created_at": old, "title": "Design", "meta": {"doc_type": "Design"}, "url": None},
        {"native_id": "latest_x_design.md", "author": "eid_ar", "created_at": new, "title": "Design", "meta": {"doc_type": "Design"}, "url": None},
    ]
    messages = [
        {"native_id": "m1", "group_id": "g1", "text": "last release docs: https://w/docs/x_prd_final"},
        {"native_id": "m2", "group_id": "g1", "text": "I'll read it"},
        {"native_id": "m3", "group_id": "g2", "text": "unrelated"},
    ]
    analysis = Analysis(question="product managers who worked on the previous release", roles=["Product Manager"])
    evidence = read_release_team(analysis, docs, messages, lexicon)
    assert evidence.items == ["eid_pm"]
    assert evidence.support == ["x_prd_final.md", "latest_x_prd.md", "m1", "m2"]


def test_a_caller_reads_as_itself_and_its_groups_and_never_cites_what_it_cannot_read(tmp_path):
    cat = Catalog(tmp_path / "c.duckdb")
    docs = [d.model_copy(update={"acl": ["team-w"]}) if d.source == "slack" else d for d in corpus_docs()]
    commit(cat, docs)
    cat.close()
    views = [PermittedCatalog(tmp_path / "c.duckdb", p) for p in (["eid_zz", "team-w"], ["eid_zz"])]
    member, outsider = (Answerer(v) for v in views)
    assert member.answer(BUGS).items == ["BlueWave"]
    assert not outsider.answer(BUGS).answerable
    public = Catalog(tmp_path / "public.duckdb")
    commit(public, [d for d in docs if d.source != "slack"])
    question = "Find employee IDs of the authors and key reviewers of the Product Vision Document for the WidgetForce product?"
    review, never_held = outsider.answer(question), Answerer(public).answer(question)
    assert (review.items, review.answerable, review.citations) == (never_held.items, never_held.answerable, never_held.citations)
    assert all(c.source != "slack" for c in review.citations)
    public.close()
    for view in views:
        view.close()


def load_paraphrase():
    path = Path(__file__).resolve().parents[1] / "bench" / "paraphrase.py"
    spec = importlib.util.spec_from_file_location("paraphrase", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paraphrases_are_deterministic_rewrites():
    p = load_paraphrase()
    q = "Can you provide links to the approved PRs for caching in WidgetForce?"
    assert p.terse(q) == "links to the approved PRs for caching in WidgetForce"
    assert p.terse("Find employee IDs of the authors of the PRD?") == "which authors of the PRD"
    assert p.shorthand("the Product Requirements Document of X") == "the PRD of X"
    assert p.codename(q, "WidgetForce", {"WidgetForce": ["WidgetForce", "wdgAIX"]}).endswith("in wdgAIX?")
    assert p.lower(q) == q.lower()[:-1]
