"""GitHub pull requests and issues as SourceDocs, and a connector over a folder of API responses.

The folder holds GitHub REST API responses as files: `repos/<owner>/<repo>/pulls.json`
(GET /repos/{o}/{r}/pulls?state=all), `pulls/<n>/reviews.json`, and, when present,
`pulls/<n>/comments.json` (review comments), `issues.json`, `issues/<n>/comments.json` and
`repo.json` (GET /repos/{o}/{r}, whose `private` flag says who may read) and
`collaborators.json` (GET /repos/{o}/{r}/collaborators). Documents carry their repository's
container ref; its readers are read again on every pull.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.dates import parse_datetime
from connectors.records import (
    UNRESOLVED,
    Failure,
    IncompleteListing,
    Page,
    SourceDoc,
    TerminalError,
    container_ref,
    doc_id,
    guarded,
)

SOURCE = "github"
MAX_BYTES = 64 * 1024 * 1024
ITEM_ERRORS = (KeyError, TypeError, ValueError, AttributeError, ValidationError)


def repo_readers(repo: str, private: bool | None, collaborators: Sequence[str] = ()) -> list[str]:
    """Who may read a repository now: everyone; for a private repository, its group
    `github:owner/repo` and each collaborator as `github-user:login`; nobody but the trusted
    caller (`UNRESOLVED`) when its visibility could not be read (`private` None)."""
    if private is None:
        return [UNRESOLVED]
    if not private:
        return ["*"]
    return [f"github:{repo}", *sorted({f"github-user:{login}" for login in collaborators})]


def repo_ref(repo: str) -> str:
    """The ACL of every document of a repository: its container ref, which resolves at
    query time to the readers the latest sync found (`repo_readers`)."""
    return container_ref(SOURCE, repo)


def unreadable_visibility(repo: str, why: str, input: str = "") -> Failure:
    """The failure that says why a repository's documents are readable by nobody."""
    reason = f"visibility unreadable ({why}): its documents are readable by nobody until it is"
    return Failure(source=SOURCE, native_id=repo, reason=reason, input=input)


def parse_time(value: Any) -> datetime | None:
    """A GitHub timestamp ("2025-04-04T01:27:00Z") as a datetime; None stays None, anything
    else that is no date is a ValueError (a bad record)."""
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"bad timestamp {value!r}")
    return parsed


def login_of(record: dict[str, Any]) -> str | None:
    """The login of the user who wrote a record; None for a missing (deleted) user."""
    user = record.get("user")
    return user.get("login") if isinstance(user, dict) else None


def label_names(item: dict[str, Any]) -> list[str]:
    """Label names of an issue or pull request (label objects or plain strings)."""
    return [
        label["name"] if isinstance(label, dict) else str(label)
        for label in item.get("labels") or []
    ]


def unique(values: list[str | None]) -> list[str]:
    """The non-empty values in first-seen order, each once."""
    return list(dict.fromkeys(v for v in values if v))


def compose_text(title: str, body: str | None, lines: list[str]) -> str:
    """Title, body and activity lines as one text, blank-line separated."""
    return "\n\n".join(part for part in (title, (body or "").strip(), "\n".join(lines)) if part)


def say(prefix: str, body: str | None) -> str:
    """One activity line: the prefix, then the body after a colon when there is one."""
    body = (body or "").strip()
    return f"{prefix}: {body}" if body else prefix


def build_pull_request_doc(
    pr: dict[str, Any],
    reviews: list[dict[str, Any]],
    comments: list[dict[str, Any]],
    repo: str,
) -> SourceDoc:
    """One pull request with its reviews and review comments folded in; readable by the
    repository's readers."""
    url = pr["html_url"]
    lines = [
        say(f"Review by {login_of(r) or 'ghost'} ({r.get('state') or 'UNKNOWN'})", r.get("body"))
        for r in reviews
    ]
    lines += [
        say(f"Comment by {login_of(c) or 'ghost'} on {c.get('path') or 'the diff'}", c.get("body"))
        for c in comments
    ]
    author = login_of(pr)
    review_states = [
        {"user": login_of(r), "state": r.get("state"), "submitted_at": r.get("submitted_at")}
        for r in reviews
    ]
    merged_at = pr.get("merged_at")
    meta = {
        "repo": repo,
        "number": str(pr["number"]),
        "state": str(pr.get("state") or ""),
        "merged": "true" if pr.get("merged", merged_at is not None) else "false",
        "review_states": json.dumps(review_states),
        "approved": "true" if any(r.get("state") == "APPROVED" for r in reviews) else "false",
    }
    if merged_at:
        meta["merged_at"] = merged_at
    if pr.get("closed_at"):
        meta["closed_at"] = pr["closed_at"]
    if labels := label_names(pr):
        meta["labels"] = json.dumps(labels)
    title = pr.get("title") or ""
    return SourceDoc(
        id=doc_id(SOURCE, url),
        source=SOURCE,
        native_id=url,
        kind="pull_request",
        title=title,
        text=compose_text(title, pr.get("body"), lines),
        url=url,
        author=author,
        people=unique([author, *map(login_of, reviews), *map(login_of, comments)]),
        created_at=parse_time(pr.get("created_at")),
        updated_at=parse_time(pr.get("updated_at")),
        container=repo,
        acl=[repo_ref(repo)],
        meta=meta,
    )


def build_issue_doc(issue: dict[str, Any], comments: list[dict[str, Any]], repo: str) -> SourceDoc:
    """One issue with its comments folded in; readable by the repository's readers."""
    url = issue["html_url"]
    lines = [say(f"Comment by {login_of(c) or 'ghost'}", c.get("body")) for c in comments]
    author = login_of(issue)
    meta = {"repo": repo, "number": str(issue["number"]), "state": str(issue.get("state") or "")}
    if issue.get("closed_at"):
        meta["closed_at"] = issue["closed_at"]
    if labels := label_names(issue):
        meta["labels"] = json.dumps(labels)
    title = issue.get("title") or ""
    return SourceDoc(
        id=doc_id(SOURCE, url),
        source=SOURCE,
        native_id=url,
        kind="issue",
        title=title,
        text=compose_text(title, issue.get("body"), lines),
        url=url,
        author=author,
        people=unique([author, *map(login_of, comments)]),
        created_at=parse_time(issue.get("created_at")),
        updated_at=parse_time(issue.get("updated_at")),
        container=repo,
        acl=[repo_ref(repo)],
        meta=meta,
    )


class GitHubDirConnector:
    """Pull requests and issues from a folder of saved GitHub API responses.

    Cursor: {"files": {relative path: "<mtime_ns>:<size>"}}; a repository is read again
    only when one of its files changed, appeared or went away. One page per repository;
    the failures of a repository's files clear when it is read again without them.
    """

    source = SOURCE

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES):
        self.root = Path(path)
        self.max_bytes = max_bytes

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the repositories whose files changed since `cursor`."""
        files = dict((cursor or {}).get("files", {}))
        seen: set[str] = set()
        for repo_dir in self._repo_dirs():
            prefix = repo_dir.relative_to(self.root).as_posix() + "/"
            seen.add(prefix)
            now = self._signatures(repo_dir)
            before = {k: v for k, v in files.items() if k.startswith(prefix)}
            readers, trouble = self._readers(repo_dir)
            containers = {repo_ref(self._repo_name(repo_dir)): readers}
            if now == before:
                yield Page(containers=containers)
                continue
            read = guarded(lambda d=repo_dir: self._read_repo(d), SOURCE, prefix)
            docs, failures = ([], [read]) if isinstance(read, Failure) else read
            failures = [f.model_copy(update={"input": prefix}) for f in [*trouble, *failures]]
            for key in before:
                del files[key]
            files.update(now)
            yield Page(
                docs=docs, failures=failures, cursor={"files": dict(files)}, finished=[prefix],
                containers=containers,
            )
        gone = [k for k in files if "/".join(k.split("/")[:3]) + "/" not in seen]
        if gone:
            for key in gone:
                del files[key]
            prefixes = sorted({"/".join(k.split("/")[:3]) + "/" for k in gone})
            yield Page(cursor={"files": dict(files)}, finished=prefixes)

    def list_ids(self) -> Iterator[str]:
        """The html_url of every pull request and issue; IncompleteListing if a listing is unreadable."""
        for repo_dir in self._repo_dirs():
            for name in ("pulls.json", "issues.json"):
                items, failure = self._load(repo_dir / name)
                if failure is not None:
                    raise IncompleteListing(f"{failure.native_id}: {failure.reason}")
                for item in items or []:
                    if not isinstance(item, dict) or not item.get("html_url"):
                        continue
                    if name == "pulls.json" or "pull_request" not in item:
                        yield item["html_url"]

    def _repo_dirs(self) -> list[Path]:
        repos = self.root / "repos"
        if not repos.is_dir():
            raise TerminalError(f"{self.root} has no repos/ folder: not a GitHub API export")
        return [
            repo
            for owner in sorted(repos.iterdir())
            if owner.is_dir()
            for repo in sorted(owner.iterdir())
            if repo.is_dir()
        ]

    def _signatures(self, repo_dir: Path) -> dict[str, str]:
        out = {}
        for path in sorted(repo_dir.rglob("*.json")):
            stat = path.stat()
            out[path.relative_to(self.root).as_posix()] = f"{stat.st_mtime_ns}:{stat.st_size}"
        return out

    def _load(self, path: Path) -> tuple[list[Any] | dict[str, Any] | None, Failure | None]:
        """A JSON file's value, or a Failure naming the file; (None, None) when it is absent."""
        if not path.exists():
            return None, None
        rel = path.relative_to(self.root).as_posix()
        try:
            if path.stat().st_size > self.max_bytes:
                reason = f"file is larger than the limit of {self.max_bytes} bytes"
                return None, Failure(source=SOURCE, native_id=rel, reason=reason)
            value = json.loads(path.read_text(encoding="utf-8"))
        except RecursionError:
            return None, Failure(source=SOURCE, native_id=rel, reason="JSON nested too deeply")
        except json.JSONDecodeError as exc:
            reason = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            return None, Failure(source=SOURCE, native_id=rel, reason=reason)
        except (OSError, UnicodeDecodeError) as exc:
            return None, Failure(source=SOURCE, native_id=rel, reason=f"unreadable: {exc}")
        expected = dict if path.name == "repo.json" else list
        if not isinstance(value, expected):
            reason = f"expected a JSON {'object' if expected is dict else 'array'}"
            return None, Failure(source=SOURCE, native_id=rel, reason=reason)
        return value, None

    @staticmethod
    def _repo_name(repo_dir: Path) -> str:
        return f"{repo_dir.parent.name}/{repo_dir.name}"

    def _readers(self, repo_dir: Path) -> tuple[list[str], list[Failure]]:
        """Who may read a repository now, read on every pull: `repo.json`'s `private` flag
        (no file: public) and, for a private one, `collaborators.json` (GET
        /repos/{o}/{r}/collaborators) when present. An unreadable `repo.json`, or one without
        the flag, fails closed with a Failure saying why."""
        repo = self._repo_name(repo_dir)
        info, failure = self._load(repo_dir / "repo.json")
        if failure is not None:
            return repo_readers(repo, None), [unreadable_visibility(repo, failure.reason)]
        if info is None:
            return repo_readers(repo, False), []
        if not isinstance(info.get("private"), bool):
            return repo_readers(repo, None), [unreadable_visibility(repo, "no private flag")]
        if not info["private"]:
            return repo_readers(repo, False), []
        people, failure = self._load(repo_dir / "collaborators.json")
        logins = [p["login"] for p in people or [] if isinstance(p, dict) and p.get("login")]
        return repo_readers(repo, True, logins), [failure] if failure else []

    def _read_repo(self, repo_dir: Path) -> tuple[list[SourceDoc], list[Failure]]:
        """Documents of one repository folder, and Failures for what could not be read."""
        repo = self._repo_name(repo_dir)
        failures: list[Failure] = []

        def load(path: Path) -> Any:
            value, failure = self._load(path)
            if failure:
                failures.append(failure)
            return value

        docs: list[SourceDoc] = []
        for kind in ("pulls", "issues"):
            listing = repo_dir / f"{kind}.json"
            for i, item in enumerate(load(listing) or []):
                if kind == "issues" and isinstance(item, dict) and "pull_request" in item:
                    continue
                try:
                    folder = repo_dir / kind / str(item["number"])
                    comments = load(folder / "comments.json") or []
                    if kind == "pulls":
                        reviews = load(folder / "reviews.json") or []
                        docs.append(build_pull_request_doc(item, reviews, comments, repo))
                    else:
                        docs.append(build_issue_doc(item, comments, repo))
                except ITEM_ERRORS as exc:
                    url = item.get("html_url") if isinstance(item, dict) else None
                    where = f"{listing.relative_to(self.root).as_posix()}[{i}]"
                    reason = f"bad {kind[:-1]} record: {type(exc).__name__}: {exc}"
                    failures.append(Failure(source=SOURCE, native_id=url or where, reason=reason))
        return docs, failures
