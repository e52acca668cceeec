"""A small store ingested from the six-source fixture corpus through the real connectors,
sync, LanceDB and DuckDB, with its profiles and graph built."""

from __future__ import annotations

from pathlib import Path

from connectors.bookmarks import BookmarksConnector
from connectors.directory import DirectoryConnector
from connectors.documents import DocumentsConnector
from connectors.github import GitHubDirConnector
from connectors.meetings import MeetingsConnector
from connectors.slack_export import SlackExportConnector
from flows.sync import SourceSync
from index.catalog import Catalog
from index.graph import build_graph
from index.lance import LanceStore
from index.profile import build_profiles
from tests.conftest import PUBLIC
from transforms.engine import LocalEngine

CORPUS = Path(__file__).parent / "fixtures" / "graph"


def ingest_graph_corpus(root: Path, embedder) -> tuple[Catalog, LanceStore]:
    catalog = Catalog(root / "catalog.duckdb")
    store = LanceStore(str(root / "lance"))
    engine = LocalEngine(lambda: embedder)
    connectors = {
        "directory": DirectoryConnector(CORPUS / "directory"),
        "slack": SlackExportConnector(CORPUS / "slack", workspace_url="https://corp.slack.com"),
        "github": GitHubDirConnector(CORPUS / "github"),
        "docs": DocumentsConnector(CORPUS / "docs", acl_rules=PUBLIC),
        "meetings": MeetingsConnector(CORPUS / "meetings", acl_rules=PUBLIC),
        "links": BookmarksConnector(CORPUS / "links"),
    }
    for name, connector in connectors.items():
        SourceSync(name, connector, catalog, store, engine, "run").run()
    store.optimize()
    build_profiles(catalog)
    build_graph(catalog)
    return catalog, store
