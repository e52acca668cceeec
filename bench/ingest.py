"""Benchmark the ingest pipeline on a corpus, against raw encode throughput in the same run.

    .venv/bin/python bench/ingest.py --config examples/herb.toml [--runs 1] [--reruns 3]

Each full run ingests into a fresh store; then `--reruns` no-change runs go over the same
store. Afterwards the model encodes the very chunk texts the pipeline embedded, with the
same batch size and dtype, as the baseline. All runs happen in one process, so Prefect's
local server and the imports are warm for every run; `--cli` adds one no-change run
through the `quarry` command to show the cold start as a user sees it. Prints a table
and writes JSON to bench/out/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.settings import Settings


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_run(config: Path, store: Path) -> dict:
    from flows.ingest import ingest

    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    report = ingest(str(config), str(store))
    report["wall_s"] = time.perf_counter() - start
    return report


def rerun(config: Path, store: Path) -> dict:
    from flows.ingest import ingest

    start = time.perf_counter()
    report = ingest(str(config), str(store))
    report["wall_s"] = time.perf_counter() - start
    return report


def encode_baseline(store: Path, settings: Settings, repeats: int) -> dict:
    from index.lance import LanceStore
    from transforms.embed import Embedder

    texts = LanceStore(str(store / "lance")).table.to_arrow().column("text").to_pylist()
    embedder = Embedder(batch_size=settings.embed_batch_size, dtype=settings.embed_dtype)
    embedder.encode(texts[:256])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        embedder.encode(texts)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"texts": len(texts), "seconds": seconds, "texts_per_s": len(texts) / median}


def cli_rerun(config: Path, store: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/quarry"), "--store", str(store), "ingest", "--config", str(config)],
        check=True, capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "examples/herb.toml")
    parser.add_argument("--store", type=Path, default=ROOT / "bench/out/store")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--reruns", type=int, default=3)
    parser.add_argument("--encode-repeats", type=int, default=3)
    parser.add_argument("--cli", action="store_true")
    args = parser.parse_args()
    settings = Settings(store=args.store, prefect_home=ROOT / "bench/out/prefect")
    settings.prepare_runtime()

    fulls = [full_run(args.config, args.store) for _ in range(args.runs)]
    full_memory = peak_rss_mb()
    reruns = [rerun(args.config, args.store) for _ in range(args.reruns)]
    baseline = encode_baseline(args.store, settings, args.encode_repeats)
    cli_s = cli_rerun(args.config, args.store) if args.cli else None

    full_s = statistics.median(r["wall_s"] for r in fulls)
    last = fulls[-1]
    docs = sum(s["docs_changed"] for s in last["sources"])
    embedded = last["chunks_embedded"]
    rerun_s = statistics.median(r["wall_s"] for r in reruns) if reruns else None
    result = {
        "config": str(args.config),
        "full_runs_s": [r["wall_s"] for r in fulls],
        "full_s_median": full_s,
        "documents": docs,
        "chunks": last["chunks"],
        "chunks_embedded": embedded,
        "failures": last["failures"],
        "docs_per_s": docs / full_s,
        "chunks_per_s": embedded / full_s,
        "stage_seconds": last["stage_seconds"],
        "embed_share": last["stage_seconds"]["embed"] / full_s,
        "encode_baseline": baseline,
        "pipeline_vs_raw_encode": (embedded / full_s) / baseline["texts_per_s"],
        "rerun_s": [r["wall_s"] for r in reruns],
        "rerun_s_median": rerun_s,
        "rerun_embedded": [r["chunks_embedded"] for r in reruns],
        "rerun_share": rerun_s / full_s if rerun_s is not None else None,
        "cli_rerun_s": cli_s,
        "peak_rss_mb_full_ingest": full_memory,
        "per_source": last["sources"],
    }
    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"full ingest (median of {args.runs}): {full_s:.1f} s, {docs} documents, "
          f"{embedded} chunks embedded, {last['failures']} failures")
    print(f"  {docs / full_s:.1f} documents/s, {embedded / full_s:.1f} chunks/s, "
          f"embedding {result['embed_share']:.0%} of the time")
    print(f"  raw encode of the same texts: {baseline['texts_per_s']:.1f} texts/s -> "
          f"pipeline at {result['pipeline_vs_raw_encode']:.2f} of raw encode")
    if rerun_s is not None:
        print(f"no-change rerun (median of {args.reruns}): {rerun_s:.2f} s = "
              f"{result['rerun_share']:.1%} of a full run, embedded {result['rerun_embedded']}")
    if cli_s is not None:
        print(f"no-change rerun through the CLI (cold process): {cli_s:.1f} s")
    print(f"peak memory of the full ingest process: {full_memory:.0f} MB")


if __name__ == "__main__":
    main()
