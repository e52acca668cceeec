"""MeetingsConnector: WebVTT, SRT, plain and chat files; failures; cursors; the HERB folder."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.meetings import MeetingsConnector
from connectors.records import UNRESOLVED, TerminalError
from tests.conftest import HERB, PUBLIC, pull_all

HERB_CORPUS = HERB / "corpus"
FIXTURES = Path(__file__).parent / "fixtures" / "meetings"




@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "meetings"
    shutil.copytree(FIXTURES, root)
    return root


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_vtt_with_note_header():
    docs, failures, _ = pull_all(MeetingsConnector(FIXTURES, acl_rules=PUBLIC))
    doc = docs["CForceAIX_planning_1.vtt"]
    assert failures == []
    assert doc.id == "meetings:CForceAIX_planning_1.vtt"
    assert doc.kind == "transcript"
    assert doc.title == "Market Research Report (CForceAIX_planning_1)"
    assert doc.created_at == datetime(2026, 6, 26, 15, 16, tzinfo=UTC)
    assert doc.container == "CForceAIX_planning"
    assert doc.people == [
        "eid_fa16fefb",
        "eid_d0b6cb92",
        "eid_439a052b",
        "eid_6d14c4ec",
        "eid_539907c1",
        "eid_abff6bea",
    ]
    assert json.loads(doc.meta["participants"]) == doc.people
    assert doc.meta["meeting"] == "CForceAIX_planning_1"
    assert doc.meta["topic"] == "Market Research Report"
    assert json.loads(doc.meta["speakers"])[:3] == ["Julia Davis", "Ian Smith", "Bob Jones"]
    lines = doc.text.splitlines()
    assert len(lines) == 12
    assert lines[0].startswith("Julia Davis: Team, I wanted to get your feedback")
    assert lines[-1].startswith("Julia Davis: Thank you all")
    assert "<v" not in doc.text and "-->" not in doc.text
    assert doc.group == doc.id and doc.acl == ["quarry:container/folder/meetings/*"]


def test_consecutive_cues_of_one_speaker_merge_into_one_turn(tmp_path):
    write(
        tmp_path / "sync_1.vtt",
        "WEBVTT - team sync\n\n"
        "STYLE\n::cue { color: white }\n\n"
        "NOTE recorded by the bot\n\n"
        "intro\n00:00.000 --> 00:02.000 align:start\n<v.lead Ana Ruiz>Hello &amp; welcome.</v>\n\n"
        "00:02.000 --> 00:04.000\n<v Ana Ruiz>Two <b>quick</b> items\ntoday.\n\n"
        "00:04.000 --> 00:06.000\n<v Ben Ode>First one: <00:00:04.500>the launch.\n\n"
        "00:06.000 --> 00:08.000\n<v Ben Ode>Done.</v> <v Ana Ruiz>Thanks, Ben.</v>\n\n"
        "00:08.000 --> 00:09.000\n<v Ana Ruiz>Bye.\n",
    )
    docs, failures, _ = pull_all(MeetingsConnector(tmp_path, acl_rules=PUBLIC))
    assert failures == []
    doc = docs["sync_1.vtt"]
    assert doc.text.splitlines() == [
        "Ana Ruiz: Hello & welcome. Two quick items today.",
        "Ben Ode: First one: the launch. Done.",
        "Ana Ruiz: Thanks, Ben. Bye.",
    ]
    assert doc.title == "sync_1"
    assert doc.people == ["Ana Ruiz", "Ben Ode"]
    assert doc.created_at is None


def test_vtt_with_speaker_prefixes_instead_of_voice_tags(tmp_path):
    write(
        tmp_path / "zoom.vtt",
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nCara Diaz: Can everyone hear me?\n\n"
        "2\n00:00:02.000 --> 00:00:03.000\nDev Shah: Yes.\n\n"
        "3\n00:00:03.000 --> 00:00:04.000\nOverall the plan is: fine\n",
    )
    docs, _, _ = pull_all(MeetingsConnector(tmp_path, acl_rules=PUBLIC))
    assert docs["zoom.vtt"].text.splitlines() == [
        "Cara Diaz: Can everyone hear me?",
        "Dev Shah: Yes. Overall the plan is: fine",
    ]


def test_srt_with_carried_speakers_and_markup():
    docs, _, _ = pull_all(MeetingsConnector(FIXTURES, acl_rules=PUBLIC))
    doc = docs["standup_3.srt"]
    assert doc.kind == "transcript"
    assert doc.text.splitlines() == [
        "Alice Chen: Morning all. Quick standup today. I have one blocker on the search index.",
        (
            "Bob Ruiz: I can help with that after lunch. The PR is at "
            "https://github.com/acme/search/pull/42."
        ),
    ]
    assert doc.title == "standup_3"
    assert doc.container == "standup"
    assert doc.people == ["Alice Chen", "Bob Ruiz"]
    assert json.loads(doc.meta["urls"]) == ["https://github.com/acme/search/pull/42"]


def test_plain_speaker_transcript_with_header():
    docs, _, _ = pull_all(MeetingsConnector(FIXTURES, acl_rules=PUBLIC))
    doc = docs["retro_2.txt"]
    assert doc.kind == "transcript"
    assert doc.title == "Sprint retrospective (retro_2)"
    assert doc.author == "eid_aaaa1111"
    assert doc.created_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert doc.text.splitlines() == [
        "Dana Lee: What went well this sprint?",
        (
            "Eli Park: The release went out on time. We also closed twelve bugs. "
            "And the docs are done."
        ),
        "Dana Lee: Great. What should we change?",
    ]
    assert doc.people == ["Dana Lee", "Eli Park"]
    assert json.loads(doc.meta["participants"]) == []


def test_chat_pairs_with_its_transcript():
    docs, _, _ = pull_all(MeetingsConnector(FIXTURES, acl_rules=PUBLIC))
    chat, transcript = docs["CForceAIX_planning_1_chat.txt"], docs["CForceAIX_planning_1.vtt"]
    assert chat.kind == "chat"
    assert chat.meta["meeting"] == transcript.meta["meeting"] == "CForceAIX_planning_1"
    assert chat.meta["topic"] == "Market Research Report"
    assert chat.title == "Market Research Report (CForceAIX_planning_1) chat"
    assert chat.container == transcript.container
    assert chat.people == transcript.people
    assert chat.text == (
        "Julia Davis: https://sf-internal.slack.com/archives/docs/"
        "final_cforceaix_market_research_report"
    )
    assert json.loads(chat.meta["urls"]) == [
        "https://sf-internal.slack.com/archives/docs/final_cforceaix_market_research_report"
    ]
    assert json.loads(chat.meta["speakers"]) == ["Julia Davis"]
    assert chat.created_at == datetime(2026, 6, 26, 15, 16, tzinfo=UTC)
    assert chat.group == chat.id


def test_chat_messages_continue_over_lines():
    docs, _, _ = pull_all(MeetingsConnector(FIXTURES, acl_rules=PUBLIC))
    chat = docs["retro_2_chat.txt"]
    assert chat.kind == "chat"
    assert chat.meta["meeting"] == "retro_2"
    assert chat.text.splitlines() == [
        "Dana Lee: Board: https://trello.com/b/abc123",
        (
            "Eli Park: Release notes are here https://docs.acme.io/notes/2.1, see section 3 "
            "and the checklist too"
        ),
    ]
    assert json.loads(chat.meta["urls"]) == [
        "https://trello.com/b/abc123",
        "https://docs.acme.io/notes/2.1",
    ]
    assert chat.created_at == datetime(2026, 3, 2, 10, 1, tzinfo=UTC)


def test_dated_chat_lines_make_a_chat_without_the_name(tmp_path):
    write(tmp_path / "log.txt", "2026-01-05 09:00 Kim Lo: hi\n2026-01-05 09:01 Max Yu: hello\n")
    docs, _, _ = pull_all(MeetingsConnector(tmp_path, acl_rules=PUBLIC))
    assert docs["log.txt"].kind == "chat"
    assert docs["log.txt"].text == "Kim Lo: hi\nMax Yu: hello"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("garbage.vtt", bytes(range(256)) * 4, "binary"),
        ("latin1.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nCaf\xe9\n".encode("latin-1"), "utf-8"),
        ("empty.srt", b"", "empty file"),
        ("blank.vtt", b"  \n\n", "only whitespace"),
        ("noheader.vtt", "1\n00:00.000 --> 00:01.000\n<v A B>hi\n", "missing WEBVTT header"),
        ("nocues.vtt", "WEBVTT\n\nNOTE\nMeeting: x_1\nTopic: nothing\n", "has no cues"),
        ("nocues.srt", "just a caption without timings\n", "no SRT cues"),
        ("notes.txt", "Some notes\nwithout any speaker lines\n", "no 'Speaker: text' lines"),
        ("x_chat.txt", "nothing that looks like a message\n", "no chat messages"),
    ],
)
def test_bad_inputs_become_failures(tmp_path, name, content, reason):
    write(tmp_path / name, content)
    shutil.copy(FIXTURES / "standup_3.srt", tmp_path / "good.srt")
    docs, failures, cursor = pull_all(MeetingsConnector(tmp_path, acl_rules=PUBLIC))
    assert list(docs) == ["good.srt"]
    assert [(failure.source, failure.native_id) for failure in failures] == [("meetings", name)]
    assert reason.lower() in failures[0].reason.lower()
    assert set(cursor["files"]) == {name, "good.srt"}


def test_files_over_the_size_limit_fail(tmp_path):
    shutil.copy(FIXTURES / "CForceAIX_planning_1.vtt", tmp_path / "big.vtt")
    _, failures, _ = pull_all(MeetingsConnector(tmp_path, max_bytes=1000, acl_rules=PUBLIC))
    assert "larger than the limit" in failures[0].reason


def test_unchanged_files_are_not_yielded_again(folder):
    connector = MeetingsConnector(folder, acl_rules=PUBLIC)
    docs, _, cursor = pull_all(connector)
    assert len(docs) == 5
    json.dumps(cursor)
    assert set(cursor["files"]) == set(docs)
    assert all(":" in mark for mark in cursor["files"].values())
    again, failures, same = pull_all(connector, cursor)
    assert again == {} and failures == []
    assert same == cursor


def test_changed_and_new_files_are_yielded_again(folder):
    connector = MeetingsConnector(folder, acl_rules=PUBLIC)
    _, _, cursor = pull_all(connector)
    retro = folder / "retro_2.txt"
    retro.write_text(retro.read_text() + "[00:00:40] Eli Park: Ship it.\n")
    os.utime(retro, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    write(folder / "later" / "sync_chat.txt", "2026-03-03T09:00:00 Dana Lee: hello\n")
    docs, _, next_cursor = pull_all(connector, cursor)
    assert set(docs) == {"retro_2.txt", "later/sync_chat.txt"}
    assert docs["retro_2.txt"].text.endswith(
        "Dana Lee: Great. What should we change?\nEli Park: Ship it."
    )
    mark = connector.rules.mark("retro_2.txt")
    assert next_cursor["files"]["retro_2.txt"] == f"1700000000000000000:{retro.stat().st_size}:{mark}"
    assert "later/sync_chat.txt" in next_cursor["files"]


def test_list_ids_after_a_deletion(folder):
    connector = MeetingsConnector(folder, acl_rules=PUBLIC)
    assert set(connector.list_ids()) == {
        "CForceAIX_planning_1.vtt",
        "CForceAIX_planning_1_chat.txt",
        "retro_2.txt",
        "retro_2_chat.txt",
        "standup_3.srt",
    }
    _, _, cursor = pull_all(connector)
    (folder / "standup_3.srt").unlink()
    assert "standup_3.srt" not in set(connector.list_ids())
    docs, _, next_cursor = pull_all(connector, cursor)
    assert docs == {}
    assert "standup_3.srt" not in next_cursor["files"]


def test_pages_hold_at_most_64_docs_and_their_cursors_resume(tmp_path):
    for number in range(70):
        write(
            tmp_path / f"call_{number:02d}.srt",
            f"1\n00:00:00,000 --> 00:00:01,000\nA B: {number}\n",
        )
    connector = MeetingsConnector(tmp_path, acl_rules=PUBLIC)
    pages = list(connector.pull(None))
    assert [len(page.docs) for page in pages] == [64, 6]
    first_ids = {doc.native_id for doc in pages[0].docs}
    assert set(pages[0].cursor["files"]) == first_ids
    resumed, _, cursor = pull_all(connector, pages[0].cursor)
    assert len(resumed) == 6 and not set(resumed) & first_ids
    assert len(cursor["files"]) == 70


def test_acl_rules_match_relative_paths_and_unmatched_files_fail_closed(tmp_path):
    shutil.copy(FIXTURES / "standup_3.srt", tmp_path / "open.srt")
    shutil.copy(
        FIXTURES / "standup_3.srt", write(tmp_path / "board" / "keep", "").parent / "q1.srt"
    )
    connector = MeetingsConnector(tmp_path, acl_rules={"board/*": ["eid_ceo", "eid_cfo"]})
    docs, failures, _ = pull_all(connector)
    assert docs["board/q1.srt"].acl == ["quarry:container/folder/meetings/board/*"]
    assert docs["open.srt"].acl == [UNRESOLVED]
    assert [(f.native_id, f.input) for f in failures] == [("open.srt", "open.srt")]
    assert "no acl rule matches open.srt" in failures[0].reason
    first = next(iter(connector.pull(None)))
    assert first.containers == {connector.rules.ref("board/*"): ["eid_ceo", "eid_cfo"]}


def test_a_missing_folder_is_terminal(tmp_path):
    with pytest.raises(TerminalError):
        list(MeetingsConnector(tmp_path / "absent").pull(None))


@pytest.mark.skipif(not (HERB_CORPUS / "meetings").is_dir(), reason="HERB corpus not present")
def test_herb_meetings_read_without_failures():
    docs, failures, cursor = pull_all(MeetingsConnector(HERB_CORPUS / "meetings", acl_rules=PUBLIC))
    kinds = [doc.kind for doc in docs.values()]
    assert failures == []
    assert kinds.count("transcript") == 321 and kinds.count("chat") == 50
    assert len(cursor["files"]) == 371
    meetings = {doc.meta["meeting"] for doc in docs.values() if doc.kind == "transcript"}
    chats = [doc for doc in docs.values() if doc.kind == "chat"]
    assert all(chat.meta["meeting"] in meetings and chat.meta["topic"] for chat in chats)
    assert all(doc.created_at and doc.people and doc.text for doc in docs.values())
