"""The store as the HTTP API sees it: private snapshots of the catalog that never lock the
live one, and per-caller views in which only the documents the caller may read exist.

DuckDB lets one process write a database file and refuses other opens while it does; a
reader's lock in turn keeps the writer out. The API therefore never opens the live catalog.
It copies the file (and its write-ahead log) when their size or modification time change and
stay unchanged while copying, replays the copy in private and serves from it. Ingest keeps
its lock for as long as it likes; the API keeps serving the last good copy meanwhile.

Each caller's answerer runs over a `qa.permitted` view of the snapshot: only what the
caller may read exists in it.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from index.lance import TABLE, LanceStore
from index.records import Hit, Query
from qa.agent import Answerer
from qa.permitted import PermittedCatalog, PermittedStore
from qa.serve.auth import file_signature

log = logging.getLogger("quarry.api")


@dataclass
class Snapshot:
    """One private, consistent copy of the catalog."""

    path: Path
    version: int
    signature: tuple
    db: duckdb.DuckDBPyConnection = field(repr=False)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts, on a cursor of its own (safe across threads)."""
        cursor = self.db.cursor()
        try:
            result = cursor.execute(sql, list(params))
            names = [d[0] for d in result.description]
            return [dict(zip(names, row)) for row in result.fetchall()]
        finally:
            cursor.close()


class CatalogSnapshots:
    """Private read-only copies of the live catalog at `live`, made in `work_dir`."""

    def __init__(self, live: Path, work_dir: Path, refresh_s: float = 2.0):
        self.live = Path(live)
        self.work_dir = Path(work_dir)
        self.refresh_s = refresh_s
        self._snapshot: Snapshot | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._versions = 0
        self._retired: Path | None = None

    def current(self) -> Snapshot | None:
        """The newest good snapshot (None before the first one), refreshed when due."""
        now = time.monotonic()
        due = now - self._checked >= self.refresh_s
        if due and self._lock.acquire(blocking=self._snapshot is None):
            try:
                self._checked = now
                self._refresh()
            finally:
                self._lock.release()
        return self._snapshot

    def _refresh(self) -> None:
        signature = file_signature(self.live)
        old = self._snapshot
        if signature is None or (old is not None and old.signature == signature):
            return
        self._versions += 1
        target = self.work_dir / f"catalog-{self._versions}.duckdb"
        wal = self.live.with_name(self.live.name + ".wal")
        try:
            shutil.copyfile(self.live, target)
            if wal.exists():
                shutil.copyfile(wal, target.with_name(target.name + ".wal"))
            if file_signature(self.live) != signature:
                raise OSError("the catalog changed while it was copied")
            private = duckdb.connect(str(target))
            private.execute("CHECKPOINT")
            private.close()
            db = duckdb.connect(str(target), read_only=True)
            db.execute("SET TimeZone = 'UTC'")
        except (OSError, duckdb.Error) as exc:
            log.warning("catalog snapshot skipped", extra={"fields": {"reason": str(exc)}})
            remove_snapshot(target)
            return
        self._snapshot = Snapshot(target, self._versions, signature, db)
        if self._retired is not None:
            remove_snapshot(self._retired)
        self._retired = old.path if old is not None else None

    def close(self) -> None:
        if self._snapshot is not None:
            self._snapshot.db.close()
            remove_snapshot(self._snapshot.path)
            self._snapshot = None


def remove_snapshot(path: Path) -> None:
    """Unlink a snapshot file; the one before the newest is kept a while for requests that
    started on it, and open handles keep reading an unlinked file until they close."""
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


class SerialEmbedder:
    """An embedder shared by request threads, one encode at a time."""

    def __init__(self, embedder: Any):
        self.embedder = embedder
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return self.embedder.encode(texts)


class GatedStore:
    """A chunk store that runs at most as many searches at once as its gate admits: more
    would only share the same cores while each holds its candidates in memory."""

    def __init__(self, store: LanceStore, gate: threading.BoundedSemaphore):
        self.store = store
        self.gate = gate

    def search(self, query: Query, vector: np.ndarray | None = None) -> list[Hit]:
        with self.gate:
            return self.store.search(query, vector)


def open_chunks(uri: str) -> LanceStore | None:
    """The chunk store at `uri`, or None when it holds no chunk table yet (never creates one)."""
    if not (Path(uri) / f"{TABLE}.lance").exists():
        return None
    return LanceStore(uri)


@dataclass
class Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answerer: Any = None


class AnswererPool:
    """Answerers per (snapshot, caller principals), least recently used dropped first;
    each is used by one request at a time; `agent` (LLM mode) wraps each one."""

    def __init__(
        self, lance_uri: str, embedder: Any = None, reasoner: Any = None, size: int = 16, searches: int = 4,
        agent: Callable[[Answerer], Any] | None = None,
    ):
        self.lance_uri = lance_uri
        self.agent = agent
        self.embedder = SerialEmbedder(embedder) if embedder is not None else None
        self.reasoner = reasoner
        self.size = size
        self._slots: OrderedDict[tuple, Slot] = OrderedDict()
        self._stores: dict[int, GatedStore | None] = {}
        self._gate = threading.BoundedSemaphore(searches)
        self._lock = threading.Lock()

    def chunks(self, snapshot: Snapshot) -> GatedStore | None:
        """The chunk store opened for a snapshot, so both show the same moment or later;
        every search through it, by any request, shares one gate."""
        with self._lock:
            if snapshot.version not in self._stores:
                store = open_chunks(self.lance_uri)
                self._stores = {snapshot.version: GatedStore(store, self._gate) if store else None}
            return self._stores[snapshot.version]

    @contextmanager
    def answerer(self, snapshot: Snapshot, principals: Sequence[str]) -> Iterator[Any]:
        """The caller's answerer, held for the duration of the block."""
        key = (snapshot.version, tuple(sorted(set(principals))))
        with self._lock:
            slot = self._slots.setdefault(key, Slot())
            self._slots.move_to_end(key)
            while len(self._slots) > self.size:
                self._slots.popitem(last=False)
        chunks = self.chunks(snapshot)
        with slot.lock:
            if slot.answerer is None:
                catalog = PermittedCatalog(snapshot.path, principals)
                store = PermittedStore(chunks, principals) if chunks is not None else None
                answerer = Answerer(catalog, store, self.embedder if store else None, self.reasoner)
                slot.answerer = self.agent(answerer) if self.agent else answerer
            yield slot.answerer
