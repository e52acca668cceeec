"""The `quarry` command in a subprocess on a small ingested store: clean output, the live
display on a pseudo-terminal, structured progress in logs, and one-line errors."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).parents[1]
CONFIG = """[engine]
name = "local"

[[sources]]
name = "team-slack"
type = "slack-export"
path = "{fixtures}/slack/export"

[[sources]]
name = "people"
type = "directory"
path = "{fixtures}/directory"
"""
NOISE = ("Traceback", "Loading weights", "it/s]", "temporary server", "Warning")


def quarry(*args: str, store: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("PREFECT_API_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "--store", str(store), *args],
        check=False, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300,
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "quarry.toml"
    path.write_text(CONFIG.format(fixtures=FIXTURES))
    return path


@pytest.fixture(scope="module")
def store(config) -> Path:
    store = config.parent / "store"
    run = quarry("ingest", "--config", str(config), "--json", store=store)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["status"] == "completed" and report["docs_changed"] > 0
    assert not any(n in run.stderr for n in NOISE) and run.stderr == ""
    return store


def test_a_rerun_changes_nothing_and_logs_one_json_line_per_source(store, config):
    run = quarry("ingest", "--config", str(config), store=store)
    assert run.returncode == 0 and "completed" in run.stdout
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    done = [line for line in lines if line["done"]]
    assert [line["source"] for line in done] == ["team-slack", "people"]
    assert all(line["event"] == "ingest_progress" and line["changed"] == 0 for line in lines)
    quiet = quarry("ingest", "--config", str(config), "--quiet", store=store)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_the_live_display_on_a_terminal_shows_each_source_and_a_total(tmp_path, config):
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TERM": "xterm"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "--store", str(tmp_path / "store"), "ingest", "--config", str(config)],
        stdin=follower, stdout=follower, stderr=follower, cwd=ROOT, env=env,
    )
    os.close(follower)
    out = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    for word in ("source", "read", "changed", "embedded", "rate/s", "team-slack", "people", "total", "done"):
        assert word in text
    assert not any(n in text for n in NOISE), text


def test_search_and_ask_print_results(store):
    search = quarry("search", "dashboard", "-k", "3", store=store)
    assert search.returncode == 0 and search.stdout.count("[slack]") + search.stdout.count("[directory]") >= 1
    ask = quarry("ask", "who is the VP of Engineering?", "--json", store=store)
    assert ask.returncode == 0 and "question" in json.loads(ask.stdout)


def test_search_never_imports_lancedb(store):
    code = ("import sys; from flows.cli import main; rc = main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lancedb', 'lance_namespace')), "
            "file=sys.stderr); raise SystemExit(rc)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", code, "--store", str(store), "search", "dashboard", "-k", "3"],
                         check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert run.returncode == 0 and ("[slack]" in run.stdout or "[directory]" in run.stdout)
    assert run.stderr.strip().splitlines()[-1] == "[]"


def one_line_error(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("quarry: ") and "Traceback" not in run.stderr, run.stderr
    return lines[0]


def test_user_mistakes_are_one_line_and_debug_shows_the_traceback(tmp_path, store, config):
    assert "no store at" in one_line_error(quarry("stats", store=tmp_path / "nowhere"))
    assert not (tmp_path / "nowhere").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.format(fixtures=FIXTURES).replace('type = "directory"', 'type = "directories"'))
    line = one_line_error(quarry("ingest", "--config", str(bad), store=tmp_path / "s"))
    assert f"{bad}:11: sources[1].type: Input should be" in line
    broken = tmp_path / "broken.toml"
    broken.write_text("[engine\nname = 1\n")
    assert "line 1" in one_line_error(quarry("ingest", "--config", str(broken), store=tmp_path / "s"))
    assert "no source named 'nope'" in one_line_error(
        quarry("ingest", "--config", str(config), "--source", "nope", store=tmp_path / "s"))
    missing = tmp_path / "missing.toml"
    missing.write_text(CONFIG.format(fixtures=tmp_path / "gone"))
    assert "not found: " in one_line_error(quarry("ingest", "--config", str(missing), store=tmp_path / "s"))
    assert "QUARRY_API_KEY" in one_line_error(quarry("mcp", store=store))
    assert "QUARRY_SLACK_BOT_TOKEN" in one_line_error(quarry("slack-bot", store=store))
    debug = quarry("--debug", "stats", store=tmp_path / "nowhere")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_stats_read_the_last_committed_state_while_a_writer_holds_the_store(store):
    holder = duckdb.connect(str(store / "catalog.duckdb"))
    try:
        run = quarry("stats", store=store)
    finally:
        holder.close()
    assert run.returncode == 0 and "chunks" in run.stdout and not run.stderr.strip()
