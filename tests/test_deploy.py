"""Scheduled deployments against a real Prefect server on loopback.

A `prefect server start` subprocess, a `quarry deploy --serve` subprocess serving the
deployments, two runs of one source's deployment that must not overlap, then the same
deployment registered for a work pool's workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connectors.records import TerminalError
from flows.deploy import add_deploy_commands, apply_deployments, plan_deployments
from flows.settings import Settings
from index.catalog import Catalog
from index.lance import LanceStore
from tests.conftest import FIXTURES, PUBLIC_TOML

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CRON = "0 3 * * *"
SERVE = """
import argparse, sys
from pathlib import Path
from flows.deploy import add_deploy_commands
from flows.settings import Settings
parser = argparse.ArgumentParser()
add_deploy_commands(parser.add_subparsers())
args = parser.parse_args(sys.argv[2:])
settings = Settings(store=Path(sys.argv[1]))
settings.prepare_runtime()
sys.exit(args.handler(args, settings))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop a process this test started, and bound the wait."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_healthy(url: str, process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"prefect server not healthy after {seconds}s: {log.read_text()[-2000:]}")


@pytest.fixture
def config(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "docs" / "sub", tmp_path / "corpus" / "docs")
    shutil.copytree(FIXTURES / "meetings", tmp_path / "corpus" / "meetings")
    path = tmp_path / "quarry.toml"
    path.write_text(
        f'[[sources]]\nname = "docs"\ntype = "docs"\npath = "corpus/docs"\n{PUBLIC_TOML}\n'
        f'schedule = "{CRON}"\n\n'
        '[[sources]]\nname = "meetings"\ntype = "meetings"\npath = "corpus/meetings"\n'
        f'{PUBLIC_TOML}\n'
    )
    return path


@pytest.fixture
def server(tmp_path):
    """A real Prefect server on a free loopback port, with its home in tmp_path."""
    port = free_port()
    env = os.environ | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start",
             "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(url, process, log, 120)
        yield url, env | {"PREFECT_API_URL": url}
    finally:
        stop(process)


def test_plan_has_one_deployment_per_scheduled_source(config, tmp_path):
    plans = plan_deployments(config, tmp_path / "store", engine="dask")
    assert [p.name for p in plans] == ["sync-docs"]
    assert plans[0].cron == CRON
    assert plans[0].parameters == {
        "config_path": str(config.resolve()),
        "store_path": str((tmp_path / "store").resolve()),
        "sources": ["docs"],
        "engine": "dask",
    }


def test_deploy_command_needs_a_mode(config, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_deploy_commands(parser.add_subparsers())
    settings = Settings(store=tmp_path / "store")
    args = parser.parse_args(["deploy", "--config", str(config), "--dry-run"])
    assert args.handler(args, settings) == 0
    assert '"sync-docs"' in capsys.readouterr().out
    args = parser.parse_args(["deploy", "--config", str(config)])
    with pytest.raises(TerminalError):
        args.handler(args, settings)


def test_served_deployment_runs_on_a_real_server_without_overlap(config, server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, env = server
    store = tmp_path / "store"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serving = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(store), "deploy", "--config", str(config),
             "--serve"],
            env=env | {"PREFECT_RUNNER_POLL_FREQUENCY": "2"},
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )
    try:
        with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
            deployment = wait_for_deployment(client, "ingest/sync-docs", serving, log, 120)
            assert [s.schedule.cron for s in deployment.schedules] == [CRON]
            assert deployment.global_concurrency_limit.limit == 1
            assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"
            first = run_deployment(deployment.id, timeout=0)
            second = run_deployment(deployment.id, timeout=0)
            runs = [wait_final(client, r.id, serving, log, 300) for r in (first, second)]
            histories = [[s.name for s in client.read_flow_run_states(r.id)] for r in runs]
            stop(serving)
            client.create_work_pool(WorkPoolCreate(name="quarry", type="process"))
            [applied] = apply_deployments(config, store, pool="quarry")
            pooled = client.read_deployment(applied)
            assert pooled.work_pool_name == "quarry" and pooled.entrypoint == "flows.ingest.ingest"
    finally:
        stop(serving)
    assert all(r.state.is_completed() for r in runs), [r.state for r in runs]
    earlier, later = sorted(runs, key=lambda r: r.start_time)
    assert earlier.end_time <= later.start_time, "two syncs of one source overlapped"
    assert any("AwaitingConcurrencySlot" in h for h in histories), histories
    catalog = Catalog(store / "catalog.duckdb")
    try:
        documents = catalog.stats()["documents"]
    finally:
        catalog.close()
    assert documents.get("docs", 0) >= 2 and "meetings" not in documents
    assert LanceStore(str(store / "lance")).count() > 0


def wait_for_deployment(client, name: str, serving, log: Path, seconds: float):
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if serving.poll() is not None:
            pytest.fail(f"quarry deploy --serve exited: {log.read_text()[-3000:]}")
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            time.sleep(1)
    pytest.fail(f"deployment {name} not registered after {seconds}s: {log.read_text()[-3000:]}")


def wait_final(client, run_id, serving, log: Path, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.read_flow_run(run_id)
        if run.state and run.state.is_final():
            return run
        if serving.poll() is not None:
            pytest.fail(f"quarry deploy --serve exited: {log.read_text()[-3000:]}")
        time.sleep(1)
    pytest.fail(f"flow run {run_id} not finished after {seconds}s: {log.read_text()[-3000:]}")
