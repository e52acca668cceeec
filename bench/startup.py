"""Startup benchmark of the `quarry` command: wall time to the first result of `search` and
`ask`, and of a no-change `ingest`, each in a fresh process (cold: first run after the OS
page cache is dropped when permitted, else the first of the series; warm: the rest), plus a
breakdown of where the time goes (imports, embedding model, store open, Prefect).

    .venv/bin/python bench/startup.py --store COPY_OF_STORE --config examples/herb.toml --runs 5

Writes medians to bench/out/startup.json. `--baseline REV` also times the CLI of a git
revision (checked out in a temporary worktree) for a before / after table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "who reviewed the alyAIX market research report"
SEARCH = "API security issues in AnomalyForce"
BREAKDOWN = {
    "python + CLI modules": "import flows.cli",
    "LanceDB import": "import lancedb",
    "chunk store import (search)": "import index.lance",
    "Prefect import": "import prefect",
    "sentence-transformers import": "import sentence_transformers",
    "query embedder load (numpy)": "from transforms.query_embed import QueryEmbedder; QueryEmbedder()",
    "sentence-transformers model load": "from transforms.embed import Embedder; Embedder(batch_size=1)",
}


def timed(cmd: list[str], cwd: Path, env: dict[str, str], first_line: bool = False) -> float:
    """Seconds from start to the first stdout line (`first_line`) or to exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    seconds = None
    if first_line:
        proc.stdout.readline()
        seconds = time.perf_counter() - start
    proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds if seconds is not None else time.perf_counter() - start


def series(cmd: list[str], cwd: Path, env: dict[str, str], runs: int, first_line: bool) -> dict[str, float]:
    times = [timed(cmd, cwd, env, first_line) for _ in range(runs)]
    return {"cold": round(times[0], 2), "warm_median": round(statistics.median(times[1:] or times), 2),
            "runs": runs}


def commands(store: Path, config: Path, quiet: bool = True) -> dict[str, tuple[list[str], bool]]:
    """The timed commands; `quiet=False` for revisions whose ingest has no --quiet."""
    base = [sys.executable, "-m", "flows.cli", "--store", str(store)]
    return {
        "search (first result)": ([*base, "search", SEARCH, "-k", "10"], True),
        "ask (first line)": ([*base, "ask", QUESTION], True),
        "ingest, no change (exit)": ([*base, "ingest", "--config", str(config), *(["--quiet"] if quiet else [])], False),
    }


def breakdown(env: dict[str, str], runs: int) -> dict[str, float]:
    out = {}
    for name, code in BREAKDOWN.items():
        times = [timed([sys.executable, "-c", code], ROOT, env) for _ in range(runs)]
        out[name] = round(statistics.median(times), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True, help="a copy of a store (ingest writes run records)")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="git revision to compare with, e.g. main")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "startup.json")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    env.pop("PREFECT_API_URL", None)
    config = args.config.resolve()
    result: dict = {"breakdown_s": breakdown(env, max(3, args.runs // 2)), "after": {}}
    for name, (cmd, first) in commands(args.store.resolve(), config).items():
        result["after"][name] = series(cmd, ROOT, env, args.runs, first)
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], cwd=ROOT, check=True,
                           capture_output=True)
            try:
                old = {**env, "PYTHONPATH": str(tree)}
                result["before"] = {name: series(cmd, tree, old, args.runs, first)
                                    for name, (cmd, first) in commands(args.store.resolve(), config, quiet=False).items()}
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
