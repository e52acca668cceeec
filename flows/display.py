"""What `quarry ingest` shows while it runs: on a terminal one live line per source (items
read, documents changed, chunks embedded, rate, time left where the source's size is
known) and a total; in logs one JSON line per source every few seconds."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TextIO

from flows.config import SourceConfig
from flows.sync import SyncReport
from index.catalog import Catalog


@dataclass
class SourceState:
    """One source's progress as a display sees it."""

    name: str
    size: int | None = None
    read: int = 0
    done_files: int = 0
    changed: int = 0
    embedded: int = 0
    failures: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    def elapsed(self) -> float:
        return self.seconds if self.seconds is not None else time.monotonic() - self.started

    def rate(self) -> float:
        return self.read / max(self.elapsed(), 1e-9)

    def left(self) -> float | None:
        """Seconds left, from the files the cursor has passed out of those in the source's folder."""
        if self.seconds is not None or not self.size or not self.done_files:
            return None
        done = min(self.done_files / self.size, 1.0)
        return self.elapsed() * (1.0 - done) / done

    def as_dict(self) -> dict[str, Any]:
        left = self.left()
        return {
            "source": self.name, "read": self.read, "changed": self.changed, "embedded": self.embedded,
            "failures": self.failures, "rate": round(self.rate(), 1), "seconds": round(self.elapsed(), 1),
            "left_s": None if left is None else round(left), "done": self.seconds is not None,
        }


def folder_size(source: SourceConfig) -> int | None:
    """The number of files in a folder source (its known size); None for other sources."""
    if not source.path or not Path(source.path).is_dir():
        return None
    return sum(1 for p in Path(source.path).rglob("*") if p.is_file() and not p.name.startswith("."))


class Tracker:
    """Source states from the run's callbacks (`flows.run.Progress`)."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceState] = {}
        self.current: SourceState | None = None
        self.lock = threading.Lock()

    def start(self, source: SourceConfig, catalog: Catalog) -> None:
        with self.lock:
            self.current = self.sources[source.name] = SourceState(source.name, folder_size(source))

    def update(self, report: SyncReport, read: int, cursor: dict[str, Any] | None) -> None:
        with self.lock:
            state = self.sources[report.source]
            state.read, state.changed, state.embedded = read, report.docs_changed, report.chunks_embedded
            state.failures = report.failures
            files = (cursor or {}).get("files")
            if isinstance(files, dict):
                state.done_files = len(files)

    def finish(self, report: dict[str, Any]) -> None:
        with self.lock:
            state = self.sources[report["source"]]
            state.read = max(state.read, report["docs_seen"])
            state.changed, state.embedded = report["docs_changed"], report["chunks_embedded"]
            state.failures, state.seconds = report["failures"], report["seconds"]


class LogProgress(Tracker):
    """One JSON line per running source every `interval` seconds, and one when it ends."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0):
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval = interval
        self.last = 0.0

    def update(self, report: SyncReport, read: int, cursor: dict[str, Any] | None) -> None:
        super().update(report, read, cursor)
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.emit(self.sources[report.source])

    def finish(self, report: dict[str, Any]) -> None:
        super().finish(report)
        self.emit(self.sources[report["source"]])

    def emit(self, state: SourceState) -> None:
        print(json.dumps({"event": "ingest_progress", **state.as_dict()}), file=self.stream, flush=True)


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


class LiveProgress(Tracker):
    """A live table on the terminal (rich), redrawn a few times a second; a context manager."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        super().__init__()
        self.live = Live(self, console=Console(stderr=True), refresh_per_second=4, transient=False)

    def __enter__(self) -> Self:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __rich__(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("source", "read", "changed", "embedded", "failures", "rate/s", "time", "left"):
            table.add_column(column, justify="left" if column == "source" else "right")
        with self.lock:
            states = list(self.sources.values())
        for s in states:
            status = clock(s.elapsed()) + (" done" if s.seconds is not None else "")
            table.add_row(s.name, f"{s.read:,}", f"{s.changed:,}", f"{s.embedded:,}", f"{s.failures:,}",
                          f"{s.rate():,.0f}", status, clock(s.left()))
        if states:
            total = sum(s.elapsed() for s in states)
            read = sum(s.read for s in states)
            table.add_row("total", f"{read:,}", f"{sum(s.changed for s in states):,}",
                          f"{sum(s.embedded for s in states):,}", f"{sum(s.failures for s in states):,}",
                          f"{read / max(total, 1e-9):,.0f}", clock(total), "", style="bold")
        return table
