"""The Prefect `ingest` flow: sync every configured source into the store, each as a task."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from connectors.records import TransientError
from flows.config import SourceConfig
from flows.display import LogProgress
from flows.run import (
    RETRY_DELAYS,
    Progress,
    derived_missing,
    make_engine,
    rebuild_derived,
    run_ingest,
    sync_one,
)
from flows.settings import Settings
from index.catalog import Catalog
from index.lance import LanceStore
from transforms.engine import Engine

__all__ = ["derived_missing", "ingest", "make_engine", "rebuild_derived", "sync_source"]


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a source only when it failed on an error that may pass."""
    return isinstance(state.result(raise_on_failure=False), TransientError)


@task(retries=len(RETRY_DELAYS), retry_delay_seconds=list(RETRY_DELAYS), retry_condition_fn=is_transient,
      cache_policy=NO_CACHE, task_run_name="sync-{source.name}")
def sync_source(
    source: SourceConfig, settings: Settings, catalog: Catalog, store: LanceStore, engine: Engine,
    run_id: str, batch_docs: int, progress: Progress | None = None,
) -> dict[str, Any]:
    """Sync one source (`flows.run.sync_one`); resumes from its last committed cursor when retried."""
    return sync_one(source, settings, catalog, store, engine, run_id, batch_docs, progress)


@flow(name="ingest", log_prints=True)
def ingest(
    config_path: str,
    store_path: str | None = None,
    sources: list[str] | None = None,
    engine: str | None = None,
    log_progress: bool = True,
) -> dict[str, Any]:
    """Pull each configured source (or the named ones), index it, and record a run report;
    with `log_progress` each source logs one JSON progress line every few seconds.

    `engine` (local, dask or beam) overrides the config's engine for this run.
    """
    progress = LogProgress() if log_progress else None
    return run_ingest(config_path, store_path, sources, engine, sync=sync_source, progress=progress)
