"""Contract tests: one per interface, run against every implementation.

Connector: ids are stable across two pulls; resuming from a middle cursor gives what a full
pull gives; `list_ids` covers everything pulled; a bad input is a failure row, never an
exception. Engine: the same inputs give the same documents, failures, chunk ids and vectors
on every engine. (The store has one implementation, `LanceStore`, tested in test_lance.py.)
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import pytest

from connectors.bookmarks import BookmarksConnector
from connectors.directory import DirectoryConnector
from connectors.documents import DocumentsConnector
from connectors.github import GitHubDirConnector
from connectors.github_api import GitHubApiConnector
from connectors.meetings import MeetingsConnector
from connectors.records import Connector, Failure, Page, SourceDoc, doc_id
from connectors.slack_api import SlackApiConnector
from connectors.slack_export import SlackExportConnector
from tests.conftest import FIXTURES, PUBLIC
from tests.replay import Exchange, ReplayServer
from transforms.beam_engine import BeamEngine
from transforms.dask_engine import DaskEngine
from transforms.embed import Embedder
from transforms.engine import Engine, LocalEngine

Case = Callable[[Path, bool], AbstractContextManager[Connector]]


def copied(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    return root


def no_sleep(_: float) -> None:
    return None


@contextmanager
def slack_export(tmp_path: Path, bad: bool) -> Iterator[Connector]:
    root = copied("slack", tmp_path) / "export"
    if bad:
        (root / "general" / "2024-03-03.json").write_text("[{")
    yield SlackExportConnector(root)


@contextmanager
def slack_api(tmp_path: Path, bad: bool) -> Iterator[Connector]:
    recorded = json.loads((FIXTURES / "slack" / "api" / "workspace.json").read_text())
    exchanges = [Exchange(**entry) for entry in recorded]
    if bad:
        failing = {"ok": False, "error": "thread_not_found"}
        exchanges.insert(0, Exchange("/conversations.replies", failing))
    with ReplayServer(exchanges) as server, httpx.Client(timeout=5.0) as http:
        yield SlackApiConnector(
            "xoxb-test", base_url=server.url, client=http, page_size=2, sleep=no_sleep, lookback_s=0
        )


def github_exchanges(root: Path) -> list[Exchange]:
    """The saved responses of a GitHub folder export, served as the REST API serves them."""
    exchanges = []
    for path in sorted(root.glob("repos/*/*/**/*.json")):
        api = "/" + path.relative_to(root).with_suffix("").as_posix().removesuffix("/repo")
        exchanges.append(Exchange(api, json.loads(path.read_text())))
    for repo in sorted(root.glob("repos/*/*")):
        api = "/" + repo.relative_to(root).as_posix()
        exchanges += [
            Exchange(f"{api}/collaborators", [{"login": "alice"}]),
            Exchange(api, {"private": False}),
            Exchange(f"{api}/issues", []),
        ]
        for kind, what in (("pulls", "reviews"), ("pulls", "comments"), ("issues", "comments")):
            listing = repo / f"{kind}.json"
            items = json.loads(listing.read_text()) if listing.exists() else []
            exchanges += [Exchange(f"{api}/{kind}/{i['number']}/{what}", []) for i in items]
    return exchanges


def repos_of(root: Path) -> list[str]:
    return [p.relative_to(root / "repos").as_posix() for p in sorted(root.glob("repos/*/*"))]


@contextmanager
def github_dir(tmp_path: Path, bad: bool) -> Iterator[Connector]:
    root = copied("github", tmp_path)
    if bad:
        (root / "repos" / "acme" / "widgets" / "pulls" / "7" / "reviews.json").write_text("{[")
    yield GitHubDirConnector(root)


@contextmanager
def github_api(tmp_path: Path, bad: bool) -> Iterator[Connector]:
    root = FIXTURES / "github"
    exchanges = github_exchanges(root)
    if bad:
        missing = {"message": "Not Found"}
        exchanges.insert(0, Exchange("/repos/acme/widgets/pulls/7/reviews", missing, status=404))
    with ReplayServer(exchanges) as server:
        connector = GitHubApiConnector(repos_of(root), base_url=server.url, per_page=2, sleep=no_sleep)
        yield connector
        connector.close()


@contextmanager
def documents(tmp_path: Path, bad: bool) -> Iterator[Connector]:
    root = copied("docs", tmp_path)
    shutil.rmtree(root / "bad")
    if bad:
        (root / "empty.md").write_bytes(b"")
    yield DocumentsConnector(root, acl_rules=PUBLIC, page_size=2)


def file_records(name: str, make: Callable[[Path], Connector], bad_name: str) -> Case:
    @contextmanager
    def case(tmp_path: Path, bad: bool) -> Iterator[Connector]:
        root = copied(name, tmp_path)
        if bad:
            (root / bad_name).write_bytes(b"")
        yield make(root)

    return case


CONNECTORS: dict[str, Case] = {
    "slack-export": slack_export,
    "slack-api": slack_api,
    "github-dir": github_dir,
    "github-api": github_api,
    "documents": documents,
    "meetings": file_records("meetings", lambda r: MeetingsConnector(r, acl_rules=PUBLIC, page_size=2), "bad.vtt"),
    "bookmarks": file_records("links", lambda r: BookmarksConnector(r, page_size=2), "bad.html"),
    "directory": file_records("directory", lambda r: DirectoryConnector(r, page_size=2), "bad.csv"),
}


def docs_of(pages: list[Page]) -> dict[str, SourceDoc]:
    """The documents of some pages by id, a later version replacing an earlier one."""
    return {doc.id: doc for page in pages for doc in page.docs}


def failures_of(pages: list[Page]) -> list[Failure]:
    return [failure for page in pages for failure in page.failures]


@pytest.fixture(params=sorted(CONNECTORS))
def case(request, tmp_path) -> Callable[[bool], AbstractContextManager[Connector]]:
    return lambda bad=False: CONNECTORS[request.param](tmp_path / ("bad" if bad else "good"), bad)


class TestConnectorContract:
    def test_ids_and_content_are_stable_across_two_pulls(self, case):
        with case() as connector:
            first = list(connector.pull(None))
            second = list(connector.pull(None))
        assert docs_of(first), "the fixture yields documents"
        hashes = {i: d.content_hash for i, d in docs_of(first).items()}
        assert hashes == {i: d.content_hash for i, d in docs_of(second).items()}
        assert all(d.id == f"{d.source}:{d.native_id}" for d in docs_of(first).values())

    def test_resuming_from_a_middle_cursor_matches_a_full_pull(self, case):
        with case() as connector:
            full = list(connector.pull(None))
            marks = [i for i, page in enumerate(full[:-1]) if page.cursor is not None]
            assert marks, "the fixture pulls in more than one page"
            middle = marks[len(marks) // 2]
            resumed = list(connector.pull(full[middle].cursor))
        combined = docs_of(full[: middle + 1] + resumed)
        assert {i: d.content_hash for i, d in combined.items()} == {
            i: d.content_hash for i, d in docs_of(full).items()
        }
        last = [p.cursor for p in full if p.cursor is not None][-1]
        assert [p.cursor for p in resumed if p.cursor is not None][-1] == last

    def test_list_ids_covers_everything_pulled(self, case):
        with case() as connector:
            pulled = {d.native_id for d in docs_of(list(connector.pull(None))).values()}
            listed = set(connector.list_ids())
        assert pulled <= listed

    def test_a_bad_input_is_a_failure_row_not_an_exception(self, case):
        with case() as connector:
            good = list(connector.pull(None))
        with case(bad=True) as connector:
            pages = list(connector.pull(None))
        new = [f for f in failures_of(pages) if f not in failures_of(good)]
        assert new and all(f.reason and f.native_id for f in new)
        failed = {f.native_id for f in new}
        missing = [d for i, d in docs_of(good).items() if i not in docs_of(pages)]
        assert docs_of(pages) and all({d.native_id, d.group} & failed for d in missing)


EMBEDDER = partial(Embedder, batch_size=16)
VECTOR_ATOL = 3e-3  # bf16 weights: thread count and batch shapes change the last bits
ENGINES: dict[str, Callable[[Path], Engine]] = {
    "local": lambda _: LocalEngine(EMBEDDER),
    "dask": lambda scratch: DaskEngine(EMBEDDER, workers=2, local_directory=scratch),
    "beam": lambda _: BeamEngine(EMBEDDER, workers=2, batch_size=16),
}


def message(n: int, channel: str, text: str) -> SourceDoc:
    return SourceDoc(
        id=doc_id("slack", f"{channel}/{n}"), source="slack", native_id=f"{channel}/{n}",
        kind="message", text=text, author=f"U{n % 3}", people=[f"U{n % 3}"],
        container=channel, group=f"{channel}/2026-01-05",
        created_at=datetime(2026, 1, 5, 9, n, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def inputs() -> list[SourceDoc]:
    """Document files (some unreadable) and Slack messages of two channel-days."""
    files = [d for page in DocumentsConnector(FIXTURES / "docs", acl_rules=PUBLIC).pull(None) for d in page.docs]
    topics = ["the launch slipped a week", "billing API needs a retry", "who owns the SDK?",
              "standup moved to 10:00", "the zebra rollout starts in May", "ship it"]
    messages = [message(n, channel, f"{topics[n % len(topics)]} ({channel} #{n})")
                for channel in ("C01", "C02") for n in range(12)]
    return files + messages


def run_stages(engine: Engine, docs: list[SourceDoc]):
    """Parse, group, chunk and embed the way a sync does."""
    parsed, failures = engine.parse(docs)
    groups: dict[str, list[SourceDoc]] = defaultdict(list)
    for doc in parsed:
        groups[doc.group].append(doc)
    chunks = engine.chunk([groups[g] for g in sorted(groups)])
    return parsed, failures, engine.embed(chunks)


@pytest.fixture(scope="module")
def expected(inputs):
    engine = LocalEngine(EMBEDDER)
    parsed, failures, chunks = run_stages(engine, inputs)
    assert failures and chunks and parsed
    assert engine.times.embedded == len(chunks)
    return parsed, failures, chunks


def assert_same(result, expected) -> None:
    parsed, failures, chunks = result
    want_parsed, want_failures, want_chunks = expected
    assert parsed == want_parsed
    assert failures == want_failures
    assert [c.id for c in chunks] == [c.id for c in want_chunks]
    assert [c.model_dump(exclude={"vector"}) for c in chunks] == [
        c.model_dump(exclude={"vector"}) for c in want_chunks
    ]
    got = np.array([c.vector for c in chunks])
    want = np.array([c.vector for c in want_chunks])
    assert got.shape == want.shape == (len(want_chunks), 384)
    np.testing.assert_allclose(got, want, atol=VECTOR_ATOL)
    assert (got * want).sum(axis=1).min() >= 0.9999


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine(request, tmp_path_factory) -> Iterator[Engine]:
    made = ENGINES[request.param](tmp_path_factory.mktemp("engine"))
    yield made
    made.close()


@pytest.mark.slow
class TestEngineContract:
    def test_the_same_inputs_give_the_same_documents_failures_chunks_and_vectors(
        self, engine, inputs, expected
    ):
        assert_same(run_stages(engine, inputs), expected)
        assert engine.times.embedded >= len(expected[2]) and engine.times.parse_s > 0

    def test_no_inputs_give_nothing(self, engine):
        assert engine.parse([]) == ([], [])
        assert engine.chunk([]) == [] and engine.embed([]) == []
