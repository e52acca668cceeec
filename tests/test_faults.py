"""Fault injection on real components and the real flow: permissions that cannot be known,
bad inputs, crashes (kill -9 of a real ingest at named points) and concurrent runs.

Permission cases check that an outsider's search, documents, ask and stream hold none of
the private content; bad-input cases that the run completes, other sources sync and the
failure clears once the input is fixed or removed; crash cases that the next sync leaves
a store identical to a clean ingest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.cli import main
from flows.ingest import ingest
from index.catalog import Catalog
from index.lance import LanceStore
from index.records import Query
from qa.permitted import PermittedCatalog
from qa.serve.auth import KeyStore
from qa.serve.models import ApiLimits
from tests.api_server import LiveServer, api_app
from tests.conftest import FIXTURES
from tests.faults import assert_same_store, caller_responses, make_corpus, run_until, touch_later

SECRETS = ("closes in May", "m-101", "Heron", "heron-1")
HIDDEN_DAY = [{"client_msg_id": "heron-1", "user": "U01ALICE", "ts": "1709287400.000100",
               "text": "The merger codename is Heron"}]
LIMITS = ApiLimits(rate_per_minute=60000, burst=10000, refresh_s=0)


@pytest.fixture(scope="module", autouse=True)
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def failures_of(store: Path) -> dict[str, str]:
    catalog = Catalog(store / "catalog.duckdb", read_only=True)
    try:
        return {f["native_id"]: f["reason"] for f in catalog.failures()}
    finally:
        catalog.close()


def documents_of(store: Path) -> set[str]:
    catalog = Catalog(store / "catalog.duckdb", read_only=True)
    try:
        return {r["id"] for r in catalog.query("SELECT id FROM documents WHERE status = 'indexed'")}
    finally:
        catalog.close()


def readable(store: Path, principals: list[str], text: str) -> tuple[set[str], list[str]]:
    """What `principals` may read: native ids of a permitted catalog view, and the texts of
    a restricted chunk search."""
    view = PermittedCatalog(store / "catalog.duckdb", principals)
    try:
        ids = {r["native_id"] for r in view.query("SELECT native_id FROM documents")}
    finally:
        view.close()
    hits = LanceStore(str(store / "lance")).search(Query(text=text, mode="text", k=50, principals=principals))
    return ids, [h.text for h in hits]


@contextmanager
def api(store: Path, embedder, *principals: str) -> Iterator[tuple[LiveServer, list[str]]]:
    """The HTTP API over the store, with a key for each principal."""
    keys = KeyStore(store / "keys.duckdb")
    secrets = [keys.create(p)[1] for p in principals]
    with LiveServer(api_app(store, embedder, limits=LIMITS)) as server:
        yield server, secrets


def responses(server: LiveServer, key: str) -> str:
    """Everything a caller gets back from search, documents, ask and a streamed ask."""
    return caller_responses(
        server, key, "acquisition closes in May merger codename",
        ("When does the acquisition close?", "What is the merger codename?"), ("slack:m-101", "slack:heron-1"),
    )


@pytest.fixture
def broken_lists(tmp_path: Path) -> tuple[Path, Path]:
    """A Slack export whose groups.json is malformed and with a folder no list names."""
    config = make_corpus(tmp_path, ("slack",))
    export = tmp_path / "corpus" / "slack"
    (export / "groups.json").write_text('[{"id": "G01SECRET", "name": "secret", "members": [')
    (export / "hidden").mkdir()
    (export / "hidden" / "2024-03-01.json").write_text(json.dumps(HIDDEN_DAY))
    return config, tmp_path / "store"


def test_unreadable_channel_lists_and_unlisted_folders_are_readable_by_nobody(broken_lists, embedder):
    config, store = broken_lists
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures"
    failures = failures_of(store)
    assert "malformed JSON" in failures["groups.json"]
    assert "readable by nobody" in failures["secret/"] and "readable by nobody" in failures["hidden/"]
    trusted = LanceStore(str(store / "lance")).search(Query(text="acquisition Heron", mode="text"))
    assert {"m-101", "heron-1"} <= {n for h in trusted for n in h.native_ids}
    with api(store, embedder, "U03CAROL", "U01ALICE") as (server, keys):
        for key in keys:
            body = responses(server, key)
            assert not [s for s in SECRETS if s in body]


def test_fixed_channel_list_gives_members_their_channel_back(broken_lists, embedder):
    config, store = broken_lists
    ingest(str(config), str(store))
    export = config.parent / "corpus" / "slack"
    shutil.copy(FIXTURES / "slack" / "export" / "groups.json", export / "groups.json")
    touch_later(export / "groups.json")
    ingest(str(config), str(store))
    assert "groups.json" not in failures_of(store) and "secret/" not in failures_of(store)
    ids, texts = readable(store, ["U01ALICE"], "acquisition closes")
    assert "m-101" in ids and any("closes in May" in t for t in texts)
    assert "heron-1" not in ids
    with api(store, embedder, "U03CAROL") as (server, [outsider]):
        body = responses(server, outsider)
        assert not [s for s in SECRETS if s in body]


def test_membership_change_reaches_old_messages_at_the_next_sync_without_reembedding(tmp_path):
    config = make_corpus(tmp_path, ("slack",))
    store = tmp_path / "store"
    ingest(str(config), str(store))
    assert "m-101" in readable(store, ["U02BOB"], "acquisition")[0]
    groups = config.parent / "corpus" / "slack" / "groups.json"
    entries = json.loads(groups.read_text())
    entries[0]["members"] = ["U01ALICE", "U03CAROL"]
    groups.write_text(json.dumps(entries))
    touch_later(groups)
    report = ingest(str(config), str(store))
    assert report["chunks_embedded"] == 0 and report["docs_changed"] == 0
    bob, carol = readable(store, ["U02BOB"], "acquisition"), readable(store, ["U03CAROL"], "acquisition")
    assert "m-101" not in bob[0] and not any("closes in May" in t for t in bob[1])
    assert "m-101" in carol[0] and any("closes in May" in t for t in carol[1])


def test_a_caller_naming_reserved_principals_reads_nothing_private(broken_lists):
    config, store = broken_lists
    ingest(str(config), str(store))
    reserved = ["quarry:unresolved", "quarry:container/slack/secret", "quarry:container/slack/hidden"]
    ids, texts = readable(store, reserved, "acquisition Heron merger")
    assert not {"m-101", "heron-1"} & ids
    assert not [t for t in texts if "Heron" in t or "closes in May" in t]


def test_deeply_nested_day_file_fails_alone_and_clears_when_fixed(tmp_path):
    config = make_corpus(tmp_path, ("slack", "meetings"))
    store = tmp_path / "store"
    day = config.parent / "corpus" / "slack" / "general" / "2024-03-05.json"
    day.write_text("[" * 200_000 + "]" * 200_000)
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures"
    assert "nested too deeply" in failures_of(store)["general/2024-03-05.json"]
    assert {"slack:m-001", "meetings:retro_2.txt"} <= documents_of(store)
    day.write_text(json.dumps([{"client_msg_id": "m-500", "user": "U01ALICE", "ts": "1709600000.0001",
                                "text": "Nesting fixed"}]))
    touch_later(day)
    ingest(str(config), str(store))
    assert "general/2024-03-05.json" not in failures_of(store)
    assert "slack:m-500" in documents_of(store)


def test_invalid_utf8_in_one_message_fails_that_message_and_clears_when_removed(tmp_path):
    config = make_corpus(tmp_path, ("slack",))
    store = tmp_path / "store"
    day = config.parent / "corpus" / "slack" / "general" / "2024-03-05.json"
    day.write_bytes(b'[{"client_msg_id": "m-501", "ts": "1709600000.0001", "text": "fine"},'
                    b' {"client_msg_id": "m-502", "ts": "1709600001.0001", "text": "caf\xe9"}]')
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures"
    assert "not valid UTF-8" in failures_of(store)["general/2024-03-05.json#1"]
    assert "slack:m-501" in documents_of(store) and "slack:m-502" not in documents_of(store)
    day.unlink()
    ingest(str(config), str(store))
    assert not failures_of(store)
    assert "slack:m-501" not in documents_of(store)


def test_oversized_day_file_is_a_failure_and_the_rest_syncs(tmp_path):
    config = make_corpus(tmp_path, ("slack",), {"slack": "max_bytes = 4000"})
    store = tmp_path / "store"
    day = config.parent / "corpus" / "slack" / "general" / "2024-03-05.json"
    day.write_text(json.dumps([{"ts": f"17096000{i:02}.0001", "text": "x" * 100} for i in range(50)]))
    ingest(str(config), str(store))
    assert "larger than the limit of 4000" in failures_of(store)["general/2024-03-05.json"]
    assert "slack:m-001" in documents_of(store)


def test_file_name_that_is_not_utf8_does_not_stop_the_run(tmp_path):
    config = make_corpus(tmp_path, ("docs", "meetings"))
    store = tmp_path / "store"
    folder = config.parent / "corpus" / "docs"
    bad = folder / "caf\udce9.md"
    bad.write_text("# Cafe\n\nThe espresso machine moves to floor two.\n")
    report = ingest(str(config), str(store))
    assert report["sources_failed"] == []
    assert {"docs:caf\\xe9.md", "docs:product_guide.md", "meetings:retro_2.txt"} <= documents_of(store)
    bad.rename(folder / "cafe.md")
    ingest(str(config), str(store))
    assert "docs:caf\\xe9.md" not in documents_of(store) and "docs:cafe.md" in documents_of(store)


def test_vtt_with_broken_cues_is_a_failure_and_clears_when_fixed(tmp_path):
    config = make_corpus(tmp_path, ("meetings",))
    store = tmp_path / "store"
    vtt = config.parent / "corpus" / "meetings" / "broken_1.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Ann Lee>Hello\n\n00:02 -> 00:04\n<v Bo Kim>Hi\n")
    ingest(str(config), str(store))
    assert "broken WebVTT cue 2" in failures_of(store)["broken_1.vtt"]
    assert "meetings:broken_1.vtt" not in documents_of(store)
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Ann Lee>Hello\n\n00:02.000 --> 00:04.000\n<v Bo Kim>Hi\n")
    touch_later(vtt)
    ingest(str(config), str(store))
    assert "broken_1.vtt" not in failures_of(store) and "meetings:broken_1.vtt" in documents_of(store)


def test_csv_and_bookmark_file_failures_clear_when_fixed_or_removed(tmp_path):
    config = make_corpus(tmp_path, ("directory", "links"))
    store = tmp_path / "store"
    people = config.parent / "corpus" / "directory" / "contractors.csv"
    people.write_text("employee_id,name,role\neid_c0000001,Cy Young,Contractor\n,No Id,Contractor\n")
    junk = config.parent / "corpus" / "links" / "notes.html"
    junk.write_text("<html><body><p>not a bookmark file</p></body></html>")
    ingest(str(config), str(store))
    failures = failures_of(store)
    assert "has no employee_id" in failures["contractors.csv#3"]
    assert "not a Netscape bookmark file" in failures["notes.html"]
    people.write_text("employee_id,name,role\neid_c0000001,Cy Young,Contractor\neid_c0000002,Di Lu,Contractor\n")
    touch_later(people)
    junk.unlink()
    ingest(str(config), str(store))
    assert set(failures_of(store)) == {"bookmarks.html#23"}
    assert "directory:eid_c0000002" in documents_of(store)


def test_a_source_that_fails_entirely_does_not_stop_the_others(tmp_path):
    config = make_corpus(tmp_path, ("slack", "meetings"))
    export = config.parent / "corpus" / "slack"
    shutil.move(export, config.parent / "away")
    store = tmp_path / "store"
    report = ingest(str(config), str(store))
    assert report["status"] == "completed with failures" and report["sources_failed"] == ["slack"]
    assert "Slack export not found" in failures_of(store)["(whole source)"]
    assert "meetings:retro_2.txt" in documents_of(store)
    shutil.move(config.parent / "away", export)
    assert ingest(str(config), str(store))["status"] == "completed"
    assert failures_of(store) == {} and "slack:m-001" in documents_of(store)


def edited_then_restored(tmp_path: Path, point: str) -> tuple[Path, Path]:
    """A store whose ingest of an edited transcript was killed at `point`, then synced again
    with the file restored; and a clean ingest of the same files."""
    config = make_corpus(tmp_path / "crashed")
    store = tmp_path / "crashed" / "store"
    ingest(str(config), str(store))
    retro = config.parent / "corpus" / "meetings" / "retro_2.txt"
    original = retro.read_text()
    retro.write_text(original + "[00:00:40] Dana Lee: The zebra migration is next.\n")
    run_until(point, config, store)
    retro.write_text(original)
    touch_later(retro)
    ingest(str(config), str(store))
    clean = make_corpus(tmp_path / "clean")
    ingest(str(clean), str(tmp_path / "clean" / "store"))
    return store, tmp_path / "clean" / "store"


@pytest.mark.parametrize("point", ["after_chunk_insert", "after_stale_delete"])
def test_kill_while_an_edited_file_is_rewritten_then_restored(tmp_path, point):
    crashed, clean = edited_then_restored(tmp_path, point)
    assert_same_store(crashed, clean)


def test_kill_during_the_final_index_build(tmp_path):
    config = make_corpus(tmp_path / "crashed")
    store = tmp_path / "crashed" / "store"
    run_until("during_index_build", config, store)
    report = ingest(str(config), str(store))
    assert report["docs_changed"] == 0 and report["derived_rebuilt"]
    clean = make_corpus(tmp_path / "clean")
    ingest(str(clean), str(tmp_path / "clean" / "store"))
    assert_same_store(store, tmp_path / "clean" / "store")


def test_a_group_that_lost_its_chunks_is_rebuilt_at_the_next_sync(tmp_path):
    config = make_corpus(tmp_path)
    store = tmp_path / "store"
    ingest(str(config), str(store))
    LanceStore(str(store / "lance")).table.delete("source = 'meetings'")
    report = ingest(str(config), str(store))
    assert report["groups_repaired"] == 5
    clean = make_corpus(tmp_path / "clean")
    ingest(str(clean), str(tmp_path / "clean" / "store"))
    assert_same_store(store, tmp_path / "clean" / "store")


@pytest.fixture(scope="module")
def held(prefect_server, tmp_path_factory):
    """An ingest held mid-write (the store locked, its catalog open for writing) over a
    store that a first ingest filled."""
    root = tmp_path_factory.mktemp("held")
    config = make_corpus(root)
    store = root / "store"
    ingest(str(config), str(store))
    retro = config.parent / "corpus" / "meetings" / "retro_2.txt"
    retro.write_text(retro.read_text() + "[00:00:40] Dana Lee: The zebra migration is next.\n")
    process = run_until("hold_after_chunk_insert", config, store, hold=True)
    yield config, store, process
    process.kill()
    process.wait()


def test_a_second_ingest_exits_with_one_line_naming_the_writer(held, capsys):
    config, store, process = held
    capsys.readouterr()
    assert main(["--store", str(store), "ingest", "--config", str(config)]) == 2
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("quarry:")]
    assert f"being written by process {process.pid}" in line


def test_readers_see_the_last_committed_state_during_an_ingest(held, capsys):
    _, store, _ = held
    catalog = Catalog(store / "catalog.duckdb", read_only=True)
    try:
        assert catalog.stats()["documents"] == {"slack": 13, "meetings": 5}
        assert catalog.failures() == []
    finally:
        catalog.close()
    hits = LanceStore(str(store / "lance")).search(Query(text="release went out on time", mode="text"))
    assert hits
    capsys.readouterr()
    assert main(["--store", str(store), "ask", "who organised the sprint retrospective?", "--json"]) == 0
    assert main(["--store", str(store), "ask", "what went well?", "--principal", "U01ALICE", "--json"]) == 0
    assert main(["--store", str(store), "search", "release", "--mode", "text", "--json"]) == 0
