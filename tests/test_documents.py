"""The documents connector: file discovery, ACL rules, failures and the incremental cursor."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from connectors.documents import DocumentsConnector
from connectors.records import UNRESOLVED, Page, TerminalError
from tests.conftest import PUBLIC

FIXTURES = Path(__file__).parent / "fixtures" / "docs"

ALL_FILES = [
    "bad/blank.pdf",
    "bad/corrupt.docx",
    "bad/corrupt.pdf",
    "bad/empty.md",
    "budget.xlsx",
    "chaix_product_vision_document.pdf",
    "launch_page.html",
    "legacy_notes.txt",
    "meeting_notes.txt",
    "product_guide.md",
    "roadmap.pptx",
    "status_update.eml",
    "sub/design_spec.docx",
    "sub/faq.md",
    "sub/release_notes.pdf",
]


def pull_all(connector: DocumentsConnector, cursor: dict | None = None) -> list[Page]:
    return list(connector.pull(cursor))


def docs_of(pages: list[Page]) -> dict:
    return {d.native_id: d for p in pages for d in p.docs}


def failures_of(pages: list[Page]) -> dict:
    return {f.native_id: f.reason for p in pages for f in p.failures}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    shutil.copytree(FIXTURES, root)
    return root


def test_pull_yields_every_file_with_relative_native_ids() -> None:
    pages = pull_all(DocumentsConnector(FIXTURES, acl_rules=PUBLIC))
    docs, failures = docs_of(pages), failures_of(pages)
    assert sorted([*docs, *failures]) == ALL_FILES
    spec = docs["sub/design_spec.docx"]
    assert spec.id == "docs:sub/design_spec.docx"
    assert spec.source == "docs" and spec.kind == "document" and spec.text == ""
    assert spec.container == "sub"
    assert spec.meta == {
        "path": str((FIXTURES / "sub/design_spec.docx").absolute()),
        "format": "docx",
    }
    assert docs["product_guide.md"].container == "/"
    assert docs["product_guide.md"].acl == ["quarry:container/folder/docs/*"]


def test_list_ids_yields_every_current_path() -> None:
    assert list(DocumentsConnector(FIXTURES, acl_rules=PUBLIC).list_ids()) == ALL_FILES


def test_empty_file_is_a_failure() -> None:
    failures = failures_of(pull_all(DocumentsConnector(FIXTURES, acl_rules=PUBLIC)))
    assert failures == {"bad/empty.md": "empty file (0 bytes)"}


def test_file_over_the_size_limit_is_a_failure() -> None:
    pages = pull_all(DocumentsConnector(FIXTURES, max_bytes=10_000, acl_rules=PUBLIC))
    failures = failures_of(pages)
    assert "file too large" in failures["roadmap.pptx"]
    assert "over the limit of 10000" in failures["sub/design_spec.docx"]
    assert "roadmap.pptx" not in docs_of(pages)
    assert "product_guide.md" in docs_of(pages)


def test_acl_rules_are_containers_first_match_wins_and_unmatched_files_fail_closed() -> None:
    rules = {"sub/release_*": ["group:release"], "sub/*": ["group:eng"], "*.eml": ["u:dana"]}
    connector = DocumentsConnector(FIXTURES, acl_rules=rules, name="handbook")
    pages = pull_all(connector)
    docs = docs_of(pages)
    assert docs["sub/release_notes.pdf"].acl == ["quarry:container/folder/handbook/sub/release_*"]
    assert docs["sub/design_spec.docx"].acl == [connector.rules.ref("sub/*")]
    assert docs["status_update.eml"].acl == [connector.rules.ref("*.eml")]
    assert docs["launch_page.html"].acl == [UNRESOLVED]
    assert "no acl rule matches launch_page.html" in failures_of(pages)["launch_page.html"]
    assert pages[0].containers == {connector.rules.ref(p): r for p, r in rules.items()}


def test_without_acl_rules_every_file_is_readable_by_nobody() -> None:
    pages = pull_all(DocumentsConnector(FIXTURES))
    assert {d.acl[0] for d in docs_of(pages).values()} == {UNRESOLVED}
    assert set(docs_of(pages)) <= set(failures_of(pages))
    assert pages[0].containers == {}


def test_every_pull_carries_the_readers_of_every_rule(corpus: Path) -> None:
    connector = DocumentsConnector(corpus, acl_rules={"sub/*": ["group:eng"], "*": ["*"]})
    cursor = pull_all(connector)[-1].cursor
    connector = DocumentsConnector(corpus, acl_rules={"sub/*": ["group:ops"], "*": ["*"]})
    pages = pull_all(connector, cursor)
    assert [(p.docs, p.failures, p.cursor) for p in pages] == [([], [], None)]
    assert pages[0].containers == {
        connector.rules.ref("sub/*"): ["group:ops"], connector.rules.ref("*"): ["*"]
    }


def test_a_changed_rule_pattern_rereads_only_the_files_it_moves(corpus: Path) -> None:
    connector = DocumentsConnector(corpus, acl_rules={"sub/*": ["group:eng"], "*": ["*"]})
    cursor = pull_all(connector)[-1].cursor
    connector = DocumentsConnector(corpus, acl_rules={"sub/*.md": ["group:eng"], "*": ["*"]})
    docs = docs_of(pull_all(connector, cursor))
    assert sorted(docs) == ["sub/design_spec.docx", "sub/faq.md", "sub/release_notes.pdf"]
    assert docs["sub/faq.md"].acl == [connector.rules.ref("sub/*.md")]
    assert docs["sub/design_spec.docx"].acl == [connector.rules.ref("*")]


def test_extensions_limit_the_files_and_aliases_map_to_formats(corpus: Path) -> None:
    (corpus / "notes.markdown").write_text("# Notes\n\nSome text.\n")
    (corpus / "old.htm").write_text("<p>Old page</p>")
    (corpus / "image.png").write_bytes(b"\x89PNG")
    (corpus / ".hidden.md").write_text("# Hidden\n")
    (corpus / "~$lock.docx").write_bytes(b"lock")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "readme.md").write_text("# git\n")
    docs = docs_of(pull_all(DocumentsConnector(corpus, acl_rules=PUBLIC)))
    assert docs["notes.markdown"].meta["format"] == "md"
    assert docs["old.htm"].meta["format"] == "html"
    assert not {"image.png", ".hidden.md", "~$lock.docx", ".git/readme.md"} & set(docs)
    only_md = DocumentsConnector(corpus, extensions=["md"], acl_rules=PUBLIC)
    assert list(only_md.list_ids()) == ["bad/empty.md", "product_guide.md", "sub/faq.md"]


def test_pages_hold_at_most_page_size_docs_and_carry_their_files() -> None:
    pages = pull_all(DocumentsConnector(FIXTURES, page_size=4, acl_rules=PUBLIC))
    assert [len(p.docs) + len(p.failures) for p in pages] == [4, 4, 4, 3]
    listed: set[str] = set()
    for page in pages:
        listed |= {d.native_id for d in page.docs} | {f.native_id for f in page.failures}
        assert set(page.cursor["files"]) == listed
    assert set(pages[-1].cursor["files"]) == set(ALL_FILES)


def test_cursor_holds_mtime_size_and_rule_mark(corpus: Path) -> None:
    pages = pull_all(DocumentsConnector(corpus, acl_rules=PUBLIC))
    stat = (corpus / "product_guide.md").stat()
    mark = DocumentsConnector(corpus, acl_rules=PUBLIC).rules.mark("product_guide.md")
    assert pages[-1].cursor["files"]["product_guide.md"] == f"{stat.st_mtime_ns}:{stat.st_size}:{mark}"


def test_unchanged_files_are_not_pulled_again(corpus: Path) -> None:
    connector = DocumentsConnector(corpus, acl_rules=PUBLIC)
    cursor = pull_all(connector)[-1].cursor
    assert not docs_of(pull_all(connector, cursor))


def test_touched_changed_and_new_files_are_pulled(corpus: Path) -> None:
    connector = DocumentsConnector(corpus, acl_rules=PUBLIC)
    cursor = pull_all(connector)[-1].cursor
    touched = corpus / "sub" / "faq.md"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    (corpus / "meeting_notes.txt").write_text("Rewritten notes with a different size.\n")
    (corpus / "sub" / "new.md").write_text("# New\n\nFresh document.\n")
    pages = pull_all(connector, cursor)
    assert sorted(docs_of(pages)) == ["meeting_notes.txt", "sub/faq.md", "sub/new.md"]
    assert not docs_of(pull_all(connector, pages[-1].cursor))


def test_deleted_file_leaves_list_ids_and_cursor(corpus: Path) -> None:
    connector = DocumentsConnector(corpus, acl_rules=PUBLIC)
    cursor = pull_all(connector)[-1].cursor
    (corpus / "launch_page.html").unlink()
    assert "launch_page.html" not in list(connector.list_ids())
    pages = pull_all(connector, cursor)
    assert len(pages) == 1 and pages[0].docs == [] and pages[0].failures == []
    assert "launch_page.html" not in pages[0].cursor["files"]
    (corpus / "launch_page.html").write_text("<h1>Back</h1>")
    assert "launch_page.html" in docs_of(pull_all(connector, pages[0].cursor))


def test_missing_folder_is_terminal(tmp_path: Path) -> None:
    connector = DocumentsConnector(tmp_path / "nowhere")
    with pytest.raises(TerminalError, match="documents folder not found"):
        list(connector.pull(None))
    with pytest.raises(TerminalError):
        list(connector.list_ids())
