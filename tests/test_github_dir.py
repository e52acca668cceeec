import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.github import (
    GitHubDirConnector,
    build_issue_doc,
    build_pull_request_doc,
    repo_readers,
    repo_ref,
)
from connectors.records import UNRESOLVED, Page, TerminalError

FIXTURES = Path(__file__).parent / "fixtures" / "github"
HERB_GITHUB = Path(__file__).resolve().parents[2] / "shared" / "herb" / "corpus" / "github"

PR7 = "https://github.com/acme/widgets/pull/7"
PR8 = "https://github.com/acme/widgets/pull/8"
ISSUE12 = "https://github.com/acme/widgets/issues/12"
COLLABORA = "https://github.com/CollaboraOnline/online/pull/2862"
ANOMALY = "https://github.com/salesforce/AnomalyForce/pull/5"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    root = tmp_path / "github"
    shutil.copytree(FIXTURES, root)
    return root


def drain(pages) -> tuple[dict, list, list[Page]]:
    pages = list(pages)
    docs = {d.native_id: d for p in pages for d in p.docs}
    failures = [f for p in pages for f in p.failures]
    return docs, failures, pages


def readers_of(pages: list[Page], doc) -> list[str]:
    """What the container ref a document carries resolves to, as the pages say."""
    return {ref: r for p in pages for ref, r in p.containers.items()}[doc.acl[0]]


def moving(pages) -> list[Page]:
    """The pages that bring documents or move the cursor (not those only refreshing readers)."""
    return [p for p in pages if p.docs or p.cursor is not None]


def touch(path: Path, text: str | None = None) -> None:
    if text is not None:
        path.write_text(text)
    stamp = time.time_ns() + 10_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_pull_maps_pull_requests_and_issues(export: Path):
    docs, failures, pages = drain(GitHubDirConnector(export).pull(None))

    assert failures == []
    assert len(pages) == 3
    assert set(docs) == {PR7, PR8, ISSUE12, COLLABORA, ANOMALY}
    pr = docs[PR7]
    assert pr.id == f"github:{PR7}" and pr.url == PR7 and pr.kind == "pull_request"
    assert pr.title == "Fix widget rendering on Safari"
    assert pr.text.splitlines() == [
        "Fix widget rendering on Safari",
        "",
        "Closes #12. Uses a flex fallback.",
        "",
        "Review by bob (CHANGES_REQUESTED): Please add a test.",
        "Review by dave (APPROVED)",
        "Comment by bob on src/render.ts: This branch never runs on Safari 16.",
        "Comment by erin on src/render.ts: Agreed, a test would catch it.",
    ]
    assert pr.author == "alice"
    assert pr.people == ["alice", "bob", "dave", "erin"]
    assert pr.created_at == datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    assert pr.updated_at == datetime(2025, 5, 1, 17, 30, tzinfo=UTC)
    assert pr.container == "acme/widgets"
    assert pr.acl == [repo_ref("acme/widgets")]
    assert readers_of(pages, pr) == ["github:acme/widgets"]
    assert pr.meta["merged"] == "true" and pr.meta["approved"] == "true"
    assert pr.meta["merged_at"] == "2025-05-01T17:30:00Z"
    assert pr.meta["number"] == "7" and pr.meta["state"] == "closed"
    assert json.loads(pr.meta["review_states"]) == [
        {"user": "bob", "state": "CHANGES_REQUESTED", "submitted_at": "2025-05-01T12:00:00Z"},
        {"user": "dave", "state": "APPROVED", "submitted_at": "2025-05-01T17:00:00Z"},
    ]
    assert "labels" not in pr.meta

    draft = docs[PR8]
    assert draft.text == "Draft: faster widget cache"
    assert draft.meta["merged"] == "false" and draft.meta["approved"] == "false"
    assert "merged_at" not in draft.meta
    assert json.loads(draft.meta["labels"]) == ["perf", "wip"]

    issue = docs[ISSUE12]
    assert issue.kind == "issue" and issue.author == "frank"
    assert issue.people == ["frank", "alice"]
    assert issue.text.endswith(
        "Comment by alice: I can reproduce this; fix in #7.\nComment by ghost: Thanks!"
    )
    assert json.loads(issue.meta["labels"]) == ["bug", "customer"]

    herb = docs[ANOMALY]
    assert readers_of(pages, herb) == ["*"] and herb.container == "salesforce/AnomalyForce"
    assert herb.people == ["eid_7fba1318", "eid_9e9883de", "eid_67036b20", "eid_0e2e8d07"]
    assert herb.meta["approved"] == "true"
    assert [s["state"] for s in json.loads(herb.meta["review_states"])] == [
        "APPROVED",
        "PENDING",
        "PENDING",
    ]


def test_cursor_rereads_only_changed_repos(export: Path):
    connector = GitHubDirConnector(export)
    cursor = list(connector.pull(None))[-1].cursor
    assert "repos/acme/widgets/pulls/7/reviews.json" in cursor["files"]
    assert moving(connector.pull(cursor)) == []

    touch(export / "repos/salesforce/AnomalyForce/pulls/5/reviews.json")
    pages = moving(connector.pull(cursor))
    assert len(pages) == 1
    assert [d.native_id for d in pages[0].docs] == [ANOMALY]
    assert moving(connector.pull(pages[0].cursor)) == []

    (export / "repos/acme/widgets/pulls/7/comments.json").unlink()
    docs, _, pages = drain(moving(connector.pull(pages[0].cursor)))
    assert set(docs) == {PR7, PR8, ISSUE12}
    assert "Comment by" not in docs[PR7].text
    assert "repos/acme/widgets/pulls/7/comments.json" not in pages[-1].cursor["files"]


def test_removed_repo_drops_from_cursor_and_ids(export: Path):
    connector = GitHubDirConnector(export)
    cursor = list(connector.pull(None))[-1].cursor
    assert set(connector.list_ids()) == {PR7, PR8, ISSUE12, COLLABORA, ANOMALY}

    shutil.rmtree(export / "repos/CollaboraOnline")
    pages = moving(connector.pull(cursor))
    assert len(pages) == 1 and pages[0].docs == []
    assert not any(k.startswith("repos/CollaboraOnline/") for k in pages[0].cursor["files"])
    assert set(connector.list_ids()) == {PR7, PR8, ISSUE12, ANOMALY}


def test_malformed_files_become_failures(export: Path):
    touch(export / "repos/salesforce/AnomalyForce/pulls.json", "[{not json")
    touch(export / "repos/acme/widgets/pulls/7/reviews.json", '{"an": "object"}')

    docs, failures, _ = drain(GitHubDirConnector(export).pull(None))

    reasons = {f.native_id: f.reason for f in failures}
    assert set(reasons) == {
        "repos/salesforce/AnomalyForce/pulls.json",
        "repos/acme/widgets/pulls/7/reviews.json",
    }
    assert reasons["repos/salesforce/AnomalyForce/pulls.json"].startswith("malformed JSON")
    assert "line 1 column 3" in reasons["repos/salesforce/AnomalyForce/pulls.json"]
    assert reasons["repos/acme/widgets/pulls/7/reviews.json"] == "expected a JSON array"
    assert set(docs) == {PR7, PR8, ISSUE12, COLLABORA}
    assert "Review by" not in docs[PR7].text and "Comment by bob" in docs[PR7].text
    assert all(f.source == "github" for f in failures)


def test_bad_records_and_unreadable_repo_json(export: Path):
    pulls = export / "repos/acme/widgets/pulls.json"
    records = json.loads(pulls.read_text())
    records[1]["created_at"] = "yesterday"
    records.append({"title": "no number, no url"})
    touch(pulls, json.dumps(records))
    touch(export / "repos/acme/widgets/repo.json", "{")

    docs, failures, pages = drain(GitHubDirConnector(export).pull(None))

    by_id = {f.native_id: f.reason for f in failures}
    assert set(by_id) == {PR7, "repos/acme/widgets/pulls.json[2]", "acme/widgets"}
    assert "yesterday" in by_id[PR7]
    assert "malformed JSON" in by_id["acme/widgets"] and "readable by nobody" in by_id["acme/widgets"]
    assert readers_of(pages, docs[PR8]) == [UNRESOLVED]


def test_missing_export_is_terminal(tmp_path: Path):
    with pytest.raises(TerminalError):
        list(GitHubDirConnector(tmp_path / "nowhere").pull(None))
    with pytest.raises(TerminalError):
        list(GitHubDirConnector(tmp_path).list_ids())


def test_builders_are_shared_and_deterministic():
    pr = json.loads((FIXTURES / "repos/acme/widgets/pulls.json").read_text())[1]
    reviews = json.loads((FIXTURES / "repos/acme/widgets/pulls/7/reviews.json").read_text())
    first = build_pull_request_doc(pr, reviews, [], "acme/widgets")
    again = build_pull_request_doc(pr, reviews, [], "acme/widgets")
    assert first.content_hash == again.content_hash and first.acl == [repo_ref("acme/widgets")]
    issue = {"html_url": ISSUE12, "number": 12, "title": "t", "user": {"login": "x"}}
    assert build_issue_doc(issue, [], "acme/widgets").acl == [repo_ref("acme/widgets")]
    private = repo_readers("acme/widgets", True, ["zed", "amy", "zed"])
    assert private == ["github:acme/widgets", "github-user:amy", "github-user:zed"]
    assert repo_readers("acme/widgets", False, ["amy"]) == ["*"]
    assert repo_readers("acme/widgets", None, ["amy"]) == [UNRESOLVED]


@pytest.mark.skipif(not HERB_GITHUB.is_dir(), reason="HERB corpus not present")
def test_herb_corpus_loads_without_failures():
    connector = GitHubDirConnector(HERB_GITHUB)
    docs, failures, pages = drain(connector.pull(None))
    assert failures == []
    assert len(pages) == 187
    assert len(docs) == 3562
    assert all(d.kind == "pull_request" and readers_of(pages, d) == ["*"] for d in docs.values())
    assert sum(1 for ids in connector.list_ids()) == 3562
