"""Answer the HERB dev questions against a store and score them with HERB's score.py.

    python bench/qa.py --store /path/to/store [--questions ../shared/herb/qa/dev.jsonl]
                       [--out bench/results/qa] [--limit N] [--half odd|even] [--no-search]

`--half` keeps the questions of every other dev product (sorted by name, odd = 1st, 3rd,
...): a check that what helps one half of the products helps the other.

Prints and saves (OUT/scores.json) per-type scores, unanswerable accuracy, false refusals,
evidence recall / precision and p50 / p95 seconds per question; OUT/answers.jsonl holds
the answers and OUT/traces.jsonl the hop traces.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERB = ROOT.parent / "shared" / "herb"
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=HERB / "qa" / "dev.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "qa")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--half", choices=["odd", "even"], help="questions of every other product")
    parser.add_argument("--no-search", action="store_true", help="structured hops only (no LanceDB)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from index.catalog import Catalog
    from qa.agent import Answerer

    catalog = Catalog(args.store / "catalog.duckdb", read_only=True)
    store = embedder = None
    if not args.no_search and (args.store / "lance").exists():
        from index.lance import LanceStore
        from transforms.embed import Embedder

        store, embedder = LanceStore(str(args.store / "lance")), Embedder(batch_size=1)
    answerer = Answerer(catalog, store, embedder)
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    if args.half:
        products = sorted({r["product"] for r in rows})
        kept = set(products[0 if args.half == "odd" else 1 :: 2])
        rows = [r for r in rows if r["product"] in kept]
    rows = rows[: args.limit] if args.limit else rows
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = []
    with open(args.out / "answers.jsonl", "w") as answers, open(args.out / "traces.jsonl", "w") as traces:
        for row in rows:
            answer = answerer.answer(row["question"])
            seconds.append(answer.seconds)
            out = {"id": row["id"], "answer": answer.payload(), "answerable": answer.answerable,
                   "citations": [c.native_id for c in answer.citations]}
            answers.write(json.dumps(out) + "\n")
            traces.write(json.dumps({"id": row["id"], "question": row["question"],
                                     "hops": [h.model_dump() for h in answer.hops]}, default=str) + "\n")
    questions = args.questions
    if args.limit or args.half:
        questions = args.out / "questions.jsonl"
        questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = HERB / "ids.json"
    result = subprocess.run(
        [sys.executable, str(HERB / "score.py"), str(questions), str(args.out / "answers.jsonl"),
         "--ids", str(ids), "--json"],
        capture_output=True, text=True, check=True,
    )
    scores = json.loads(result.stdout)
    scores["p50_s"] = percentile(seconds, 0.5)
    scores["p95_s"] = percentile(seconds, 0.95)
    scores["mean_s"] = statistics.fmean(seconds) if seconds else 0.0
    (args.out / "scores.json").write_text(json.dumps(scores, indent=2))
    for key, val in scores.items():
        print(f"{key:20s} {val:.2f}" if isinstance(val, float) else f"{key:20s} {val}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
