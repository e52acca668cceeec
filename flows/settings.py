"""Process settings: the one place that reads the environment."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings from `QUARRY_*` environment variables (and `.env`), overridable by the CLI."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_", env_file=".env", extra="ignore")

    store: Path = Path(".quarry")
    prefect_home: Path | None = None
    slack_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QUARRY_SLACK_TOKEN", "SLACK_TOKEN")
    )
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QUARRY_GITHUB_TOKEN", "GITHUB_TOKEN")
    )
    lock_wait_s: float = 0.0
    embed_batch_size: int = 64
    embed_dtype: str = "bfloat16"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout_s: float = 60.0

    @property
    def catalog_path(self) -> Path:
        return self.store / "catalog.duckdb"

    @property
    def lance_uri(self) -> str:
        return str(self.store / "lance")

    def prepare_runtime(self) -> None:
        """Create the store folder and keep every library offline and quiet.

        Model hubs, telemetry and analytics are switched off, and Prefect keeps its state
        beside the store unless `prefect_home` says otherwise.
        """
        self.store.mkdir(parents=True, exist_ok=True)
        home = self.prefect_home or self.store / "prefect"
        defaults = {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "true",
            "TOKENIZERS_PARALLELISM": "false",
            "LANCE_LOG": "error",
            "PREFECT_HOME": str(home.resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        for key, value in defaults.items():
            os.environ.setdefault(key, value)


class ApiSettings(BaseSettings):
    """HTTP API settings from `QUARRY_API_*` environment variables; the CLI overrides them."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_API_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    rate_per_minute: float = 120.0
    burst: int = 30
    failed_keys_per_minute: float = 10.0
    failed_keys_burst: int = 20
    max_body_bytes: int = 64 * 1024
    refresh_s: float = 2.0
    answerers: int = 16
    searches: int = 4
    chat_citations: int = 10
    model_name: str = "quarry"
    embed: bool = True
    log_level: str = "info"
