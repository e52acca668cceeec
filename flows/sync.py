"""Sync one connector into the store: pull, parse, diff, chunk, embed, write, commit."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.records import Connector, Failure, IncompleteListing, Page, SourceDoc, is_utf8
from index.catalog import Catalog
from transforms.engine import Engine

if TYPE_CHECKING:
    from index.lance import LanceStore


@dataclass
class SyncReport:
    """What one sync of one source did."""

    source: str
    pages: int = 0
    docs_seen: int = 0
    docs_changed: int = 0
    docs_deleted: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    groups_repaired: int = 0
    failures: int = 0
    failure_reasons: list[str] = field(default_factory=list)
    deletions_skipped: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Batch:
    """Pages pulled but not yet committed."""

    docs: dict[str, SourceDoc] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    finished: list[str] = field(default_factory=list)
    containers: dict[str, list[str]] = field(default_factory=dict)

    def add(self, page: Page, docs: Sequence[SourceDoc], failures: Sequence[Failure]) -> None:
        self.docs.update((d.id, d) for d in docs)
        self.failures.extend([*page.failures, *failures])
        self.finished.extend(page.finished)
        self.containers.update(page.containers)
        if page.cursor is not None:
            self.cursor = page.cursor


WHOLE_SOURCE = "(whole source)"


class SourceSync:
    """Brings the store up to date with one connector.

    Documents are committed in batches of about `batch_docs`. The groups a batch rewrites
    are first marked pending in the catalog; their new chunks go into LanceDB before the
    stale ones leave; then documents, failures, container readers and the cursor are
    committed to the catalog in one transaction that clears the mark. A sync starts by
    rebuilding from the catalog every group still marked (a stop mid-write) or without
    chunks, so a crash anywhere leaves old or new content, and the next sync the content
    of a clean ingest; re-writing a batch is idempotent.
    """

    def __init__(
        self,
        name: str,
        connector: Connector,
        catalog: Catalog,
        store: LanceStore,
        engine: Engine,
        run_id: str,
        batch_docs: int = 512,
        track_deletions: bool = True,
        progress: Callable[[SyncReport, int, dict[str, Any] | None], None] | None = None,
    ):
        self.name = name
        self.connector = connector
        self.catalog = catalog
        self.store = store
        self.engine = engine
        self.run_id = run_id
        self.batch_docs = batch_docs
        self.track_deletions = track_deletions
        self.progress = progress
        self.report = SyncReport(source=name)

    def run(self) -> SyncReport:
        """Repair what a stopped sync left, pull everything new since the saved cursor, then
        remove what the source dropped.

        `progress` gets the report, the items read so far and the page's cursor after each page.
        """
        start = time.perf_counter()
        self.repair()
        batch = Batch()
        read = 0
        for page in self.connector.pull(self.catalog.cursor(self.name)):
            self.report.pages += 1
            read += len(page.docs) + len(page.failures)
            docs, failures = self.engine.parse(page.docs)
            batch.add(page, docs, failures)
            if len(batch.docs) >= self.batch_docs:
                self.flush(batch)
                batch = Batch()
            if self.progress is not None:
                self.progress(self.report, read, page.cursor)
        self.flush(batch)
        if self.track_deletions:
            self.remove_deleted()
        self.catalog.commit(self.name, self.run_id, finished=[WHOLE_SOURCE])
        self.report.seconds = time.perf_counter() - start
        return self.report

    def repair(self) -> None:
        """Rebuild from the catalog the groups a stopped sync was rewriting, and those whose
        documents hold text but which have no chunks.

        Looking for groups without chunks reads every chunk's group; it is skipped when the
        chunk table is still at the version where a run last found none missing (nothing
        has written it since: no crash, no hand edit)."""
        groups = self.catalog.pending_groups(self.name)
        if self.catalog.chunks_verified() != self.store.version:
            groups |= self.catalog.text_groups(self.name) - self.store.group_ids()
        if groups:
            self.rebuild(groups, (), ())
            self.catalog.commit(self.name, self.run_id, groups=groups)
            self.report.groups_repaired += len(groups)

    def flush(self, batch: Batch) -> None:
        """Index a batch's changed documents and commit it with its cursor."""
        docs, failures = storable(batch.docs.values())
        failures = [*batch.failures, *failures]
        self.report.docs_seen += len(docs)
        self.report.failures += len(failures)
        self.report.failure_reasons.extend(
            f"{f.native_id}: {f.reason}" for f in failures[: max(0, 20 - len(self.report.failure_reasons))]
        )
        stored = self.catalog.hashes([d.id for d in docs])
        changed = [d for d in docs if stored.get(d.id) != d.content_hash]
        groups: set[str] = set()
        if changed:
            groups = {d.group for d in changed} | set(self.catalog.groups_of(d.id for d in changed).values())
            self.rebuild(groups, changed, ())
        self.store.set_containers(batch.containers)
        self.catalog.commit(
            self.name, self.run_id, changed, failures, cursor=batch.cursor,
            finished=batch.finished, containers=batch.containers, groups=groups,
        )
        self.report.docs_changed += len(changed)

    def remove_deleted(self) -> None:
        """Delete from the store the documents the source no longer lists.

        When the source cannot be listed in full, nothing is deleted this run.
        """
        try:
            present = set(self.connector.list_ids())
        except IncompleteListing as exc:
            self.report.deletions_skipped = str(exc)
            return
        known = self.catalog.native_ids(self.name)
        gone = [doc_id for native, doc_id in known.items() if native not in present]
        for start in range(0, len(gone), self.batch_docs):
            ids = gone[start : start + self.batch_docs]
            groups = set(self.catalog.groups_of(ids).values())
            self.rebuild(groups, (), ids)
            self.catalog.commit(self.name, self.run_id, deleted_ids=ids, groups=groups)
            self.report.docs_deleted += len(ids)

    def rebuild(
        self, groups: Iterable[str], changed: Sequence[SourceDoc], removed: Sequence[str]
    ) -> None:
        """Re-chunk whole groups from the catalog plus `changed` minus `removed`, marked
        pending until the caller commits.

        Chunks that already exist keep their stored vectors; only new chunks are embedded.
        """
        groups = set(groups)
        self.catalog.mark_pending(self.name, self.run_id, groups)
        current = {d.id: d for d in self.catalog.group_docs(groups)}
        current.update((d.id, d) for d in changed)
        for doc_id in removed:
            current.pop(doc_id, None)
        members: dict[str, list[SourceDoc]] = defaultdict(list)
        for doc in current.values():
            if doc.group in groups:
                members[doc.group].append(doc)
        chunks = self.engine.chunk(list(members.values()))
        existing = self.store.existing_ids([c.id for c in chunks])
        fresh = self.engine.embed([c for c in chunks if c.id not in existing])
        self.store.replace_groups(groups, existing, fresh)
        self.report.chunks_written += len(chunks)
        self.report.chunks_embedded += len(fresh)


def storable(docs: Iterable[SourceDoc]) -> tuple[list[SourceDoc], list[Failure]]:
    """The documents the catalog can hold, and a Failure for each one holding text that is
    not valid UTF-8 (an undecodable file name, a broken byte in a message)."""
    good, bad = [], []
    for doc in docs:
        fields = [k for k, v in doc.model_dump(mode="json").items() if not is_utf8(v)]
        if not fields:
            good.append(doc)
            continue
        reason = f"{', '.join(fields)} not valid UTF-8"
        bad.append(Failure(source=doc.source, native_id=doc.native_id, reason=reason))
    return good, bad

