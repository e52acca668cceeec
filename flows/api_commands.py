"""The `serve` and `keys` commands of the `quarry` CLI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flows.qa_commands import build_agent, query_embedder
from flows.settings import ApiSettings, Settings


def add_api_commands(subparsers: Any) -> None:
    """Add `serve` and `keys` to the CLI's subparsers; handlers take (args, settings)."""
    serve = subparsers.add_parser("serve", help="serve the HTTP API for chatbots")
    serve.add_argument("--host", help="address to bind (default $QUARRY_API_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $QUARRY_API_PORT or 8000)")
    serve.add_argument("--no-embed", action="store_true",
                       help="skip the embedding model: full-text search only, no text hops")
    serve.set_defaults(handler=run_serve)

    keys = subparsers.add_parser("keys", help="manage API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="make a key for a principal; prints it once")
    create.add_argument("principal", help="the user id documents' ACLs name (e.g. a Slack member id)")
    create.add_argument("--groups", nargs="+", default=[],
                        help="further principals, e.g. github:owner/repo or a folder group")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=run_keys_create)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=run_keys_revoke)
    listing = actions.add_parser("list", help="every key: id, principal, groups, state")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_keys_list)


def keys_path(settings: Settings) -> Path:
    return settings.store / "keys.duckdb"


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from qa.serve.http import create_app
    from qa.serve.service import json_logging

    api = ApiSettings()
    json_logging("quarry.api", api.log_level)
    service = open_service(settings, api, embed=not args.no_embed)
    uvicorn.run(create_app(service, api.model_name), host=args.host or api.host, port=args.port or api.port,
                access_log=False, log_level=api.log_level, proxy_headers=False)
    return 0


def open_service(settings: Settings, api: ApiSettings, embed: bool = True) -> Any:
    """The serving wing's `Service` over the store, with the embedding model unless told not
    to (or there are no chunks yet), and the LLM agent when an endpoint is configured."""
    from qa.serve.service import Service

    embedder = None
    if api.embed and embed and Path(settings.lance_uri).exists():
        embedder = query_embedder()
    return Service(settings.store, embedder, limits=api, agent=build_agent(settings))


def run_keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.auth import KeyStore

    record, key = KeyStore(keys_path(settings)).create(args.principal, args.groups)
    if args.json:
        print(json.dumps({**record.model_dump(mode="json"), "key": key}))
        return 0
    print(key)
    groups = f" (groups: {', '.join(record.groups)})" if record.groups else ""
    print(f"key {record.key_id} for {record.principal}{groups}; it is shown only once", file=sys.stderr)
    return 0


def run_keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.auth import KeyStore

    if KeyStore(keys_path(settings)).revoke(args.key_id):
        print(f"revoked {args.key_id}")
        return 0
    print(f"quarry: no active key {args.key_id}", file=sys.stderr)
    return 1


def run_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.auth import KeyStore

    keys = KeyStore(keys_path(settings)).list_keys()
    if args.json:
        print(json.dumps([k.model_dump(mode="json") for k in keys], indent=2))
        return 0
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        groups = ",".join(k.groups) or "-"
        print(f"{k.key_id}  {k.principal:<24} {groups:<32} {k.created_at:%Y-%m-%d}  {state}")
    print(f"{len(keys)} keys")
    return 0
