"""The `ingest` Prefect flow end to end: every connector type, real LanceDB, DuckDB and Prefect."""

from __future__ import annotations

import json
import shutil

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.cli import main
from flows.ingest import ingest
from tests.conftest import FIXTURES


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    for name in ("slack", "github", "docs", "meetings", "links", "directory"):
        shutil.copytree(FIXTURES / name, root / name)
    config = tmp_path / "quarry.toml"
    config.write_text(
        """
[[sources]]
name = "slack"
type = "slack-export"
path = "corpus/slack/export"

[[sources]]
name = "github"
type = "github-dir"
path = "corpus/github"

[[sources]]
name = "docs"
type = "docs"
path = "corpus/docs"
acl = { "*" = ["*"] }

[[sources]]
name = "meetings"
type = "meetings"
path = "corpus/meetings"
acl = { "*" = ["*"] }

[[sources]]
name = "links"
type = "bookmarks"
path = "corpus/links"

[[sources]]
name = "directory"
type = "directory"
path = "corpus/directory"
"""
    )
    return root, config


def cli_json(capsys, *args: str) -> dict | list:
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_all_sources_then_follow_changes(corpus, tmp_path, capsys):
    root, config = corpus
    store = str(tmp_path / "store")

    first = ingest(str(config), store)
    assert first["status"] == "completed with failures"
    stats = cli_json(capsys, "--store", store, "stats", "--json")
    assert all(stats["documents"][s] > 0 for s in ("slack", "github", "docs", "meetings",
                                                     "links", "directory"))
    assert stats["chunks"] == first["chunks"] > 0
    bad = {f["native_id"] for f in cli_json(capsys, "--store", store, "failures", "--json")}
    assert {"bad/corrupt.pdf", "bad/corrupt.docx", "bad/empty.md"} <= bad
    assert stats["failures"] == len(bad) == first["failures"]

    second = ingest(str(config), store)
    assert second["docs_changed"] == 0 and second["chunks_embedded"] == 0
    assert second["chunks"] == first["chunks"]

    guide = root / "docs" / "product_guide.md"
    guide.write_text(guide.read_text() + "\n\n## Rollout\n\nThe zebra rollout starts in May.\n")
    (root / "meetings" / "retro_2.txt").unlink()
    third = ingest(str(config), store)
    assert third["docs_changed"] == 1 and third["docs_deleted"] == 1
    assert third["chunks_embedded"] >= 1

    hits = cli_json(capsys, "--store", store, "search", "zebra rollout", "--json", "-k", "3")
    assert hits[0]["native_ids"] == ["product_guide.md"]
    gone = cli_json(capsys, "--store", store, "search", "retro", "--json", "-k", "50")
    assert all("retro_2.txt" not in h["native_ids"] for h in gone)
