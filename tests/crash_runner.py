"""One real ingest in this process, stopped at a named point: killed with SIGKILL, or held
there (the store locked and its catalog open for writing) until it is killed.

    python -m tests.crash_runner POINT CONFIG STORE

Points: after_chunk_insert (an edited group's new chunks are in, its stale ones not yet
out), after_stale_delete (the stale chunks are out, the catalog not yet committed),
during_index_build (the first index of the final build is made, the rest and the profiles
not), hold_after_chunk_insert (like after_chunk_insert, but waits instead of dying).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from lancedb.table import LanceTable

from flows.ingest import ingest
from index.lance import LanceStore


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def hold() -> None:
    os.write(1, b"holding\n")
    time.sleep(600)


def after(cls: type, name: str, action: Callable[[], None], when: Callable[..., bool]) -> None:
    """Run `action` after the first call of `cls.name` whose arguments satisfy `when`."""
    original = getattr(cls, name)

    def hooked(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if when(*args, **kwargs):
            action()
        return result

    setattr(cls, name, hooked)


def with_chunks(chunks: Any, *_: Any) -> bool:
    return bool(chunks)


def always(*_: Any, **__: Any) -> bool:
    return True


POINTS: dict[str, Callable[[], None]] = {
    "after_chunk_insert": lambda: after(LanceStore, "add_chunks", die, with_chunks),
    "after_stale_delete": lambda: after(LanceStore, "remove_stale", die, always),
    "during_index_build": lambda: after(LanceTable, "create_index", die, always),
    "hold_after_chunk_insert": lambda: after(LanceStore, "add_chunks", hold, with_chunks),
}


if __name__ == "__main__":
    point, config, store = sys.argv[1:4]
    POINTS[point]()
    ingest(config, store)
    print("finished without reaching the point", flush=True)
