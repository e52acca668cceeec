"""The parse transform: markdown text and file metadata for every format, and bad inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.dates import parse_datetime
from connectors.documents import DocumentsConnector
from connectors.records import SourceDoc, doc_id
from tests.conftest import PUBLIC
from transforms.facts import ParseError
from transforms.offline import set_up_unstructured_offline
from transforms.parse import parse_document

FIXTURES = Path(__file__).parent / "fixtures" / "docs"
HERB_DOCS = Path(__file__).resolve().parents[2] / "shared" / "herb" / "corpus" / "docs"


@pytest.fixture(autouse=True, scope="module")
def offline_parsing() -> None:
    """The start-up step every engine runs before it parses."""
    set_up_unstructured_offline()


def file_doc(path: Path, native_id: str | None = None) -> SourceDoc:
    native_id = native_id or path.name
    return SourceDoc(
        id=doc_id("docs", native_id),
        source="docs",
        native_id=native_id,
        kind="document",
        title=path.name,
        meta={"path": str(path), "format": path.suffix.lstrip(".")},
    )


def parse(relpath: str) -> SourceDoc:
    return parse_document(file_doc(FIXTURES / relpath, relpath))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_markdown_front_matter_and_sections() -> None:
    doc = parse("product_guide.md")
    assert doc.title == "Atlas Product Guide"
    assert doc.author == "eid_1a2b3c4d" and doc.people == ["eid_1a2b3c4d"]
    assert doc.created_at == utc(2026, 3, 4, 9, 15) and doc.updated_at == doc.created_at
    assert doc.url == "https://wiki.example.com/docs/atlas_product_guide"
    assert doc.meta == {"format": "md", "doc_type": "Product Guide"}
    assert doc.text.startswith("# Atlas Product Guide\n\n## Overview\n\nAtlas keeps")
    assert "- Incremental sync of changed files\n- Access rules per folder" in doc.text
    assert "Plan | Seats\nTeam | 25\nEnterprise | 500" in doc.text
    assert "link:" not in doc.text and "eid_1a2b3c4d" not in doc.text


def test_markdown_without_front_matter_takes_title_from_first_heading() -> None:
    doc = parse("sub/faq.md")
    assert doc.title == "Atlas FAQ" and doc.author is None and doc.people == []
    assert doc.text == "# Atlas FAQ\n\n## Who can read a folder?\n\nWhoever its access rule names."


def test_html_head_metadata_and_body() -> None:
    doc = parse("launch_page.html")
    assert doc.title == "Atlas Launch Plan" and doc.author == "eid_5e6f7a8b"
    assert doc.created_at == utc(2026, 4, 1, 10)
    assert doc.url == "https://wiki.example.com/docs/atlas_launch_plan"
    assert doc.meta["doc_type"] == "Launch Plan"
    assert "## Timeline\n\nThe beta opens in May" in doc.text
    assert "- Marketing owns the announcement.\n- Support owns the runbook." in doc.text
    assert "Region | Date\nEMEA | June 2" in doc.text


def test_docx_core_properties_and_headings() -> None:
    doc = parse("sub/design_spec.docx")
    assert doc.title == "Atlas Design Specification" and doc.author == "eid_9c0d1e2f"
    assert doc.created_at == utc(2026, 2, 10, 8) and doc.updated_at == utc(2026, 2, 20, 17, 30)
    assert doc.url == "https://wiki.example.com/docs/atlas_design_spec"
    assert doc.meta["doc_type"] == "Design Specification"
    assert doc.text.startswith("# Atlas Design Specification\n\n## Architecture\n\nConnectors")
    assert "- Cursors are saved after each page." in doc.text
    assert "## Storage" in doc.text and "Store | Engine\nchunks | LanceDB" in doc.text


def test_pdf_document_info_custom_keys_and_font_size_headings() -> None:
    doc = parse("sub/release_notes.pdf")
    assert doc.title == "Atlas Release Notes" and doc.author == "eid_3a4b5c6d"
    assert doc.url == "https://wiki.example.com/docs/atlas_release_notes"
    assert doc.meta["doc_type"] == "Release Notes"
    assert doc.created_at == utc(2026, 5, 5, 10) and doc.updated_at == utc(2026, 5, 6, 9)
    assert doc.text == (
        "# Atlas Release Notes\n\n## Version 2.0\n\n"
        "Search now covers meeting transcripts and shared links.\n\n"
        "Indexing is twice as fast.\n\n## Known Issues\n\nLarge spreadsheets parse slowly."
    )


def test_pdf_as_herb_exports_it() -> None:
    doc = parse("chaix_product_vision_document.pdf")
    assert doc.title == "Product Vision Document" and doc.author == "eid_1f678d18"
    assert (
        doc.url == "https://sf-internal.slack.com/archives/docs/final_chaix_product_vision_document"
    )
    assert doc.meta["doc_type"] == "Product Vision Document"
    assert doc.created_at == utc(2026, 3, 3, 18, 46) and doc.updated_at == doc.created_at
    assert doc.text.startswith("# Product Vision Document\n\n## Product Vision Statement\n\nchAIX")
    assert doc.text.count("\n## ") == 5


def test_plain_text_paragraphs_and_guessed_heading() -> None:
    doc = parse("meeting_notes.txt")
    assert doc.title == "meeting_notes.txt" and doc.meta == {"format": "txt"}
    assert doc.text == (
        "# meeting_notes.txt\n\n## Weekly sync\n\n"
        "We agreed to ship the connector on Friday. Dana will review the parser.\n\n"
        "The next sync moves to Tuesday because of the holiday."
    )


def test_non_utf8_text_falls_back_to_cp1252_and_says_so() -> None:
    doc = parse("legacy_notes.txt")
    assert doc.meta["encoding"] == "cp1252"
    assert "Café crème budget: 40 € per person, approved by Renée." in doc.text
    assert "Naïve estimates" in doc.text


def test_utf16_text_with_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("Grüße aus Köln, sagt das Team.".encode("utf-16"))
    doc = parse_document(file_doc(path))
    assert doc.meta["encoding"] == "utf-16" and "Grüße aus Köln" in doc.text


def test_email_headers_and_body() -> None:
    doc = parse("status_update.eml")
    assert doc.title == "Atlas status update"
    assert doc.author == "dana.reyes@example.com"
    assert doc.people == ["dana.reyes@example.com", "team@example.com", "lee@example.com"]
    assert doc.created_at == utc(2026, 5, 12, 12, 30)
    assert doc.text.startswith("# Atlas status update\n\nHello team,")
    assert "The documents connector is merged." in doc.text and "## " not in doc.text


def test_email_attachments_are_named_in_meta(tmp_path: Path) -> None:
    path = tmp_path / "with_attachment.eml"
    path.write_bytes(
        b"From: lee@example.com\nSubject: Figures\nDate: Wed, 13 May 2026 08:00:00 +0000\n"
        b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
        b"--XX\nContent-Type: text/plain\n\nThe figures are attached.\n"
        b"--XX\nContent-Type: text/csv\nContent-Disposition: attachment; filename=q2.csv\n\n"
        b"a,b\n1,2\n--XX--\n"
    )
    doc = parse_document(file_doc(path))
    assert doc.meta["attachments"] == "q2.csv"
    assert "The figures are attached." in doc.text and "a,b" not in doc.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D:20261123185903+00'00'", datetime(2026, 11, 23, 18, 59, 3, tzinfo=UTC)),
        ("D:20260505120000+02'00'", datetime(2026, 5, 5, 10, tzinfo=UTC)),
        ("D:2026", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-06-13T19:01:00", datetime(2026, 6, 13, 19, 1, tzinfo=UTC)),
        ("Tue, 12 May 2026 14:30:00 +0200", datetime(2026, 5, 12, 12, 30, tzinfo=UTC)),
        ("ReportLab PDF Library", None),
        ("", None),
    ],
)
def test_metadata_dates_become_utc(value: str, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_pptx_and_xlsx() -> None:
    deck = parse("roadmap.pptx")
    assert deck.title == "Atlas Roadmap" and deck.author == "eid_7e8f9a0b"
    assert deck.created_at == utc(2026, 1, 15, 9)
    assert "# Goals" in deck.text and "Ship the documents connector" in deck.text
    sheet = parse("budget.xlsx")
    assert sheet.title == "Atlas Budget" and sheet.author == "eid_1f2e3d4c"
    assert "Item | Cost\nServers | 1200\nLicences | 300" in sheet.text


def test_path_is_dropped_and_content_hash_ignores_where_the_file_lies(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "product_guide.md"
    copy.parent.mkdir()
    shutil.copy(FIXTURES / "product_guide.md", copy)
    here = parse_document(file_doc(FIXTURES / "product_guide.md"))
    there = parse_document(file_doc(copy))
    assert "path" not in here.meta
    assert here.content_hash == there.content_hash


def test_connector_docs_parse_with_their_acl_and_container() -> None:
    connector = DocumentsConnector(FIXTURES, acl_rules={"sub/*": ["group:eng"]})
    docs = {d.native_id: d for page in connector.pull(None) for d in page.docs}
    parsed = parse_document(docs["sub/design_spec.docx"])
    assert parsed.id == "docs:sub/design_spec.docx"
    assert parsed.acl == [connector.rules.ref("sub/*")] and parsed.container == "sub"
    assert parsed.meta == {"format": "docx", "doc_type": "Design Specification"}


@pytest.mark.parametrize(
    ("relpath", "reason"),
    [
        ("bad/corrupt.pdf", "corrupt PDF"),
        ("bad/corrupt.docx", "not a valid Office Open XML file"),
        ("bad/blank.pdf", "no text extracted from a non-empty pdf file"),
        ("bad/empty.md", "empty file"),
    ],
)
def test_bad_files_raise_parse_error(relpath: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(relpath)


def test_missing_file_unknown_format_and_no_path(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read file"):
        parse_document(file_doc(tmp_path / "gone.md"))
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"\x00\x01")
    with pytest.raises(ParseError, match="unsupported document format 'bin'"):
        parse_document(file_doc(odd))
    bare = SourceDoc(id="docs:x", source="docs", native_id="x", kind="document")
    with pytest.raises(ParseError, match="no file path"):
        parse_document(bare)


def test_binary_bytes_in_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\x00\x9f\x92\x96 not text")
    with pytest.raises(ParseError, match="binary content"):
        parse_document(file_doc(path))


def test_invalid_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    path.write_text("---\ntitle: [unclosed\n---\n\n# Body\n")
    with pytest.raises(ParseError, match="invalid YAML front matter"):
        parse_document(file_doc(path))


def test_front_matter_only_has_no_text(tmp_path: Path) -> None:
    path = tmp_path / "stub.md"
    path.write_text("---\ntitle: Stub\n---\n")
    with pytest.raises(ParseError, match="no text extracted"):
        parse_document(file_doc(path))


def test_offline_setup_is_idempotent_and_needs_no_model() -> None:
    from unstructured.nlp import tokenize

    set_up_unstructured_offline()
    first = tokenize._get_nlp()
    set_up_unstructured_offline()
    assert tokenize._get_nlp() is first
    assert first.pipe_names == ["sentencizer"]
    assert tokenize.sent_tokenize("One sentence. Another one.") == ["One sentence.", "Another one."]


def test_the_local_engine_sets_unstructured_up_offline_before_it_parses() -> None:
    """In a fresh process: parsing before the start-up step would reach for spaCy's model
    download; the local engine replaces it before its first batch, and a run with nothing
    to parse never imports unstructured at all."""
    script = (
        "import sys\n"
        "from transforms.engine import LocalEngine\n"
        "engine = LocalEngine(lambda: None)\n"
        "assert engine.parse([]) == ([], []) and 'unstructured' not in sys.modules\n"
        "from unstructured.nlp import tokenize; original = tokenize._get_nlp\n"
        "from connectors.records import SourceDoc\n"
        "engine.parse([SourceDoc(id='a', source='docs', native_id='a.md', kind='document', group='a', text='Hi.')])\n"
        "assert tokenize._get_nlp is not original\n"
        "assert tokenize._get_nlp().pipe_names == ['sentencizer']\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root, env=env, timeout=120)


@pytest.mark.skipif(not HERB_DOCS.is_dir(), reason="HERB corpus not present")
def test_all_herb_documents_parse_with_their_metadata() -> None:
    connector = DocumentsConnector(HERB_DOCS, acl_rules=PUBLIC)
    pages = list(connector.pull(None))
    assert not [f for p in pages for f in p.failures]
    docs = [d for p in pages for d in p.docs]
    assert len(docs) == 400
    start = time.perf_counter()
    parsed, errors = [], []
    for doc in docs:
        try:
            parsed.append(parse_document(doc))
        except ParseError as exc:
            errors.append((doc.native_id, str(exc)))
    elapsed = time.perf_counter() - start
    print(f"parsed {len(parsed)} HERB documents in {elapsed:.1f} s")
    assert errors == []
    incomplete = [
        d.native_id
        for d in parsed
        if not (d.title and d.author and d.url and d.created_at and d.meta.get("doc_type"))
    ]
    assert incomplete == []
    assert all(d.text.startswith("# ") and "\n## " in d.text for d in parsed)
    assert all(d.url.endswith(Path(d.native_id).stem) for d in parsed)
