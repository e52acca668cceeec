"""Rewrite HERB questions the way people type them, deterministically, to check that the
answerer does not depend on the benchmark's templates.

    python bench/paraphrase.py --store /path/to/store --style STYLE [--questions IN] --out OUT.jsonl

Styles:
  lower      lower case, no question mark
  terse      no polite scaffolding ("Can you provide links to" -> "links to", "Find
             employee IDs of" -> "which"), no question mark
  shorthand  document types abbreviated the way people say them ("PRD", "vision doc",
             "tech spec"), "pull requests" for "PRs", "ids" for "IDs"
  codename   the product called by another of its names (its development code name)
  mixed      terse + shorthand + codename + lower, rotating by question
Rows keep their id, ground truth and citations, so bench/qa.py --questions OUT scores them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCAFFOLD = [
    (r"^(can|could) you (please )?(provide|find|list|give me|tell me|share)( me)?( with)?( the)? ", ""),
    (r"^find (the )?employee ids of (the )?", "which "),
    (r"^(what|which) are the ", "which "),
]
SHORTHAND = [
    (r"\bproduct requirements? documents?\b", "PRD"),
    (r"\bproduct vision documents?\b", "vision doc"),
    (r"\btechnical specifications? documents?\b", "tech spec"),
    (r"\bsystem design documents?\b", "design doc"),
    (r"\bmarket research reports?\b", "market research doc"),
    (r"\bPRs\b", "pull requests"),
    (r"\bemployee IDs\b", "employee ids"),
]


def lower(question: str) -> str:
    """Lower case without the question mark."""
    return question.lower().rstrip(" ?")


def terse(question: str) -> str:
    """The request without polite scaffolding or the question mark."""
    text = question.rstrip(" ?")
    for pattern, repl in SCAFFOLD:
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    return text[:1].lower() + text[1:]


def shorthand(question: str) -> str:
    """Document types and artifacts in the short forms people use."""
    text = question
    for pattern, repl in SHORTHAND:
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    return text


def codename(question: str, product: str, names: dict[str, list[str]]) -> str:
    """The product called by its other (earliest learned) name, when it has one."""
    others = sorted(n for n in names.get(product, []) if n != product)
    if not others:
        return question
    return re.sub(rf"\b{re.escape(product)}\b", others[0], question)


def rewrite(row: dict, style: str, names: dict[str, list[str]], index: int) -> str:
    """One question rewritten in a style."""
    q, product = row["question"], row.get("product", "")
    if style == "lower":
        return lower(q)
    if style == "terse":
        return terse(q)
    if style == "shorthand":
        return shorthand(q)
    if style == "codename":
        return codename(q, product, names)
    steps = [terse, shorthand, lambda t: codename(t, product, names), lower]
    for step in steps[: 1 + index % len(steps)]:
        q = step(q)
    return q


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True, help="learns the products' other names")
    parser.add_argument("--questions", type=Path, default=ROOT.parent / "shared" / "herb" / "qa" / "dev.jsonl")
    parser.add_argument("--style", choices=["lower", "terse", "shorthand", "codename", "mixed"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from index.catalog import Catalog
    from index.profile import load_profiles

    _profiles, aliases = load_profiles(Catalog(args.store / "catalog.duckdb", read_only=True))
    names: dict[str, list[str]] = {}
    for alias, entity in aliases.items():
        names.setdefault(entity, []).append(alias)
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        out.writelines(json.dumps({**row, "question": rewrite(row, args.style, names, i)}) + "\n" for i, row in enumerate(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
