"""The ingest configuration file (TOML): which sources to pull and how to process them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.records import Connector, TerminalError
from flows.settings import Settings


class SourceConfig(BaseModel):
    """One configured source: a connector type, where it reads from, and its options.

    `acl` (docs, meetings) maps globs over relative paths to readers (`FolderRules`): a
    file no rule matches, every file when there are none, is readable by nobody.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal[
        "slack-export", "slack-api", "github-dir", "github-api",
        "docs", "meetings", "bookmarks", "directory",
    ]
    path: Path | None = None
    base_url: str | None = None
    repos: list[str] = Field(default_factory=list)
    channels: list[str] | None = None
    acl: dict[str, list[str]] = Field(default_factory=dict)
    workspace_url: str | None = None
    lookback_days: float = Field(default=7.0, ge=0)
    max_bytes: int | None = Field(default=None, ge=1)
    track_deletions: bool = True
    schedule: str | None = None

    @model_validator(mode="after")
    def needs_location(self) -> SourceConfig:
        if self.type.endswith("-api"):
            if self.type == "github-api" and not self.repos:
                raise ValueError(f"source {self.name!r}: github-api needs `repos`")
        elif self.path is None:
            raise ValueError(f"source {self.name!r}: type {self.type} needs `path`")
        return self


class EngineConfig(BaseModel):
    """Where the parse / chunk / embed stages run; `options` are further Beam pipeline
    options (`environment_type`, `environment_config`, `parallelism`, ...); `device` where
    the embedding model runs ("auto": a CUDA GPU when the machine has one, else the CPU)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["local", "dask", "beam"] = "local"
    address: str | None = None
    workers: int = 2
    runner: str | None = None
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    batch_docs: int = 512
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")


class IngestConfig(BaseModel):
    """The whole ingest configuration."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig]
    engine: EngineConfig = Field(default_factory=EngineConfig)

    @model_validator(mode="after")
    def unique_names(self) -> IngestConfig:
        names = [s.name for s in self.sources]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"source names must be unique: {sorted(duplicates)}")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise TerminalError(f"no source named {name!r} in the config")


def load_config(path: Path) -> IngestConfig:
    """Read a TOML config; relative paths are taken from the config file's folder."""
    try:
        raw: dict[str, Any] = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TerminalError(f"cannot read config {path}: {exc}") from exc
    base = Path(path).resolve().parent
    for source in raw.get("sources", []):
        if "path" in source:
            source["path"] = str((base / source["path"]).resolve())
    return IngestConfig.model_validate(raw)


def build_connector(source: SourceConfig, settings: Settings) -> Connector:
    """The connector a source config describes; `max_bytes` (when set) bounds each file a
    file-based connector reads."""
    path = source.path
    limit = {"max_bytes": source.max_bytes} if source.max_bytes else {}
    if source.type == "slack-export":
        from connectors.slack_export import SlackExportConnector

        return SlackExportConnector(path, workspace_url=source.workspace_url, **limit)
    if source.type == "slack-api":
        from connectors.slack_api import SlackApiConnector

        if settings.slack_token is None:
            raise TerminalError(f"source {source.name!r} needs QUARRY_SLACK_TOKEN")
        return SlackApiConnector(
            settings.slack_token.get_secret_value(),
            base_url=source.base_url or "https://slack.com/api",
            channels=source.channels,
            workspace_url=source.workspace_url,
            lookback_s=source.lookback_days * 86400,
        )
    if source.type == "github-dir":
        from connectors.github import GitHubDirConnector

        return GitHubDirConnector(path, **limit)
    if source.type == "github-api":
        from connectors.github_api import GitHubApiConnector

        token = settings.github_token.get_secret_value() if settings.github_token else None
        return GitHubApiConnector(
            source.repos, token=token, base_url=source.base_url or "https://api.github.com"
        )
    if source.type == "docs":
        from connectors.documents import DocumentsConnector

        return DocumentsConnector(path, acl_rules=source.acl, name=source.name, **limit)
    if source.type == "meetings":
        from connectors.meetings import MeetingsConnector

        return MeetingsConnector(path, acl_rules=source.acl, name=source.name, **limit)
    if source.type == "bookmarks":
        from connectors.bookmarks import BookmarksConnector

        return BookmarksConnector(path, **limit)
    from connectors.directory import DirectoryConnector

    return DirectoryConnector(path, **limit)
