"""The chunk store's search: full-text ranking for restricted callers sees only what they may read."""

from __future__ import annotations

import random

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from index.lance import DERIVED, TABLE, LanceStore, Scope, rows_at
from index.records import Query
from index.sql import filter_sql
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

WORDS = ["export", "crash", "customer", "report", "failing", "sync", "token", "dashboard", "latency", "retry", "the", "of", "and", "release", "notes", "budget", "review", "meeting", "kestrel"]
QUESTIONS = ["export crash customer", "failing sync retry retry", "kestrel review of the budget", "the of"]


def chunks(count: int, acl: list[str], source: str, seed: int) -> list[Chunk]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        vector = np.random.default_rng(seed * 1000 + n).normal(size=DIMENSIONS)
        out.append(Chunk(
            group_id=f"{source}-{seed}-{n}", ordinal=0, text=text, source=source, kind="message",
            acl=acl, vector=(vector / np.linalg.norm(vector)).tolist(),
        ))
    return out


PUBLIC = chunks(120, ["*"], "slack", 1) + chunks(60, ["*"], "github", 2)
SECRET = chunks(200, ["alice"], "slack", 3)


def make_store(path, rows: list[Chunk]) -> LanceStore:
    store = LanceStore(str(path))
    store.replace_groups({c.group_id for c in rows}, set(), rows)
    store.optimize()
    return store


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("lance")
    return make_store(root / "with", PUBLIC + SECRET), make_store(root / "without", PUBLIC)


def ranking(store: LanceStore, text: str, **filters) -> list[tuple[str, float]]:
    hits = store.search(Query(text=text, mode="text", k=1000, **filters))
    return [(h.chunk_id, round(h.score, 9)) for h in hits]


def text_scores(store: LanceStore, text: str, exhaustive: bool = False, **filters) -> list[tuple[str, float]]:
    """Full-text ids and scores: the top-k path for a restricted caller, or with
    `exhaustive` the path that scores every visible candidate."""
    query = Query(text=text, mode="text", k=1000, **filters)
    scope = store.scope(query.principals) if query.principals is not None else None
    if scope is not None and exhaustive:
        scope = Scope(scope.sql, None)
    rows = store._text(query, scope, filter_sql(query, None if scope is None else scope.sql), 1000)
    if not rows:
        return []
    ids = rows_at(store.dataset, [r["_rowid"] for r in rows], ["id"]).column("id").to_pylist()
    return [(i, r["_score"]) for i, r in zip(ids, rows, strict=True)]


@pytest.mark.parametrize("text", QUESTIONS)
def test_a_restricted_caller_ranks_as_if_hidden_chunks_did_not_exist(both, text):
    with_secret, without = both
    assert text_scores(with_secret, text, principals=["bob"]) == text_scores(without, text, principals=["bob"])
    assert ranking(with_secret, text, principals=["bob"]) == ranking(without, text, principals=["bob"])


@pytest.mark.parametrize("text", QUESTIONS)
def test_restricted_bm25_equals_lancedb_bm25_over_the_same_chunks(both, text):
    """Over everything a caller can read, the restricted ranking is LanceDB's own ranking:
    the same tokenizer, statistics and formula (scores to float32 precision)."""
    with_secret, without = both
    for store, principals in ((with_secret, ["alice"]), (without, ["bob"])):
        mine = text_scores(store, text, principals=principals)
        native = text_scores(store, text)
        assert dict(mine) == pytest.approx(dict(native), rel=1e-5)
        assert [s for _, s in mine] == sorted((s for _, s in mine), reverse=True)


def test_the_hidden_statistics_would_have_changed_the_native_order(both):
    """The case the restricted path exists for: LanceDB's own scores for the same visible
    chunks differ once hidden chunks join the table."""
    with_secret, without = both
    native = text_scores(with_secret, QUESTIONS[0], sources=["github"])
    alone = text_scores(without, QUESTIONS[0], sources=["github"])
    assert {i for i, _ in native} == {i for i, _ in alone} and native != alone


def test_filters_apply_after_visible_statistics(both):
    with_secret, without = both
    for filters in ({"sources": ["github"]}, {"kinds": ["message"], "sources": ["slack"]}):
        mine = ranking(with_secret, "export crash", principals=["bob"], **filters)
        assert mine == ranking(without, "export crash", principals=["bob"], **filters)
        assert mine and all(c.source in filters["sources"] for c in PUBLIC if c.id in dict(mine))
    assert ranking(with_secret, "kestrel", principals=["bob"], containers=["none"]) == []
    assert ranking(with_secret, "zzz unknownword", principals=["bob"]) == []


def test_a_table_from_before_analyzed_text_is_upgraded_on_open(tmp_path):
    store = make_store(tmp_path / "old", PUBLIC)
    legacy = store.table.to_arrow().drop_columns(list(DERIVED))
    lancedb.connect(str(tmp_path / "old")).create_table(TABLE, legacy, mode="overwrite")
    upgraded = LanceStore(str(tmp_path / "old"))
    assert set(DERIVED) <= set(upgraded.table.schema.names) and upgraded.count() == len(PUBLIC)
    assert {i.name for i in upgraded.table.list_indices()} >= {"fts_text_idx", "id_idx", "acl_group_idx"}
    assert upgraded.scope(["bob"]).visible is not None
    assert ranking(upgraded, "export crash", principals=["bob"]) == ranking(store, "export crash", principals=["bob"])
    assert isinstance(upgraded.table.to_arrow().column("terms").type, pa.ListType)


def test_visible_statistics_follow_the_table_as_it_changes(tmp_path):
    store = make_store(tmp_path / "growing", PUBLIC)
    before = text_scores(store, QUESTIONS[0], principals=["bob"])
    more = chunks(80, ["*"], "docs", 4)
    store.replace_groups({c.group_id for c in more}, set(), more)
    store.optimize()
    after = text_scores(store, QUESTIONS[0], principals=["bob"])
    assert after != before
    assert dict(after) == pytest.approx(dict(text_scores(store, QUESTIONS[0])), rel=1e-5)
