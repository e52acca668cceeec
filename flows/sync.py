"""Sync one connector into the store: pull, parse, diff, chunk, embed, write, commit."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.records import Connector, Failure, IncompleteListing, SourceDoc
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


class SourceSync:
    """Brings the store up to date with one connector.

    Documents are committed in batches of about `batch_docs`; a batch's chunks are written
    to LanceDB before its documents, failures and cursor are committed to the catalog in one
    transaction, so a crash resumes from the last committed cursor and re-writing a batch is
    idempotent.
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
        """Pull everything new since the saved cursor, then remove what the source dropped.

        `progress` gets the report, the items read so far and the page's cursor after each page.
        """
        start = time.perf_counter()
        batch = Batch()
        read = 0
        for page in self.connector.pull(self.catalog.cursor(self.name)):
            self.report.pages += 1
            read += len(page.docs) + len(page.failures)
            docs, failures = self.engine.parse(page.docs)
            batch.docs.update((d.id, d) for d in docs)
            batch.failures.extend([*page.failures, *failures])
            if page.cursor is not None:
                batch.cursor = page.cursor
            if len(batch.docs) >= self.batch_docs:
                self.flush(batch)
                batch = Batch()
            if self.progress is not None:
                self.progress(self.report, read, page.cursor)
        self.flush(batch)
        if self.track_deletions:
            self.remove_deleted()
        self.report.seconds = time.perf_counter() - start
        return self.report

    def flush(self, batch: Batch) -> None:
        """Index a batch's changed documents and commit it with its cursor."""
        docs = list(batch.docs.values())
        self.report.docs_seen += len(docs)
        self.report.failures += len(batch.failures)
        self.report.failure_reasons.extend(
            f"{f.native_id}: {f.reason}" for f in batch.failures[:20]
        )
        stored = self.catalog.hashes([d.id for d in docs])
        changed = [d for d in docs if stored.get(d.id) != d.content_hash]
        if changed:
            moved_from = self.catalog.groups_of(d.id for d in changed).values()
            self.rebuild({d.group for d in changed} | set(moved_from), changed, ())
        self.catalog.commit(
            self.name, self.run_id, changed, batch.failures, cursor=batch.cursor
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
            self.catalog.commit(self.name, self.run_id, deleted_ids=ids)
            self.report.docs_deleted += len(ids)

    def rebuild(
        self, groups: Iterable[str], changed: Sequence[SourceDoc], removed: Sequence[str]
    ) -> None:
        """Re-chunk whole groups from the catalog plus `changed` minus `removed`.

        Chunks that already exist keep their stored vectors; only new chunks are embedded.
        """
        groups = set(groups)
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
