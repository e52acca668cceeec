"""Local, Dask and Beam engines give the same documents, failures, chunk ids and vectors.

Dask runs a real LocalCluster of two worker processes and Beam its FnApiRunner in
multi-process mode with two SDK workers; the flow test runs `ingest` on Dask.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from functools import partial

import apache_beam as beam
import numpy as np
import pytest
from prefect.testing.utilities import prefect_test_harness

from connectors.documents import DocumentsConnector
from connectors.records import SourceDoc, doc_id
from flows.ingest import ingest
from index.lance import LanceStore
from tests.conftest import FIXTURES
from transforms.beam_engine import BeamEngine, apply_keyed
from transforms.dask_engine import PLUGIN_NAME, DaskEngine
from transforms.embed import Embedder
from transforms.engine import Engine, LocalEngine

pytestmark = pytest.mark.slow

EMBEDDER = partial(Embedder, batch_size=16)
VECTOR_ATOL = 3e-3  # bf16 weights: thread count and batch shapes change the last bits


def message(n: int, channel: str, text: str) -> SourceDoc:
    return SourceDoc(
        id=doc_id("slack", f"{channel}/{n}"), source="slack", native_id=f"{channel}/{n}",
        kind="message", text=text, author=f"U{n % 3}", people=[f"U{n % 3}"],
        container=channel, group=f"{channel}/2026-01-05",
        created_at=datetime(2026, 1, 5, 9, n, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def inputs() -> list[SourceDoc]:
    """Document files (some unreadable) and Slack messages of two channel-days."""
    files = [d for page in DocumentsConnector(FIXTURES / "docs").pull(None) for d in page.docs]
    topics = ["the launch slipped a week", "billing API needs a retry", "who owns the SDK?",
              "standup moved to 10:00", "the zebra rollout starts in May", "ship it"]
    messages = [message(n, channel, f"{topics[n % len(topics)]} ({channel} #{n})")
                for channel in ("C01", "C02") for n in range(12)]
    return files + messages


def run_stages(engine: Engine, docs: list[SourceDoc]):
    """Parse, group, chunk and embed the way a sync does."""
    parsed, failures = engine.parse(docs)
    groups: dict[str, list[SourceDoc]] = defaultdict(list)
    for doc in parsed:
        groups[doc.group].append(doc)
    chunks = engine.chunk([groups[g] for g in sorted(groups)])
    return parsed, failures, engine.embed(chunks)


@pytest.fixture(scope="module")
def expected(inputs):
    engine = LocalEngine(EMBEDDER)
    parsed, failures, chunks = run_stages(engine, inputs)
    assert failures and chunks and parsed
    assert engine.times.embedded == len(chunks)
    return parsed, failures, chunks


def assert_same(result, expected) -> None:
    parsed, failures, chunks = result
    want_parsed, want_failures, want_chunks = expected
    assert parsed == want_parsed
    assert failures == want_failures
    assert [c.id for c in chunks] == [c.id for c in want_chunks]
    assert [c.model_dump(exclude={"vector"}) for c in chunks] == [
        c.model_dump(exclude={"vector"}) for c in want_chunks
    ]
    got = np.array([c.vector for c in chunks])
    want = np.array([c.vector for c in want_chunks])
    assert got.shape == want.shape == (len(want_chunks), 384)
    np.testing.assert_allclose(got, want, atol=VECTOR_ATOL)
    assert (got * want).sum(axis=1).min() >= 0.9999


def model_ids(engine: DaskEngine) -> dict[str, int]:
    def held(dask_worker) -> int:
        return id(dask_worker.plugins[PLUGIN_NAME].embedder)

    return engine.client.run(held)


def test_dask_local_cluster_matches_local(inputs, expected, tmp_path):
    engine = DaskEngine(EMBEDDER, workers=2, local_directory=tmp_path / "dask")
    try:
        pids = set(engine.client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        assert_same(run_stages(engine, inputs), expected)
        loaded = model_ids(engine)
        assert len(loaded) == 2
        engine.embed(expected[2])
        assert model_ids(engine) == loaded
        assert engine.times.embedded == 2 * len(expected[2])
        assert engine.times.parse_s > 0 and engine.times.embed_s > 0
    finally:
        engine.close()
    assert engine.cluster.status.name == "closed"


def worker_pid(_: object) -> int:
    return os.getpid()


def test_beam_multi_process_matches_local(inputs, expected):
    engine = BeamEngine(EMBEDDER, workers=2, batch_size=16)
    pids = engine.run(list(range(8)), beam.Map(apply_keyed, worker_pid))
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert_same(run_stages(engine, inputs), expected)
    assert engine.times.embedded == len(expected[2])


def test_beam_in_process_runner_options():
    engine = BeamEngine(EMBEDDER, workers=1)
    options = engine.pipeline_options().get_all_options()
    assert options["direct_running_mode"] == "in_memory"
    assert engine.run(["a", "b"], beam.Map(apply_keyed, str.upper)) == ["A", "B"]
    flink = BeamEngine(EMBEDDER, runner="FlinkRunner", address="flink:8081",
                       options={"environment_type": "EXTERNAL"})
    assert flink.make_runner() == "FlinkRunner"
    flink_options = flink.pipeline_options().get_all_options()
    assert flink_options["flink_master"] == "flink:8081"
    assert flink_options["environment_type"] == "EXTERNAL"
    assert flink_options["direct_running_mode"] != "multi_processing"


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_ingest_flow_on_dask_matches_local(prefect_server, tmp_path):
    root = tmp_path / "corpus"
    shutil.copytree(FIXTURES / "docs", root / "docs")
    shutil.copytree(FIXTURES / "meetings", root / "meetings")
    config = tmp_path / "quarry.toml"
    config.write_text(
        '[engine]\nname = "local"\nworkers = 2\nbatch_docs = 8\n\n'
        '[[sources]]\nname = "docs"\ntype = "docs"\npath = "corpus/docs"\n\n'
        '[[sources]]\nname = "meetings"\ntype = "meetings"\npath = "corpus/meetings"\n'
    )
    ids = {}
    for engine in ("local", "dask"):
        store = tmp_path / f"store-{engine}"
        report = ingest(str(config), str(store), engine=engine)
        assert report["status"] == "completed with failures" and report["engine"] == engine
        assert report["failures"] >= 3 and report["chunks"] > 0
        table = LanceStore(str(store / "lance")).table.to_arrow()
        ids[engine] = sorted(table.column("id").to_pylist())
    assert ids["dask"] == ids["local"]
