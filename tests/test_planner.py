"""Linking, planning and declining over a small ingested store: the general answerer, with
questions worded as people type them."""

from __future__ import annotations

import pytest

from qa.agent import Answerer
from qa.vocabulary import ask_of, relations_in
from tests.graph_store import ingest_graph_corpus


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, embedder):
    catalog, store = ingest_graph_corpus(tmp_path_factory.mktemp("planner"), embedder)
    yield Answerer(catalog, store, embedder)
    catalog.close()


def linked(answerer, question):
    return answerer.linker.link(question)


def test_people_by_full_name_id_and_first_name_in_context(answerer):
    assert linked(answerer, "who does Omar Haddad report to").mentions[0].candidates == ["person:eid_dev00002"]
    assert linked(answerer, "manager of eid_qa000005?").mentions[0].candidates == ["person:eid_qa000005"]
    shared = linked(answerer, "what is Alex Kim's role").mentions[0]
    assert shared.candidates == ["person:eid_alex0003", "person:eid_alex0004"] and not shared.resolved


def test_titles_link_in_any_case_quoted_or_not_and_with_a_typo(answerer):
    for question in ("who reviewed 'Add tile cache invalidation'", "who reviewed add tile cache invalidaton pr",
                     "WHO REVIEWED THE ADD TILE CACHE INVALIDATION PULL REQUEST"):
        mentions = linked(answerer, question).of_type("pr")
        assert mentions and mentions[0].candidates == ["pr:https://github.com/acme/Glimmer/pull/7"], question


def test_dates_in_the_forms_people_write_them(answerer):
    for text in ("2026-05-06", "May 6", "6th of May", "05/06/2026", "may 6, 2026"):
        dates = linked(answerer, f"who was in the meeting on {text}").dates
        assert len(dates) == 1 and dates[0].start.month == 5 and dates[0].start.day == 6, text
    assert linked(answerer, "meetings in May 2026").dates[0].end.month == 6


def test_relation_words_and_the_asked_type(answerer):
    assert frozenset({"reviewed"}) in relations_in("who reviewed it")
    assert ask_of("whos the author of the vision doc").type == "person"
    assert ask_of("when was the glimmer planning meeting").attribute == "date"
    assert ask_of("link to the glimmer vision document").answer_type == "url"


@pytest.mark.parametrize(("question", "expected"), [
    ("who is Omar Haddad's manager?", ["eid_lead0001"]),
    ("who reports to Maya Chen", ["eid_alex0003", "eid_alex0004", "eid_dev00002"]),
    ("who approved add tile cache invalidation", ["eid_alex0003"]),
    ("which people reviewed the PR 'Add tile cache invalidation'", ["eid_alex0003", "eid_qa000005"]),
    ("who was in the glimmer meeting on May 6", ["eid_alex0003", "eid_dev00002", "eid_lead0001"]),
    ("who created the planning-Glimmer channel", ["eid_lead0001"]),
    ("whos the manager of the person who authored add tile cache invalidation", ["eid_lead0001"]),
    ("who said 'the caching layer keeps stale tiles for exactly ninety seconds'", ["eid_dev00002"]),
    ("who said \"the offline mode deserves its own section in the roadmap\"", ["eid_alex0003"]),
    ("which company does Rosa Diaz work for", ["NorthStar"]),
])
def test_graph_paths_answer_with_typed_lists_and_evidence(answerer, question, expected):
    answer = answerer.answer(question)
    assert answer.answerable, [h.model_dump() for h in answer.hops]
    assert sorted(answer.items) == expected
    assert answer.citations and any(h.step == "plan" for h in answer.hops)


def test_values_come_from_node_attributes(answerer):
    assert answerer.answer("what's the link to the glimmer vision document").items == [
        "https://corp.example.com/docs/glimmer_vision_document"]
    assert answerer.answer("when was Glimmer_planning_1").text == "2026-05-06"
    assert answerer.answer("what is Priya Nair's role?").text == "QA Specialist"
    assert answerer.answer("was add tile cache invalidation merged").text == "merged"


@pytest.mark.parametrize("question", [
    "who is Zelda Quimby's manager?",
    "what is Alex Kim's role",
    "who attended the glimmer meeting on June 30",
    "who reviewed the PR 'Rewrite the billing engine in Rust'",
])
def test_declines_from_the_plan_with_the_reason(answerer, question):
    answer = answerer.answer(question)
    assert not answer.answerable and not answer.citations
    assert any(h.step == "answer" and h.action == "decline" for h in answer.hops)


def test_an_ambiguous_name_lists_its_candidates(answerer):
    answer = answerer.answer("what is Alex Kim's role")
    note = next(h for h in answer.hops if h.step == "answer").detail["note"]
    assert "eid_alex0003" in note and "eid_alex0004" in note
    narrowed = answerer.answer("what is the location of Alex Kim, the Product Manager")
    assert narrowed.text == "Seattle"


def test_answers_read_as_names_roles_and_titles(answerer):
    people = answerer.answer("who reviewed add tile cache invalidation")
    assert sorted(people.labels) == ["Alex Kim, Engineering Lead (eid_alex0003)", "Priya Nair, QA Specialist (eid_qa000005)"]
    assert people.readable().splitlines() == [f"- {label}" for label in people.labels]
    link = answerer.answer("link to the pr add tile cache invalidation")
    assert link.items == ["https://github.com/acme/Glimmer/pull/7"]
    assert link.labels == ["Add tile cache invalidation (https://github.com/acme/Glimmer/pull/7)"]
