"""The Prefect `ingest` flow: sync every configured source into the store."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.records import Failure, TransientError
from flows.config import EngineConfig, IngestConfig, SourceConfig, build_connector, load_config
from flows.settings import Settings
from flows.sync import WHOLE_SOURCE, SourceSync, SyncReport
from index.catalog import Catalog
from index.lance import LanceStore
from index.lock import WriterLock
from index.profile import ALIAS_TABLE, PROFILE_TABLE, build_profiles
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

    `engine` (local, dask or beam) overrides the config's engine for this run. One ingest
    writes a store at a time: a second one waits `lock_wait_s`, then raises StoreLocked.
    A source that fails is a failure of the run, which goes on with the other sources and
    ends "completed with failures"; derived tables are rebuilt whenever they are missing
    or older than the documents, whatever stopped the run that left them so.
    """
    settings = Settings(store=Path(store_path)) if store_path else Settings()
    settings.prepare_runtime()
    config = load_config(Path(config_path))
    chosen = [config.source(n) for n in sources] if sources else config.sources
    started = datetime.now(UTC)
    run_id = hashlib.sha1(f"{config_path}|{started.isoformat()}".encode()).hexdigest()[:16]
    with WriterLock(settings.store) as lock:
        lock.acquire(settings.lock_wait_s)
        return run_sources(settings, config, chosen, started, run_id, engine)


def run_sources(
    settings: Settings, config: IngestConfig, chosen: list[SourceConfig], started: datetime,
    run_id: str, engine: str | None,
) -> dict[str, Any]:
    """Sync the chosen sources into the store, rebuild what is derived, record the run."""
    catalog = Catalog(settings.catalog_path, wait_s=settings.lock_wait_s)
    store = LanceStore(settings.lance_uri)
    engine_config = config.engine.model_copy(update={"name": engine}) if engine else config.engine
    stages = make_engine(engine_config, settings)
    reports: list[dict[str, Any]] = []
    rebuilt: list[str] = []
    status = "failed"
    try:
        for source in chosen:
            try:
                reports.append(
                    sync_source(source, settings, catalog, store, stages, run_id,
                                engine_config.batch_docs)
                )
            except Exception as exc:  # noqa: BLE001 - a failed source is reported, never fatal
                reports.append(failed_source(catalog, source, run_id, exc))
        rebuilt = derived_missing(catalog, store)
        if rebuilt:
            rebuild_derived(catalog, store)
        failed = any(r["failures"] or r.get("error") for r in reports)
        status = "completed with failures" if failed else "completed"
    finally:
        report = run_report(run_id, started, status, reports, stages, store)
        report["engine"] = engine_config.name
        report["derived_rebuilt"] = rebuilt
        catalog.record_run(run_id, started, status, report)
        catalog.close()
        stages.close()
    return report


def failed_source(
    catalog: Catalog, source: SourceConfig, run_id: str, error: Exception
) -> dict[str, Any]:
    """Record a source whose sync failed as a whole, and its report; the failure clears when
    the source next syncs in full."""
    reason = f"sync failed: {type(error).__name__}: {error}"
    failure = Failure(source=source.type, native_id=WHOLE_SOURCE, reason=reason)
    catalog.commit(source.name, run_id, failures=[failure])
    report = SyncReport(source=source.name, failures=1, failure_reasons=[reason]).as_dict()
    return report | {"error": reason}


def rebuild_derived(catalog: Catalog, store: LanceStore) -> None:
    """Rebuild what is derived from the documents: the chunk indexes, source profiles and
    entity aliases; then record them current."""
    store.optimize()
    build_profiles(catalog)
    catalog.derived_current()


def derived_missing(catalog: Catalog, store: LanceStore) -> list[str]:
    """What of the derived tables is missing or older than the documents (empty: none)."""
    tables = catalog.tables()
    missing = [name for name in (PROFILE_TABLE, ALIAS_TABLE) if name not in tables]
    missing += store.missing_indexes()
    if catalog.derived_stale():
        missing.append("documents changed since the last rebuild")
    return missing


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
        "groups_repaired": sum(r["groups_repaired"] for r in reports),
        "failures": sum(r["failures"] for r in reports),
        "sources_failed": [r["source"] for r in reports if r.get("error")],
        "stage_seconds": {
            "parse": round(times.parse_s, 3),
            "chunk": round(times.chunk_s, 3),
            "embed": round(times.embed_s, 3),
        },
        "chunks": store.count(),
    }
