"""Load test of a running Quarry API: concurrent clients on /v1/search and /v1/ask.

    python bench/load.py --url http://127.0.0.1:8000 --key quarry_... \\
        [--clients 8] [--requests 200] [--seconds 60] [--endpoints search,ask]
        [--questions ../shared/herb/qa/dev.jsonl] [--offset 0] [--json OUT.json] [--server-pid PID]

For each endpoint in turn, after one warm-up request (not counted), `--clients` asyncio
workers share one httpx client and send requests (questions taken in turn from `--questions`, rows with a "question" field, or a
built-in list, starting at `--offset` so that runs against one server need not repeat
questions its caches have seen) until `--requests` are done or `--seconds` have passed. Prints p50 / p95 /
p99 latency, requests per second and the count of each status. Run the server in its own
process (`quarry --store STORE serve`) so clients and server do not share one interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from itertools import count
from pathlib import Path

import httpx

QUESTIONS = [
    "Who reviewed the product vision document?",
    "Which customers reported bugs that were reopened?",
    "What did the team say about competitor demos?",
    "Which pull requests fixed the dashboard rendering bug?",
    "What are the main features planned for the next release?",
    "Who authored the market research report?",
    "What feedback did customers give on the last release?",
    "Which engineers resolved the most bugs?",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_memory_mb(pid: int) -> float:
    """A local process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_questions(path: Path | None) -> list[str]:
    if path is None:
        return QUESTIONS
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows if r.get("question")] or QUESTIONS


def body_for(endpoint: str, question: str, k: int) -> dict:
    if endpoint == "search":
        return {"query": question, "k": k}
    return {"question": question}


async def run_endpoint(
    url: str, key: str, endpoint: str, questions: list[str], clients: int, requests: int,
    seconds: float, k: int,
) -> dict:
    """Drive one endpoint with `clients` concurrent workers; latency and status counts."""
    latencies: list[float] = []
    statuses: Counter = Counter()
    tickets = count()
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as http:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                n = next(tickets)
                if n >= requests:
                    return
                question = questions[n % len(questions)]
                start = time.perf_counter()
                try:
                    response = await http.post(f"/v1/{endpoint}", json=body_for(endpoint, question, k))
                    statuses[str(response.status_code)] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - start)

        await http.post(f"/v1/{endpoint}", json=body_for(endpoint, questions[0], k))
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - began
    done = sum(statuses.values())
    return {
        "endpoint": f"/v1/{endpoint}", "clients": clients, "requests": done,
        "seconds": round(wall, 2), "rps": round(done / wall, 2) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "statuses": dict(statuses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default=os.environ.get("QUARRY_API_KEY"), help="default $QUARRY_API_KEY")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="per endpoint")
    parser.add_argument("--seconds", type=float, default=60.0, help="per endpoint, at most")
    parser.add_argument("--endpoints", default="search,ask")
    parser.add_argument("--questions", type=Path)
    parser.add_argument("--offset", type=int, default=0, help="first question to use")
    parser.add_argument("-k", type=int, default=10, help="hits per search")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--server-pid", type=int, help="print that (local) server's peak memory at the end")
    args = parser.parse_args()
    if not args.key:
        parser.error("an API key is needed (--key or $QUARRY_API_KEY)")
    questions = load_questions(args.questions)
    questions = questions[args.offset % len(questions):] + questions[: args.offset % len(questions)]
    httpx.get(f"{args.url}/readyz", timeout=30).raise_for_status()
    results = []
    for endpoint in args.endpoints.split(","):
        result = asyncio.run(run_endpoint(
            args.url, args.key, endpoint.strip(), questions, args.clients, args.requests, args.seconds, args.k,
        ))
        results.append(result)
        print(
            f"{result['endpoint']:<12} clients {result['clients']:>3}  requests {result['requests']:>5}  "
            f"{result['rps']:>7.2f} req/s  p50 {result['p50_ms']:>8.1f} ms  p95 {result['p95_ms']:>8.1f} ms  "
            f"p99 {result['p99_ms']:>8.1f} ms  statuses {result['statuses']}",
            flush=True,
        )
    if args.server_pid:
        peak = peak_memory_mb(args.server_pid)
        results.append({"server_peak_rss_mb": peak})
        print(f"server peak memory (VmHWM): {peak:.0f} MB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(set(r.get("statuses", {})) <= {"200"} for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
