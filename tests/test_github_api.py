import json
import os

import httpx
import pytest

from connectors.github import repo_ref
from connectors.github_api import GitHubApiConnector
from connectors.records import Page, TerminalError, TransientError
from tests.replay import Exchange, ReplayServer

REPO = "acme/widgets"
API = f"/repos/{REPO}"


def pr(number: int, updated: str, login: str = "alice") -> dict:
    return {
        "url": f"https://api.github.com{API}/pulls/{number}",
        "html_url": f"https://github.com/{REPO}/pull/{number}",
        "number": number,
        "state": "open",
        "title": f"Widget change {number}",
        "body": f"Body of {number}.",
        "user": {"login": login},
        "created_at": "2025-05-01T00:00:00Z",
        "updated_at": updated,
        "closed_at": None,
        "merged_at": None,
    }


def issue(number: int, updated: str, comments: int = 0) -> dict:
    return {
        "html_url": f"https://github.com/{REPO}/issues/{number}",
        "number": number,
        "state": "open",
        "title": f"Widget bug {number}",
        "body": "It breaks.",
        "user": {"login": "frank"},
        "labels": [{"name": "bug"}],
        "comments": comments,
        "created_at": "2025-05-01T00:00:00Z",
        "updated_at": updated,
    }


def as_issue(item: dict) -> dict:
    return {**item, "pull_request": {"url": item["url"]}}


def next_link(path: str, page: int) -> dict[str, str]:
    return {"Link": f'<{{base}}{path}?state=all&per_page=2&page={page}>; rel="next"'}


def empty_reviews(*numbers: int) -> list[Exchange]:
    return [
        Exchange(f"{API}/pulls/{n}/{what}", []) for n in numbers for what in ("reviews", "comments")
    ]


def paths(server: ReplayServer) -> list[str]:
    return [r.path for r in server.requests]


class Clock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def now(self) -> float:
        return 1000.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


def readers_of(pages: list[Page], doc) -> list[str]:
    """What the container ref a document carries resolves to, as the pages say."""
    return {ref: r for p in pages for ref, r in p.containers.items()}[doc.acl[0]]


def connect(server: ReplayServer, clock: Clock, **kw) -> GitHubApiConnector:
    options = {"token": "t0ken", "per_page": 2, "max_retries": 3} | kw
    return GitHubApiConnector(
        [REPO], base_url=server.url, sleep=clock.sleep, now=clock.now, **options
    )


def test_pull_paginates_and_folds_reviews(clock: Clock):
    review_page_2 = {"Link": f'<{{base}}{API}/pulls/3/reviews?per_page=2&page=2>; rel="next"'}
    exchanges = [
        Exchange(f"{API}/pulls", [pr(1, "2025-05-01T10:00:00Z")], query={"page": "2"}),
        Exchange(
            f"{API}/pulls",
            [pr(3, "2025-05-03T10:00:00Z"), pr(2, "2025-05-02T10:00:00Z", login="carol")],
            headers=next_link(f"{API}/pulls", 2),
        ),
        Exchange(
            f"{API}/pulls/3/reviews",
            [
                {
                    "user": {"login": "dave"},
                    "body": "Ship it",
                    "state": "APPROVED",
                    "submitted_at": "2025-05-03T09:00:00Z",
                }
            ],
            query={"page": "2"},
        ),
        Exchange(
            f"{API}/pulls/3/reviews",
            [
                {
                    "user": {"login": "bob"},
                    "body": "Needs a test",
                    "state": "CHANGES_REQUESTED",
                    "submitted_at": "2025-05-02T09:00:00Z",
                }
            ],
            headers=review_page_2,
        ),
        Exchange(
            f"{API}/pulls/3/comments",
            [{"user": {"login": "erin"}, "path": "src/cache.py", "body": "Off by one here."}],
        ),
        *empty_reviews(1, 2),
        Exchange(
            f"{API}/issues",
            [as_issue(pr(3, "2025-05-03T10:00:00Z")), issue(10, "2025-05-04T10:00:00Z", 1)],
        ),
        Exchange(f"{API}/issues/10/comments", [{"user": {"login": "gina"}, "body": "Seen too."}]),
        Exchange(API, {"full_name": REPO, "private": True}),
        Exchange(f"{API}/collaborators", [{"login": "bob"}], query={"page": "2"}),
        Exchange(f"{API}/collaborators", [{"login": "alice"}], headers=next_link(f"{API}/collaborators", 2)),
    ]
    with ReplayServer(exchanges) as server:
        pages = list(connect(server, clock).pull(None))

    assert [len(p.docs) for p in pages] == [2, 1, 1]
    assert [p.cursor for p in pages[:2]] == [None, None]
    assert pages[-1].cursor == {
        "repos": {
            REPO: {
                "updated_at": "2025-05-03T10:00:00Z",
                "issues_updated_at": "2025-05-04T10:00:00Z",
            }
        }
    }
    docs = {d.native_id: d for p in pages for d in p.docs}
    assert all(p.failures == [] for p in pages)
    assert sorted(docs) == [
        "https://github.com/acme/widgets/issues/10",
        "https://github.com/acme/widgets/pull/1",
        "https://github.com/acme/widgets/pull/2",
        "https://github.com/acme/widgets/pull/3",
    ]
    three = docs["https://github.com/acme/widgets/pull/3"]
    assert three.text.splitlines()[-3:] == [
        "Review by bob (CHANGES_REQUESTED): Needs a test",
        "Review by dave (APPROVED): Ship it",
        "Comment by erin on src/cache.py: Off by one here.",
    ]
    assert three.people == ["alice", "bob", "dave", "erin"]
    assert three.meta["approved"] == "true" and three.meta["merged"] == "false"
    assert [s["user"] for s in json.loads(three.meta["review_states"])] == ["bob", "dave"]
    assert readers_of(pages, three) == ["github:acme/widgets", "github-user:alice", "github-user:bob"]
    assert three.container == REPO
    assert docs["https://github.com/acme/widgets/pull/2"].meta["approved"] == "false"
    ten = docs["https://github.com/acme/widgets/issues/10"]
    assert ten.kind == "issue" and ten.people == ["frank", "gina"]
    assert ten.text.endswith("Comment by gina: Seen too.")

    listing = server.requests[0]
    assert listing.query == {
        "state": "all",
        "sort": "updated",
        "direction": "desc",
        "per_page": "2",
    }
    headers = {k.lower(): v for k, v in listing.headers.items()}
    assert headers["authorization"] == "Bearer t0ken"
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert paths(server).count(API) == 1 and paths(server).count(f"{API}/collaborators") == 2
    assert clock.slept == []


def test_a_token_that_may_not_list_collaborators_leaves_the_repository_group(clock: Clock):
    exchanges = [
        Exchange(f"{API}/pulls", [pr(1, "2025-05-01T10:00:00Z")]),
        *empty_reviews(1),
        Exchange(f"{API}/issues", []),
        Exchange(API, {"full_name": REPO, "private": True}),
        Exchange(f"{API}/collaborators", {"message": "Must have push access to view repository collaborators."},
                 status=403),
    ]
    with ReplayServer(exchanges) as server:
        pages = list(connect(server, clock).pull(None))
    (doc,) = [d for p in pages for d in p.docs]
    assert readers_of(pages, doc) == ["github:acme/widgets"] and all(p.failures == [] for p in pages)


def test_etag_304_on_second_run_yields_only_the_repositorys_readers(clock: Clock):
    tag_pulls, tag_issues = '"pulls-v1"', '"issues-v1"'
    exchanges = [
        Exchange(f"{API}/pulls", status=304, match_headers={"If-None-Match": tag_pulls}),
        Exchange(f"{API}/issues", status=304, match_headers={"If-None-Match": tag_issues}),
        Exchange(f"{API}/pulls", [pr(1, "2025-05-01T10:00:00Z")], headers={"ETag": tag_pulls}),
        Exchange(f"{API}/issues", [], headers={"ETag": tag_issues}),
        *empty_reviews(1),
        Exchange(API, {"private": False}),
    ]
    with ReplayServer(exchanges) as server:
        connector = connect(server, clock)
        first = list(connector.pull(None))
        cursor = first[-1].cursor
        assert len(first[-1].docs) == 1
        assert sorted(cursor["repos"][REPO]["etags"].values()) == [tag_issues, tag_pulls]
        before = len(server.requests)
        second = list(connector.pull(json.loads(json.dumps(cursor))))

    assert [(p.docs, p.cursor, p.containers) for p in second] == [([], None, {repo_ref(REPO): ["*"]})]
    sent = server.requests[before:]
    assert [r.path for r in sent] == [f"{API}/pulls", f"{API}/issues", API]
    tags = [{k.lower(): v for k, v in r.headers.items()}.get("if-none-match") for r in sent]
    assert tags == [tag_pulls, tag_issues, None]
    assert "If-None-Match" not in server.requests[0].headers


def test_incremental_pull_stops_at_cursor_and_sends_since(clock: Clock):
    mark = "2025-05-02T00:00:00Z"
    cursor = {"repos": {REPO: {"updated_at": mark, "issues_updated_at": mark}}}
    exchanges = [
        Exchange(f"{API}/pulls", [pr(1, "2025-04-01T10:00:00Z")], query={"page": "2"}),
        Exchange(
            f"{API}/pulls",
            [pr(3, "2025-05-03T10:00:00Z"), pr(2, "2025-05-01T10:00:00Z")],
            headers=next_link(f"{API}/pulls", 2),
        ),
        *empty_reviews(3),
        Exchange(
            f"{API}/issues",
            [issue(11, "2025-05-04T10:00:00Z"), issue(9, mark)],
            query={"since": mark},
        ),
        Exchange(API, {"private": False}),
    ]
    with ReplayServer(exchanges) as server:
        pages = list(connect(server, clock).pull(cursor))

    docs = [d.native_id for p in pages for d in p.docs]
    assert docs == [
        "https://github.com/acme/widgets/pull/3",
        "https://github.com/acme/widgets/issues/11",
    ]
    assert pages[-1].cursor["repos"][REPO] == {
        "updated_at": "2025-05-03T10:00:00Z",
        "issues_updated_at": "2025-05-04T10:00:00Z",
    }
    asked = paths(server)
    assert asked.count(f"{API}/pulls") == 1
    assert f"{API}/pulls/2/reviews" not in asked
    assert f"{API}/issues/11/comments" not in asked
    issues_request = next(r for r in server.requests if r.path == f"{API}/issues")
    assert issues_request.query["since"] == mark


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1030"}, 30.0),
        (429, {"Retry-After": "7"}, 7.0),
        (403, {"Retry-After": "61"}, 61.0),
        (502, {}, 1.0),
    ],
)
def test_rate_limits_and_server_errors_are_waited_out(clock: Clock, status, headers, wait):
    body = {"message": "You have exceeded a secondary rate limit."} if status == 403 else None
    exchanges = [
        Exchange(f"{API}/pulls", body, status=status, headers=headers, times=1),
        Exchange(f"{API}/pulls", [pr(1, "2025-05-01T10:00:00Z")]),
        *empty_reviews(1),
        Exchange(f"{API}/issues", []),
        Exchange(API, {"private": False}),
    ]
    with ReplayServer(exchanges) as server:
        docs = [d for p in connect(server, clock).pull(None) for d in p.docs]

    assert [d.meta["number"] for d in docs] == ["1"]
    assert clock.slept == [wait]
    assert paths(server)[:2] == [f"{API}/pulls", f"{API}/pulls"]


def test_retries_run_out_as_transient_error(clock: Clock):
    exchanges = [Exchange(f"{API}/pulls", {"message": "boom"}, status=503)]
    with ReplayServer(exchanges) as server, pytest.raises(TransientError, match="HTTP 503"):
        list(connect(server, clock, max_retries=2).pull(None))
    assert clock.slept == [1.0, 2.0]
    assert len(server.requests) == 3


def test_bad_credentials_are_terminal(clock: Clock):
    exchanges = [Exchange(f"{API}/pulls", {"message": "Bad credentials"}, status=401)]
    with ReplayServer(exchanges) as server, pytest.raises(TerminalError, match="401"):
        list(connect(server, clock).pull(None))
    assert len(server.requests) == 1 and clock.slept == []


def test_forbidden_without_rate_limit_is_terminal(clock: Clock):
    body = {"message": "Resource not accessible by personal access token"}
    exchanges = [Exchange(f"{API}/pulls", body, status=403)]
    with ReplayServer(exchanges) as server, pytest.raises(TerminalError, match="not accessible"):
        list(connect(server, clock).pull(None))
    assert clock.slept == []


def test_unreadable_pull_request_becomes_failure(clock: Clock):
    exchanges = [
        Exchange(f"{API}/pulls", [pr(2, "2025-05-02T10:00:00Z"), pr(1, "2025-05-01T10:00:00Z")]),
        Exchange(f"{API}/pulls/2/reviews", {"message": "Not Found"}, status=404),
        *empty_reviews(1),
        Exchange(f"{API}/issues", {"message": "Issues are disabled for this repo"}, status=410),
        Exchange(API, {"private": False}),
    ]
    with ReplayServer(exchanges) as server:
        pages = list(connect(server, clock).pull(None))

    assert [d.meta["number"] for p in pages for d in p.docs] == ["1"]
    failures = [f for p in pages for f in p.failures]
    assert [f.native_id for f in failures] == ["https://github.com/acme/widgets/pull/2"]
    assert "404" in failures[0].reason and "Not Found" in failures[0].reason
    assert pages[-1].cursor["repos"][REPO] == {"updated_at": "2025-05-02T10:00:00Z"}


def test_list_ids_detects_a_removed_pull_request(clock: Clock):
    def serve(pulls_page_2: list[dict]) -> list[Exchange]:
        return [
            Exchange(f"{API}/pulls", pulls_page_2, query={"page": "2"}),
            Exchange(
                f"{API}/pulls",
                [pr(4, "2025-05-04T10:00:00Z"), pr(3, "2025-05-03T10:00:00Z")],
                headers=next_link(f"{API}/pulls", 2),
            ),
            Exchange(
                f"{API}/issues", [as_issue(pr(4, "2025-05-04T10:00:00Z")), issue(10, "2025-05-01")]
            ),
        ]

    with ReplayServer(serve([pr(2, "2025-05-02T10:00:00Z")])) as server:
        before = set(connect(server, clock).list_ids())
    with ReplayServer(serve([])) as server:
        after = set(connect(server, clock).list_ids())

    assert before == {
        "https://github.com/acme/widgets/pull/4",
        "https://github.com/acme/widgets/pull/3",
        "https://github.com/acme/widgets/pull/2",
        "https://github.com/acme/widgets/issues/10",
    }
    assert before - after == {"https://github.com/acme/widgets/pull/2"}
    assert not any("/reviews" in p or "/comments" in p for p in paths(server))


def test_given_client_is_used(clock: Clock):
    exchanges = [Exchange(f"{API}/pulls", []), Exchange(f"{API}/issues", [])]
    with ReplayServer(exchanges) as server, httpx.Client(headers={"X-Probe": "1"}) as client:
        assert not [d for p in connect(server, clock, client=client).pull(None) for d in p.docs]
    assert server.requests[0].headers.get("X-Probe") == "1"


@pytest.mark.integration
@pytest.mark.skipif(not os.environ.get("GITHUB_TOKEN"), reason="GITHUB_TOKEN not set")
def test_live_github_first_page():
    connector = GitHubApiConnector(
        ["octocat/Hello-World"], token=os.environ["GITHUB_TOKEN"], per_page=3
    )
    try:
        pages = [next(iter(connector.pull(None)))]
    finally:
        connector.close()
    assert pages[0].docs and pages[0].cursor is None
    doc = pages[0].docs[0]
    assert doc.url.startswith("https://github.com/octocat/Hello-World/pull/")
    assert doc.author and "review_states" in doc.meta
