"""Search that scales under permissions: top-k text ranking over ACL groups, and the
approximate vector index trained on public chunks, both exactly as a store without the
hidden chunks would rank them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from index import vector_index
from index.bm25 import CorpusStats, bm25, tokens
from index.lance import LanceStore, Scope
from index.records import Query
from index.sql import filter_sql
from index.text_topk import OrderMismatch, most_visible, visible_top
from transforms.embed import DIMENSIONS
from transforms.records import Chunk

VOCABULARY = [f"w{n}" for n in range(300)]
QUESTIONS = ["w1 w2 w3", "w0 w0 w7 w40", "w5 w150 w299", "w2", "w10 w11 w12 w13 w14 w15", "w250 w3"]


def corpus(count: int, acl: list[str], name: str, seed: int, centers: np.ndarray) -> list[Chunk]:
    """Chunks of Zipf-distributed words with vectors around a few shared centres."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(VOCABULARY) + 1)
    weights /= weights.sum()
    out = []
    for n in range(count):
        words = rng.choice(VOCABULARY, size=int(rng.integers(1, 60)), p=weights)
        vector = centers[n % len(centers)] + rng.normal(0, 0.3, DIMENSIONS)
        out.append(Chunk(
            group_id=f"{name}-{n}", ordinal=0, text=" ".join(words), source="slack", kind="message",
            container=name, acl=acl, vector=(vector / np.linalg.norm(vector)).tolist(),
        ))
    return out


CENTERS = np.random.default_rng(0).normal(size=(12, DIMENSIONS))
PUBLIC = corpus(1200, ["*"], "general", 1, CENTERS)
BOBS = corpus(150, ["slack:channel:CB"], "bobs", 2, CENTERS)
SECRET = corpus(900, ["slack:channel:CS"], "secret", 3, CENTERS) + corpus(100, ["alice", "carol"], "dm", 4, CENTERS)
READERS = {"slack:channel:CB": ["bob", "alice"], "slack:channel:CS": ["alice"]}


def make_store(path, rows: list[Chunk]) -> LanceStore:
    store = LanceStore(str(path))
    store.set_containers(READERS)
    store.replace_groups({c.group_id for c in rows}, set(), rows)
    store.optimize()
    return store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store with everything, and one that never held what bob may not read; both get the
    vector index (trained on the public chunks they share), read approximately even for
    callers who may read little."""
    root = tmp_path_factory.mktemp("scaled")
    patch = pytest.MonkeyPatch()
    patch.setattr(vector_index, "EXACT_BELOW", 0)
    try:
        yield make_store(root / "with", PUBLIC + BOBS + SECRET), make_store(root / "without", PUBLIC + BOBS)
    finally:
        patch.undo()


def top_and_exhaustive(store: LanceStore, text: str, principals: list[str], k: int, **filters):
    scope = store.scope(principals)
    where = filter_sql(Query(text=text, **filters), scope.sql)
    fast = store._text_top(tokens(text), scope.visible, where, k)
    slow = store._text_visible(tokens(text), scope.sql, where, k)
    return [(r["id"], round(r["_score"], 6)) for r in fast], [(r["id"], round(r["_score"], 6)) for r in slow]


@pytest.mark.parametrize("principals", [["bob"], ["alice"], ["carol"], ["nobody"]])
@pytest.mark.parametrize("k", [1, 5, 30])
def test_top_k_over_acl_groups_equals_scoring_every_visible_candidate(stores, principals, k):
    with_all, _ = stores
    assert with_all.scope(principals).visible is not None
    for text in QUESTIONS:
        fast, slow = top_and_exhaustive(with_all, text, principals, k)
        assert fast == slow and len(fast) == min(k, len(slow))


def test_top_k_reads_fewer_chunks_than_it_would_score(stores, monkeypatch):
    """The point of the bound: the index is read only as deep as the top k needs."""
    import index.lance

    with_all, _ = stores
    scope = with_all.scope(["bob"])
    where = filter_sql(Query(text="w1 w2 w3"), scope.sql)
    read: list[int] = []

    def reading(*args, **kwargs):
        found, scores = visible_top(*args, **kwargs)
        read.append(found.num_rows)
        return found, scores

    monkeypatch.setattr(index.lance, "visible_top", reading)
    with_all._text_top(tokens("w1 w2 w3"), scope.visible, where, 5)
    candidates = with_all.matching("w1 w2 w3", scope.sql, 10_000, ["id"]).num_rows
    assert candidates > 1000 and read[0] <= candidates / 5


def test_deeper_reads_rank_exactly_with_terms_read_only_for_contenders(stores, monkeypatch):
    """Read k deep first, so that the bound sends nearly every question deeper: reads past
    the first carry index scores alone, and terms are fetched only for the chunks that
    could still enter the top k; the result is still the exhaustive ranking."""
    import index.lance
    import index.text_topk

    with_all, _ = stores
    monkeypatch.setattr(index.text_topk, "FIRST_READ", 1)
    deeper: list[int] = []
    fetched: list[int] = []
    search_text, fetch_rows = with_all.full_text, index.lance.rows_at

    def full_text(text, where, limit, columns):
        if "terms" not in columns:
            assert columns == ["_score"]
            deeper.append(limit)
        return search_text(text, where, limit, columns)

    def rows_at(dataset, rowids, columns):
        fetched.append(len(rowids))
        return fetch_rows(dataset, rowids, columns)

    monkeypatch.setattr(with_all, "full_text", full_text)
    monkeypatch.setattr(index.lance, "rows_at", rows_at)
    for principals in (["bob"], ["alice"], ["nobody"]):
        for text in QUESTIONS:
            fast, slow = top_and_exhaustive(with_all, text, principals, 10)
            assert fast == slow
    assert deeper and 0 < sum(fetched) < sum(deeper) / 2


def test_an_outsider_ranks_as_if_hidden_chunks_did_not_exist_with_the_vector_index(stores):
    with_all, without = stores
    assert with_all.vector_partitions() == without.vector_partitions() is not None
    vectors = np.random.default_rng(9).normal(size=(len(QUESTIONS), DIMENSIONS)).astype(np.float32)
    for text, vector in zip(QUESTIONS, vectors, strict=True):
        for mode in ("text", "vector", "hybrid"):
            query = Query(text=text, mode=mode, k=20, principals=["bob"])
            mine = [(h.chunk_id, round(h.score, 6)) for h in with_all.search(query, vector)]
            assert mine == [(h.chunk_id, round(h.score, 6)) for h in without.search(query, vector)]
            assert mine and not {h for h, _ in mine} & {c.id for c in SECRET}


def test_an_outsider_reading_few_partitions_ranks_as_if_hidden_chunks_did_not_exist(stores, monkeypatch):
    """With few partitions read, which ones are read must not depend on the hidden chunks
    (a probe count growing with the hidden share would)."""
    with_all, without = stores
    monkeypatch.setattr(vector_index, "NPROBES", 3)
    monkeypatch.setattr(vector_index, "RESTRICTED_NPROBES", 4)
    monkeypatch.setattr(vector_index, "TARGET_ROWS", 10)
    assert vector_index.nprobes_for(with_all.vector_partitions(), with_all.scope(["bob"]).visible.chunks) == 4
    vectors = np.random.default_rng(10).normal(size=(8, DIMENSIONS)).astype(np.float32)
    for vector in vectors:
        query = Query(text="w1", mode="vector", k=20, principals=["bob"])
        mine = [(h.chunk_id, round(h.score, 6)) for h in with_all.search(query, vector)]
        assert mine == [(h.chunk_id, round(h.score, 6)) for h in without.search(query, vector)]


def test_filters_apply_within_the_visible_ranking(stores):
    with_all, without = stores
    for filters in ({"containers": ["bobs"]}, {"containers": ["general"], "kinds": ["message"]}):
        fast, slow = top_and_exhaustive(with_all, "w1 w2 w40", ["bob"], 10, **filters)
        assert fast == slow and fast
        assert fast == top_and_exhaustive(without, "w1 w2 w40", ["bob"], 10, **filters)[0]


def test_vector_index_recall_against_exact_search(stores):
    with_all, _ = stores
    rng = np.random.default_rng(11)
    found = []
    for principals in (None, ["bob"], ["alice"]):
        scope = None if principals is None else with_all.scope(principals)
        where = filter_sql(Query(text="x"), None if scope is None else scope.sql)
        for _ in range(10):
            vector = (CENTERS[rng.integers(len(CENTERS))] + rng.normal(0, 0.3, DIMENSIONS)).astype(np.float32)
            approximate = {r["_rowid"] for r in with_all._vector(vector, scope, where, 10)}
            nearest = {"column": "vector", "q": vector, "k": 10, "use_index": False}
            exact = with_all.dataset.to_table(columns=["id"], nearest=nearest, filter=where, prefilter=True, with_row_id=True)
            truth = set(exact.column("_rowid").to_pylist())
            found.append(len(approximate & truth) / len(truth))
    assert np.mean(found) >= 0.95


def test_a_caller_who_may_read_little_gets_exact_vector_search(stores, monkeypatch):
    with_all, _ = stores
    monkeypatch.setattr(vector_index, "EXACT_BELOW", 20_000)
    partitions = with_all.vector_partitions()
    assert vector_index.nprobes_for(partitions, 19_999) == partitions
    assert vector_index.nprobes_for(partitions, None) < partitions
    assert vector_index.nprobes_for(100, 250_000) == vector_index.RESTRICTED_NPROBES > vector_index.NPROBES
    scope = with_all.scope(["bob"])
    where = filter_sql(Query(text="x"), scope.sql)
    for seed in range(5):
        vector = np.random.default_rng(seed).normal(size=DIMENSIONS).astype(np.float32)
        found = with_all._vector(vector, scope, where, 10)
        nearest = {"column": "vector", "q": vector, "k": 10, "use_index": False}
        exact = with_all.dataset.to_table(columns=["_distance"], nearest=nearest, filter=where, prefilter=True, with_row_id=True)
        assert [r["_distance"] for r in found] == pytest.approx(exact.column("_distance").to_pylist(), rel=1e-4)
        assert len({r["_rowid"] for r in found} & set(exact.column("_rowid").to_pylist())) >= 9


def test_group_tables_of_another_version_are_not_used(tmp_path):
    """Chunks written since the last optimize are not in the group tables: the ranking
    falls back to scoring every candidate, still over exactly what the caller may read."""
    store = make_store(tmp_path / "growing", PUBLIC[:200] + BOBS[:50])
    more = corpus(60, ["slack:channel:CB"], "bobs-more", 5, CENTERS)
    store.replace_groups({c.group_id for c in more}, set(), more)
    scope = store.scope(["bob"])
    assert scope.visible is None
    stale = [h.chunk_id for h in store.search(Query(text="w1 w2", mode="text", k=50, principals=["bob"]))]
    store.optimize()
    assert store.scope(["bob"]).visible is not None
    fresh = [h.chunk_id for h in store.search(Query(text="w1 w2", mode="text", k=50, principals=["bob"]))]
    assert stale == fresh and set(fresh) & {c.id for c in more}
    assert Scope(scope.sql, None).visible is None


def test_groups_resolve_container_refs_and_principals(stores):
    with_all, _ = stores
    counts = {who: with_all.scope([who]).visible.chunks for who in ("bob", "alice", "carol", "nobody")}
    assert counts == {"bob": 1350, "alice": 2350, "carol": 1300, "nobody": 1200}
    assert with_all.scope(["quarry:unresolved"]).visible.chunks == 1200


def test_scores_that_are_not_whole_table_bm25_are_refused():
    table = pa.table({"id": ["a", "b"], "terms": pa.array([[1], [1, 2]], pa.list_(pa.int64())),
                      "_score": pa.array([5.0, 1.0], pa.float32()), "_rowid": pa.array([0, 1], pa.uint64())})
    stats = CorpusStats(10, 2.0)
    with pytest.raises(OrderMismatch):
        visible_top(lambda limit, columns: table, lambda rowids: table, ["w1"], np.array([2]), np.array([2]), stats, stats, 1)


def test_a_full_text_index_that_drifted_from_the_table_is_built_again(tmp_path, monkeypatch):
    """Deleted rows can stay in the index's statistics; the top-k ranking then refuses the
    index (and scores every candidate), and the next optimize builds the index again, even
    when compaction alone would not have brought it back."""
    from index.lance import full_text_current

    store = make_store(tmp_path / "drift", PUBLIC[:400] + BOBS[:60])
    store.table.delete("container = 'general' AND group_id < 'general-2'")
    store._wrote()
    assert not full_text_current(store.dataset)
    table = store.table
    monkeypatch.setattr(type(table), "optimize", lambda self, **_: None)
    store.optimize()
    assert full_text_current(store.dataset)
    scope = store.scope(["bob"])
    where = filter_sql(Query(text="w1 w2 w3"), scope.sql)
    fast, slow = top_and_exhaustive(store, "w1 w2 w3", ["bob"], 10)
    assert fast == slow and store._text_top(tokens("w1 w2 w3"), scope.visible, where, 10)


@pytest.mark.parametrize("seed", range(20))
def test_the_visible_bound_holds_for_any_chunk_and_is_no_looser_than_the_idf_ratio(seed):
    """M(s) bounds the visible score of every chunk whose whole-table score is at most s,
    whatever its term frequencies and length, is at most the older bound F * s * max v / w,
    and grows with s."""
    rng = np.random.default_rng(seed)
    terms = int(rng.integers(1, 9))
    table_weight = rng.uniform(0.1, 6.0, terms)
    visible_weight = table_weight * rng.uniform(0.0, 1.6, terms)
    table_length, visible_length = rng.uniform(5, 60), rng.uniform(5, 60)
    factor = max(1.0, visible_length / table_length)
    most = most_visible(visible_weight, table_weight, factor)
    tf = rng.integers(0, 40, (4000, terms)) * (rng.random((4000, terms)) < 0.5)
    lengths = tf.sum(axis=1) + rng.integers(0, 300, 4000)
    table_score = bm25(tf, lengths.astype(float), table_weight, table_length)
    visible_score = bm25(tf, lengths.astype(float), visible_weight, visible_length)
    assert np.all(visible_score <= most(table_score) * (1 + 1e-12) + 1e-12)
    older = factor * table_score * np.max(visible_weight / table_weight)
    assert np.all(most(table_score) <= older * (1 + 1e-12) + 1e-12)
    budgets = np.linspace(0, table_weight.sum() * 3, 50)
    assert np.all(np.diff(most(budgets)) >= -1e-12)


def test_the_vector_index_is_trained_again_as_the_public_chunks_grow(tmp_path, monkeypatch):
    """An index trained when the store was small gets the partitions of its size once its
    public chunks would give twice as many, and not on every optimize before that."""
    monkeypatch.setattr(vector_index, "MIN_PUBLIC", 100)
    store = make_store(tmp_path, corpus(300, ["*"], "early", 5, CENTERS) + corpus(2000, ["slack:channel:CS"], "hidden", 6, CENTERS))
    assert store.vector_partitions() == vector_index.partitions_for(300)
    more = corpus(1000, ["*"], "later", 7, CENTERS)
    store.replace_groups({c.group_id for c in more}, set(), more)
    store.optimize()
    assert store.vector_partitions() == vector_index.partitions_for(1300) >= 2 * vector_index.partitions_for(300)
    few = corpus(100, ["*"], "last", 8, CENTERS)
    store.replace_groups({c.group_id for c in few}, set(), few)
    store.optimize()
    assert store.vector_partitions() == vector_index.partitions_for(1300)
    vector = CENTERS[0] / np.linalg.norm(CENTERS[0])
    found = store._vector(vector.astype(np.float32), None, None, 10)
    nearest = {"column": "vector", "q": vector.astype(np.float32), "k": 10, "use_index": False}
    exact = store.dataset.to_table(columns=["_distance"], nearest=nearest, with_row_id=True)
    assert len({r["_rowid"] for r in found} & set(exact.column("_rowid").to_pylist())) >= 9


def test_an_outsider_ranks_as_if_hidden_chunks_did_not_exist_after_the_store_grew(tmp_path, monkeypatch):
    """Rows added after the vector index was built go to its public-trained partitions, in
    deltas merged without moving a centroid: a store grown by several syncs, hidden chunks
    among them, ranks an outsider reading few partitions as one that never held them."""
    monkeypatch.setattr(vector_index, "MIN_PUBLIC", 100)
    monkeypatch.setattr(vector_index, "EXACT_BELOW", 0)
    monkeypatch.setattr(vector_index, "MAX_DELTAS", 1)
    monkeypatch.setattr(vector_index, "RESTRICTED_NPROBES", 2)
    monkeypatch.setattr(vector_index, "TARGET_ROWS", 10)
    syncs = [(corpus(400, ["*"], f"public{n}", 20 + n, CENTERS), corpus(1500, ["slack:channel:CS"], f"hidden{n}", 30 + n, CENTERS)) for n in range(3)]
    with_hidden = make_store(tmp_path / "with", syncs[0][0] + syncs[0][1])
    without = make_store(tmp_path / "without", syncs[0][0])
    partitions = with_hidden.vector_partitions()
    for public, hidden in syncs[1:]:
        for store, rows in ((with_hidden, public + hidden), (without, public)):
            store.replace_groups({c.group_id for c in rows}, set(), rows)
            store.optimize()
    assert with_hidden.vector_partitions() == without.vector_partitions() == partitions
    rng = np.random.default_rng(5)
    for _ in range(10):
        vector = (CENTERS[rng.integers(len(CENTERS))] + rng.normal(0, 0.3, DIMENSIONS)).astype(np.float32)
        query = Query(text="x", k=10, mode="vector", principals=["bob"])
        mine = [(h.chunk_id, round(h.score, 6)) for h in with_hidden.search(query, vector)]
        assert mine == [(h.chunk_id, round(h.score, 6)) for h in without.search(query, vector)]
