"""Run the parse, chunk and embed stages on a Dask cluster.

`DaskEngine` starts a `LocalCluster` of worker processes, or joins an existing scheduler
(`tcp://scheduler:8786`). Each stage is a `dask.bag` over the inputs mapped with the same
pure stage functions `LocalEngine` applies, so results come back in input order. Each
worker process holds one embedding model, loaded on its first embed task and kept by a
worker plugin for the life of the engine.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dask.bag as db
from distributed import Client, LocalCluster, WorkerPlugin, get_worker

from connectors.records import Failure, SourceDoc
from transforms.chunk import chunk_group
from transforms.embed import Embedder
from transforms.engine import StageTimes, prepare_or_fail, split_results, with_vectors
from transforms.offline import set_up_unstructured_offline
from transforms.records import Chunk

PLUGIN_NAME = "quarry-embedder"
PARTITIONS_PER_WORKER = 4
EMBED_PARTITION = 256


class EmbedderPlugin(WorkerPlugin):
    """Keeps one embedding model per worker process, made by `factory` on first use."""

    name = PLUGIN_NAME

    def __init__(self, factory: Callable[[], Embedder]):
        self.factory = factory
        self.embedder: Embedder | None = None

    def setup(self, worker: Any) -> None:
        self.embedder = None

    def teardown(self, worker: Any) -> None:
        self.embedder = None

    def get(self) -> Embedder:
        """The worker's model, loaded the first time it is asked for."""
        if self.embedder is None:
            self.embedder = self.factory()
        return self.embedder


class OfflineParsingPlugin(WorkerPlugin):
    """Runs unstructured's offline set-up when each worker starts."""

    name = "quarry-offline-parsing"

    def setup(self, worker: Any) -> None:
        set_up_unstructured_offline()


def embed_on_worker(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The embed stage on one partition, with the model of the worker it runs on."""
    chunks = list(chunks)
    if not chunks:
        return []
    embedder = get_worker().plugins[PLUGIN_NAME].get()
    return with_vectors(chunks, embedder.encode([c.text for c in chunks]))


def chunk_groups(groups: Sequence[Sequence[SourceDoc]]) -> list[Chunk]:
    """The chunk stage on one partition of groups, chunks kept in group order."""
    return [c for docs in groups for c in chunk_group(docs)]


class DaskEngine:
    """Applies the stages on Dask workers; `close()` stops the cluster it started.

    With `address`, it connects to that scheduler and leaves the cluster running on close;
    otherwise it starts `workers` local worker processes of `threads_per_worker` threads,
    spilling to `local_directory` (a temporary folder, removed on close, when not given).
    Document files are parsed on the workers, so workers must see the same paths.
    """

    def __init__(
        self,
        embedder_factory: Callable[[], Embedder],
        address: str | None = None,
        workers: int = 2,
        threads_per_worker: int = 1,
        local_directory: Path | str | None = None,
    ):
        self.times = StageTimes()
        self.workers = workers
        self._scratch: str | None = None
        self.cluster: LocalCluster | None = None
        if address:
            self.client = Client(address)
        else:
            if local_directory is None:
                self._scratch = local_directory = tempfile.mkdtemp(prefix="quarry-dask-")
            Path(local_directory).mkdir(parents=True, exist_ok=True)
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                local_directory=str(local_directory),
                dashboard_address=":0",
            )
            self.client = Client(self.cluster)
        self.client.register_plugin(OfflineParsingPlugin(), name=OfflineParsingPlugin.name)
        self.client.register_plugin(EmbedderPlugin(embedder_factory), name=PLUGIN_NAME)
        if address:
            self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def parse(self, docs: Sequence[SourceDoc]) -> tuple[list[SourceDoc], list[Failure]]:
        start = time.perf_counter()
        results = self.compute(self.bag(docs).map(prepare_or_fail)) if docs else []
        self.times.parse_s += time.perf_counter() - start
        return split_results(results)

    def chunk(self, groups: Sequence[Sequence[SourceDoc]]) -> list[Chunk]:
        start = time.perf_counter()
        bag = self.bag([list(g) for g in groups])
        chunks = self.compute(bag.map_partitions(chunk_groups)) if groups else []
        self.times.chunk_s += time.perf_counter() - start
        return chunks

    def embed(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        if not chunks:
            return []
        start = time.perf_counter()
        size = min(EMBED_PARTITION, math.ceil(len(chunks) / self.workers))
        bag = db.from_sequence(list(chunks), partition_size=max(1, size))
        embedded = self.compute(bag.map_partitions(embed_on_worker))
        self.times.embed_s += time.perf_counter() - start
        self.times.embedded += len(chunks)
        return embedded

    def bag(self, items: Sequence[Any]) -> db.Bag:
        """The items as a bag of a few partitions per worker."""
        parts = max(1, min(len(items), self.workers * PARTITIONS_PER_WORKER))
        return db.from_sequence(list(items), npartitions=parts)

    def compute(self, bag: db.Bag) -> list[Any]:
        """The bag's elements, in order, computed on this engine's cluster."""
        return list(bag.compute(scheduler=self.client))

    def close(self) -> None:
        """Disconnect, stop the local cluster if one was started, and remove its scratch."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
