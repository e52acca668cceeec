"""The `mcp` and `slack-bot` commands of the `quarry` CLI: the serving wing for chat
assistants and for Slack."""

from __future__ import annotations

import argparse
from typing import Any

from flows.api_commands import open_service
from flows.errors import UserError
from flows.settings import ApiSettings, Settings


def add_chat_commands(subparsers: Any) -> None:
    """Add `mcp` and `slack-bot` to the CLI's subparsers; handlers take (args, settings)."""
    mcp = subparsers.add_parser("mcp", help="serve search, ask and documents as MCP tools")
    mcp.add_argument("--http", action="store_true",
                     help="streamable HTTP at /mcp (each request needs a key) instead of stdio")
    add_listen_arguments(mcp, "full-text search only, no text hops")
    mcp.set_defaults(handler=run_mcp)

    bot = subparsers.add_parser("slack-bot", help="answer Slack mentions and DMs in their thread")
    bot.add_argument("--socket", action="store_true",
                     help="Socket Mode (needs QUARRY_SLACK_APP_TOKEN) instead of the HTTP Events API")
    add_listen_arguments(bot, "no text hops")
    bot.set_defaults(handler=run_slack_bot)


def add_listen_arguments(parser: argparse.ArgumentParser, no_embed_help: str) -> None:
    """--host, --port and --no-embed of a serving command."""
    parser.add_argument("--host", help="address to bind (default $QUARRY_API_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default $QUARRY_API_PORT or 8000)")
    parser.add_argument("--no-embed", action="store_true", help=no_embed_help)


def run_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.mcp import create_mcp, fixed_caller, http_app
    from qa.serve.service import json_logging

    api = ApiSettings()
    json_logging("quarry.mcp", api.log_level)
    if args.http:
        import uvicorn

        host = args.host or api.host
        service = open_service(settings, api, embed=not args.no_embed)
        uvicorn.run(http_app(service, host), host=host, port=args.port or api.port,
                    access_log=False, log_level=api.log_level, proxy_headers=False)
        return 0
    if api.key is None:
        raise UserError("`mcp` over stdio needs an API key: set QUARRY_API_KEY "
                        "(make one with `quarry keys create PRINCIPAL`)")
    service = open_service(settings, api, embed=not args.no_embed)
    try:
        caller = service.authenticate(api.key.get_secret_value(), "stdio")
        create_mcp(service, fixed_caller(caller)).run("stdio")
    finally:
        service.close()
    return 0


def run_slack_bot(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.service import json_logging
    from qa.serve.slack import create_slack_app, events_app

    api = ApiSettings()
    if api.slack_bot_token is None:
        raise UserError("`slack-bot` needs the bot token: set QUARRY_SLACK_BOT_TOKEN (xoxb-...)")
    if args.socket and api.slack_app_token is None:
        raise UserError("`slack-bot --socket` needs an app-level token: set QUARRY_SLACK_APP_TOKEN (xapp-...)")
    if not args.socket and api.slack_signing_secret is None:
        raise UserError("`slack-bot` over HTTP needs the signing secret: set QUARRY_SLACK_SIGNING_SECRET")
    json_logging("quarry.slack", api.log_level)
    service = open_service(settings, api, embed=not args.no_embed)
    secret = api.slack_signing_secret.get_secret_value() if api.slack_signing_secret else ""
    app = create_slack_app(service, api.slack_bot_token.get_secret_value(), secret, api.slack_api_url)
    if args.socket:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        try:
            SocketModeHandler(app, api.slack_app_token.get_secret_value()).start()
        finally:
            service.close()
        return 0
    import uvicorn

    uvicorn.run(events_app(app, service), host=args.host or api.host, port=args.port or api.port,
                access_log=False, log_level=api.log_level, proxy_headers=False)
    return 0
