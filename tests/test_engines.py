"""What each engine does beyond the engine contract (tests/test_contracts.py): Dask runs a
real LocalCluster of two worker processes, one model each, and Beam its FnApiRunner in
multi-process mode with two SDK workers; the flow test runs `ingest` on Dask.
"""

from __future__ import annotations

import os
import shutil

import apache_beam as beam
import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.ingest import ingest
from index.lance import LanceStore
from tests.conftest import FIXTURES, PUBLIC_TOML
from tests.test_contracts import EMBEDDER, message
from transforms.beam_engine import BeamEngine, apply_keyed
from transforms.dask_engine import PLUGIN_NAME, DaskEngine
from transforms.engine import LocalEngine

pytestmark = pytest.mark.slow


def model_ids(engine: DaskEngine) -> dict[str, int]:
    def held(dask_worker) -> int:
        return id(dask_worker.plugins[PLUGIN_NAME].embedder)

    return engine.client.run(held)


def test_dask_runs_worker_processes_that_keep_one_model_each(tmp_path):
    chunks = LocalEngine(EMBEDDER).chunk([[message(n, "C01", f"note {n}") for n in range(6)]])
    engine = DaskEngine(EMBEDDER, workers=2, local_directory=tmp_path / "dask")
    try:
        pids = set(engine.client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        engine.embed(chunks)
        loaded = model_ids(engine)
        assert len(loaded) == 2
        engine.embed(chunks)
        assert model_ids(engine) == loaded
        assert engine.times.embedded == 2 * len(chunks) and engine.times.embed_s > 0
    finally:
        engine.close()
    assert engine.cluster.status.name == "closed"


def worker_pid(_: object) -> int:
    return os.getpid()


def test_beam_runs_stages_in_worker_processes():
    engine = BeamEngine(EMBEDDER, workers=2, batch_size=16)
    pids = engine.run(list(range(8)), beam.Map(apply_keyed, worker_pid))
    assert len(set(pids)) == 2 and os.getpid() not in pids


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
        '[[sources]]\nname = "docs"\ntype = "docs"\npath = "corpus/docs"\n'
        f'{PUBLIC_TOML}\n\n'
        '[[sources]]\nname = "meetings"\ntype = "meetings"\npath = "corpus/meetings"\n'
        f'{PUBLIC_TOML}\n'
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
