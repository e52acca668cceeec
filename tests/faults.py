"""Helpers of the fault-injection suite: small corpora cut from the fixtures, the state of a
store as a comparable value, and a real ingest run in a subprocess stopped at a named point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prefect.settings import PREFECT_API_URL

from index.catalog import Catalog
from index.lance import LanceStore
from tests.conftest import FIXTURES, PUBLIC_TOML

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "slack": ("slack-export", "slack/export"),
    "meetings": ("meetings", "meetings"),
    "github": ("github-dir", "github"),
    "links": ("bookmarks", "links"),
    "directory": ("directory", "directory"),
    "docs": ("docs", "docs"),
}
FOLDER_SOURCES = ("meetings", "docs")


def make_corpus(
    root: Path, names: tuple[str, ...] = ("slack", "meetings"), options: dict[str, str] | None = None
) -> Path:
    """Copies of the named fixture sources under `root/corpus` and a config listing them
    (with each source's extra TOML lines in `options`, by default the catch-all acl rule
    of a folder source); returns the config path."""
    blocks = []
    for name in names:
        kind, folder = SOURCES[name]
        if name == "docs":
            (root / "corpus" / "docs").mkdir(parents=True)
            for file in ("product_guide.md", "legacy_notes.txt"):
                shutil.copy(FIXTURES / "docs" / file, root / "corpus" / "docs" / file)
        else:
            shutil.copytree(FIXTURES / folder, root / "corpus" / name)
        extra = (options or {}).get(name, PUBLIC_TOML if name in FOLDER_SOURCES else "")
        blocks.append(f'[[sources]]\nname = "{name}"\ntype = "{kind}"\npath = "corpus/{name}"\n{extra}\n')
    config = root / "quarry.toml"
    config.write_text("\n".join(blocks))
    return config


def store_state(store: Path) -> dict[str, Any]:
    """Everything a store holds that a rerun must reproduce (no timestamps of writing, no
    cursors' file times): documents, failures, container readers, profiles, aliases, chunks
    with their vectors, and the chunk indexes; pending marks and staleness must be gone."""
    catalog = Catalog(store / "catalog.duckdb", read_only=True)
    try:
        rows = {
            "documents": catalog.query(
                "SELECT * EXCLUDE (indexed_at) FROM document_rows ORDER BY id"
            ),
            "failures": catalog.query(
                "SELECT connector, native_id, reason, input FROM failures ORDER BY ALL"
            ),
            "containers": catalog.query("SELECT ref, readers FROM container_acl ORDER BY ref"),
            "profiles": catalog.query("SELECT * FROM source_profiles ORDER BY ALL"),
            "aliases": catalog.query("SELECT * FROM entity_aliases ORDER BY ALL"),
            "pending": catalog.query("SELECT * FROM pending_groups"),
            "stale": catalog.derived_stale(),
        }
    finally:
        catalog.close()
    lance = LanceStore(str(store / "lance"))
    chunks = lance.table.to_arrow().sort_by("id").to_pylist()
    rows["vectors"] = np.array([c.pop("vector") for c in chunks], dtype=np.float32)
    rows["chunks"] = chunks
    rows["indexes"] = sorted(i.name for i in lance.table.list_indices())
    rows["lance_containers"] = lance.containers()
    return rows


def assert_same_store(got: Path, want: Path) -> None:
    """The two stores hold the same content; vectors embedded again in other batches agree
    within the bf16 model's tolerance."""
    mine, theirs = store_state(got), store_state(want)
    assert mine.pop("pending") == [] and mine.pop("stale") is False
    theirs.pop("pending"), theirs.pop("stale")
    np.testing.assert_allclose(mine.pop("vectors"), theirs.pop("vectors"), atol=5e-3)
    for key in theirs:
        assert mine[key] == theirs[key], key


def run_until(point: str, config: Path, store: Path, hold: bool = False) -> subprocess.Popen:
    """A real ingest in a subprocess, killed with SIGKILL at `point` (returned once dead), or
    held there (returned once holding: the caller kills it). Its output goes to a log file
    beside the store, so a full pipe never stalls it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PREFECT_LOGGING_LEVEL": "ERROR"}
    log = store.parent / f"{point}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_runner", point, str(config), str(store)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if hold and "holding" in log.read_text():
            return process
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
        process.wait()
    assert process.returncode == -9 and not hold, log.read_text()[-3000:]
    return process


def touch_later(path: Path) -> None:
    """Move a file's modification time on, so a connector sees it changed."""
    later = time.time_ns() + 10**9
    os.utime(path, ns=(later, later))


def caller_responses(server: Any, key: str, query: str, questions: Sequence[str], documents: Sequence[str] = ()) -> str:
    """Everything a caller gets back from a search for `query`, the `documents` (each must
    be hidden from them: 404), and each of `questions` asked plain and streamed."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        bodies = [c.post("/v1/search", json={"query": query, "k": 50}).text]
        for doc_id in documents:
            got = c.get(f"/v1/documents/{doc_id}")
            assert got.status_code == 404
            bodies.append(got.text)
        for question in questions:
            for stream in (False, True):
                got = c.post("/v1/ask", json={"question": question, "stream": stream})
                assert got.status_code == 200
                bodies.append(got.text)
    return "\n".join(bodies)
