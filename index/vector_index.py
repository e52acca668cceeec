"""An approximate vector index whose partitions are learned from public chunks alone.

Exact vector search reads every vector under the filter, so its cost grows with the
table (and Lance's flat scan is slow: 30 ms for 18,000 vectors here). Once the table holds
`MIN_PUBLIC` chunks that everyone may read, it gets an IVF_FLAT index: vectors are grouped
in partitions around centroids, and a search reads only the partitions nearest the query,
with exact distances inside them; reading every partition is exact search, and still
three times faster than the flat scan.

Permissions. The centroids are k-means of a sample of the chunks every caller may read
(an ACL holding "*", or a container whose readers include "*"),
drawn by a hash of their ids, and their number depends on how many such chunks there
are; the caller's ACL filter applies inside the partitions before the top k is taken (a
prefilter), and how many partitions a search reads depends on how much the caller may
read. So nothing a caller may not read decides which partitions are read, which chunks
they hold for that caller, or their order: the results are those of a store that never
held the hidden chunks, given the same public chunks when the index was trained.
A caller who may read fewer than `EXACT_BELOW` chunks reads every partition: exact search.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

NAME = "vector_idx"
MIN_PUBLIC = 1_000
PER_PARTITION = 64  # training vectors per centroid
ITERATIONS = 10
NPROBES = 32
RESTRICTED_NPROBES = 48
TARGET_ROWS = 6_000  # visible rows a search should find in the partitions it reads
EXACT_BELOW = 20_000
MAX_DELTAS = 4  # index deltas of added rows searched apart before they are merged
RETRAIN_GROWTH = 2  # train again once the public chunks would give this many times the partitions


def partitions_for(public: int) -> int:
    """How many partitions an index trained on `public` chunks has."""
    return max(16, round(math.sqrt(public)))


def nprobes_for(partitions: int, visible: int | None) -> int:
    """Partitions to read for a caller who may read `visible` chunks (None: all):
    `NPROBES` for everything; for part of the table at least `RESTRICTED_NPROBES` (their
    nearest chunks lie deeper in the table's order) and enough that they meet about
    `TARGET_ROWS` of their chunks; all of them (exact search) below `EXACT_BELOW`.
    Nothing here depends on what the caller may not read: a count that grew with the
    hidden share would let hidden chunks decide which partitions are read."""
    if visible is None:
        return min(partitions, NPROBES)
    if visible < EXACT_BELOW:
        return partitions
    return min(partitions, max(RESTRICTED_NPROBES, math.ceil(TARGET_ROWS * partitions / max(visible, 1))))


def id_rank(chunk_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little")


def public_sample(dataset: Any, public_sql: str, size: int, public: int) -> np.ndarray:
    """The vectors of the `size` public chunks with the lowest id hashes, in hash order:
    the same sample from the same public chunks, whatever else the table holds."""
    cut = min(2**64, int(2**64 * min(1.0, 2.0 * size / max(public, 1))))
    kept: list[tuple[int, np.ndarray]] = []
    for batch in dataset.to_batches(columns=["id", "vector"], filter=public_sql, batch_size=65_536):
        ranks = [id_rank(i) for i in batch.column("id").to_pylist()]
        vectors = batch.column("vector").values.to_numpy().reshape(batch.num_rows, -1)
        kept.extend((r, vectors[n]) for n, r in enumerate(ranks) if r < cut)
    kept.sort(key=lambda pair: pair[0])
    return np.stack([v for _, v in kept[:size]]).astype(np.float32)


def kmeans(vectors: np.ndarray, clusters: int, iterations: int = ITERATIONS) -> np.ndarray:
    """Spherical k-means, started from the first `clusters` vectors: deterministic."""
    centroids = vectors[:clusters].copy()
    for _ in range(iterations):
        nearest = np.argmax(vectors @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, vectors)
        counts = np.bincount(nearest, minlength=clusters)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return centroids.astype(np.float32)


def ensure_index(dataset: Any, public_sql: str) -> int | None:
    """Give the chunks `dataset` its vector index when it has enough public chunks (those
    under `public_sql`: readable by every caller), and train it again once they have grown
    to `RETRAIN_GROWTH` times the partitions it has (a store that grows by ingest would
    otherwise keep the few partitions of its first index, each ever larger, and every
    search would read more); return its number of partitions (None: no index, searches
    are exact). Both decisions count public chunks alone."""
    existing = partitions_of(dataset)
    public = dataset.count_rows(filter=public_sql)
    if public < MIN_PUBLIC:
        return existing
    partitions = partitions_for(public)
    if existing is not None and partitions < RETRAIN_GROWTH * existing:
        return existing
    sample = public_sample(dataset, public_sql, partitions * PER_PARTITION, public)
    centroids = kmeans(sample, min(partitions, len(sample)))
    dataset.create_index("vector", "IVF_FLAT", name=NAME, metric="l2", ivf_centroids=centroids, replace=True)
    return len(centroids)


def absorb(dataset: Any) -> None:
    """Index the rows added since the vector index was built in a delta of its own, on the
    same centroids (each row goes to its nearest one), and merge the deltas once there are
    more than `MAX_DELTAS`: neither moves a centroid (Lance's default merge of new rows can
    split a partition by k-means over every vector in it, hidden ones too)."""
    if partitions_of(dataset) is None:
        return
    dataset.optimize.optimize_indices(index_names=[NAME], num_indices_to_merge=0)
    refreshed = dataset.checkout_version(dataset.latest_version)
    if refreshed.stats.index_stats(NAME)["num_indices"] > MAX_DELTAS:
        refreshed.optimize.optimize_indices(index_names=[NAME], num_indices_to_merge=MAX_DELTAS + 1)


def partitions_of(dataset: Any) -> int | None:
    """The number of partitions of the dataset's vector index (None: it has none)."""
    if not any(i.name == NAME for i in dataset.describe_indices()):
        return None
    return int(dataset.stats.index_stats(NAME)["indices"][0]["num_partitions"])
