"""Pull requests (with reviews and review comments) and issues (with comments) from the GitHub REST API."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from connectors.github import (
    ITEM_ERRORS,
    SOURCE,
    build_issue_doc,
    build_pull_request_doc,
    parse_time,
    repo_readers,
    repo_ref,
    unreadable_visibility,
)
from connectors.http import (
    HttpRejected,
    Retry,
    RetryingClient,
    link_pages,
    retry_after,
    server_trouble,
)
from connectors.records import Failure, Page, SourceDoc, TerminalError, TransientError

API_VERSION = "2022-11-28"
SECONDARY_LIMIT_WAIT = 60.0


class GitHubApiConnector:
    """Pull requests and issues of the given repositories ("owner/repo"), pulled incrementally.

    Cursor: {"repos": {"owner/repo": {"updated_at": iso, "issues_updated_at": iso,
    "etags": {first listing page URL: ETag}}}}. Pull requests newer than `updated_at` and
    issues newer than `issues_updated_at` are fetched again; a 304 on a listing's first page
    means nothing changed there. One page per listing page; a repository's cursor moves
    with its last page.
    """

    source = SOURCE

    def __init__(
        self,
        repos: list[str],
        token: str | None = None,
        base_url: str = "https://api.github.com",
        client: httpx.Client | None = None,
        max_retries: int = 5,
        per_page: int = 100,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ):
        self.repos = list(repos)
        self.token = token
        self.base_url = base_url.rstrip("/")
        client = client or httpx.Client(timeout=30.0, follow_redirects=True)
        self.http = RetryingClient(client, retries=max_retries, sleep=sleep)
        self.per_page = per_page
        self.now = now

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of pull requests and issues updated since `cursor`, repository by repository."""
        state = copy.deepcopy((cursor or {}).get("repos", {}))
        for repo in self.repos:
            before = state.get(repo, {})
            after: dict[str, Any] = {"etags": {}}
            pending: Page | None = None
            for page in self._repo_pages(repo, before, after):
                if pending is not None:
                    yield pending
                pending = page
            after = {k: v for k, v in after.items() if v}
            readers, trouble = self._readers(repo)
            last = pending or Page()
            moved = pending is not None or after != before
            if moved:
                state[repo] = after
            yield Page(
                docs=last.docs, failures=[*last.failures, *trouble],
                cursor={"repos": copy.deepcopy(state)} if moved else None,
                finished=[repo], containers={repo_ref(repo): readers},
            )

    def list_ids(self) -> Iterator[str]:
        """The html_url of every pull request and issue of the repositories (listings only)."""
        for repo in self.repos:
            for items in self._listing(f"/repos/{repo}/pulls", {"state": "all"}):
                yield from (pr["html_url"] for pr in items)
            for items in self._listing(f"/repos/{repo}/issues", {"state": "all"}):
                yield from (i["html_url"] for i in items if "pull_request" not in i)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def _repo_pages(
        self, repo: str, before: dict[str, Any], after: dict[str, Any]
    ) -> Iterator[Page]:
        """Pages of one repository; fills `after` with its next cursor state as it goes."""
        mark = before.get("updated_at")
        after["updated_at"] = mark
        params = {"state": "all", "sort": "updated", "direction": "desc"}
        for items in self._listing(f"/repos/{repo}/pulls", params, before, after):
            fresh = [pr for pr in items if newer(pr.get("updated_at"), mark)]
            after["updated_at"] = latest(
                after["updated_at"], *(pr.get("updated_at") for pr in fresh)
            )
            if fresh:
                yield self._pull_request_page(repo, fresh)
            if len(fresh) < len(items):
                break

        mark = before.get("issues_updated_at")
        after["issues_updated_at"] = mark
        params = {"state": "all", "sort": "updated", "direction": "desc"}
        if mark:
            params["since"] = mark
        for items in self._listing(f"/repos/{repo}/issues", params, before, after):
            fresh = [i for i in items if newer(i.get("updated_at"), mark)]
            after["issues_updated_at"] = latest(
                after["issues_updated_at"], *(i.get("updated_at") for i in fresh)
            )
            issues = [i for i in fresh if "pull_request" not in i]
            if issues:
                yield self._issue_page(repo, issues)

    def _pull_request_page(self, repo: str, prs: list[dict[str, Any]]) -> Page:
        docs: list[SourceDoc] = []
        failures: list[Failure] = []
        for pr in prs:
            try:
                base = f"{self.base_url}/repos/{repo}/pulls/{pr['number']}"
                reviews = self._get_all(f"{base}/reviews")
                comments = self._get_all(f"{base}/comments")
                docs.append(build_pull_request_doc(pr, reviews, comments, repo))
            except (HttpRejected, *ITEM_ERRORS) as exc:
                failures.append(item_failure(repo, pr, exc))
        return Page(docs=docs, failures=failures)

    def _issue_page(self, repo: str, issues: list[dict[str, Any]]) -> Page:
        docs: list[SourceDoc] = []
        failures: list[Failure] = []
        for issue in issues:
            try:
                url = f"{self.base_url}/repos/{repo}/issues/{issue['number']}/comments"
                comments = self._get_all(url) if issue.get("comments", 1) else []
                docs.append(build_issue_doc(issue, comments, repo))
            except (HttpRejected, *ITEM_ERRORS) as exc:
                failures.append(item_failure(repo, issue, exc))
        return Page(docs=docs, failures=failures)

    def _readers(self, repo: str) -> tuple[list[str], list[Failure]]:
        """Who may read a repository now, asked on every pull; a visibility that cannot be
        read (rejected, or no `private` flag) fails closed with a Failure saying why."""
        try:
            info = decode(self._fetch(f"{self.base_url}/repos/{repo}"))
        except HttpRejected as err:
            return repo_readers(repo, None), [unreadable_visibility(repo, str(err))]
        private = info.get("private") if isinstance(info, dict) else None
        if not isinstance(private, bool):
            return repo_readers(repo, None), [unreadable_visibility(repo, "no private flag")]
        if not private:
            return repo_readers(repo, False), []
        return repo_readers(repo, True, self._collaborators(repo)), []

    def _collaborators(self, repo: str) -> list[str]:
        """Logins of a private repository's collaborators; none when the token may not list
        them (GitHub asks for push access), which leaves the repository's group alone."""
        try:
            people = self._get_all(f"{self.base_url}/repos/{repo}/collaborators")
        except HttpRejected:
            return []
        return [p["login"] for p in people if isinstance(p, dict) and p.get("login")]

    def _listing(
        self,
        path: str,
        params: dict[str, str],
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a repository listing; a 304 on the first page (ETag in `before`) ends it.

        Issues disabled (410) is an empty listing; any other rejection is an HttpRejected.
        """
        first = str(httpx.URL(self.base_url + path, params={**params, "per_page": self.per_page}))
        etag = (before or {}).get("etags", {}).get(first)

        def get(url: str) -> httpx.Response:
            return self._fetch(url, etag if url == first else None, accept=(304, 410))

        for response in link_pages(get, first):
            if str(response.request.url) == first and after is not None:
                tag = etag if response.status_code == 304 else response.headers.get("etag")
                if tag:
                    after["etags"][first] = tag
            if response.status_code in (304, 410):
                return
            items = decode(response)
            if not isinstance(items, list):
                raise TerminalError(f"GET {response.request.url} did not answer a JSON array")
            yield items

    def _get_all(self, url: str) -> list[dict[str, Any]]:
        """Every item of a paginated list endpoint."""
        out: list[dict[str, Any]] = []
        first = str(httpx.URL(url, params={"per_page": self.per_page}))
        for response in link_pages(self._fetch, first):
            items = decode(response)
            if not isinstance(items, list):
                raise TransientError(f"GET {response.request.url} did not answer a JSON array")
            out.extend(items)
        return out

    def _fetch(
        self, url: str, etag: str | None = None, accept: tuple[int, ...] = ()
    ) -> httpx.Response:
        """GET through the retrying client, GitHub's rate limits waited out; 401 is terminal."""
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if etag:
            headers["If-None-Match"] = etag
        try:
            return self.http.get(url, headers=headers, accept=accept, retry_when=self._rate_limited)
        except HttpRejected as err:
            if err.status == 401:
                raise TerminalError(f"GitHub rejected the credentials (HTTP 401) for GET {url}") from err
            raise

    def _rate_limited(self, response: httpx.Response) -> Retry | None:
        """GitHub's retry rule: 5xx, and 403 / 429 rate limits after the wait they ask for
        (a secondary limit that names none: one minute)."""
        status = response.status_code
        if status not in (403, 429):
            return server_trouble(response)
        reason = f"HTTP {status}"
        headers = response.headers
        if (wait := retry_after(response)) is not None:
            return Retry(reason, wait)
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            return Retry(reason, max(float(headers["x-ratelimit-reset"]) - self.now(), 1.0))
        if status == 429 or "rate limit" in response.text.lower():
            return Retry(reason, SECONDARY_LIMIT_WAIT)
        return None


def newer(stamp: str | None, mark: str | None) -> bool:
    """Whether a timestamp is after the watermark (everything is, with no watermark)."""
    if mark is None or stamp is None:
        return True
    return parse_time(stamp) > parse_time(mark)


def latest(*stamps: str | None) -> str | None:
    """The latest of some timestamps, as given."""
    known = [s for s in stamps if s]
    return max(known, key=parse_time) if known else None


def decode(response: httpx.Response) -> Any:
    """The response body as JSON; a body that is not JSON is a TransientError."""
    try:
        return response.json()
    except ValueError as exc:
        url = response.request.url
        raise TransientError(f"GET {url} answered a body that is not JSON: {exc}") from exc


def item_failure(repo: str, item: Any, exc: Exception) -> Failure:
    """A Failure for an issue or pull request that could not be fetched or read."""
    native = item.get("html_url") if isinstance(item, dict) else None
    number = item.get("number") if isinstance(item, dict) else None
    reason = f"{type(exc).__name__}: {exc}"
    return Failure(source=SOURCE, native_id=native or f"{repo}#{number}", reason=reason)
