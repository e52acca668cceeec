"""How search, memory, disk and a no-change sync grow with the corpus, under permissions.

    .venv/bin/python bench/scale.py --store STORE --factors 1,10,100 --json OUT
        [--work DIR] [--questions 100] [--repeats 3] [--seed 7]

STORE is a full HERB store (read only: its chunks are copied). For each factor F a store
of F times HERB's chunks is built under DIR/<F>x: copy 0 keeps HERB's chunk ids, copies
1..F-1 get new chunk, group and container ids and vectors perturbed with Gaussian noise
(sigma 0.02, renormalized). Every container copy gets an ACL of its own draw: 35% public,
55% one of 30·F private channels (members drawn from max(1000, 50·F) principals, channel
sizes heavy-tailed from 2 to thousands), 10% a direct-message list of 2 to 4 principals.
The store is then optimized as an ingest leaves it (indexes, ACL group statistics, the
vector index when it qualifies), and measured in a fresh process, so memory is that of a
server holding that store:

- trusted and restricted text, vector and hybrid search, p50 and p95 over the HERB dev
  questions (k = 10, best of --repeats), each restricted question asked by one of 20
  sampled principals;
- recall@10 of the vector search against exact search under the same filters, trusted
  and restricted (the first 30 questions);
- the baseline of the same run: LanceDB's full-text index alone (each question analyzed,
  no filter, `limit` 30, best of the same repeats), `fts_floor_p50_ms`, and the hybrid
  p50s over it (`*_p50_over_floor`), which move less than milliseconds when the machine
  runs faster or slower;
- that the restricted top-k text ranking equals scoring every visible candidate, and, on
  the 10x store, that a restricted caller's text, vector and hybrid results equal those
  on a store built without what that caller may not read;
- serving memory (peak RSS of that process, VmHWM, with the query embedder that `quarry serve`,
  `ask` and `search` use loaded), store size
  on disk, index build time, and the wall time of `quarry ingest` of the HERB sources into
  the store (the catalog is HERB's, so only the replicas are extra): the first run, which
  checks every indexed group for its chunks, and a second, no-change one.

OUT gets one JSON object per factor (merged with what OUT held for other factors).
`--reuse` measures a store already built under DIR instead of building it again; its
`first_sync_s` is then not a first sync.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lance
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fts_floor import best_seconds, index_alone

from index.acl_groups import acl_group
from index.lance import CONTAINER_SCHEMA, CONTAINERS, TABLE, LanceStore, open_dataset

SIGMA = 0.02
EQUIVALENCE_FACTOR = 10
RECALL_QUESTIONS = 30  # exact search for the recall truth reads every vector: 3 s at 100x
QUERY_PRINCIPALS = 20


def base_chunks(store: Path, work: Path) -> pa.Table:
    """HERB's chunks with every derived column, from a private copy of the store's table."""
    copy = work / "base" / "lance"
    if not copy.exists():
        shutil.copytree(store / "lance", copy)
    return LanceStore(str(copy)).table.to_arrow()


def draw_acls(containers: int, factor: int, rng: np.random.Generator) -> tuple[list[list[str]], dict[str, list[str]]]:
    """An ACL for each container copy, and the readers of the private channels."""
    people = [f"u{n}" for n in range(max(1000, 50 * factor))]
    channels = 30 * factor
    sizes = np.minimum(len(people), 2 + np.floor(rng.pareto(1.1, channels) * 4)).astype(int)
    readers = {
        f"bench:channel:{n}": sorted(rng.choice(people, size=int(s), replace=False).tolist())
        for n, s in enumerate(sizes)
    }
    refs = list(readers)
    acls = []
    for draw in rng.random(containers):
        if draw < 0.35:
            acls.append(["*"])
        elif draw < 0.90:
            acls.append([refs[int(rng.integers(channels))]])
        else:
            acls.append(sorted(rng.choice(people, size=int(rng.integers(2, 5)), replace=False).tolist()))
    return acls, readers


def replica(base: pa.Table, copy: int, acls: list[list[str]], rng: np.random.Generator) -> pa.Table:
    """Copy `copy` of the base chunks: new ids and containers (copy 0 keeps HERB's ids),
    the container copies' ACLs, vectors perturbed."""
    containers = pc.fill_null(base.column("container"), "")
    _, positions = np.unique(containers.to_numpy(zero_copy_only=False), return_inverse=True)
    acl = pa.array([acls[int(p)] for p in positions], pa.list_(pa.string()))
    groups = {tuple(a): acl_group(a) for a in acls}
    acl_ids = pa.array([groups[tuple(acls[int(p)])] for p in positions], pa.int64())
    table = base.set_column(base.schema.get_field_index("acl"), "acl", acl)
    table = table.set_column(table.schema.get_field_index("acl_group"), "acl_group", acl_ids)
    if copy == 0:
        return table
    suffix = f"~{copy}"
    for name in ("id", "group_id", "container"):
        column = table.column(name)
        renamed = pc.if_else(pc.is_null(column), column, pc.binary_join_element_wise(column, suffix, ""))
        table = table.set_column(table.schema.get_field_index(name), name, renamed)
    vectors = table.column("vector").combine_chunks()
    values = vectors.values.to_numpy().reshape(len(vectors), -1)
    noisy = values + rng.normal(0.0, SIGMA, values.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    column = pa.FixedSizeListArray.from_arrays(pa.array(noisy.ravel(), pa.float32()), values.shape[1])
    return table.set_column(table.schema.get_field_index("vector"), "vector", column)


def build(base: pa.Table, store: Path, out: Path, factor: int, seed: int) -> dict:
    """Write the store of `factor` copies and optimize it; return its build times."""
    if out.exists():
        shutil.rmtree(out)
    (out / "lance").mkdir(parents=True)
    shutil.copy(store / "catalog.duckdb", out / "catalog.duckdb")
    rng = np.random.default_rng(seed + factor)
    containers = len(np.unique(pc.fill_null(base.column("container"), "").to_numpy(zero_copy_only=False)))
    acls, readers = draw_acls(containers * factor, factor, rng)
    start = time.perf_counter()
    uri = str(out / "lance" / f"{TABLE}.lance")
    for copy in range(factor):
        part = replica(base, copy, acls[copy * containers : (copy + 1) * containers], rng)
        lance.write_dataset(part, uri, mode="append" if copy else "create", max_rows_per_file=1 << 20)
    rows = pa.Table.from_pylist([{"ref": r, "readers": m} for r, m in readers.items()], schema=CONTAINER_SCHEMA)
    lance.write_dataset(rows, str(out / "lance" / f"{CONTAINERS}.lance"))
    written = time.perf_counter() - start
    start = time.perf_counter()
    store = LanceStore(str(out / "lance"))
    store.optimize()
    optimized = time.perf_counter() - start
    store.dataset.cleanup_old_versions(older_than=timedelta(0))
    return {"write_s": written, "optimize_s": optimized}


def quantiles(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile, in milliseconds."""
    return statistics.median(values) * 1000, statistics.quantiles(values, n=20)[-1] * 1000


def measure(path: Path, questions: list[str], repeats: int, seed: int) -> dict:
    """Search latencies, recall and memory of a server process holding the store (peak
    memory as of the end of the searches, before the checks that read far more)."""
    from index.bm25 import tokens
    from index.records import Query
    from index.sql import filter_sql
    from transforms.query_embed import QueryEmbedder

    store = LanceStore(str(path / "lance"))
    vectors = QueryEmbedder().encode(questions)
    containers = store.containers()
    members = sorted({m for readers in containers.values() for m in readers})
    rng = np.random.default_rng(seed)
    principals = [[p] for p in rng.choice(members, size=QUERY_PRINCIPALS, replace=False).tolist()]
    seconds: dict[str, list[float]] = {}
    recall: dict[str, list[float]] = {"trusted": [], "restricted": []}
    for n, (text, vector) in enumerate(zip(questions, vectors, strict=True)):
        who = principals[n % len(principals)]
        for mode in ("text", "vector", "hybrid"):
            for name, caller in (("trusted", None), ("restricted", who)):
                query = Query(text=text, k=10, mode=mode, principals=caller)
                best = best_seconds(lambda query=query, vector=vector: store.search(query, vector), repeats)
                seconds.setdefault(f"{name}_{mode}", []).append(best)
    serving_rss = peak_rss_mb()
    analyzed = [" ".join(tokens(text)) for text in questions]
    floor = [best_seconds(lambda t=t: index_alone(store.dataset, t, 30).to_table(), repeats) for t in analyzed if t]
    for n, (text, vector) in enumerate(zip(questions[:RECALL_QUESTIONS], vectors, strict=False)):
        who = principals[n % len(principals)]
        for name, caller in (("trusted", None), ("restricted", who)):
            scope = None if caller is None else store.scope(caller)
            where = filter_sql(Query(text=text), None if scope is None else scope.sql)
            found = {r["_rowid"] for r in store._vector(vector, scope, where, 10)}
            nearest = {"column": "vector", "q": vector, "k": 10, "use_index": False}
            exact = store.dataset.to_table(columns=["_distance"], nearest=nearest, filter=where, prefilter=True, with_row_id=True)
            truth = set(exact.column("_rowid").to_pylist())
            recall[name].append(len(found & truth) / max(len(truth), 1))
    result: dict = {"chunks": store.count(), "questions": len(questions), "serving_rss_mb": serving_rss}
    for name, values in seconds.items():
        result[f"{name}_p50_ms"], result[f"{name}_p95_ms"] = quantiles(values)
    result["fts_floor_p50_ms"] = quantiles(floor)[0]
    for name in ("trusted_hybrid", "restricted_hybrid"):
        result[f"{name}_p50_over_floor"] = result[f"{name}_p50_ms"] / result["fts_floor_p50_ms"]
    result["vector_recall_at_10"] = statistics.mean(recall["restricted"])
    result["trusted_vector_recall_at_10"] = statistics.mean(recall["trusted"])
    result["vector_index_partitions"] = store.vector_partitions()
    result["topk_equals_exhaustive"] = exhaustive_agrees(store, questions[:5], principals)
    return result


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux keeps `ru_maxrss` across exec, so a
    child started by a parent that built a large store would report the parent's peak;
    VmHWM belongs to this process's own address space."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def exhaustive_agrees(store: LanceStore, questions: list[str], principals: list[list[str]]) -> bool:
    """Whether the top-k text ranking of restricted callers equals scoring every visible
    candidate, for a few questions."""
    from index.bm25 import tokens
    from index.records import Query
    from index.sql import filter_sql

    for n, text in enumerate(questions):
        scope = store.scope(principals[n % len(principals)])
        where = filter_sql(Query(text=text), scope.sql)
        fast = store._text_top(tokens(text), scope.visible, where, 30)
        slow = store._text_visible(tokens(text), scope.sql, where, 30)
        if [r["id"] for r in fast] != [r["id"] for r in slow]:
            return False
    return True


def equivalence(path: Path, questions: list[str], seed: int) -> bool:
    """Whether a restricted caller's text, vector and hybrid results on the store equal
    those on a store that never held what they may not read (built here from it)."""
    from index.records import Query
    from index.sql import callers
    from transforms.embed import Embedder

    store = LanceStore(str(path / "lance"))
    members = sorted({m for readers in store.containers().values() for m in readers})
    who = [str(np.random.default_rng(seed).choice(members))]
    allowed = {"*", *callers(who), *store.readable_refs(who)}
    rows = store.dataset.to_table()
    keep = [bool(allowed & set(acl)) for acl in rows.column("acl").to_pylist()]
    alone = path.parent / f"{path.name}-without-hidden"
    if alone.exists():
        shutil.rmtree(alone)
    (alone / "lance").mkdir(parents=True)
    lance.write_dataset(rows.filter(pa.array(keep)), str(alone / "lance" / f"{TABLE}.lance"))
    shutil.copytree(path / "lance" / f"{CONTAINERS}.lance", alone / "lance" / f"{CONTAINERS}.lance")
    without = LanceStore(str(alone / "lance"))
    without.optimize()
    vectors = Embedder(batch_size=16).encode(questions)
    try:
        for text, vector in zip(questions, vectors, strict=True):
            for mode in ("text", "vector", "hybrid"):
                query = Query(text=text, k=10, mode=mode, principals=who)
                mine = [(h.chunk_id, round(h.score, 6)) for h in store.search(query, vector)]
                if mine != [(h.chunk_id, round(h.score, 6)) for h in without.search(query, vector)]:
                    return False
        return True
    finally:
        shutil.rmtree(alone)


def no_change_sync(path: Path) -> float:
    """Wall seconds of `quarry ingest` of the HERB sources into a store they are all in."""
    command = [sys.executable, "-m", "flows.cli", "--store", str(path), "ingest",
               "--config", str(ROOT / "examples/herb.toml"), "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a full HERB store (read only)")
    parser.add_argument("--factors", default="1,10,100")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/out/scale.json")
    parser.add_argument("--work", type=Path, default=Path("/tmp/quarry-scale"))
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="measure stores already built under --work")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (ROOT.parent / "shared/herb/qa/dev.jsonl").read_text().splitlines() if line.strip()]
    questions = [r["question"] for r in rows[: args.questions]]
    if args.measure:
        print(json.dumps(measure(args.measure, questions, args.repeats, args.seed)))
        return
    base = base_chunks(args.store, args.work)
    results = []
    for factor in (int(f) for f in args.factors.split(",")):
        out = args.work / f"{factor}x"
        reused = args.reuse and (out / "lance" / f"{TABLE}.lance").exists()
        result = {"factor": factor, "reused": reused}
        if reused:
            open_dataset(out / "lance" / f"{TABLE}.lance").cleanup_old_versions(older_than=timedelta(0))
        else:
            result |= build(base, args.store, out, factor, args.seed)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(out), "--questions", str(args.questions),
             "--repeats", str(args.repeats), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True,
        )
        result |= json.loads(child.stdout.strip().splitlines()[-1])
        result["store_mb"] = disk_mb(out / "lance")
        if factor == EQUIVALENCE_FACTOR:
            result["outsider_equals_store_without_hidden"] = equivalence(out, questions, args.seed)
        result["first_sync_s"] = no_change_sync(out)
        result["no_change_sync_s"] = no_change_sync(out)
        results.append(result)
        print(json.dumps(result), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    earlier = json.loads(args.json.read_text()) if args.json.exists() else []
    measured = {r["factor"] for r in results}
    merged = sorted([r for r in earlier if r["factor"] not in measured] + results, key=lambda r: r["factor"])
    args.json.write_text(json.dumps(merged, indent=2))


if __name__ == "__main__":
    main()
