"""The `quarry` command line."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from connectors.records import SOURCES
from flows.api_commands import add_api_commands
from flows.chat_commands import add_chat_commands
from flows.deploy import add_deploy_commands
from flows.errors import UserError, explain
from flows.qa_commands import add_qa_commands
from flows.settings import Settings

READS_STORE = {"stats", "search", "failures", "ask", "answer", "serve", "mcp", "slack-bot"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quarry", description=__doc__)
    parser.add_argument("--store", type=Path, help="store folder (default $QUARRY_STORE or .quarry)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="pull every configured source into the store")
    ingest.add_argument("--config", type=Path, required=True)
    ingest.add_argument("--source", action="append", help="only this source (repeatable)")
    ingest.add_argument("--engine", choices=["local", "dask", "beam"],
                        help="where parse / chunk / embed run (default: the config's engine)")
    ingest.add_argument("--json", action="store_true", help="print the run report as JSON")
    ingest.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")

    stats = commands.add_parser("stats", help="documents, chunks and failures in the store")
    stats.add_argument("--json", action="store_true")

    search = commands.add_parser("search", help="hybrid search over the store")
    search.add_argument("text")
    search.add_argument("--source", action="append", default=[])
    search.add_argument("-k", type=int, default=10)
    search.add_argument("--mode", choices=["hybrid", "vector", "text"], default="hybrid")
    search.add_argument("--json", action="store_true")

    failures = commands.add_parser("failures", help="inputs that could not be read")
    failures.add_argument("--json", action="store_true")
    for name, handler in COMMANDS.items():
        commands.choices[name].set_defaults(handler=handler)
    add_qa_commands(commands)
    add_api_commands(commands)
    add_chat_commands(commands)
    add_deploy_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings(store=args.store) if args.store else Settings()
        settings.prepare_runtime(create_store=args.command not in READS_STORE)
        if args.command in READS_STORE and not settings.catalog_path.exists():
            raise UserError(f"no store at {settings.store}: run `quarry ingest --config FILE` first, "
                            "or pass --store / set QUARRY_STORE")
        return args.handler(args, settings)
    except (Exception, KeyboardInterrupt) as exc:
        if args.debug:
            raise
        if isinstance(exc, KeyboardInterrupt):
            print("quarry: interrupted", file=sys.stderr)
            return 130
        message = explain(exc, getattr(args, "config", None))
        if message is None:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            message = (f"internal error: {type(exc).__name__}: {exc} (at {Path(last.filename).name}:"
                       f"{last.lineno}; run with --debug for the traceback)")
        print(f"quarry: {message}", file=sys.stderr)
        return 2


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Through the Prefect flow when a Prefect API is configured; else the same run directly,
    with no temporary server, and a live display on a terminal."""
    from flows.display import LiveProgress, LogProgress

    if settings.prefect_api_url:
        from flows.ingest import ingest

        report = ingest(str(args.config), str(settings.store), args.source, args.engine,
                        log_progress=not (args.json or args.quiet))
    else:
        from flows.run import run_ingest as run

        progress: Any = None
        if not (args.json or args.quiet):
            progress = LiveProgress() if sys.stderr.isatty() else LogProgress()
        with progress if isinstance(progress, LiveProgress) else nullcontext():
            report = run(str(args.config), str(settings.store), args.source, args.engine, progress=progress)
    failed = [r for r in report["sources"] if r.get("error")]
    if failed and len(failed) == len(report["sources"]):
        raise UserError("no source could be read: " + "; ".join(f"{r['source']}: {r['error']}" for r in failed))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif not args.quiet:
        print_report(report)
    return 0 if report["status"] == "completed" else 1


def print_report(report: dict[str, Any]) -> None:
    for r in report["sources"]:
        print(
            f"{r['source']:<16} seen {r['docs_seen']:>6}  changed {r['docs_changed']:>6}  "
            f"deleted {r['docs_deleted']:>5}  embedded {r['chunks_embedded']:>6}  "
            f"failures {r['failures']:>4}  {r['seconds']:.1f}s"
        )
    print(
        f"run {report['run_id']}: {report['status']} in {report['seconds']:.1f}s, "
        f"{report['chunks']} chunks in the store, {report['failures']} failures"
    )


def store_stats(settings: Settings) -> dict[str, Any]:
    from index.catalog import Catalog
    from index.lance import LanceStore

    catalog = Catalog(settings.catalog_path, read_only=True)
    try:
        stats = catalog.stats()
    finally:
        catalog.close()
    stats["documents"] = {s: stats["documents"].get(s, 0) for s in SOURCES} | stats["documents"]
    stats["chunks"] = LanceStore(settings.lance_uri).count()
    return stats


def run_stats(args: argparse.Namespace, settings: Settings) -> int:
    stats = store_stats(settings)
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
        return 0
    for source, count in stats["documents"].items():
        print(f"{source:<12} {count:>8}")
    print(f"{'chunks':<12} {stats['chunks']:>8}\n{'failures':<12} {stats['failures']:>8}")
    return 0


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    """Searches through pylance (`LanceStore` reads): the command never imports LanceDB."""
    from index.lance import LanceStore
    from index.records import Query
    from transforms.query_embed import QueryEmbedder

    query = Query(text=args.text, k=args.k, mode=args.mode, sources=args.source)
    vector = QueryEmbedder().encode([args.text])[0] if args.mode != "text" else None
    hits = LanceStore(settings.lance_uri).search(query, vector)
    if args.json:
        print(json.dumps([h.model_dump(mode="json") for h in hits], indent=2))
        return 0
    for h in hits:
        ids = ", ".join(h.native_ids[:3]) + (" ..." if len(h.native_ids) > 3 else "")
        print(f"{h.score:.4f}  [{h.source}] {h.title or h.container}  ({ids})")
        print("        " + h.text[:160].replace("\n", " "))
    return 0


def run_failures(args: argparse.Namespace, settings: Settings) -> int:
    from index.catalog import Catalog

    catalog = Catalog(settings.catalog_path, read_only=True)
    try:
        rows = catalog.failures()
    finally:
        catalog.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        print(f"{r['connector']:<16} {r['native_id']}: {r['reason']}")
    print(f"{len(rows)} failures")
    return 0


COMMANDS = {
    "ingest": run_ingest,
    "stats": run_stats,
    "search": run_search,
    "failures": run_failures,
}

if __name__ == "__main__":
    raise SystemExit(main())
