"""Run the parse, chunk and embed stages as Apache Beam pipelines.

Each stage call is one batch pipeline: `Create` the keyed inputs (Create reshuffles them
over the workers), apply the same pure stage function `LocalEngine` applies (the embed stage loads
its model in `DoFn.setup` and encodes `BatchElements` batches), and write the keyed
results to files the engine reads back in input order.

The default runner is Beam's portable in-process `FnApiRunner` (never the Prism binary,
which Beam would try to download): one process, or `workers` SDK worker processes in its
multi-processing mode. `runner` names any other Beam runner (`FlinkRunner`,
`SparkRunner`, `PortableRunner`, ...), configured through `options`; the result files
then go to `output_dir`, which the runner's workers and this process must both reach.
"""

from __future__ import annotations

import base64
import os
import pickle
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from connectors.records import Failure, SourceDoc
from transforms.chunk import chunk_group
from transforms.embed import Embedder
from transforms.engine import StageTimes, prepare_or_fail, split_results, with_vectors
from transforms.offline import set_up_unstructured_offline
from transforms.records import Chunk

IN_PROCESS_RUNNERS = {"FnApiRunner", "DirectRunner"}
ENDPOINT_OPTIONS = {
    "FlinkRunner": "flink_master",
    "SparkRunner": "spark_master_url",
    "PortableRunner": "job_endpoint",
}


def apply_keyed(pair: tuple[int, Any], fn: Callable[[Any], Any]) -> tuple[int, Any]:
    """Apply a stage function to the value of an (index, value) pair."""
    index, value = pair
    return index, fn(value)


def encode_line(pair: tuple[int, Any]) -> str:
    """An (index, value) pair as one line of text."""
    return base64.b64encode(pickle.dumps(pair)).decode("ascii")


def decode_line(line: str) -> tuple[int, Any]:
    """The (index, value) pair a line of text holds."""
    return pickle.loads(base64.b64decode(line))


class ParseDocs(beam.DoFn):
    """The parse stage: unstructured's offline set-up in `setup`, once per worker."""

    def setup(self) -> None:
        set_up_unstructured_offline()

    def process(self, pair: tuple[int, SourceDoc]) -> Iterable[tuple[int, SourceDoc | Failure]]:
        yield apply_keyed(pair, prepare_or_fail)


class EmbedBatches(beam.DoFn):
    """The embed stage: one model per DoFn instance, loaded in `setup`, encoding batches.

    `threads` caps torch's threads in the worker, so worker processes sharing a machine
    do not oversubscribe its cores.
    """

    def __init__(self, embedder_factory: Callable[[], Embedder], threads: int | None = None):
        self.embedder_factory = embedder_factory
        self.threads = threads
        self.embedder: Embedder | None = None

    def setup(self) -> None:
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        self.embedder = self.embedder_factory()

    def process(self, batch: list[tuple[int, Chunk]]) -> Iterable[tuple[int, Chunk]]:
        chunks = [c for _, c in batch]
        vectors = self.embedder.encode([c.text for c in chunks])
        yield from zip((i for i, _ in batch), with_vectors(chunks, vectors))


class BeamEngine:
    """Applies the stages as Beam pipelines on the chosen runner.

    `address` is the runner's endpoint (Flink master, Spark master URL or portable job
    endpoint) and is passed as that runner's option; `options` are any further pipeline
    options (`environment_type`, `environment_config`, `parallelism`, ...). The in-process
    runner's worker processes share this machine's cores: each embeds with
    `threads_per_worker` torch threads (by default the cores divided by `workers`).
    """

    def __init__(
        self,
        embedder_factory: Callable[[], Embedder],
        runner: str | None = None,
        workers: int = 2,
        options: dict[str, Any] | None = None,
        address: str | None = None,
        output_dir: str | None = None,
        batch_size: int = 64,
        threads_per_worker: int | None = None,
    ):
        self.embedder_factory = embedder_factory
        self.runner = runner or "FnApiRunner"
        self.workers = workers
        self.options = dict(options or {})
        if address and self.runner in ENDPOINT_OPTIONS:
            self.options.setdefault(ENDPOINT_OPTIONS[self.runner], address)
        self.output_dir = output_dir
        self.batch_size = batch_size
        if threads_per_worker is None and self.runner in IN_PROCESS_RUNNERS:
            threads_per_worker = max(1, (os.cpu_count() or 1) // max(1, workers))
        self.threads_per_worker = threads_per_worker
        self.times = StageTimes()

    def parse(self, docs: Sequence[SourceDoc]) -> tuple[list[SourceDoc], list[Failure]]:
        start = time.perf_counter()
        results = self.run(docs, beam.ParDo(ParseDocs())) if docs else []
        self.times.parse_s += time.perf_counter() - start
        return split_results(results)

    def chunk(self, groups: Sequence[Sequence[SourceDoc]]) -> list[Chunk]:
        start = time.perf_counter()
        stage = beam.Map(apply_keyed, chunk_group)
        per_group = self.run([list(g) for g in groups], stage) if groups else []
        self.times.chunk_s += time.perf_counter() - start
        return [c for chunks in per_group for c in chunks]

    def embed(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        if not chunks:
            return []
        start = time.perf_counter()
        stage = beam.BatchElements(
            min_batch_size=self.batch_size, max_batch_size=self.batch_size
        ) | beam.ParDo(EmbedBatches(self.embedder_factory, self.threads_per_worker))
        embedded = self.run(chunks, stage)
        self.times.embed_s += time.perf_counter() - start
        self.times.embedded += len(chunks)
        return embedded

    def run(self, items: Sequence[Any], stage: beam.PTransform) -> list[Any]:
        """The stage's output for each item, in input order, from one pipeline run."""
        folder = self.output_folder()
        prefix = posixpath.join(folder, "part")
        try:
            with beam.Pipeline(runner=self.make_runner(), options=self.pipeline_options()) as p:
                _ = (
                    p
                    | "Create" >> beam.Create(list(enumerate(items)))
                    | "Stage" >> stage
                    | "Encode" >> beam.Map(encode_line)
                    | "Write" >> beam.io.WriteToText(prefix)
                )
            pairs = [decode_line(line) for line in read_lines(prefix)]
        finally:
            FileSystems.delete([folder])
        return [value for _, value in sorted(pairs, key=lambda pair: pair[0])]

    def output_folder(self) -> str:
        """A fresh folder for one pipeline's results."""
        if self.output_dir is None:
            return tempfile.mkdtemp(prefix="quarry-beam-")
        folder = FileSystems.join(self.output_dir, uuid.uuid4().hex)
        FileSystems.mkdirs(folder)
        return folder

    def make_runner(self) -> beam.runners.PipelineRunner | str:
        """The runner instance: the in-process FnApiRunner unless another runner is named."""
        return FnApiRunner() if self.runner in IN_PROCESS_RUNNERS else self.runner

    def pipeline_options(self) -> PipelineOptions:
        """Pipeline options: multi-process workers for the in-process runner, else `options`."""
        settings: dict[str, Any] = {"default_sdk_harness_log_level": "WARNING"}
        if self.runner in IN_PROCESS_RUNNERS:
            mode = "multi_processing" if self.workers > 1 else "in_memory"
            settings |= {"direct_num_workers": self.workers, "direct_running_mode": mode}
        return PipelineOptions(flags=[], **(settings | self.options))

    def close(self) -> None:
        """Release resources (each pipeline cleans up after itself)."""


def read_lines(prefix: str) -> Iterable[str]:
    """The lines of every file a pipeline wrote under `prefix`."""
    for match in FileSystems.match([prefix + "*"]):
        for meta in match.metadata_list:
            with FileSystems.open(meta.path) as handle:
                yield from (line for line in handle.read().decode("ascii").splitlines() if line)
