"""SlackExportConnector against a small export fixture (directory and zip) and, when present,
the HERB export."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.records import Page, TerminalError
from connectors.slack import mentioned_ids, normalise_text
from connectors.slack_export import SlackExportConnector

FIXTURE = Path(__file__).parent / "fixtures" / "slack" / "export"
HERB_SLACK = Path(__file__).resolve().parents[2] / "shared" / "herb" / "corpus" / "slack"
PARENT_TS = "1709287800.000200"


def pull_all(connector: SlackExportConnector, cursor: dict | None = None) -> list[Page]:
    """The pages of a pull after its first, which carries the channel lists' readers and
    failures (and moves no cursor)."""
    return list(connector.pull(cursor))[1:]


def lists_page(connector: SlackExportConnector) -> Page:
    page = next(iter(connector.pull(None)))
    assert page.cursor is None and page.docs == []
    return page


def readers(connector: SlackExportConnector, doc) -> list[str]:
    """Who may read a message: its channel's readers, as the pull's first page gives them."""
    [ref] = doc.acl
    return lists_page(connector).containers[ref]


def docs_by_native_id(pages: list[Page]) -> dict:
    return {doc.native_id: doc for page in pages for doc in page.docs}


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A writable copy of the export fixture."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "export"))


@pytest.fixture
def docs() -> dict:
    return docs_by_native_id(pull_all(SlackExportConnector(FIXTURE)))


def rewrite(path: Path, content: str | bytes) -> None:
    """Write new content and move the mtime on, so the change shows however coarse the clock."""
    data = content.encode() if isinstance(content, str) else content
    path.write_bytes(data)
    later = time.time_ns() + 10**9
    os.utime(path, ns=(later, later))


def test_pull_yields_one_doc_per_message_and_one_page_per_daily_file():
    pages = pull_all(SlackExportConnector(FIXTURE))
    docs = docs_by_native_id(pages)
    assert len(docs) == 13
    assert sum(len(p.docs) for p in pages) == 13
    assert not any(p.failures for p in pages)
    assert [len(p.docs) for p in pages] == [1, 2, 7, 2, 1]
    assert set(pages[0].cursor["files"]) == {
        "D01DM/2024-03-01.json",
        "users.json",
        "channels.json",
        "groups.json",
        "dms.json",
    }
    files = pages[-1].cursor["files"]
    assert set(files) == {
        "D01DM/2024-03-01.json",
        "develop-georgemiller-CoachForce/2026-06-21.json",
        "general/2024-03-01.json",
        "general/2024-03-02.json",
        "secret/2024-03-01.json",
        "users.json",
        "channels.json",
        "groups.json",
        "dms.json",
    }
    stat = (FIXTURE / "general" / "2024-03-01.json").stat()
    assert files["general/2024-03-01.json"] == f"{stat.st_mtime_ns}:{stat.st_size}"


def test_plain_message_fields(docs):
    doc = docs["m-001"]
    assert doc.id == "slack:m-001"
    assert doc.source == "slack" and doc.kind == "message"
    assert doc.text == (
        "Hi @U02BOB, see the spec (https://example.com/spec) & https://example.com/raw <3 #general"
    )
    assert doc.author == "U01ALICE"
    assert doc.people == ["U01ALICE", "U02BOB"]
    assert doc.created_at == datetime(2024, 3, 1, 10, 0, 0, 100, tzinfo=UTC)
    assert doc.updated_at is None
    assert doc.container == "general"
    assert doc.title == "#general 2024-03-01"
    assert doc.group == "C01GENERAL/2024-03-01"
    assert doc.acl == ["quarry:container/slack/C01GENERAL"]
    assert readers(SlackExportConnector(FIXTURE), doc) == ["*"]
    assert doc.url is None
    assert doc.meta == {
        "channel_id": "C01GENERAL",
        "ts": "1709287200.000100",
        "user_name": "Alice Adams",
    }


def test_thread_parent_and_replies_share_the_thread_group(docs):
    parent, reply, next_day_reply = docs["m-002"], docs["m-003"], docs["m-008"]
    assert {parent.group, reply.group, next_day_reply.group} == {f"C01GENERAL/{PARENT_TS}"}
    assert reply.meta["thread_ts"] == PARENT_TS
    assert reply.meta["parent_user_id"] == "U02BOB"
    assert parent.meta["reply_count"] == "2"
    assert next_day_reply.title == "#general 2024-03-02"
    assert reply.text == "Agreed, @here please review"
    assert reply.people == ["U03CAROL"]


def test_bot_message_without_client_msg_id(docs):
    doc = docs["C01GENERAL/1709289000.000400"]
    assert doc.author == "B01DEPLOY"
    assert doc.meta["user_name"] == "deploybot"
    assert doc.meta["subtype"] == "bot_message"
    assert doc.text == "Deployed v1.2\nBuild 42 all green"


def test_subtype_edit_and_file_share(docs):
    join = docs["C01GENERAL/1709289600.000500"]
    assert join.meta["subtype"] == "channel_join"
    assert join.text == "@U03CAROL has joined the channel"
    edited = docs["m-006"]
    assert edited.updated_at == datetime(2024, 3, 1, 10, 55, tzinfo=UTC)
    shared = docs["m-007"]
    link = "https://acme.slack.com/files/U02BOB/F01DESIGN/design.pdf"
    assert shared.text == f"Here is the design\n[file: Design v2 [design.pdf] ({link})]"
    assert json.loads(shared.meta["file_permalinks"]) == [link]


def test_private_channel_and_dm_acl_is_the_member_list(docs):
    secret, dm = docs["m-101"], docs["m-201"]
    assert readers(SlackExportConnector(FIXTURE), secret) == ["U01ALICE", "U02BOB"]
    assert secret.container == "secret"
    assert readers(SlackExportConnector(FIXTURE), dm) == ["U01ALICE", "U03CAROL"]
    assert dm.container == "D01DM"
    assert dm.people == ["U03CAROL", "U01ALICE"]
    assert dm.text == "hey @U01ALICE, lunch?"


def test_herb_style_plain_mentions(docs):
    doc = docs["20260621-3-a7a47"]
    assert doc.people == ["slack_admin_bot", "eid_c0df5be6"]
    assert doc.meta["user_name"] == "Slackbot"
    assert doc.container == "develop-georgemiller-CoachForce"
    assert doc.group == "ch-foaix-5cd767/2026-06-21"


def test_plain_mentions_need_a_known_user_or_an_id_shape():
    text = "@eid_8a2cd06b and @George and @here, mail bob@eid_c0df5be6. <@U9Z|zed>"
    assert mentioned_ids(text, {"eid_8a2cd06b": "Fiona"}) == ["U9Z", "eid_8a2cd06b"]
    assert mentioned_ids(text, {}) == ["U9Z", "eid_8a2cd06b"]
    assert normalise_text("<!subteam^S1|@oncall> <mailto:a@b.co|a@b.co> <!channel> a<b") == (
        "@oncall a@b.co @channel a<b"
    )


def test_permalinks_when_the_workspace_url_is_known():
    connector = SlackExportConnector(FIXTURE, workspace_url="https://acme.slack.com/")
    docs = docs_by_native_id(pull_all(connector))
    assert docs["m-001"].url == "https://acme.slack.com/archives/C01GENERAL/p1709287200000100"
    assert docs["m-003"].url == (
        "https://acme.slack.com/archives/C01GENERAL/p1709288400000300"
        f"?thread_ts={PARENT_TS}&cid=C01GENERAL"
    )


@pytest.mark.parametrize("top_folder", ["", "Acme Slack export/"])
def test_zip_export_gives_the_same_docs(tmp_path: Path, top_folder: str):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(FIXTURE.rglob("*.json")):
            zf.write(path, top_folder + path.relative_to(FIXTURE).as_posix())
    pages = pull_all(SlackExportConnector(archive))
    expected = docs_by_native_id(pull_all(SlackExportConnector(FIXTURE)))
    got = docs_by_native_id(pages)
    assert {k: d.content_hash for k, d in got.items()} == {
        k: d.content_hash for k, d in expected.items()
    }
    files = pages[-1].cursor["files"]
    assert len(files) == 9 and all(sig.startswith("crc:") for sig in files.values())
    assert pull_all(SlackExportConnector(archive), pages[-1].cursor) == []


def test_incremental_pull_reads_only_new_and_changed_files(export: Path):
    connector = SlackExportConnector(export)
    cursor = pull_all(connector)[-1].cursor
    assert pull_all(connector, cursor) == []

    day = export / "general" / "2024-03-02.json"
    messages = json.loads(day.read_text())
    messages[1]["text"] = "Standup moved to 11am"
    rewrite(day, json.dumps(messages))
    (export / "general" / "2024-03-03.json").write_text(
        json.dumps([{"client_msg_id": "m-010", "user": "U02BOB", "ts": "1709460000.001000"}])
    )
    shutil.rmtree(export / "secret")
    pages = pull_all(connector, cursor)
    assert [sorted(d.native_id for d in p.docs) for p in pages] == [["m-008", "m-009"], ["m-010"]]
    assert docs_by_native_id(pages)["m-009"].text == "Standup moved to 11am"
    files = pages[-1].cursor["files"]
    assert "general/2024-03-03.json" in files
    assert "secret/2024-03-01.json" not in files
    assert pull_all(connector, pages[-1].cursor) == []


def test_changed_channel_list_rereads_every_daily_file(export: Path):
    connector = SlackExportConnector(export)
    cursor = pull_all(connector)[-1].cursor
    groups = json.loads((export / "groups.json").read_text())
    groups[0]["members"].append("U03CAROL")
    rewrite(export / "groups.json", json.dumps(groups))
    pages = pull_all(connector, cursor)
    docs = docs_by_native_id(pages)
    assert len(docs) == 13
    assert readers(connector, docs["m-101"]) == ["U01ALICE", "U02BOB", "U03CAROL"]
    assert pull_all(connector, pages[-1].cursor) == []


def test_a_resumed_pull_continues_after_the_last_saved_page():
    connector = SlackExportConnector(FIXTURE)
    first_two = []
    for page in connector.pull(None):
        first_two.append(page)
        if len(first_two) == 2:
            break
    rest = pull_all(connector, first_two[-1].cursor)
    done = [d.native_id for p in first_two for d in p.docs]
    resumed = [d.native_id for p in rest for d in p.docs]
    assert not set(done) & set(resumed)
    assert len(done) + len(resumed) == 13


def test_unreadable_daily_files_become_failures_and_the_rest_goes_on(export: Path):
    (export / "general" / "2024-03-02.json").write_text('[{"ts": "1709370000.0008", ')
    (export / "secret" / "2024-03-01.json").write_bytes(b'[{"ts": "1.0", "text": "caf\xe9"}]')
    (export / "D01DM" / "2024-03-01.json").write_text('{"not": "a list"}')
    (export / "develop-georgemiller-CoachForce" / "2026-06-21.json").write_text(
        '[{"text": "no ts"}, 7, {"ts": "1782040260.0", "text": "fine"}]'
    )
    pages = pull_all(SlackExportConnector(export))
    failures = {f.native_id: f.reason for p in pages for f in p.failures}
    assert set(failures) == {
        "general/2024-03-02.json",
        "secret/2024-03-01.json#0",
        "D01DM/2024-03-01.json",
        "develop-georgemiller-CoachForce/2026-06-21.json#0",
        "develop-georgemiller-CoachForce/2026-06-21.json#1",
    }
    assert "malformed JSON" in failures["general/2024-03-02.json"]
    assert "not valid UTF-8" in failures["secret/2024-03-01.json#0"]
    assert all(f.source == "slack" for p in pages for f in p.failures)
    docs = docs_by_native_id(pages)
    assert len(docs) == 8
    assert "general/2024-03-02.json" in pages[-1].cursor["files"]


def test_missing_user_and_channel_lists_degrade_to_folder_names_readable_by_nobody(export: Path):
    for name in ("users.json", "channels.json", "groups.json", "dms.json"):
        (export / name).unlink()
    connector = SlackExportConnector(export)
    pages = pull_all(connector)
    docs = docs_by_native_id(pages)
    assert len(docs) == 13 and not any(p.failures for p in pages)
    unknown = {f.native_id for f in lists_page(connector).failures}
    assert unknown == {"general/", "secret/", "D01DM/", "develop-georgemiller-CoachForce/"}
    assert readers(connector, docs["m-101"]) == ["quarry:unresolved"]
    bot = docs["general/1709289000.000400"]
    assert bot.container == "general" and bot.meta["channel_id"] == "general"
    assert bot.meta["user_name"] == "deploybot"
    assert "user_name" not in docs["m-001"].meta
    assert docs["20260621-3-a7a47"].people == ["slack_admin_bot", "eid_c0df5be6"]


def test_malformed_channel_list_is_a_failure_not_a_crash(export: Path):
    (export / "channels.json").write_text("[{")
    connector = SlackExportConnector(export)
    pages = pull_all(connector)
    failures = {f.native_id for f in lists_page(connector).failures}
    assert failures == {"channels.json", "general/", "develop-georgemiller-CoachForce/"}
    docs = docs_by_native_id(pages)
    assert len(docs) == 13
    assert readers(connector, docs["m-001"]) == ["quarry:unresolved"]
    assert readers(connector, docs["m-101"]) == ["U01ALICE", "U02BOB"]


def test_list_ids_matches_pull_and_drops_deleted_messages(export: Path):
    connector = SlackExportConnector(export)
    pulled = set(docs_by_native_id(pull_all(connector)))
    assert set(connector.list_ids()) == pulled
    (export / "general" / "2024-03-02.json").unlink()
    assert set(connector.list_ids()) == pulled - {"m-008", "m-009"}


def test_missing_or_broken_export_is_terminal(tmp_path: Path):
    with pytest.raises(TerminalError):
        list(SlackExportConnector(tmp_path / "nowhere").pull(None))
    broken = tmp_path / "export.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(TerminalError):
        list(SlackExportConnector(broken).list_ids())


@pytest.mark.skipif(not HERB_SLACK.is_dir(), reason="HERB corpus not present")
def test_herb_export_pulls_every_message_without_failures():
    started = time.monotonic()
    connector = SlackExportConnector(HERB_SLACK)
    docs = failures = 0
    channels = set()
    for page in connector.pull(None):
        docs += len(page.docs)
        failures += len(page.failures)
        channels.update(d.container for d in page.docs)
    assert (docs, failures, len(channels)) == (33_632, 0, 302)
    assert time.monotonic() - started < 60
