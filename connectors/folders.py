"""Folder ACL rules as containers: each glob rule of a source is a container whose readers
every pull refreshes, and a file that no rule matches is readable by nobody (fail closed)."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

from connectors.records import UNRESOLVED, Failure, Page, container_ref


class FolderRules:
    """The `acl_rules` of source `name`: fnmatch globs over relative paths (`*` also
    crosses folders) to the principals who may read matching files.

    A file's ACL is the container ref of the first rule it matches, so a change of a rule's
    readers reaches every file at the next pull with nothing re-read; a file that no rule
    matches (every file, when there are no rules) gets `UNRESOLVED` and a Failure saying so.
    """

    def __init__(self, name: str, rules: Mapping[str, Sequence[str]] | None) -> None:
        self.name = name
        self.rules = {pattern: sorted(set(readers)) for pattern, readers in (rules or {}).items()}

    def ref(self, pattern: str) -> str:
        """The container ref of a rule: `quarry:container/folder/<source name>/<pattern>`."""
        return container_ref("folder", f"{self.name}/{pattern}")

    def acl(self, relpath: str) -> list[str]:
        """The ACL of a file: its first matching rule's ref, or `UNRESOLVED`."""
        pattern = self.match(relpath)
        return [UNRESOLVED] if pattern is None else [self.ref(pattern)]

    def match(self, relpath: str) -> str | None:
        """The first rule's pattern that matches the relative path, None when none does."""
        return next((p for p in self.rules if fnmatch.fnmatchcase(relpath, p)), None)

    def mark(self, relpath: str) -> str:
        """What a file cursor keeps of the rule a file matched (a short hash of its pattern),
        so a file is read again when a changed rule set moves it to another rule."""
        pattern = self.match(relpath)
        if pattern is None:
            return "unmatched"
        return hashlib.sha1(pattern.encode()).hexdigest()[:12]

    def failures(self, source: str, relpath: str) -> list[Failure]:
        """The Failure of a file that no rule matches (none for one that a rule matches)."""
        if self.match(relpath) is not None:
            return []
        reason = f"no acl rule matches {relpath}: readable by nobody until one does"
        return [Failure(source=source, native_id=relpath, reason=reason)]

    def readers(self) -> dict[str, list[str]]:
        """The readers of every rule by container ref, for `Page.containers`."""
        return {self.ref(pattern): readers for pattern, readers in self.rules.items()}

    def with_readers(self, pages: Iterable[Page]) -> Iterator[Page]:
        """`pages`, the first carrying the readers of every rule (a page of its own when
        there are no others), so every pull refreshes them."""
        first = True
        for page in pages:
            yield page.model_copy(update={"containers": self.readers()}) if first else page
            first = False
        if first:
            yield Page(containers=self.readers())
