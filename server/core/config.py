"""The one settings object: read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development secret; refused when ENVIRONMENT=production.
DEFAULT_JWT_SECRET = "coderai-development-secret-change-me-0123456789"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    # Servers. Unset DATABASE_URL/REDIS_URL select the embedded PostgreSQL and Redis.
    database_url: str | None = None
    app_database_url: str | None = None
    app_db_role: str = "coderai_app"
    app_db_password: SecretStr = SecretStr("coderai_app")
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    redis_url: str | None = None
    task_redelivery_timeout_ms: int = Field(default=10 * 60 * 1000, ge=1000)
    worker_processes: int = Field(default=1, ge=1)
    worker_concurrency: int = Field(default=10, ge=1)
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("coderai")))

    # gRPC server.
    grpc_host: str = "0.0.0.0"  # noqa: S104 - a server listens on every interface by default
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    grpc_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    grpc_shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    # Authentication.
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_issuer: str = "coderai"
    jwt_audience: str = "coderai-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.environment == "production" and (secret == DEFAULT_JWT_SECRET or len(secret) < 32):
            raise ValueError(
                "JWT_SECRET must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        return self

    @property
    def embedded_postgres(self) -> bool:
        """True when the product should start its own PostgreSQL."""
        return self.database_url is None and self.app_database_url is None

    @property
    def embedded_redis(self) -> bool:
        """True when the product should start its own Redis."""
        return self.redis_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
