"""Shared fixtures: an offline runtime, one embedding model per session, and a fresh store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"
HERB = Path(__file__).resolve().parents[2] / "shared" / "herb"


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
