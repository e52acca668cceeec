"""BookmarksConnector: Netscape bookmark files, folders, bad files, cursors, the HERB links."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.bookmarks import BookmarksConnector
from tests.conftest import HERB, pull_all

HERB_CORPUS = HERB / "corpus"
FIXTURES = Path(__file__).parent / "fixtures" / "links"




def bookmark_file(*links: str) -> str:
    anchors = "".join(f'    <DT><A HREF="{url}">{url} page</A>\n' for url in links)
    return f"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<TITLE>Bookmarks</TITLE>\n<DL><p>\n{anchors}</DL><p>\n"


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "links"
    shutil.copytree(FIXTURES, root)
    (root / "team.html").write_text(
        bookmark_file("https://team.example/a", "https://team.example/b")
    )
    return root


def test_nested_folders_tags_dates_and_descriptions():
    docs, _, _ = pull_all(BookmarksConnector(FIXTURES / "bookmarks.html"))
    repo = docs["https://github.com/acme/search"]
    assert repo.id == "links:https://github.com/acme/search"
    assert repo.kind == "link"
    assert repo.title == "acme/search & friends"
    assert repo.url == "https://github.com/acme/search"
    assert repo.text == (
        "acme/search & friends\nThe search service repository.\nhttps://github.com/acme/search"
    )
    assert repo.container == repo.meta["folder"] == "/Engineering"
    assert json.loads(repo.meta["tags"]) == ["code", "search"]
    assert repo.meta["host"] == "github.com"
    assert repo.created_at == datetime.fromtimestamp(1700000500, tz=UTC)
    assert repo.updated_at == datetime.fromtimestamp(1700000900, tz=UTC)
    design = docs["https://docs.acme.io/design?id=7&v=2"]
    assert design.container == "/Engineering/Design Docs"
    assert design.created_at == datetime.fromtimestamp(1700001000, tz=UTC)
    top = docs["https://example.com/top"]
    assert top.container == "/"
    assert top.title == "Top level link"
    assert top.text == "Top level link\nhttps://example.com/top"


def test_http_and_https_spellings_stay_distinct():
    docs, _, _ = pull_all(BookmarksConnector(FIXTURES))
    assert docs["http://surpriselib.com/"].container == "/Engineering"
    assert docs["https://surpriselib.com/"].container == "/"
    assert docs["https://surpriselib.com/"].title == "Surprise (https)"


def test_duplicates_keep_the_first_and_a_missing_href_fails():
    docs, failures, _ = pull_all(BookmarksConnector(FIXTURES))
    assert len(docs) == 5
    assert docs["https://example.com/top"].title == "Top level link"
    assert [(failure.source, failure.native_id) for failure in failures] == [
        ("links", "bookmarks.html#23")
    ]
    assert "no HREF" in failures[0].reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"", "empty file"),
        ("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<A HREF='x'>caf\xe9</A>".encode("latin-1"), "utf-8"),
        (
            b"<html><body><p>See <a href='https://x.example'>x</a></p></body></html>",
            "not a Netscape",
        ),
    ],
)
def test_malformed_files_fail_and_the_rest_goes_on(tmp_path, content, reason):
    (tmp_path / "bad.html").write_bytes(content)
    (tmp_path / "good.html").write_text(bookmark_file("https://ok.example/"))
    docs, failures, cursor = pull_all(BookmarksConnector(tmp_path))
    assert list(docs) == ["https://ok.example/"]
    assert [failure.native_id for failure in failures] == ["bad.html"]
    assert reason.lower() in failures[0].reason.lower()
    assert set(cursor["files"]) == {"bad.html", "good.html"}


def test_unclosed_tags_and_no_doctype_still_parse(tmp_path):
    (tmp_path / "export.htm").write_text(
        "<DL><p><DT><H3>Reading<DL><p><DT><A HREF='https://a.example/'>A\n"
        "<DD>about a<DT><A HREF='https://b.example/' TAGS=' x , y '>B</DL><DT><A HREF='https://c.example/'>C"
    )
    docs, failures, _ = pull_all(BookmarksConnector(tmp_path))
    assert failures == []
    assert docs["https://a.example/"].text == "A\nabout a\nhttps://a.example/"
    assert docs["https://a.example/"].container == "/Reading"
    assert json.loads(docs["https://b.example/"].meta["tags"]) == ["x", "y"]
    assert docs["https://c.example/"].container == "/"


def test_unchanged_files_are_not_yielded_again_and_changed_ones_are(folder):
    connector = BookmarksConnector(folder)
    docs, _, cursor = pull_all(connector)
    assert len(docs) == 7
    json.dumps(cursor)
    assert pull_all(connector, cursor)[0] == {}
    team = folder / "team.html"
    team.write_text(bookmark_file("https://team.example/a", "https://team.example/c"))
    os.utime(team, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    changed, _, next_cursor = pull_all(connector, cursor)
    assert set(changed) == {"https://team.example/a", "https://team.example/c"}
    assert next_cursor["files"]["bookmarks.html"] == cursor["files"]["bookmarks.html"]
    assert next_cursor["files"]["team.html"] != cursor["files"]["team.html"]


def test_list_ids_after_a_deletion(folder):
    connector = BookmarksConnector(folder)
    ids = list(connector.list_ids())
    assert len(ids) == len(set(ids)) == 7
    assert {"https://team.example/b", "http://surpriselib.com/"} <= set(ids)
    (folder / "team.html").unlink()
    after = set(connector.list_ids())
    assert "https://team.example/b" not in after and len(after) == 5


@pytest.mark.skipif(not (HERB_CORPUS / "links").is_dir(), reason="HERB corpus not present")
def test_herb_bookmarks_read_without_failures():
    docs, failures, _ = pull_all(BookmarksConnector(HERB_CORPUS / "links" / "bookmarks.html"))
    assert failures == []
    assert len(docs) == 576
    assert {"http://surpriselib.com/", "https://surpriselib.com/"} <= set(docs)
    assert all(doc.title and doc.url == doc.native_id for doc in docs.values())


def test_list_ids_refuses_to_guess_when_a_file_is_unreadable(tmp_path):
    from connectors.records import IncompleteListing

    (tmp_path / "good.html").write_text(
        '<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><A HREF="https://a.example/">A</A>\n</DL>'
    )
    (tmp_path / "bad.html").write_bytes(b"\x00\x01binary")
    with pytest.raises(IncompleteListing, match="bad.html"):
        list(BookmarksConnector(tmp_path).list_ids())
