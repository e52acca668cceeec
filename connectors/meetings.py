"""Meeting transcripts (WebVTT, SRT, plain 'Speaker: text') and meeting chat logs from a folder."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from connectors.dates import parse_datetime
from connectors.files import (
    MAX_BYTES,
    PAGE_SIZE,
    FileRecordsConnector,
    UnreadableFile,
    fingerprints,
    pull_pages,
    read_text,
)
from connectors.folders import FolderRules
from connectors.records import Failure, Page, SourceDoc, doc_id

EXTENSIONS = (".vtt", ".srt", ".txt")
HEADER_KEYS = {
    "meeting": "meeting",
    "date": "date",
    "topic": "topic",
    "title": "topic",
    "subject": "topic",
    "participants": "participants",
    "attendees": "participants",
    "organizer": "organizer",
    "organiser": "organizer",
    "host": "organizer",
}
TIMING = re.compile(r"^\s*\S+\s+-->\s+\S+")
VTT_TIME = r"(?:\d+:)?[0-5]\d:[0-5]\d\.\d{3}"
VTT_TIMING = re.compile(rf"^\s*{VTT_TIME}\s+-->\s+{VTT_TIME}(?:\s|$)")
VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]*)>")
TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")
OFFSET = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"
LEADING_OFFSET = re.compile(rf"^\s*[\[(]?{OFFSET}[\])]?\s*[-–]?\s*")
SPEAKER = re.compile(r"^\s*(?:-\s*)?\[?([^\W\d_][\w.'’ -]{0,60}?)\]?\s*:\s+(\S.*)$")
DATETIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
CHAT_LINE = re.compile(
    rf"^\s*\[?(?P<time>{DATETIME}|{OFFSET})\]?\s+(?:From\s+)?(?P<speaker>[^:]+?)"
    r"(?:\s+to\s+[^:]+?)?\s*:\s*(?P<text>.*)$"
)
DATED_CHAT_LINE = re.compile(rf"^\s*\[?{DATETIME}\]?\s+[^:]+:")
CHAT_STEM = re.compile(r"(?:^|[_\- ])chat$", re.IGNORECASE)
NAME_PARTICLES = {"van", "von", "der", "den", "de", "del", "la", "le", "da", "di", "du", "al"}
URL = re.compile(r"https?://[^\s<>\"'`]+")


class TranscriptError(ValueError):
    """A file that is text but not a transcript or chat of a known shape."""


@dataclass
class Transcript:
    """What a transcript or chat file says: its header fields and (speaker, text) segments."""

    header: dict[str, str] = field(default_factory=dict)
    segments: list[tuple[str, str]] = field(default_factory=list)
    times: list[str] = field(default_factory=list)


class MeetingsConnector(FileRecordsConnector):
    """Meeting transcripts and chats under a folder; one document per file.

    `acl_rules` are the `FolderRules` of source `name`: a file's ACL is its first matching
    rule's container ref; a file no rule matches is readable by nobody and a Failure. The
    cursor's mark of a file is `<mtime_ns>:<size>:<rule mark>`, so a changed rule set
    re-reads the files it moves to another rule; the first page carries every rule's readers.
    """

    source = "meetings"
    extensions = EXTENSIONS

    def __init__(
        self,
        path: Path,
        acl_rules: Mapping[str, list[str]] | None = None,
        max_bytes: int = MAX_BYTES,
        page_size: int = PAGE_SIZE,
        name: str | None = None,
    ) -> None:
        super().__init__(path, max_bytes, page_size)
        self.rules = FolderRules(name or self.source, acl_rules)

    def pull(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages of the files added, changed or moved to another rule since `cursor`."""
        marks = {rel: f"{mark}:{self.rules.mark(rel)}" for rel, mark in fingerprints(self.files()).items()}
        pages = pull_pages(marks, cursor, self.read, self.source, self.page_size)
        yield from self.rules.with_readers(pages)

    def list_ids(self) -> Iterator[str]:
        """Relative paths of every transcript and chat file now present."""
        yield from self.files()

    def read(self, relpath: str) -> list[SourceDoc | Failure]:
        """The document of one file, or the Failure saying why it cannot be read."""
        path = self.path_of(relpath)
        name = PurePosixPath(relpath)
        try:
            text = read_text(path, self.max_bytes)
            if is_chat(name, text):
                doc = self._chat_doc(relpath, path, parse_chat(text))
            else:
                doc = self._transcript_doc(relpath, name, parse_transcript(name.suffix, text))
        except (UnreadableFile, TranscriptError) as error:
            return [Failure(source=self.source, native_id=relpath, reason=str(error))]
        return [doc, *self.rules.failures(self.source, relpath)]

    def _transcript_doc(self, relpath: str, name: PurePosixPath, transcript: Transcript) -> SourceDoc:
        header = transcript.header
        meeting = header.get("meeting") or name.stem
        turns = merge_turns(transcript.segments)
        topic = header.get("topic", "")
        return self._doc(
            relpath,
            kind="transcript",
            title=f"{topic} ({meeting})" if topic else meeting,
            turns=turns,
            header=header,
            meeting=meeting,
            created_at=parse_datetime(header.get("date", "")),
        )

    def _chat_doc(self, relpath: str, path: Path, chat: Transcript) -> SourceDoc:
        stem = PurePosixPath(relpath).stem
        meeting = CHAT_STEM.sub("", stem) or stem
        header = paired_header(path, meeting, self.max_bytes)
        meeting = header.get("meeting") or meeting
        topic = header.get("topic", "")
        dated = [moment for moment in map(parse_datetime, chat.times) if moment]
        return self._doc(
            relpath,
            kind="chat",
            title=f"{topic} ({meeting}) chat" if topic else f"{meeting} chat",
            turns=chat.segments,
            header=header,
            meeting=meeting,
            created_at=dated[0] if dated else parse_datetime(header.get("date", "")),
        )

    def _doc(
        self,
        relpath: str,
        kind: str,
        title: str,
        turns: list[tuple[str, str]],
        header: dict[str, str],
        meeting: str,
        created_at: datetime | None,
    ) -> SourceDoc:
        text = "\n".join(f"{speaker}: {said}" if speaker else said for speaker, said in turns)
        speakers = list(dict.fromkeys(speaker for speaker, _ in turns if speaker))
        participants = split_list(header.get("participants", ""))
        return SourceDoc(
            id=doc_id(self.source, relpath),
            source=self.source,
            native_id=relpath,
            kind=kind,
            title=title,
            text=text,
            author=header.get("organizer") or None,
            people=participants or speakers,
            created_at=created_at,
            container=re.sub(r"_\d+$", "", meeting),
            acl=self.rules.acl(relpath),
            meta={
                "meeting": meeting,
                "topic": header.get("topic", ""),
                "speakers": json.dumps(speakers),
                "participants": json.dumps(participants),
                "urls": json.dumps(list(dict.fromkeys(find_urls(text)))),
            },
        )


def is_chat(path: PurePosixPath, text: str) -> bool:
    """Whether a file is a chat log: named '*_chat.txt', or a .txt of dated 'Name: message' lines."""
    if path.suffix.lower() != ".txt":
        return False
    if CHAT_STEM.search(path.stem):
        return True
    lines = [line for line in text.splitlines() if line.strip()]
    dated = sum(1 for line in lines if DATED_CHAT_LINE.match(line))
    return dated * 2 > len(lines)


def parse_transcript(suffix: str, text: str) -> Transcript:
    """Header and speaker segments of a .vtt, .srt or plain .txt transcript."""
    suffix = suffix.lower()
    if suffix == ".vtt":
        return parse_vtt(text)
    if suffix == ".srt":
        return parse_srt(text)
    return parse_plain(text)


def parse_vtt(text: str) -> Transcript:
    """A WebVTT file: NOTE blocks give the header, cues give segments (`<v Name>` or 'Name:')."""
    lines = text.splitlines()
    if not lines[0].lstrip().startswith("WEBVTT"):
        raise TranscriptError(f"missing WEBVTT header (first line: {lines[0].strip()[:40]!r})")
    transcript = Transcript()
    speaker: str | None = None
    cues = 0
    for block in split_blocks(lines)[1:]:
        first = block[0].strip()
        if first == "NOTE" or first.startswith(("NOTE ", "NOTE\t")):
            transcript.header.update(parse_header([first[4:], *block[1:]]))
            continue
        if first in ("STYLE", "REGION"):
            continue
        timing = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing is None or not VTT_TIMING.match(block[timing]):
            shown = block[timing if timing is not None else 0].strip()[:60]
            raise TranscriptError(f"broken WebVTT cue {cues + 1}: no valid timing line ({shown!r})")
        cues += 1
        speaker = add_payload(transcript, block[timing + 1 :], speaker)
    if not cues:
        raise TranscriptError("WebVTT file has no cues")
    if not transcript.segments:
        raise TranscriptError("WebVTT cues hold no text")
    return transcript


def parse_srt(text: str) -> Transcript:
    """An SRT file: numbered cues with 'start --> end' timings; speakers from `<v>` or 'Name:'."""
    transcript = Transcript()
    speaker: str | None = None
    cues = 0
    for block in split_blocks(text.splitlines()):
        timing = next((i for i, line in enumerate(block[:2]) if TIMING.match(line)), None)
        if timing is None:
            continue
        cues += 1
        speaker = add_payload(transcript, block[timing + 1 :], speaker)
    if not cues:
        raise TranscriptError("no SRT cues ('start --> end' timing lines)")
    if not transcript.segments:
        raise TranscriptError("SRT cues hold no text")
    return transcript


def parse_plain(text: str) -> Transcript:
    """A plain transcript: an optional 'Key: value' header block, then 'Speaker: text' lines."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    transcript = Transcript()
    blocks = split_blocks(lines)
    if blocks and all(is_header_line(line) for line in blocks[0]):
        transcript.header = parse_header(blocks[0])
        lines = lines[len(blocks[0]) :]
    speaker: str | None = None
    for line in lines:
        speaker = add_line(transcript, LEADING_OFFSET.sub("", line), speaker)
    if not any(speaker for speaker, _ in transcript.segments):
        raise TranscriptError("no 'Speaker: text' lines")
    return transcript


def parse_chat(text: str) -> Transcript:
    """A chat log: '<time> Name: message' lines; other lines continue the message before them."""
    chat = Transcript()
    for line in text.splitlines():
        match = CHAT_LINE.match(line)
        if match:
            chat.times.append(match["time"])
            chat.segments.append((match["speaker"].strip(), match["text"].strip()))
        elif line.strip() and chat.segments:
            speaker, said = chat.segments[-1]
            chat.segments[-1] = (speaker, f"{said} {line.strip()}".strip())
    if not chat.segments:
        raise TranscriptError("no chat messages ('<time> Name: message' lines)")
    return chat


def paired_header(chat_path: Path, meeting: str, max_bytes: int) -> dict[str, str]:
    """The header of the transcript of the same meeting next to a chat log, if there is one."""
    for suffix in EXTENSIONS:
        path = chat_path.with_name(meeting + suffix)
        if path == chat_path or not path.is_file():
            continue
        try:
            return parse_transcript(suffix, read_text(path, max_bytes)).header
        except (UnreadableFile, TranscriptError):
            continue
    return {}


def split_blocks(lines: list[str]) -> list[list[str]]:
    """Runs of non-blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def add_payload(transcript: Transcript, lines: list[str], speaker: str | None) -> str | None:
    """Adds a cue's text as segments; returns the speaker that carries on to the next cue."""
    payload = "\n".join(lines)
    parts = VOICE.split(payload)
    for line in parts[0].splitlines():
        speaker = add_line(transcript, line, speaker)
    for name, said in zip(parts[1::2], parts[2::2]):
        speaker = clean(name) or speaker
        cleaned = clean(said)
        if cleaned:
            transcript.segments.append((speaker or "", cleaned))
    return speaker


def add_line(transcript: Transcript, line: str, speaker: str | None) -> str | None:
    """Adds one text line, starting a new speaker when it reads 'Name: text'."""
    cleaned = clean(line)
    if not cleaned:
        return speaker
    match = SPEAKER.match(cleaned)
    if match and is_name(match[1]):
        speaker, cleaned = match[1].strip(), match[2].strip()
    transcript.segments.append((speaker or "", cleaned))
    return speaker


def is_name(candidate: str) -> bool:
    """Whether a 'Name:' prefix looks like a speaker: up to five capitalised words or numbers."""
    words = candidate.split()
    if not 0 < len(words) <= 5 or not words[0][0].isupper():
        return False
    return all(word[0].isupper() or word[0].isdigit() or word in NAME_PARTICLES for word in words)


def merge_turns(segments: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Joins consecutive segments of one speaker into a single turn."""
    turns: list[tuple[str, str]] = []
    for speaker, said in segments:
        if turns and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {said}")
        else:
            turns.append((speaker, said))
    return turns


def is_header_line(line: str) -> bool:
    key, colon, _ = line.partition(":")
    return bool(colon) and key.strip().lower() in HEADER_KEYS


def parse_header(lines: list[str]) -> dict[str, str]:
    """Known 'Key: value' fields (meeting, date, topic, participants, organizer)."""
    header = {}
    for line in lines:
        key, colon, value = line.partition(":")
        name = HEADER_KEYS.get(key.strip().lower())
        if colon and name and value.strip():
            header[name] = value.strip()
    return header


def clean(text: str) -> str:
    """Cue text without markup tags or entities, whitespace collapsed."""
    return " ".join(html.unescape(TAG.sub("", text)).split())


def split_list(value: str) -> list[str]:
    return [item.strip() for item in re.split(r"[,;]", value) if item.strip()]


def find_urls(text: str) -> list[str]:
    return [url.rstrip(".,;:!?)]}") for url in URL.findall(text)]
