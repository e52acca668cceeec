"""One writer, many readers: the store's writer lock, and catalog handles that respect it.

DuckDB lets one process open a database file for writing and then refuses every other
process, readers included. So an ingest first takes the store's writer lock (a file lock
naming its process), and a reader that finds the catalog held opens a private copy of its
last committed state instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Self

import duckdb

from connectors.records import TerminalError

LOCK_FILE = "writer.lock"
HOLDER = re.compile(r"\(PID (\d+)\)")
COPY_ATTEMPTS = 20


class StoreLocked(TerminalError):
    """Another process is writing the store; the message names it in one line."""


class WriterLock:
    """An exclusive lock on a store folder, held by one ingest at a time.

    The lock file holds the holder's pid; the operating system releases the lock when the
    holder exits, however it exits.
    """

    def __init__(self, store: Path):
        self.path = Path(store) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to `wait_s`; StoreLocked names the holder otherwise."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise StoreLocked(
                        f"store {self.path.parent} is being written by process {holder}; "
                        "wait for that ingest to finish"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_lock_conflict(error: duckdb.Error) -> bool:
    """Whether DuckDB refused a file because another handle holds it."""
    text = str(error).lower()
    return any(sign in text for sign in ("lock", "different configuration", "already attached"))


def open_writer(path: Path, wait_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """A read-write handle on the catalog, waiting up to `wait_s` for readers that hold it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as error:
            if not is_lock_conflict(error):
                raise
            if time.monotonic() >= deadline:
                holder = HOLDER.search(str(error))
                who = f"process {holder.group(1)}" if holder else "another connection"
                raise StoreLocked(f"catalog {path} is held by {who}") from None
            time.sleep(0.2)


class CatalogCopy:
    """A private copy of a catalog file (and its write-ahead log) in a temporary folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="quarry-catalog-"))
        self.path = self.folder / "catalog.duckdb"

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def signature(path: Path) -> tuple:
    """What changes when the catalog or its log is written: sizes and modification times."""
    marks = []
    for p in (path, wal_of(path)):
        try:
            stat = p.stat()
            marks.append((stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            marks.append(None)
    return tuple(marks)


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def copy_catalog(live: Path) -> CatalogCopy:
    """A consistent copy of the live catalog: taken while neither file changed, then its log
    replayed in private. Raises StoreLocked when the writer never pauses long enough."""
    for _ in range(COPY_ATTEMPTS):
        copy = CatalogCopy()
        before = signature(live)
        try:
            shutil.copyfile(live, copy.path)
            if wal_of(live).exists():
                shutil.copyfile(wal_of(live), wal_of(copy.path))
            if signature(live) == before:
                duckdb.connect(str(copy.path)).execute("CHECKPOINT").close()
                return copy
        except (OSError, duckdb.Error):
            pass
        copy.cleanup()
        time.sleep(0.1)
    raise StoreLocked(f"catalog {live} kept changing while it was copied; try again")


def open_reader(path: Path) -> tuple[duckdb.DuckDBPyConnection, CatalogCopy | None]:
    """A read-only handle on the catalog's last committed state, and the private copy it
    reads when a writer holds the file (None when it reads the file itself)."""
    try:
        return duckdb.connect(str(path), read_only=True), None
    except duckdb.Error as error:
        if not is_lock_conflict(error):
            raise
    copy = copy_catalog(path)
    return duckdb.connect(str(copy.path), read_only=True), copy
