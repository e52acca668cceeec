"""One ingest run as plain Python: sync each configured source into the store and record a
run report. The Prefect flow in `flows.ingest` runs it with each source as a task; the CLI
runs it directly when no Prefect API is configured (no server to start, no Prefect import).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connectors.records import Failure, TransientError
from flows.config import EngineConfig, IngestConfig, SourceConfig, build_connector, load_config
from flows.lazy import Lazy
from flows.qa_commands import open_chunks
from flows.settings import Settings
from flows.sync import WHOLE_SOURCE, SourceSync, SyncReport
from index.catalog import Catalog
from transforms.embed import Embedder
from transforms.engine import Engine, LocalEngine

if TYPE_CHECKING:
    from index.lance import LanceStore

RETRY_DELAYS = (2, 10, 30)


class Progress(Protocol):
    """What a display needs from a run: each source's start, its progress, its end."""

    def start(self, source: SourceConfig, catalog: Catalog) -> None: ...
    def update(self, report: SyncReport, read: int, cursor: dict[str, Any] | None) -> None: ...
    def finish(self, report: dict[str, Any]) -> None: ...


def make_engine(config: EngineConfig, settings: Settings) -> Engine:
    """The stage runner the config asks for; the embedding model loads on first use."""
    embedder = partial(
        Embedder, batch_size=settings.embed_batch_size, dtype=settings.embed_dtype, device=config.device
    )
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


def sync_one(
    source: SourceConfig, settings: Settings, catalog: Catalog, store: LanceStore, engine: Engine,
    run_id: str, batch_docs: int, progress: Progress | None = None,
) -> dict[str, Any]:
    """Sync one source; resumes from its last committed cursor when run again."""
    if progress is not None:
        progress.start(source, catalog)
    connector = build_connector(source, settings)
    sync = SourceSync(
        source.name, connector, catalog, store, engine, run_id, batch_docs=batch_docs,
        track_deletions=source.track_deletions, progress=progress.update if progress else None,
    )
    report = sync.run().as_dict()
    if progress is not None:
        progress.finish(report)
    return report


def sync_retrying(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """`sync_one`, retried after `RETRY_DELAYS` on an error that may pass (as the flow's task is)."""
    for delay in (*RETRY_DELAYS, None):
        try:
            return sync_one(*args, **kwargs)
        except TransientError:
            if delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


def run_ingest(
    config_path: str,
    store_path: str | None = None,
    sources: list[str] | None = None,
    engine: str | None = None,
    sync: Callable[..., dict[str, Any]] = sync_retrying,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Pull each configured source (or the named ones), index it, and record a run report.

    `engine` (local, dask or beam) overrides the config's engine for this run; `sync` runs
    one source (a Prefect task in the flow); `progress` sees each source as it goes. One
    ingest writes a store at a time: a second one waits `lock_wait_s`, then raises
    StoreLocked. A source that fails is a failure of the run, which goes on with the other
    sources and ends "completed with failures"; derived tables are rebuilt whenever they
    are missing or older than the documents, whatever stopped the run that left them so.
    """
    from index.lock import WriterLock

    settings = Settings(store=Path(store_path)) if store_path else Settings()
    settings.prepare_runtime()
    config = load_config(Path(config_path))
    chosen = [config.source(n) for n in sources] if sources else config.sources
    started = datetime.now(UTC)
    run_id = hashlib.sha1(f"{config_path}|{started.isoformat()}".encode()).hexdigest()[:16]
    with WriterLock(settings.store) as lock:
        lock.acquire(settings.lock_wait_s)
        return run_sources(settings, config, chosen, started, run_id, engine, sync, progress)


def run_sources(
    settings: Settings, config: IngestConfig, chosen: list[SourceConfig], started: datetime,
    run_id: str, engine: str | None, sync: Callable[..., dict[str, Any]], progress: Progress | None,
) -> dict[str, Any]:
    """Sync the chosen sources into the store, rebuild what is derived, record the run."""
    catalog = Catalog(settings.catalog_path, wait_s=settings.lock_wait_s)
    store: Any = Lazy(partial(open_chunks, settings.lance_uri))
    engine_config = config.engine.model_copy(update={"name": engine}) if engine else config.engine
    stages = make_engine(engine_config, settings)
    reports: list[dict[str, Any]] = []
    rebuilt: list[str] = []
    status = "failed"
    try:
        verified = catalog.chunks_verified() == store.version
        for source in chosen:
            try:
                reports.append(
                    sync(source, settings, catalog, store, stages, run_id, engine_config.batch_docs, progress)
                )
            except Exception as exc:  # noqa: BLE001 - a failed source is reported, never fatal
                reports.append(failed_source(catalog, source, run_id, exc))
        rebuilt = derived_missing(catalog)
        if rebuilt:
            rebuild_derived(catalog, store)
        failed = any(r["failures"] or r.get("error") for r in reports)
        status = "completed with failures" if failed else "completed"
        if not any(r.get("error") for r in reports) and (verified or catalog.connectors() <= {s.name for s in chosen}):
            catalog.set_chunks_verified(store.version)
    finally:
        report = run_report(run_id, started, status, reports, stages, count_chunks(store, settings.lance_uri))
        report["engine"] = engine_config.name
        report["derived_rebuilt"] = rebuilt
        catalog.record_run(run_id, started, status, report)
        catalog.close()
        stages.close()
    return report


def failed_source(catalog: Catalog, source: SourceConfig, run_id: str, error: Exception) -> dict[str, Any]:
    """Record a source whose sync failed as a whole, and its report; the failure clears when
    the source next syncs in full."""
    reason = f"sync failed: {type(error).__name__}: {error}"
    failure = Failure(source=source.type, native_id=WHOLE_SOURCE, reason=reason)
    catalog.commit(source.name, run_id, failures=[failure])
    report = SyncReport(source=source.name, failures=1, failure_reasons=[reason]).as_dict()
    return report | {"error": reason}


def rebuild_derived(catalog: Catalog, store: Any) -> None:
    """Rebuild what is derived from the documents: the chunk indexes, source profiles, entity
    aliases and the enterprise graph; then record them current."""
    from index.graph import build_graph
    from index.profile import build_profiles

    store.optimize()
    build_profiles(catalog)
    build_graph(catalog)
    catalog.derived_current()


def derived_missing(catalog: Catalog) -> list[str]:
    """What of the derived tables is missing or older than the documents (empty: none).

    The chunk indexes are rebuilt with the rest and marked current only after all of them,
    so a run stopped while building any of them leaves the marker stale; a run that changed
    nothing need not open the chunk store at all."""
    from index.graph import EDGES, NAMES, NODES
    from index.profile import ALIAS_TABLE, PROFILE_TABLE

    tables = catalog.tables()
    missing = [name for name in (PROFILE_TABLE, ALIAS_TABLE, NODES, NAMES, EDGES) if name not in tables]
    if catalog.derived_stale():
        missing.append("documents changed since the last rebuild")
    return missing


def count_chunks(store: Lazy, uri: str) -> int:
    """Chunks in the store; read with pylance alone when the run never opened the store
    (nothing changed), which spares a no-change run LanceDB's import."""
    if store.made:
        return store.count()
    import lance

    path = Path(uri) / "chunks.lance"
    return lance.dataset(str(path)).count_rows() if path.exists() else 0


def run_report(
    run_id: str, started: datetime, status: str, reports: list[dict[str, Any]],
    engine: Engine, chunks: int,
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
        "chunks": chunks,
    }
