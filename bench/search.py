"""Benchmark the cost of ranking full text over what a caller may read, against LanceDB's
native ranking in the same run.

    .venv/bin/python bench/search.py --store STORE [--questions ../shared/herb/qa/dev.jsonl]
        [--limit 200] [--repeats 3] [--principal eid_bench]

For each question (the HERB dev questions by default), text and hybrid searches (k = 10)
run as a trusted caller (LanceDB's BM25 over the whole table) and as `--principal` (BM25
over the chunks that principal may read, `index/bm25.py`), alternating, each repeated
`--repeats` times. Prints the median latency of each and the ratio, and how many
candidates the restricted ranking scored; writes JSON to bench/out/search.json. The store
is opened as it is (an older store is upgraded on open: run on a copy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.bm25 import tokens
from index.lance import LanceStore
from index.records import Query
from transforms.embed import Embedder


def timed(store: LanceStore, query: Query, vector) -> float:
    start = time.perf_counter()
    store.search(query, vector)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared/herb/qa/dev.jsonl")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--principal", default="eid_bench")
    args = parser.parse_args()
    store = LanceStore(str(args.store / "lance"))
    store.optimize()
    embedder = Embedder(batch_size=1)
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    questions = [r["question"] for r in rows[: args.limit]]
    vectors = embedder.encode(questions)
    visible = store.visible_sql([args.principal])
    store.visible_stats(visible)
    seconds: dict[str, list[float]] = {}
    candidates = []
    for text, vector in zip(questions, vectors, strict=True):
        analyzed = " ".join(tokens(text))
        candidates.append(store.matching(analyzed, visible, store.visible_stats(visible).documents, ["id"]).num_rows)
        for mode in ("text", "hybrid"):
            for who, principals in (("trusted", None), ("restricted", [args.principal])):
                query = Query(text=text, k=10, mode=mode, principals=principals)
                best = min(timed(store, query, vector) for _ in range(args.repeats))
                seconds.setdefault(f"{mode} {who}", []).append(best)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    result = {
        "store": str(args.store),
        "questions": len(questions),
        "chunks": store.count(),
        "median_ms": {name: value * 1000 for name, value in medians.items()},
        "p95_ms": {name: statistics.quantiles(v, n=20)[-1] * 1000 for name, v in seconds.items()},
        "ratio_text": medians["text restricted"] / medians["text trusted"],
        "ratio_hybrid": medians["hybrid restricted"] / medians["hybrid trusted"],
        "candidates_median": statistics.median(candidates),
        "candidates_max": max(candidates),
    }
    out = ROOT / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.json").write_text(json.dumps(result, indent=2))
    print(f"{len(questions)} questions over {result['chunks']} chunks, best of {args.repeats} each")
    for name in medians:
        print(f"  {name:18} median {result['median_ms'][name]:7.1f} ms   p95 {result['p95_ms'][name]:7.1f} ms")
    print(f"restricted / trusted: text {result['ratio_text']:.2f}x, hybrid {result['ratio_hybrid']:.2f}x; "
          f"visible candidates holding a query term: median {result['candidates_median']:.0f}, max {result['candidates_max']}")


if __name__ == "__main__":
    main()
