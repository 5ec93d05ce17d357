"""The one settings object: read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import os
from functools import lru_cache
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, BaseModel, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development secret; refused when ENVIRONMENT=production.
DEFAULT_JWT_SECRET = "coderai-development-secret-change-me-0123456789"


class ModelPrice(BaseModel):
    """List price of a model in US dollars per million tokens. Prompt tokens a provider
    serves from its prompt cache cost `cached_input` (unset: `input`); tokens written to the
    cache (Anthropic charges for writing) cost `cache_write` (unset: `input`)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


# OpenAI's published list prices (USD per 1M tokens: input, cached input, output);
# LLM_PRICES replaces the table.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    name: ModelPrice(input=input_price, cached_input=cached_price, output=output_price)
    for name, input_price, cached_price, output_price in [
        ("gpt-4o-mini", 0.15, 0.075, 0.60),
        ("gpt-4o", 2.50, 1.25, 10.00),
        ("gpt-4.1", 2.00, 0.50, 8.00),
        ("gpt-4.1-mini", 0.40, 0.10, 1.60),
        ("gpt-4.1-nano", 0.10, 0.025, 0.40),
        ("gpt-5", 1.25, 0.125, 10.00),
        ("gpt-5-mini", 0.25, 0.025, 2.00),
        ("gpt-5-nano", 0.05, 0.005, 0.40),
        ("baseline", 0.0, 0.0, 0.0),
    ]
}


def is_loopback(host: str) -> bool:
    """Whether a listen address reaches this machine only."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

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
    # A task works a job for up to job_task_seconds, so a dead worker's tasks are handed on
    # after two minutes; a task redelivered while still running is harmless.
    task_redelivery_timeout_ms: int = Field(default=2 * 60 * 1000, ge=1000)
    task_queue_name: str = "coderai:tasks"
    worker_processes: int = Field(default=1, ge=1)
    worker_concurrency: int = Field(default=10, ge=1)
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("coderai")))

    # gRPC server. Plaintext only on loopback unless grpc_allow_plaintext (see
    # server.core.transport); with a certificate and key, TLS; with a client CA, mutual TLS.
    # Loopback unless told otherwise; another address needs a JWT_SECRET of one's own.
    # GRPC_HOST is the deprecated name of GRPC_LISTEN_ADDR.
    grpc_listen_addr: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("grpc_listen_addr", "grpc_host")
    )
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None
    grpc_tls_client_ca_file: Path | None = None
    grpc_allow_plaintext: bool = False
    grpc_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    grpc_shutdown_grace_seconds: float = Field(default=10.0, ge=0)

    # grpc-web gateway.
    # Loopback by default; 0.0.0.0 in a container.
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    # Origins whose pages may call the API ("*": any; tokens travel in headers, not cookies).
    gateway_allowed_origins: list[str] = Field(default_factory=lambda: ["*"])
    # The gRPC server the gateway forwards to; with a CA file, over TLS (and with a client
    # certificate and key, mutual TLS).
    gateway_backend: str = "127.0.0.1:50051"
    gateway_backend_tls_ca_file: Path | None = None
    gateway_backend_tls_cert_file: Path | None = None
    gateway_backend_tls_key_file: Path | None = None
    # A certificate and key: the gateway serves HTTPS.
    gateway_tls_cert_file: Path | None = None
    gateway_tls_key_file: Path | None = None

    # Documents.
    upload_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    upload_max_unpacked_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    upload_part_bytes: int = Field(default=1024 * 1024, ge=1024)
    upload_session_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # Where uploads are spooled while they arrive and are stored (unset: DATA_DIR/uploads).
    upload_spool_dir: Path | None = None
    # A streamed upload that sends nothing for this long ends DEADLINE_EXCEEDED, its spool gone.
    upload_idle_seconds: float = Field(default=60.0, gt=0)
    # Uploads being received or stored at once (streams, batches, resumable parts and finishes):
    # per user on all servers, and per server process; RESOURCE_EXHAUSTED beyond.
    upload_max_in_flight_per_user: int = Field(default=4, ge=1)
    upload_max_in_flight_per_process: int = Field(default=32, ge=1)
    # Unfinished resumable uploads one user may have open; RESOURCE_EXHAUSTED beyond.
    upload_max_open_sessions: int = Field(default=20, ge=1)
    # How often a server deletes expired resumable uploads with their parts.
    upload_sweep_interval_seconds: float = Field(default=600.0, gt=0)
    # The longest text a document may have, in characters: a longer one ends FAILED saying so.
    # With the input limits below, checked before parsing (a plain-text file's bytes; an HTML
    # page's, or a Word document's XML once unpacked), it bounds a worker's memory per
    # document to about 400 MiB (bench/README.md, large_documents.py).
    document_max_text_chars: int = Field(default=10_000_000, ge=1000, le=2**31 - 1)
    document_max_text_file_bytes: int = Field(default=40_000_000, ge=1024)
    document_max_markup_bytes: int = Field(default=20_000_000, ge=1024)
    # GetDocument returns a text this long or shorter (and its chunks) in its answer; a longer
    # one is read with GetDocumentText. 4 bytes a character at most, plus the chunks'
    # copy: 1,000,000 keeps the answer under 9 MB, well inside the 16 MiB message limit.
    document_inline_text_chars: int = Field(default=1_000_000, ge=0)

    # Quotas per user (see README "Quotas"); a create that would pass one answers
    # RESOURCE_EXHAUSTED naming it. Projects the user owns; documents in all their projects;
    # bytes of stored originals and unfinished resumable uploads; jobs not ended (PENDING,
    # RUNNING or PAUSED); WatchJob, WatchProject and DownloadExport streams open at once.
    quota_max_projects: int = Field(default=1_000, ge=1)
    quota_max_documents: int = Field(default=100_000, ge=1)
    quota_max_storage_bytes: int = Field(default=50 * 1024**3, ge=1)
    quota_max_active_jobs: int = Field(default=20, ge=1)
    quota_max_open_streams: int = Field(default=200, ge=1)
    # Streams one server process holds open at once, whoever opened them.
    server_max_open_streams: int = Field(default=2_000, ge=1)

    # Extraction jobs.
    job_sample_size: int = Field(default=5, ge=1)
    # Model requests one worker process has open at once (documents x variables x chunks;
    # retries waiting for their turn and what is recorded after a request hold none).
    worker_llm_concurrency: int = Field(default=16, ge=1)
    # A claimed document is another worker's to take over if its lease is not renewed in time
    # (its worker died); leases are renewed every third of this while a document is worked on.
    job_lease_seconds: float = Field(default=120.0, gt=0)
    # More consecutive failed documents than this pause the job.
    job_max_consecutive_failures: int = Field(default=10, ge=1)
    # Tasks sent to wake workers for a new or resumed job (each works it until it is done):
    # how many worker slots take it up at once from the queue.
    job_worker_tasks: int = Field(default=16, ge=1)
    # A task works its job this long, then queues its continuation behind other jobs' tasks.
    job_task_seconds: float = Field(default=60.0, gt=0)
    # The co-pilot reads excerpts of sampled documents up to this many tokens in all, so that a
    # suggestion costs the same on a large corpus as on a small one.
    copilot_max_input_tokens: int = Field(default=12_000, ge=500)
    # How often a worker with free slots looks in PostgreSQL for jobs no task announced (their
    # tasks were lost, their worker died) and for jobs to resume after a provider outage.
    job_supervisor_interval_seconds: float = Field(default=10.0, gt=0)
    # Times a job paused by the circuit breaker is resumed on its own before it waits for you.
    job_max_automatic_resumes: int = Field(default=5, ge=0)
    # Events kept per job for clients that reconnect, and for how long.
    job_events_max_length: int = Field(default=10_000, ge=100)
    job_events_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)

    # Exports. Larger ones (estimated cells: documents x variables) are built by a worker.
    export_inline_max_cells: int = Field(default=20_000, ge=0)
    # How long an export's file can be downloaded.
    export_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    export_part_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How often a server deletes expired exports.
    export_sweep_interval_seconds: float = Field(default=3600.0, gt=0)

    # Authentication.
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_issuer: str = "coderai"
    jwt_audience: str = "coderai-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    # Sign-in throttling (README "Sign-in throttling"), shared by every server through Redis.
    # Wrong-password Logins for one email that pass without delay; after them each attempt makes
    # the next wait, doubling from the initial delay up to the longest (short delays, no lockout).
    signin_free_failures: int = Field(default=5, ge=1)
    signin_initial_delay_seconds: float = Field(default=1.0, gt=0)
    signin_max_delay_seconds: float = Field(default=30.0, gt=0)
    # An email's failures are forgotten this long after its last attempt, or at a success.
    signin_failure_window_seconds: float = Field(default=900.0, gt=0)
    # Login and Register calls per minute from one client address (an IPv6 /64); 0: no limit.
    signin_attempts_per_minute_per_address: int = Field(default=60, ge=0)
    # Refresh calls per minute from one client address; 0: no limit.
    refresh_per_minute_per_address: int = Field(default=300, ge=0)
    # Password hashes (argon2: 64 MiB and about 0.2 CPU-seconds each) one server process computes
    # at once, how many calls may wait for one, and for how long, before RESOURCE_EXHAUSTED.
    password_hash_concurrency: int = Field(default_factory=lambda: _spare_cpus(), ge=1)
    password_hash_queue: int = Field(default=32, ge=0)
    password_hash_max_wait_seconds: float = Field(default=2.0, gt=0)
    # Peers (CIDR) whose x-forwarded-for names the client address: the grpc-web gateway, Envoy.
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )

    # LLM gateway. No provider, key or base URL configured: the offline baseline.
    llm_provider: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("llm_base_url", "openai_base_url")
    )
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("llm_api_key", "openai_api_key")
    )
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=5, ge=0, le=10)
    llm_retry_initial_wait_seconds: float = Field(default=1.0, ge=0)
    llm_retry_max_wait_seconds: float = Field(default=16.0, ge=0)
    llm_retry_jitter_seconds: float = Field(default=0.5, ge=0)
    llm_requests_per_minute: int = Field(default=500, ge=0)
    llm_tokens_per_minute: int = Field(default=200_000, ge=0)
    # Consecutive failed requests that open the breaker: more than one call's attempts
    # (llm_max_retries + 1), so that a call gets every retry it was promised before its own
    # failures could open the breaker and fail its last attempts fast.
    llm_breaker_failure_threshold: int = Field(default=10, ge=1)
    llm_breaker_recovery_seconds: float = Field(default=30.0, gt=0)
    llm_breaker_success_threshold: int = Field(default=3, ge=1)
    llm_prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    # One answer schema for every variable's request (its value typed loosely, checked
    # against the variable's own schema on arrival): providers that put the schema before
    # the prompt (OpenAI, Bedrock) then cache a document's prefix across its variables.
    # false: each request carries its variable's exact schema, for providers whose
    # structured output does not enter the prompt (vLLM's guided decoding).
    llm_shared_response_schema: bool = True
    # Whether the offline baseline (rules, not a model) may answer. True lets a machine with
    # no LLM run the whole pipeline; false makes a missing model a configuration error and
    # CreateJob refuse a job the baseline would answer (FAILED_PRECONDITION).
    llm_allow_offline_baseline: bool = True

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        secret = self.jwt_secret.get_secret_value()
        if self.environment == "production" and (secret == DEFAULT_JWT_SECRET or len(secret) < 32):
            raise ValueError(
                "JWT_SECRET must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_secret_off_loopback(self) -> Settings:
        # Anyone who can reach the server could sign tokens with the published default.
        if self.jwt_secret.get_secret_value() != DEFAULT_JWT_SECRET:
            return self
        for setting, address in (
            ("GRPC_LISTEN_ADDR", self.grpc_listen_addr),
            ("GATEWAY_HOST", self.gateway_host),
        ):
            if not is_loopback(address):
                raise ValueError(
                    f"{setting}={address} is not a loopback address, and JWT_SECRET is the "
                    "development default that anyone can read in the source: set JWT_SECRET to "
                    "a random value of at least 32 characters (e.g. `openssl rand -hex 32`), or "
                    f"listen on 127.0.0.1"
                )
        return self

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> Settings:
        for prefix in ("grpc_tls", "gateway_backend_tls", "gateway_tls"):
            cert, key = getattr(self, f"{prefix}_cert_file"), getattr(self, f"{prefix}_key_file")
            if (cert is None) != (key is None):
                name = prefix.upper()
                raise ValueError(f"{name}_CERT_FILE and {name}_KEY_FILE go together")
        if self.grpc_tls_client_ca_file is not None and self.grpc_tls_cert_file is None:
            raise ValueError("GRPC_TLS_CLIENT_CA_FILE (mutual TLS) needs GRPC_TLS_CERT_FILE")
        if self.gateway_backend_tls_cert_file is not None and not self.gateway_backend_tls_ca_file:
            raise ValueError(
                "GATEWAY_BACKEND_TLS_CERT_FILE (mutual TLS) needs GATEWAY_BACKEND_TLS_CA_FILE"
            )
        return self

    @model_validator(mode="after")
    def _breaker_lets_a_call_retry(self) -> Settings:
        if self.llm_breaker_failure_threshold <= self.llm_max_retries + 1:
            raise ValueError(
                f"LLM_BREAKER_FAILURE_THRESHOLD ({self.llm_breaker_failure_threshold}) must be "
                f"more than LLM_MAX_RETRIES + 1 ({self.llm_max_retries + 1}): one call's own "
                "failures would open the breaker before its retries ran"
            )
        return self

    @model_validator(mode="after")
    def _refuse_offline_baseline_when_forbidden(self) -> Settings:
        if not self.llm_allow_offline_baseline and self.default_llm_provider == "offline":
            raise ValueError(
                "LLM_ALLOW_OFFLINE_BASELINE=false but no language model is configured: set "
                "LLM_API_KEY or LLM_BASE_URL (or LLM_PROVIDER and its key) so that a model, "
                "not the offline baseline, answers"
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

    @property
    def default_llm_provider(self) -> str:
        """LLM_PROVIDER; unset, OpenAI when a key or base URL is configured, else the offline
        baseline (so that a machine with no LLM access still runs the whole pipeline)."""
        if self.llm_provider:
            return self.llm_provider
        if self.llm_api_key is not None or self.llm_base_url:
            return "openai"
        return "offline"

    @property
    def default_llm_model(self) -> str:
        return "baseline" if self.default_llm_provider == "offline" else self.llm_model


def _spare_cpus() -> int:
    """The CPUs this process may run on, less one for the event loop; at least one."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


@lru_cache
def get_settings() -> Settings:
    return Settings()
