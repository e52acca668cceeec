"""Shared fixtures: an offline runtime, one embedding model per session, and a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.records import Page

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
HERB = Path(__file__).resolve().parents[2] / "shared" / "herb"
PUBLIC = {"*": ["*"]}
"""The catch-all folder acl rule: every file readable by everyone."""
PUBLIC_TOML = 'acl = { "*" = ["*"] }'
"""`PUBLIC` as a source's TOML line."""


class ListConnector:
    """A connector over a fixed list of documents of one source."""

    def __init__(self, docs):
        self.docs = docs

    def pull(self, cursor):
        yield Page(docs=self.docs, cursor={"done": True})

    def list_ids(self):
        return (d.native_id for d in self.docs)


def pull_all(connector, cursor=None):
    """(docs by native id, failures, last cursor) of one full pull."""
    pages = list(connector.pull(cursor))
    docs = {doc.native_id: doc for page in pages for doc in page.docs}
    failures = [failure for page in pages for failure in page.failures]
    return docs, failures, pages[-1].cursor


@pytest.fixture(scope="session")
def embedder():
    from transforms.embed import Embedder

    return Embedder(batch_size=32)


@pytest.fixture
def stores(tmp_path):
    from index.catalog import Catalog
    from index.lance import LanceStore

    catalog = Catalog(tmp_path / "catalog.duckdb")
    yield catalog, LanceStore(str(tmp_path / "lance"))
    catalog.close()
