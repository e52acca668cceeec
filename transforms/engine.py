"""Stage runners: apply the parse, chunk and embed stages to batches of documents.

An engine only applies the pure stages in this package; it holds no logic of its own.
`LocalEngine` runs them in this process, which is the fastest on one small machine;
the Dask and Beam engines run the same stage functions on a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from connectors.records import Failure, SourceDoc, guarded
from transforms.chunk import chunk_group
from transforms.embed import Embedder
from transforms.offline import set_up_unstructured_offline
from transforms.parse import ParseError, parse_document
from transforms.records import Chunk


def prepare(doc: SourceDoc) -> SourceDoc:
    """The parse stage: documents that point at a file are parsed, others pass through."""
    return parse_document(doc) if "path" in doc.meta else doc


def prepare_or_fail(doc: SourceDoc) -> SourceDoc | Failure:
    """The parse stage, with a document that cannot be read (whatever the error) turned into
    a Failure."""

    def attempt() -> SourceDoc | Failure:
        try:
            return prepare(doc)
        except ParseError as exc:
            return Failure(source=doc.source, native_id=doc.native_id, reason=str(exc))

    return guarded(attempt, doc.source, doc.native_id)


def with_vectors(chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> list[Chunk]:
    """Chunks with their vectors attached."""
    return [c.model_copy(update={"vector": list(map(float, v))}) for c, v in zip(chunks, vectors)]


@dataclass
class StageTimes:
    """Seconds spent in each stage, and how many items went through."""

    parse_s: float = 0.0
    chunk_s: float = 0.0
    embed_s: float = 0.0
    embedded: int = 0


class Engine(Protocol):
    """What a sync needs from a stage runner."""

    times: StageTimes

    def parse(self, docs: Sequence[SourceDoc]) -> tuple[list[SourceDoc], list[Failure]]: ...

    def chunk(self, groups: Sequence[Sequence[SourceDoc]]) -> list[Chunk]: ...

    def embed(self, chunks: Sequence[Chunk]) -> list[Chunk]: ...

    def close(self) -> None: ...


@dataclass
class LocalEngine:
    """Runs the stages in this process; the parser is set up before the first batch it
    parses and the embedding model loads on first use, so a run with nothing to parse or
    embed pays for neither."""

    embedder_factory: Callable[[], Embedder]
    times: StageTimes = field(default_factory=StageTimes)
    _embedder: Embedder | None = None

    def parse(self, docs: Sequence[SourceDoc]) -> tuple[list[SourceDoc], list[Failure]]:
        if not docs:
            return [], []
        set_up_unstructured_offline()
        start = time.perf_counter()
        results = [prepare_or_fail(d) for d in docs]
        self.times.parse_s += time.perf_counter() - start
        return split_results(results)

    def chunk(self, groups: Sequence[Sequence[SourceDoc]]) -> list[Chunk]:
        start = time.perf_counter()
        chunks = [c for docs in groups for c in chunk_group(docs)]
        self.times.chunk_s += time.perf_counter() - start
        return chunks

    def embed(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        if not chunks:
            return []
        if self._embedder is None:
            self._embedder = self.embedder_factory()
        start = time.perf_counter()
        vectors = self._embedder.encode([c.text for c in chunks])
        self.times.embed_s += time.perf_counter() - start
        self.times.embedded += len(chunks)
        return with_vectors(chunks, vectors)

    def close(self) -> None:
        """Release resources (nothing to release in-process)."""


def split_results(
    results: Sequence[SourceDoc | Failure],
) -> tuple[list[SourceDoc], list[Failure]]:
    """Separate parsed documents from failures."""
    docs = [r for r in results if isinstance(r, SourceDoc)]
    failures = [r for r in results if isinstance(r, Failure)]
    return docs, failures
