"""The `ask` and `answer` commands of the `quarry` CLI."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from flows.lazy import Lazy
from flows.settings import Settings


def add_qa_commands(subparsers: Any) -> None:
    """Add `ask` and `answer` to the CLI's subparsers; handlers take (args, settings)."""
    ask = subparsers.add_parser("ask", help="answer one question with citations and the hop trace")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.add_argument("--principal", help="answer only from what this principal may read")
    ask.add_argument("--groups", nargs="*", default=[], help="groups the principal belongs to")
    ask.set_defaults(handler=run_ask)

    answer = subparsers.add_parser("answer", help="answer a JSONL file of questions")
    answer.add_argument("--questions", type=Path, required=True, help="rows with id and question")
    answer.add_argument("--out", type=Path, required=True, help="rows with id, answer, answerable, citations")
    answer.add_argument("--principal", help="answer only from what this principal may read")
    answer.add_argument("--groups", nargs="*", default=[], help="groups the principal belongs to")
    answer.set_defaults(handler=run_answer)


def open_chunks(uri: str) -> Any:
    from index.lance import LanceStore

    return LanceStore(uri)


def query_embedder() -> Any:
    from transforms.query_embed import QueryEmbedder

    return QueryEmbedder()


def build_agent(settings: Settings) -> Callable[[Any], Any] | None:
    """What puts an answerer under the LLM agent when an endpoint is configured (one chat
    client shared by all), else None: the offline answerer alone."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from qa.chat import ChatClient
    from qa.llm_agent import LLMAgent
    from qa.tools import Tools

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    client = ChatClient(settings.llm_base_url, settings.llm_model, key, settings.llm_timeout_s,
                        retries=settings.llm_retries)
    return lambda answerer: LLMAgent(client, Tools(answerer), settings.llm_max_steps, settings.llm_max_seconds)


def build_answerer(settings: Settings, principals: list[str] | None = None) -> Any:
    """An Answerer over the store, driven by the LLM agent when an endpoint is configured;
    with `principals`, over a view of the store holding only what they may read. The chunk
    store and the embedding model are made on first use (a text hop)."""
    from qa.agent import Answerer

    store: Any = Lazy(partial(open_chunks, settings.lance_uri)) if Path(settings.lance_uri).exists() else None
    if principals is None:
        from index.catalog import Catalog

        catalog: Any = Catalog(settings.catalog_path, read_only=True)
    else:
        from qa.permitted import PermittedCatalog, PermittedStore

        catalog = PermittedCatalog(settings.catalog_path, principals)
        store = PermittedStore(store, principals) if store is not None else None
    embedder = Lazy(query_embedder) if store is not None else None
    answerer = Answerer(catalog, store, embedder)
    agent = build_agent(settings)
    return agent(answerer) if agent else answerer


def principals_of(args: argparse.Namespace) -> list[str] | None:
    """The principal and groups a command answers as; None (everything) without --principal."""
    if args.principal is None:
        return None
    return [args.principal, *args.groups]


def answer_row(answer: Any, row_id: Any) -> dict[str, Any]:
    """One output row in the benchmark's shape."""
    return {
        "id": row_id,
        "answer": answer.payload(),
        "answerable": answer.answerable,
        "citations": [c.native_id for c in answer.citations],
    }


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    answer = build_answerer(settings, principals_of(args)).answer(args.question)
    if args.json:
        print(json.dumps(answer.model_dump(mode="json"), indent=2))
        return 0
    print(answer.readable())
    if answer.citations:
        print(f"\nCitations ({len(answer.citations)}):")
        for c in answer.citations[:25]:
            print(f"  [{c.source}] {c.title or c.native_id}  {c.url or c.native_id}")
        if len(answer.citations) > 25:
            print(f"  ... {len(answer.citations) - 25} more")
    print("\nHops:")
    for hop in answer.hops:
        print(f"  {hop.step:8} {hop.action:20} found {hop.found}")
    return 0


def run_answer(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    answerer = build_answerer(settings, principals_of(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as out:
        for row in tqdm(rows, desc="answering", unit="q"):
            answer = answerer.answer(row["question"])
            out.write(json.dumps(answer_row(answer, row.get("id"))) + "\n")
    return 0
