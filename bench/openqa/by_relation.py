"""Per-relation scores for the open-question set, with HERB's own scorer.

    python3 bench/openqa/by_relation.py bench/openqa/questions.jsonl ANSWERS.jsonl
            [--by relation|title_variant|type|product] [--score PATH/score.py] [--ids PATH/ids.json] [--json]

Rows are grouped by a field of the question rows (default `relation`) and every group is
scored by score.py's own `score()` (imported from ../shared/herb/score.py, next to this
checkout, or --score / $HERB_SCORE): set F1 for person / company / pr / url answers, the
token-F1 content proxy for strings, the share of no-answer questions declined, false
refusals and evidence recall against the gold citations.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve()
DEFAULT_SCORE = HERE.parents[2].parent / "shared" / "herb" / "score.py"   # <checkout>/../shared/herb/score.py


def load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("herb_score", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions", type=Path)
    ap.add_argument("answers", type=Path)
    ap.add_argument("--by", default="relation", help="question field to group by (relation, title_variant, type, product)")
    ap.add_argument("--score", type=Path, default=Path(os.environ.get("HERB_SCORE", DEFAULT_SCORE)))
    ap.add_argument("--ids", type=Path, help="ids.json (default: next to score.py)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    S = load_scorer(args.score)
    questions = [json.loads(l) for l in args.questions.read_text().splitlines() if l.strip()]
    answers = {}
    for line in args.answers.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            answers[r["id"]] = r
    ids = args.ids or args.score.parent / "ids.json"
    cmap = S.CitationMap(json.loads(ids.read_text())) if ids.exists() else None

    groups = defaultdict(list)
    for q in questions:
        groups[str(q.get(args.by, "") or "-")].append(q)

    rows = {}
    for key in sorted(groups):
        qs = groups[key]
        res = S.score(qs, answers, cmap)
        answerable = [q for q in qs if q.get("answerable", True)]
        types = sorted({q.get("type", "content") for q in answerable})
        # one answer type per relation; a mixed group (e.g. --by product) reports the mean of its types
        vals = [res[t] for t in types if t in res]
        rows[key] = {
            "type": "/".join(types) or "-",
            "n": len(answerable),
            "score": sum(vals) / len(vals) if vals else None,
            "n_unanswerable": len(qs) - len(answerable),
            "unanswerable": res.get("unanswerable"),
            "false_refusal": res.get("false_refusal") if answerable else None,
            "evidence_recall": res.get("evidence_recall") if answerable else None,
        }
    overall = S.score(questions, answers, cmap)

    if args.json:
        print(json.dumps({"groups": rows, "overall": overall}))
        return 0
    f = lambda v: "   -  " if v is None else f"{v:6.2f}"
    print(f"{args.by:34s} {'type':8s} {'n':>4s} {'score':>6s} {'refuse':>6s} {'recall':>6s} {'n_no':>5s} {'no_ans':>6s}")
    for key, r in rows.items():
        print(f"{key:34s} {r['type']:8s} {r['n']:4d} {f(r['score'])} {f(r['false_refusal'])} {f(r['evidence_recall'])} "
              f"{r['n_unanswerable']:5d} {f(r['unanswerable'])}")
    print()
    for key, val in overall.items():
        print(f"{key:20s} {val:.2f}" if isinstance(val, float) else f"{key:20s} {val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
