"""What LanceDB's full-text index costs by itself, before any of Quarry's ranking.

    .venv/bin/python bench/fts_floor.py --store STORE [--questions 100] [--limit 30]

For each HERB dev question (analyzed as Quarry analyzes it) on the chunk table under
STORE (a store built by `bench/scale.py`, read only): the best of 3 times of the whole
question and of each of its terms alone, through the index with no filter, and how many
postings the index compared for the question (`analyze_plan`'s `index_comparisons`).
Prints p50 and p95 of each, and the p50 of the question by how many distinct terms it has.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.bm25 import tokens
from index.lance import FTS_COLUMN, TABLE, open_dataset

REPEATS = 3


def best_seconds(run, repeats: int = REPEATS) -> float:
    """The fastest of `repeats` calls of `run`, in seconds."""
    fastest = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        fastest = min(fastest, time.perf_counter() - began)
    return fastest


def index_alone(dataset, text: str, limit: int):
    """A scan of the full-text index alone for the analyzed terms `text`: no filter, row
    ids only."""
    query = {"query": text, "columns": [FTS_COLUMN]}
    return dataset.scanner(columns=["_rowid"], full_text_query=query, limit=limit)


def quantiles(values: list[float]) -> str:
    """p50 and p95 of times in seconds, printed in milliseconds."""
    return f"p50 {statistics.median(values) * 1000:.1f}, p95 {statistics.quantiles(values, n=20)[-1] * 1000:.1f}"


def comparisons(plan: str) -> float:
    """The postings the index compared, from an `analyze_plan` report ("329.1 K")."""
    found = re.search(r"index_comparisons=([\d.]+) ?([KM])?", plan)
    return float(found.group(1)) * {"K": 1e3, "M": 1e6, None: 1}[found.group(2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--limit", type=int, default=30)
    args = parser.parse_args()
    dataset = open_dataset(args.store / "lance" / f"{TABLE}.lance")
    rows = [json.loads(line) for line in (ROOT.parent / "shared/herb/qa/dev.jsonl").read_text().splitlines() if line.strip()]
    whole, single, compared = [], [], []
    by_terms: dict[int, list[float]] = defaultdict(list)

    for row in rows[: args.questions]:
        words = tokens(row["question"])
        if not words:
            continue
        text = " ".join(words)
        whole.append(best_seconds(lambda text=text: index_alone(dataset, text, args.limit).to_table()))
        by_terms[len(set(words))].append(whole[-1])
        single.extend(best_seconds(lambda w=w: index_alone(dataset, w, args.limit).to_table()) for w in sorted(set(words)))
        compared.append(comparisons(index_alone(dataset, text, args.limit).analyze_plan()))
    print(f"chunks {dataset.count_rows():,}, questions {len(whole)}, limit {args.limit}")
    print(f"question ms: {quantiles(whole)}")
    print(f"one term ms: {quantiles(single)}")
    print(f"postings compared per question: p50 {statistics.median(compared):,.0f}")
    for count in sorted(by_terms):
        print(f"  {count:2d} terms: p50 {statistics.median(by_terms[count]) * 1000:.1f} ms ({len(by_terms[count])} questions)")


if __name__ == "__main__":
    main()
