"""The Prefect `ingest` flow: sync every configured source into the store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.records import TransientError
from flows.config import EngineConfig, SourceConfig, build_connector, load_config
from flows.settings import Settings
from flows.sync import SourceSync
from index.catalog import Catalog
from index.graph import build_graph
from index.lance import LanceStore
from index.profile import build_profiles
from transforms.embed import Embedder
from transforms.engine import Engine, LocalEngine


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a source only when it failed on an error that may pass."""
    return isinstance(state.result(raise_on_failure=False), TransientError)


@task(retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=is_transient,
      cache_policy=NO_CACHE, task_run_name="sync-{source.name}")
def sync_source(
    source: SourceConfig,
    settings: Settings,
    catalog: Catalog,
    store: LanceStore,
    engine: Engine,
    run_id: str,
    batch_docs: int,
) -> dict[str, Any]:
    """Sync one source; resumes from its last committed cursor when retried."""
    connector = build_connector(source, settings)
    sync = SourceSync(
        source.name, connector, catalog, store, engine, run_id,
        batch_docs=batch_docs, track_deletions=source.track_deletions,
    )
    return sync.run().as_dict()


def make_engine(config: EngineConfig, settings: Settings) -> Engine:
    """The stage runner the config asks for; the embedding model loads on first use."""
    embedder = partial(Embedder, batch_size=settings.embed_batch_size, dtype=settings.embed_dtype)
    if config.name == "dask":
        from transforms.dask_engine import DaskEngine

        return DaskEngine(embedder, address=config.address, workers=config.workers)
    if config.name == "beam":
        from transforms.beam_engine import BeamEngine

        return BeamEngine(
            embedder, runner=config.runner, workers=config.workers, address=config.address,
            options=config.options, output_dir=str(settings.store.resolve() / "beam"),
            batch_size=settings.embed_batch_size,
        )
    return LocalEngine(embedder)


@flow(name="ingest", log_prints=True)
def ingest(
    config_path: str,
    store_path: str | None = None,
    sources: list[str] | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Pull each configured source (or the named ones), index it, and record a run report.

    `engine` (local, dask or beam) overrides the config's engine for this run.
    """
    settings = Settings(store=Path(store_path)) if store_path else Settings()
    settings.prepare_runtime()
    config = load_config(Path(config_path))
    chosen = [config.source(n) for n in sources] if sources else config.sources
    started = datetime.now(UTC)
    run_id = hashlib.sha1(f"{config_path}|{started.isoformat()}".encode()).hexdigest()[:16]
    catalog = Catalog(settings.catalog_path)
    store = LanceStore(settings.lance_uri)
    engine_config = config.engine.model_copy(update={"name": engine}) if engine else config.engine
    stages = make_engine(engine_config, settings)
    reports: list[dict[str, Any]] = []
    status = "completed"
    try:
        for source in chosen:
            reports.append(
                sync_source(source, settings, catalog, store, stages, run_id,
                            engine_config.batch_docs)
            )
        if any(r["docs_changed"] or r["docs_deleted"] for r in reports):
            store.optimize()
            build_profiles(catalog)
            build_graph(catalog)
    except BaseException:
        status = "failed"
        raise
    finally:
        report = run_report(run_id, started, status, reports, stages, store)
        report["engine"] = engine_config.name
        catalog.record_run(run_id, started, status, report)
        catalog.close()
        stages.close()
    return report


def run_report(
    run_id: str, started: datetime, status: str, reports: list[dict[str, Any]],
    engine: Engine, store: LanceStore,
) -> dict[str, Any]:
    """The run's report: per-source counts, stage times, and totals."""
    seconds = (datetime.now(UTC) - started).total_seconds()
    times = engine.times
    return {
        "run_id": run_id,
        "status": status,
        "seconds": round(seconds, 3),
        "sources": reports,
        "docs_changed": sum(r["docs_changed"] for r in reports),
        "docs_deleted": sum(r["docs_deleted"] for r in reports),
        "chunks_embedded": sum(r["chunks_embedded"] for r in reports),
        "failures": sum(r["failures"] for r in reports),
        "stage_seconds": {
            "parse": round(times.parse_s, 3),
            "chunk": round(times.chunk_s, 3),
            "embed": round(times.embed_s, 3),
        },
        "chunks": store.count(),
    }
