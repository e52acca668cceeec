"""Throughput of the local, Dask and Beam engines on a fixed slice of HERB.

    .venv/bin/python bench/engines.py [--corpus ../shared/herb/corpus] [--repeats 3]

The slice is the `docs` and `meetings` folders of the corpus (document files parsed on
the engine, transcripts chunked by speaker turn). Each engine runs parse -> chunk ->
embed over the whole slice `--repeats` times, the way a sync runs one batch; the local
engine is measured in the same run. Dask workers load their model before timing (a
long-lived cluster keeps it); Beam loads it in every embed pipeline, which is included.
Medians are reported. From the per-core costs measured on one Dask worker (one process,
one thread) it estimates the worker cores needed for 10M and 100M documents a day.
Prints a markdown table and writes bench/out/engines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.records import SourceDoc
from flows.settings import Settings
from transforms.embed import Embedder
from transforms.engine import Engine

DAILY_DOCS = (10_000_000, 100_000_000)
HEADROOM = 0.6


def load_slice(corpus: Path) -> list[SourceDoc]:
    """The documents of the docs and meetings folders, as their connectors yield them."""
    from connectors.documents import DocumentsConnector
    from connectors.meetings import MeetingsConnector

    public = {"*": ["*"]}
    connectors = [DocumentsConnector(corpus / "docs", acl_rules=public), MeetingsConnector(corpus / "meetings", acl_rules=public)]
    return [d for c in connectors for page in c.pull(None) for d in page.docs]


def one_pass(engine: Engine, docs: list[SourceDoc]) -> dict[str, float]:
    """Parse, chunk and embed the slice once; seconds per stage and counts."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    parsed, failures = engine.parse(docs)
    timings["parse_s"] = time.perf_counter() - start
    groups: dict[str, list[SourceDoc]] = defaultdict(list)
    for doc in parsed:
        groups[doc.group].append(doc)
    start = time.perf_counter()
    chunks = engine.chunk([groups[g] for g in sorted(groups)])
    timings["chunk_s"] = time.perf_counter() - start
    start = time.perf_counter()
    engine.embed(chunks)
    timings["embed_s"] = time.perf_counter() - start
    timings["total_s"] = timings["parse_s"] + timings["chunk_s"] + timings["embed_s"]
    return timings | {"docs": len(docs), "failures": len(failures), "chunks": len(chunks)}


def make_engines(settings: Settings, scratch: Path) -> dict[str, Callable[[], Engine]]:
    """Engine constructors by label: local, and Dask and Beam with 1 and 2 workers."""
    from transforms.beam_engine import BeamEngine
    from transforms.dask_engine import DaskEngine
    from transforms.engine import LocalEngine

    embedder = partial(Embedder, batch_size=settings.embed_batch_size, dtype=settings.embed_dtype)
    engines: dict[str, Callable[[], Engine]] = {"local": lambda: LocalEngine(embedder)}
    for workers in (1, 2):
        engines[f"dask-{workers}"] = partial(
            DaskEngine, embedder, workers=workers, local_directory=scratch / "dask"
        )
        engines[f"beam-{workers}"] = partial(
            BeamEngine, embedder, workers=workers, batch_size=settings.embed_batch_size
        )
    return engines


def load_model(dask_worker) -> None:
    from transforms.dask_engine import PLUGIN_NAME

    dask_worker.plugins[PLUGIN_NAME].get()


def warm(engine: Engine, docs: list[SourceDoc]) -> None:
    """Load the model where it stays loaded: this process, or every Dask worker."""
    from transforms.beam_engine import BeamEngine
    from transforms.dask_engine import DaskEngine

    if isinstance(engine, DaskEngine):
        engine.client.run(load_model)
    elif not isinstance(engine, BeamEngine):
        engine.embed(engine.chunk([docs[-1:]]))


def measure(label: str, make: Callable[[], Engine], docs: list[SourceDoc], repeats: int) -> dict:
    start = time.perf_counter()
    engine = make()
    startup = time.perf_counter() - start
    try:
        warm(engine, docs)
        passes = [one_pass(engine, docs) for _ in range(repeats)]
    finally:
        engine.close()
    medians = {k: statistics.median(p[k] for p in passes) for k in passes[0]}
    print(f"  {label}: {medians['total_s']:.1f} s per pass {[round(p['total_s'], 1) for p in passes]}",
          flush=True)
    return {"engine": label, "startup_s": startup, "passes": passes, "median": medians}


def estimate(per_core: dict) -> dict:
    """Worker cores for each daily volume, from one worker's per-document core-seconds."""
    m = per_core["median"]
    parse_ms = 1000 * m["parse_s"] / m["docs"]
    chunk_ms = 1000 * m["chunk_s"] / m["docs"]
    embed_ms = 1000 * m["embed_s"] / m["chunks"]
    chunks_per_doc = m["chunks"] / m["docs"]
    core_s_per_doc = (parse_ms + chunk_ms + chunks_per_doc * embed_ms) / 1000
    return {
        "from": per_core["engine"],
        "parse_ms_per_doc": parse_ms,
        "chunk_ms_per_doc": chunk_ms,
        "embed_ms_per_chunk": embed_ms,
        "chunks_per_doc": chunks_per_doc,
        "core_s_per_doc": core_s_per_doc,
        "headroom": HEADROOM,
        "cores": {
            str(n): n * core_s_per_doc / 86_400 / HEADROOM for n in DAILY_DOCS
        },
    }


def print_table(results: list[dict], estimate_: dict) -> None:
    local = next(r for r in results if r["engine"] == "local")["median"]["total_s"]
    print("\n| engine | workers | startup s | parse s | chunk s | embed s | total s "
          "| docs/s | chunks/s | vs local |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        m = r["median"]
        name, _, workers = r["engine"].partition("-")
        print(f"| {name} | {workers or '1 (2 threads)'} | {r['startup_s']:.1f} | {m['parse_s']:.1f} "
              f"| {m['chunk_s']:.2f} | {m['embed_s']:.1f} | {m['total_s']:.1f} "
              f"| {m['docs'] / m['total_s']:.1f} | {m['chunks'] / m['total_s']:.1f} "
              f"| {local / m['total_s']:.2f}x |")
    e = estimate_
    print(f"\nper core ({e['from']}): parse {e['parse_ms_per_doc']:.1f} ms/doc, chunk "
          f"{e['chunk_ms_per_doc']:.2f} ms/doc, embed {e['embed_ms_per_chunk']:.1f} ms/chunk, "
          f"{e['chunks_per_doc']:.2f} chunks/doc -> {e['core_s_per_doc']:.3f} core-s/doc")
    for n, cores in e["cores"].items():
        print(f"  {int(n):,} docs/day: {cores:.0f} worker cores at {HEADROOM:.0%} utilisation")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared/herb/corpus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engines", nargs="*", help="labels to run (default: all)")
    args = parser.parse_args()
    out = ROOT / "bench/out"
    settings = Settings(store=out / "engines-store", prefect_home=out / "prefect")
    settings.prepare_runtime()
    docs = load_slice(args.corpus)
    engines = make_engines(settings, out)
    labels = args.engines or list(engines)
    print(f"{len(docs)} documents; load {os.getloadavg()[0]:.2f}; engines {labels}", flush=True)
    results = [measure(label, engines[label], docs, args.repeats) for label in labels]
    per_core = next((r for r in results if r["engine"] == "dask-1"), results[0])
    summary = {
        "corpus_slice": ["docs", "meetings"],
        "documents": len(docs),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_after": os.getloadavg(),
        "results": results,
        "estimate": estimate(per_core),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "engines.json").write_text(json.dumps(summary, indent=2))
    print_table(results, summary["estimate"])


if __name__ == "__main__":
    main()
