"""Process settings: the one place that reads the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qa.serve.models import ApiLimits


class Settings(BaseSettings):
    """Settings from `QUARRY_*` environment variables (and `.env`), overridable by the CLI."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_", env_file=".env", extra="ignore")

    store: Path = Path(".quarry")
    prefect_home: Path | None = None
    prefect_api_url: str | None = Field(default=None, validation_alias="PREFECT_API_URL")
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
    llm_retries: int = 3
    llm_max_steps: int = 8
    llm_max_seconds: float = 120.0

    @property
    def catalog_path(self) -> Path:
        return self.store / "catalog.duckdb"

    @property
    def lance_uri(self) -> str:
        return str(self.store / "lance")

    def prepare_runtime(self, create_store: bool = True) -> None:
        """Create the store folder (unless told not to) and keep every library offline and quiet.

        Model hubs, telemetry, analytics and progress bars are switched off, and Prefect keeps
        its state beside the store unless `prefect_home` says otherwise.
        """
        if create_store:
            self.store.mkdir(parents=True, exist_ok=True)
        home = self.prefect_home or self.store / "prefect"
        defaults = {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "true",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "LANCE_LOG": "error",
            "PREFECT_HOME": str(home.resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        for key, value in defaults.items():
            os.environ.setdefault(key, value)


class ApiSettings(BaseSettings, ApiLimits):
    """Serving settings (HTTP API, MCP, Slack bot) from `QUARRY_API_*` environment variables;
    the limits and their defaults are `ApiLimits`'. The CLI overrides host and port.
    `QUARRY_API_TRUSTED_PROXIES` is a comma-separated list of addresses or networks."""

    model_config = SettingsConfigDict(env_prefix="QUARRY_API_", env_file=".env", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    model_name: str = "quarry"
    embed: bool = True
    log_level: str = "info"
    key: SecretStr | None = None
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QUARRY_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QUARRY_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("QUARRY_SLACK_APP_TOKEN", "SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(default=None, validation_alias="QUARRY_SLACK_API_URL")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def split(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
