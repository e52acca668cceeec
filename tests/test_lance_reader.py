"""The pylance reader returns what the LanceDB store returns, for every mode and filter."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from index.lance import LanceStore
from index.lance_reader import LanceReader, fts_text
from index.records import Query
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

WORDS = ["export", "crash", "customer", "report", "failing", "sync", "token", "dashboard", "latency", "retry",
         "the", "of", "release", "notes", "budget", "review", "meeting", "kestrel", "o'brien"]


def chunks() -> list[Chunk]:
    """Texts of distinct lengths and random vectors, so no two scores tie."""
    rng = random.Random(7)
    out = []
    for n in range(150):
        source = ("slack", "github", "docs")[n % 3]
        vector = np.random.default_rng(n).normal(size=DIMENSIONS)
        out.append(Chunk(
            group_id=f"{source}-{n}", ordinal=0, text=" ".join(rng.choice(WORDS) for _ in range(n + 1)),
            source=source, kind="message" if n % 2 else "document", container=f"c{n % 4}",
            people=[f"p{n % 5}"], acl=["*"] if n % 7 else ["alice"],
            created_at=datetime(2026, 1 + n % 12, 1, tzinfo=UTC), vector=(vector / np.linalg.norm(vector)).tolist(),
        ))
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[LanceStore, LanceReader]:
    uri = str(tmp_path_factory.mktemp("reader") / "lance")
    rows = chunks()
    store = LanceStore(uri)
    store.replace_groups({c.group_id for c in rows}, set(), rows)
    store.optimize()
    return store, LanceReader(uri)


FILTERS = [
    {},
    {"sources": ["slack", "docs"]},
    {"kinds": ["document"], "containers": ["c1", "c2"]},
    {"people": ["p3"], "since": datetime(2026, 3, 1, tzinfo=UTC), "until": datetime(2026, 9, 1, tzinfo=UTC)},
    {"principals": ["bob"]},
]


@pytest.mark.parametrize("mode", ["hybrid", "vector", "text"])
@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("text", ["export crash customer", "kestrel review of the budget", "O'Brien?", "!!!"])
def test_the_reader_finds_what_the_store_finds(stores, mode, filters, text):
    store, reader = stores
    query = Query(text=text, mode=mode, k=25, **filters)
    vector = np.random.default_rng(len(text)).normal(size=DIMENSIONS).astype(np.float32)
    expected = [(h.chunk_id, round(h.score, 9)) for h in store.search(query, vector)]
    got = reader.search(query, vector)
    assert [(h.chunk_id, round(h.score, 9)) for h in got] == expected
    assert got == store.search(query, vector)


def test_a_store_with_no_chunks_table_finds_nothing(tmp_path):
    reader = LanceReader(str(tmp_path / "lance"))
    assert reader.count() == 0 and reader.search(Query(text="export"), np.zeros(DIMENSIONS)) == []


def test_the_reader_counts_the_chunks(stores):
    store, reader = stores
    assert reader.count() == store.count() == 150


def test_full_text_words_are_letters_and_digits():
    assert fts_text("O'Brien's  v2.1 — report!") == "O Brien s v2 1 report"
    assert fts_text("?!") == ""
