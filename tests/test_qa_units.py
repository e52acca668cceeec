"""Question analysis, routing, bug reading and abstention on a small catalog (no vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.records import SourceDoc, doc_id
from index.catalog import Catalog
from index.profile import build_profiles, channel_entity, file_entity, load_profiles
from qa.agent import Answerer
from qa.analysis import QuestionAnalyzer, answer_type_of, constraints_of, doc_type_of
from qa.bugs import read_bugs, summary_of
from qa.lexicon import Lexicon
from qa.permitted import PermittedCatalog
from qa.plans import PlanContext
from qa.readers import topic_pr_titles
from qa.router import KnowledgeRouter
from qa.structured import CatalogHops

CORPUS = Path(__file__).parent / "fixtures" / "qa" / "corpus.json"


def corpus_docs() -> list[SourceDoc]:
    rows = json.loads(CORPUS.read_text())
    return [SourceDoc(id=doc_id(r["source"], r["native_id"]), **r) for r in rows]


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.duckdb")
    docs = corpus_docs()
    for source in sorted({d.source for d in docs}):
        cat.commit(source, "run", [d for d in docs if d.source == source])
    build_profiles(cat)
    yield cat
    cat.close()


@pytest.fixture
def lexicon(catalog):
    return Lexicon.from_catalog(catalog)


def test_entity_names_are_learned_from_renames_and_name_changes(lexicon):
    assert lexicon.aliases["wdgAIX"] == "WidgetForce"
    assert lexicon.aliases["WidgetForce"] == "WidgetForce"
    assert file_entity("final_wdgaix_product_vision_document.md", lexicon.aliases) == "WidgetForce"
    assert channel_entity("planning-WidgetForce-PM") == "WidgetForce"
    assert channel_entity("develop-alicesmith") is None


def test_profiles_are_stored_and_name_their_entity(catalog):
    profiles, _aliases = load_profiles(catalog)
    bug = next(p for p in profiles if p["container"] == "bug-alice-WidgetForce")
    assert bug["entity"] == "WidgetForce" and bug["purpose"] == "bug" and bug["docs"] == 9
    assert "eid_a1" in bug["people"]
    repo = next(p for p in profiles if p["source"] == "github")
    assert repo["entity"] == "WidgetForce"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Find employee IDs of engineers who resolved the most bugs in X?", "person"),
        ("which companies reported bugs in X", "company"),
        ("links to the approved PRs for caching in X", "pr"),
        ("demo urls people shared for X competitors", "url"),
        ("what did customers like about X", "content"),
    ],
)
def test_answer_type(question, expected):
    assert answer_type_of(question) == expected


def test_constraints_tolerate_typed_wording():
    assert "not_approved" in constraints_of("prs for caching that weren't approved")
    assert "approved" not in constraints_of("PRs that were not approved")
    assert "no_fix" in constraints_of("bugs that didn't need any fix")
    assert "reopened" in constraints_of("bugs re-opened by customers")
    assert "unresolved" in constraints_of("open issues still not fixed")


def test_analysis_finds_code_names_roles_companies_and_doc_types(lexicon):
    a = QuestionAnalyzer(lexicon).analyze(
        "what did the ux researchers suggest for the wdgaix product vision doc?"
    )
    assert a.product == "WidgetForce"
    assert a.roles == ["UX Researcher"]
    assert a.doc_type == "Product Vision Document"
    b = QuestionAnalyzer(lexicon).analyze("Which company has the most unresolved bugs in WidgetForce")
    assert b.answer_type == "company" and b.aggregate == "max" and b.has("unresolved")


def test_a_store_without_documents_names_no_doc_type():
    assert doc_type_of("Who reported the export crash bug?", []) is None
    assert doc_type_of("Who wrote the vision doc?", ["Product Vision Document"]) == "Product Vision Document"


def test_router_sends_bug_questions_to_bug_channels_and_records_why(catalog, lexicon):
    analysis = QuestionAnalyzer(lexicon).analyze("Find bugs reported by BlueWave in WidgetForce that did not require any fixes")
    route = KnowledgeRouter(PlanContext(CatalogHops(catalog), lexicon)).route(analysis)
    assert route.plan.name == "bugs"
    assert route.containers["slack"] == ["bug-alice-WidgetForce"]
    hop = route.hop()
    assert hop.step == "route" and any("WidgetForce" in why for why in hop.detail["why"])


def test_bug_reader_follows_outcomes(catalog, lexicon):
    rows = catalog.query(
        "SELECT native_id, container, author, text, group_id FROM documents "
        "WHERE source = 'slack' AND container LIKE 'bug-%' ORDER BY created_at"
    )
    bugs = {b.title: b for b in read_bugs(rows, lexicon)}
    assert set(bugs) == {"Slow Dashboard Rendering", "Token Leak In Logs", "Wrong Currency Format"}
    slow = bugs["Slow Dashboard Rendering"]
    assert slow.resolved_by == "eid_b2" and slow.reopened and slow.prs == ["https://github.com/acme/WidgetForce/pull/7"]
    assert bugs["Wrong Currency Format"].no_fix_by == "eid_c3"
    assert bugs["Token Leak In Logs"].status == "open" and bugs["Token Leak In Logs"].assignee == "eid_c3"


def test_bug_outcomes_go_to_the_bug_their_message_names(lexicon):
    """Contractions are not quotes; an outcome goes to the title it names word for word,
    else to the title last named in its own conversation, never to one from another day."""
    def msg(n, group, author, text):
        return {"native_id": f"m{n}", "container": "bug-x", "author": author, "text": text, "group_id": group}

    rows = [
        msg(1, "day1", "eid_a1", "We have a 'Cache Stampede On Login' for CUST-0001. @eid_c3 can you look?"),
        msg(2, "day1", "eid_a1", "Hey, it's bad: we've got 'Exports Timing Out' for CUST-0002. @eid_b2"),
        msg(3, "day2", "eid_c3", "The bug titled 'Cache Stampede On Login' has been resolved: https://github.com/acme/WidgetForce/pull/9"),
        msg(4, "day3", "eid_c3", "I looked into the exports timing out report: this does not require a fix."),
        msg(5, "day4", "eid_a1", "Thanks! So is this the expected behavior then?"),
    ]
    bugs = {b.title: b for b in read_bugs(rows, lexicon)}
    assert set(bugs) == {"Cache Stampede On Login", "Exports Timing Out"}
    assert bugs["Cache Stampede On Login"].status == "resolved"
    assert bugs["Exports Timing Out"].no_fix_by == "eid_c3"
    assert summary_of("Hi all, there's an issue with exports for CUST-0002. Urgent") == "issue with exports for CUST-0002"


def test_meetings_name_the_pull_requests_of_a_topic(lexicon):
    """The PR a meeting names right where a task comes up belongs to that task, whether the
    turn that brings it up quotes it or the reply does; another task's PR does not."""
    transcript = """Alice Smith: Let's start with the task on integrating predictive analytics. Bob, you're on it?
Bob Jones: Yes. The PR is titled 'Integrate LSTM for Time-Series Forecasting'.
Alice Smith: Next, data ingestion efficiency. Carol, that's 'Add Avro Serialization', right?
Carol King: Right, it's in review.
Alice Smith: For predictive analytics there's also 'Train LSTM Models on Historical Data' now."""
    meeting = {"native_id": "sprint_1.vtt", "people": ["eid_a1", "eid_b2", "eid_c3"], "text": transcript}
    analysis = QuestionAnalyzer(lexicon).analyze("Can you provide links to the PRs for integrating predictive analytics in WidgetForce?")
    titles, where = topic_pr_titles(analysis, [meeting], lexicon)
    assert titles == {"integrate lstm for time-series forecasting", "train lstm models on historical data"}
    assert where == ["sprint_1.vtt"]


@pytest.mark.parametrize(
    "question, items",
    [
        ("Find the name of company that has the maximum number of reopened bugs in WidgetForce.", ["BlueWave"]),
        ("which customer company has the most open issues in wdgAIX", ["BlueWave", "TechCorp"]),
        ("Find employee IDs of engineers who are assigned to the highest number of active bugs in WidgetForce.", ["eid_b2", "eid_c3"]),
        ("Find all PR links submitted by eid_b2 to resolve bugs reported by BlueWave in WidgetForce", ["https://github.com/acme/WidgetForce/pull/7"]),
        ("Find employee IDs of the authors and key reviewers of the Product Vision Document for the WidgetForce product?", ["eid_a1", "eid_d4", "eid_b2"]),
        ("Find the demo URLs shared by team members for WidgetForce's competitor products?", ["https://www.chartpal.example/demo"]),
        ("Can you provide links to the approved PRs for dashboard rendering in WidgetForce?", ["https://github.com/acme/WidgetForce/pull/7"]),
        ("links to PRs for dashboard rendering in WidgetForce that were not approved", ["https://github.com/acme/WidgetForce/pull/8"]),
    ],
)
def test_structured_answers(catalog, question, items):
    answer = Answerer(catalog).answer(question)
    assert answer.answerable, [h.model_dump() for h in answer.hops]
    assert sorted(answer.items) == sorted(items)
    assert answer.citations and all(c.native_id for c in answer.citations)
    assert [h.step for h in answer.hops][:2] == ["analyse", "route"]


def test_suggestions_by_role_are_prose_with_the_discussion_cited(catalog):
    answer = Answerer(catalog).answer(
        "What are the changes suggested by UX Researcher to improve the Product Vision Document for WidgetForce?"
    )
    assert answer.kind == "text" and "personas" in answer.text and "latency" not in answer.text
    cited = {c.native_id for c in answer.citations}
    assert "wdgaix_product_vision_document.md" in cited and "20260201-1-pla" in cited


@pytest.mark.parametrize(
    "question",
    [
        "What are the changes suggested by Chief Product Officer to improve the Product Vision Document for WidgetForce?",
        "Find bugs reported by TechCorp in WidgetForce that did not require any fixes?",
        "Find the name of company that has the maximum number of reopened bugs in GadgetForce.",
        "Find the demo URLs shared by team members for the previous version of WidgetForce?",
        "What is the airspeed velocity of an unladen swallow?",
    ],
)
def test_declines_when_evidence_does_not_support_an_answer(catalog, question):
    answer = Answerer(catalog).answer(question)
    assert not answer.answerable and not answer.items and not answer.citations
    assert answer.hops[-1].action == "decline"


def test_principal_without_access_gets_no_answer(tmp_path):
    cat = Catalog(tmp_path / "c.duckdb")
    docs = [d.model_copy(update={"acl": ["eid_a1"]}) if d.source == "slack" else d for d in corpus_docs()]
    for source in sorted({d.source for d in docs}):
        cat.commit(source, "run", [d for d in docs if d.source == source])
    cat.close()
    question = "Find the name of company that has the maximum number of reopened bugs in WidgetForce."
    reader, outsider = (PermittedCatalog(tmp_path / "c.duckdb", [p]) for p in ("eid_a1", "eid_zz"))
    assert Answerer(reader).answer(question).items == ["BlueWave"]
    assert not Answerer(outsider).answer(question).answerable
    reader.close()
    outsider.close()
