"""Helpers for the HTTP API tests: a store with private content built through the real sync
pipeline, API keys, and a uvicorn server on a free loopback port in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import uvicorn

from connectors.records import SourceDoc, doc_id
from flows.sync import SourceSync
from index.catalog import Catalog
from index.lance import LanceStore
from index.profile import build_profiles
from qa.serve.auth import KeyStore
from qa.serve.http import create_app
from qa.serve.models import ApiLimits
from qa.serve.service import Service
from tests.conftest import ListConnector
from transforms.engine import LocalEngine

CORPUS = Path(__file__).parent / "fixtures" / "qa" / "corpus.json"
SECRET_CHANNEL = "bug-secret-WidgetForce"
SECRET_MEMBERS = ["eid_a1", "eid_c3"]
NIGHTJAR_CHANNEL = "planning-Nightjar"
VAULT_PR = "https://github.com/acme/Vault/pull/3"


def message(native_id: str, container: str, text: str, author: str, when: str, acl: list[str]) -> SourceDoc:
    channel = f"ch-{container}"
    return SourceDoc(
        id=doc_id("slack", native_id), source="slack", native_id=native_id, kind="message",
        text=text, author=author, people=[author], container=container,
        group=f"{channel}/{when[:10]}", title=f"#{container} {when[:10]}",
        created_at=datetime.fromisoformat(when).replace(tzinfo=UTC), acl=acl,
        meta={"channel_id": channel},
    )


def private_docs() -> list[SourceDoc]:
    """A private bug channel and a private planning channel (ACL = member ids), and a pull
    request of a private repository (ACL = the repository's group)."""
    secret = [
        ("sec-0", "First up, we have **Kestrel Export Crash**. Exports crash on large files. Impacted "
                  + "customer is CUST-0002. @eid_c3 please look.", "eid_a1", "2026-03-02T10:00:00"),
        ("sec-1", "Next, **Violet Falcon Sync Stall**. Sync stalls overnight. Customer CUST-0002 is "
                  + "affected. @eid_c3 can you take it?", "eid_a1", "2026-03-02T10:01:00"),
        ("sec-2", "Hi team, the customer has reopened the 'Kestrel Export Crash' bug. Exports still "
                  + "crash.", "eid_a1", "2026-03-07T10:00:00"),
        ("sec-3", "Hi team, the customer has reopened the 'Violet Falcon Sync Stall' bug. It stalls "
                  + "again.", "eid_a1", "2026-03-08T10:00:00"),
        ("sec-4", "The codename for the export rewrite is violet-falcon; keep it confidential.",
         "eid_c3", "2026-03-09T10:00:00"),
    ]
    nightjar = [
        ("nj-0", "@eid_a1 created this channel. This is the very beginning of the planning-Nightjar "
                 + "channel.", "eid_a1", "2026-04-01T10:00:00"),
        ("nj-1", "Nightjar launches in May with offline dashboards for field teams.", "eid_a1",
         "2026-04-01T10:01:00"),
    ]
    docs = [message(n, SECRET_CHANNEL, t, a, w, SECRET_MEMBERS) for n, t, a, w in secret]
    docs += [message(n, NIGHTJAR_CHANNEL, t, a, w, ["eid_a1"]) for n, t, a, w in nightjar]
    docs.append(SourceDoc(
        id=doc_id("github", VAULT_PR), source="github", native_id=VAULT_PR, kind="pull_request",
        title="Vault secret rotation", text="Vault secret rotation\nRotates the kestrel signing keys.",
        author="eid_c3", people=["eid_c3"], container="acme/Vault", url=VAULT_PR,
        created_at=datetime(2026, 3, 10, tzinfo=UTC), acl=["github:acme/Vault"],
        meta={"repo": "acme/Vault", "number": "3", "state": "open", "merged": "false"},
    ))
    return docs


PRIVATE_IDS = {d.native_id for d in private_docs()}
BUGS = "which company has the most reopened bugs in wdgAIX?"
NIGHTJAR = "What does Nightjar launch with for field teams?"
PROSE = "What does WidgetForce render for retail analysts?"
SECRETS = ("Kestrel", "kestrel", "violet", "Violet", "Nightjar launches", SECRET_CHANNEL, NIGHTJAR_CHANNEL, "acme/Vault")


def leaks(text: str, asked: str) -> list[str]:
    """Private native ids, names and words in a response body, other than those it was asked."""
    found = [s for s in SECRETS if s in text and s.lower() not in asked.lower()]
    return found + [n for n in PRIVATE_IDS if f'"{n}"' in text or f"{n}\n" in text]




def public_docs() -> list[SourceDoc]:
    rows = json.loads(CORPUS.read_text())
    return [SourceDoc(id=doc_id(r["source"], r["native_id"]), **r) for r in rows]


def build_store(root: Path, embedder, docs: list[SourceDoc]) -> Catalog:
    """Sync the documents into a store at `root`; returns the catalog, still open for writing
    (as an ingest run would hold it)."""
    catalog = Catalog(root / "catalog.duckdb")
    store = LanceStore(str(root / "lance"))
    engine = LocalEngine(lambda: embedder)
    for source in sorted({d.source for d in docs}):
        mine = [d for d in docs if d.source == source]
        SourceSync(source, ListConnector(mine), catalog, store, engine, "run").run()
    store.optimize()
    build_profiles(catalog)
    return catalog


def make_keys(root: Path) -> dict[str, str]:
    """Keys for a member of both private channels, an outsider, and a member of the private
    bug channel who also reads the private repository."""
    keys = KeyStore(root / "keys.duckdb")
    return {
        "alice": keys.create("eid_a1")[1],
        "bob": keys.create("eid_b2")[1],
        "carol": keys.create("eid_c3", ["github:acme/Vault"])[1],
    }


def api_app(root: Path, embedder=None, reasoner=None, limits: ApiLimits | None = None):
    """The HTTP API over the store at `root`."""
    return create_app(Service(root, embedder, reasoner, limits))


class LiveServer:
    """A uvicorn server for an ASGI app on a free loopback port, run in a thread."""

    def __init__(self, app):
        self.app = app
        self.url = ""

    def __enter__(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def sse_events(text: str) -> list[tuple[str, str]]:
    """(event name, data) of each Server-Sent Event in a response body."""
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        events.append((name, "\n".join(data)))
    return events
