"""SourceSync on real DuckDB, LanceDB and the real embedding model, with a scripted connector."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.records import (
    Failure,
    IncompleteListing,
    Page,
    SourceDoc,
    TransientError,
    doc_id,
)
from flows.sync import SourceSync
from transforms.engine import LocalEngine


def message(n: int, text: str, day: int = 1) -> SourceDoc:
    return SourceDoc(
        id=doc_id("slack", f"m{n}"), source="slack", native_id=f"m{n}", kind="message",
        text=text, author=f"u{n % 3}", people=[f"u{n % 3}"], container="general",
        group=f"C1/2026-01-0{day}", created_at=datetime(2026, 1, day, 9, n, tzinfo=UTC),
    )


class ScriptedConnector:
    """A connector that yields the pages it is given, optionally failing after some.

    It re-lists everything unless `resumable`, in which case it starts after the cursor.
    """

    source = "slack"

    def __init__(self, pages: list[Page], fail_after: int | None = None, resumable=False):
        self.pages = pages
        self.fail_after = fail_after
        self.resumable = resumable
        self.seen_cursors: list = []

    def pull(self, cursor):
        self.seen_cursors.append(cursor)
        start = cursor["page"] if cursor and self.resumable else 0
        for i, page in enumerate(self.pages[start:], start):
            if self.fail_after is not None and i >= self.fail_after:
                raise TransientError("connection dropped")
            yield page

    def list_ids(self):
        return (d.native_id for p in self.pages for d in p.docs)


def pages_of(messages: list[SourceDoc], per_page: int = 2) -> list[Page]:
    return [
        Page(docs=messages[i : i + per_page], cursor={"page": i // per_page + 1})
        for i in range(0, len(messages), per_page)
    ]


@pytest.fixture
def engine(embedder):
    return LocalEngine(lambda: embedder)


def sync(name, connector, stores, engine, batch_docs=2):
    catalog, store = stores
    return SourceSync(name, connector, catalog, store, engine, "run", batch_docs=batch_docs).run()


def test_first_run_indexes_and_rerun_embeds_nothing(stores, engine):
    msgs = [message(i, f"release plan item {i} for the search service") for i in range(6)]
    first = sync("s", ScriptedConnector(pages_of(msgs)), stores, engine)
    catalog, store = stores
    assert first.docs_changed == 6 and first.chunks_embedded >= 1
    assert catalog.cursor("s") == {"page": 3}
    count = store.count()
    second = sync("s", ScriptedConnector(pages_of(msgs)), stores, engine)
    assert second.docs_seen == 6 and second.docs_changed == 0 and second.chunks_embedded == 0
    assert store.count() == count
    assert catalog.stats()["documents"] == {"slack": 6}


def test_changed_message_reembeds_only_its_group(stores, engine):
    day1 = [message(i, f"budget review note {i}", day=1) for i in range(3)]
    day2 = [message(i + 3, f"hiring plan note {i}", day=2) for i in range(3)]
    sync("s", ScriptedConnector(pages_of(day1 + day2, 3)), stores, engine)
    edited = day1[:2] + [day1[2].model_copy(update={"text": "budget review moved to May"})]
    report = sync("s", ScriptedConnector(pages_of(edited + day2, 3)), stores, engine, 3)
    assert report.docs_changed == 1
    _, store = stores
    texts = " ".join(store.table.to_arrow().column("text").to_pylist())
    assert "moved to May" in texts and "budget review note 2" not in texts
    assert store.count("group_id = 'C1/2026-01-02'") >= 1


def test_deleted_message_leaves_the_store(stores, engine):
    msgs = [message(i, f"incident {i} postmortem") for i in range(4)]
    sync("s", ScriptedConnector(pages_of(msgs)), stores, engine)
    report = sync("s", ScriptedConnector(pages_of(msgs[:3])), stores, engine)
    catalog, store = stores
    assert report.docs_deleted == 1
    native = {n for ids in store.table.to_arrow().column("native_ids").to_pylist() for n in ids}
    assert native == {"m0", "m1", "m2"}
    assert catalog.stats()["deleted"] == 1


def test_failures_are_recorded_and_the_run_goes_on(stores, engine):
    bad = Failure(source="slack", native_id="general/2026-01-03.json", reason="malformed JSON")
    pages = [Page(docs=[message(1, "hello")], failures=[bad], cursor={"page": 1})]
    report = sync("s", ScriptedConnector(pages), stores, engine)
    catalog, _ = stores
    assert report.failures == 1 and report.docs_changed == 1
    assert catalog.failures()[0]["reason"] == "malformed JSON"


def test_crash_resumes_from_last_committed_cursor_without_duplicates(stores, engine):
    msgs = [message(i, f"design review {i}") for i in range(6)]
    crashing = ScriptedConnector(pages_of(msgs), fail_after=2, resumable=True)
    with pytest.raises(TransientError):
        sync("s", crashing, stores, engine)
    catalog, store = stores
    assert catalog.cursor("s") == {"page": 2}
    resumed = ScriptedConnector(pages_of(msgs), resumable=True)
    sync("s", resumed, stores, engine)
    assert resumed.seen_cursors == [{"page": 2}]
    ids = store.table.to_arrow().column("id").to_pylist()
    assert len(ids) == len(set(ids))
    native = [n for ns in store.table.to_arrow().column("native_ids").to_pylist() for n in ns]
    assert sorted(native) == sorted(f"m{i}" for i in range(6))


def test_incomplete_listing_deletes_nothing(stores, engine):
    msgs = [message(i, f"roadmap topic {i}") for i in range(4)]
    sync("s", ScriptedConnector(pages_of(msgs)), stores, engine)

    class Unlistable(ScriptedConnector):
        def list_ids(self):
            yield "m0"
            raise IncompleteListing("general/2026-01-01.json: malformed JSON")

    report = sync("s", Unlistable(pages_of(msgs)), stores, engine)
    catalog, _ = stores
    assert report.docs_deleted == 0 and "malformed" in report.deletions_skipped
    assert catalog.stats()["documents"] == {"slack": 4}
