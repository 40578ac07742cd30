"""The one settings object. Nothing else in libcard reads the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration from `LIBCARD_*` environment variables (or a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="LIBCARD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./libcard.sqlite3",
        description="SQLAlchemy URL; SQLite file in the working directory by default.",
    )
    # Keyed hashes (PINs, health-card numbers) use a secret kept outside the database.
    # Versioned so the secret can be rotated: old hashes keep verifying with their version,
    # and are re-keyed with the current version on the next successful check.
    pepper_current_version: int = 1
    peppers: dict[int, SecretStr] = Field(default_factory=dict)
    pepper_file: Path = Path("./libcard-secrets.json")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_request_bytes: int = 64 * 1024
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # Accept the plain URLs operators usually have at hand and pick the async driver.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.removeprefix("sqlite:///")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
