"""Settings: secrets from the environment or `.env`, the community's set-up from `conclave.toml` (its
sections are bot/core/community.py), read and checked together; an invalid value is a ConfigError naming
the key."""

from __future__ import annotations

import logging
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.catalog import CatalogError, load_catalog
from bot.core.community import CommunityConfig

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class ConfigError(Exception):
    """Invalid configuration; the message is meant for the admin, as is."""


class Settings(BaseSettings):
    """Secrets and process settings, from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    discord_token: SecretStr | None = None
    database_url: SecretStr | None = None
    database_direct_url: SecretStr | None = None  # migrations, maintenance, backups (README: poolers)
    database_pool_mode: Literal["auto", "direct", "session", "transaction"] = "auto"
    conclave_config: Path = Path("conclave.toml")
    conclave_data_dir: Path | None = None
    discord_api_base: str | None = None
    pg_bin_dir: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_pool_mode", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def database_options(self) -> dict[str, str | None]:
        """db.pool.open_database's arguments: the URLs and DATABASE_POOL_MODE."""
        url, direct = (s.get_secret_value() if s else None for s in (self.database_url, self.database_direct_url))
        return {"database_url": url, "direct_url": direct, "pool_mode": self.database_pool_mode}

    @field_validator("discord_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8080/api/v10")
        if value.startswith("http://"):
            from urllib.parse import urlsplit

            host = urlsplit(value).hostname or ""
            if host not in LOCAL_HOSTS:
                raise ValueError(
                    "sends the bot token in the clear: http:// is only for a stand-in on this machine "
                    "(127.0.0.1, localhost, ::1); use https:// for anything else"
                )
        return value.rstrip("/")


class Config(BaseModel):
    """Everything the program is configured with."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    settings: Settings
    community: CommunityConfig

    @property
    def data_dir(self) -> Path:
        return (self.settings.conclave_data_dir or self.community.data_dir).expanduser().resolve()


def _describe(error: dict, source: str) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}' (check the spelling against conclave.example.toml)"
    if error["type"] == "missing":
        return f"{source}: '{key}' is required"
    value = error.get("input")
    return f"{source}: '{key}' = {value!r} is invalid: {message}"


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [_describe(e, source) for e in exc.errors(include_url=False)]
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "environment")) from None


def load_community(path: Path, *, required: bool = False) -> CommunityConfig:
    if not path.exists():
        if required:
            raise ConfigError(
                f"configuration file {path} not found: copy conclave.example.toml to {path} "
                "(or point CONCLAVE_CONFIG at yours) and set guild_id"
            )
        return CommunityConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid configuration: {path} is not valid TOML: {exc}") from None
    try:
        community = CommunityConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    load_achievement_catalog(community, path.parent)
    return community


def load_achievement_catalog(community: CommunityConfig, base: Path) -> None:
    """Read [achievements] catalog (relative to `base`) into the community's configuration."""
    catalog = community.achievements.catalog
    if catalog is None:
        return
    where = catalog if catalog.is_absolute() else base / catalog
    try:
        community.achievements._entries = load_catalog(where.expanduser())
    except CatalogError as exc:
        raise ConfigError(f"invalid achievements catalog: {exc}") from None


def load_config(*, require_community_file: bool = False) -> Config:
    """Read the environment and the TOML file; raises ConfigError with a readable message."""
    settings = load_settings()
    path = Path(os.path.expanduser(settings.conclave_config))
    community = load_community(path, required=require_community_file)
    return Config(settings=settings, community=community)
