"""Prefect deployments of the `ingest` flow: one per scheduled source, never overlapping.

Every source of the config that has a `schedule` (a cron string) becomes a deployment
`ingest/sync-<source>` whose runs ingest just that source. Each deployment allows one
run at a time and queues the next (`ENQUEUE`), so two syncs of one source never overlap.
`quarry deploy --serve` serves them from this process (Prefect's runner), `--pool NAME`
registers them for the workers of a work pool (`prefect worker start --pool NAME`), and
`--dry-run` prints what would be deployed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from connectors.records import TerminalError
from flows.config import load_config
from flows.settings import Settings

DEPLOYMENT_PREFIX = "sync-"


@dataclass(frozen=True)
class DeploymentPlan:
    """What one deployment will be: its name, cron schedule, run parameters and tags."""

    name: str
    cron: str
    parameters: dict[str, Any]
    tags: list[str] = field(default_factory=list)


def plan_deployments(config_path: Path, store: Path, engine: str | None = None) -> list[DeploymentPlan]:
    """One plan per source with a schedule; paths are made absolute for remote runs."""
    config = load_config(config_path)
    return [
        DeploymentPlan(
            name=f"{DEPLOYMENT_PREFIX}{source.name}",
            cron=source.schedule,
            parameters={
                "config_path": str(Path(config_path).resolve()),
                "store_path": str(Path(store).resolve()),
                "sources": [source.name],
                "engine": engine or config.engine.name,
            },
            tags=["quarry", f"source:{source.name}"],
        )
        for source in config.sources
        if source.schedule
    ]


def build_deployments(plans: list[DeploymentPlan]) -> list[Any]:
    """Prefect runner deployments of the ingest flow, one run at a time each."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.types.entrypoint import EntrypointType

    from flows.ingest import ingest

    once = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    return [
        ingest.to_deployment(
            name=plan.name,
            cron=plan.cron,
            parameters=plan.parameters,
            tags=plan.tags,
            concurrency_limit=once,
            description=f"Sync {plan.parameters['sources'][0]} into {plan.parameters['store_path']}",
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        for plan in plans
    ]


def require_api() -> None:
    """Fail clearly when no Prefect server is configured (schedules need a real server)."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise TerminalError("set PREFECT_API_URL to a Prefect server (`prefect server start`)")


def serve_deployments(config_path: Path, store: Path, engine: str | None = None) -> None:
    """Register the scheduled deployments and run them from this process until stopped."""
    from prefect import serve

    plans = plan_deployments(config_path, store, engine)
    if not plans:
        raise TerminalError(f"no source in {config_path} has a schedule")
    require_api()
    serve(*build_deployments(plans))


def apply_deployments(
    config_path: Path, store: Path, pool: str, engine: str | None = None
) -> list[str]:
    """Register the scheduled deployments for a work pool's workers; their ids."""
    plans = plan_deployments(config_path, store, engine)
    require_api()
    return [str(d.apply(work_pool_name=pool)) for d in build_deployments(plans)]


def run_deploy(args: argparse.Namespace, settings: Settings) -> int:
    """`quarry deploy`: print, serve, or register the scheduled deployments."""
    if args.dry_run:
        plans = plan_deployments(args.config, settings.store, args.engine)
        print(json.dumps([asdict(p) for p in plans], indent=2))
        return 0
    if args.serve:
        serve_deployments(args.config, settings.store, args.engine)
        return 0
    if args.pool:
        for deployment_id in apply_deployments(args.config, settings.store, args.pool, args.engine):
            print(deployment_id)
        return 0
    raise TerminalError("choose --serve, --pool NAME or --dry-run")


def add_deploy_commands(commands: argparse._SubParsersAction) -> None:
    """Add `quarry deploy` to the CLI's subcommands."""
    deploy = commands.add_parser(
        "deploy", help="schedule the ingest of each source with a `schedule` as a Prefect deployment"
    )
    deploy.add_argument("--config", type=Path, required=True)
    deploy.add_argument("--engine", choices=["local", "dask", "beam"],
                        help="where parse / chunk / embed run (default: the config's engine)")
    mode = deploy.add_mutually_exclusive_group()
    mode.add_argument("--serve", action="store_true",
                      help="serve the deployments from this process until stopped")
    mode.add_argument("--pool", help="register the deployments for this work pool's workers")
    mode.add_argument("--dry-run", action="store_true", help="print the deployments as JSON")
    deploy.set_defaults(handler=run_deploy)
