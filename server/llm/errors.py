"""What can go wrong in a model call, as one exception type with a kind, so that retry, the
circuit breaker, accounting and the extraction pipeline all decide on the same facts."""

from __future__ import annotations

import enum


class FailureKind(enum.Enum):
    # The provider did not serve the request: worth retrying, and counted by the breaker.
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    # The provider refused the request itself (bad key, unknown model): retrying cannot help,
    # but it is the endpoint failing, so the breaker counts it.
    UNAUTHORIZED = "unauthorized"
    # The provider answered; the answer or the request is what is wrong. Not retried (the same
    # request gets the same answer) and not held against the provider.
    BAD_REQUEST = "bad_request"
    REFUSED = "refused"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    # Failed fast without a request.
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMIT_WAIT = "rate_limit_wait"
    CONFIGURATION = "configuration"


RETRYABLE = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION,
        FailureKind.RATE_LIMITED,
        FailureKind.SERVER_ERROR,
    }
)
PROVIDER_FAILURES = RETRYABLE | {FailureKind.UNAUTHORIZED}


class LLMError(Exception):
    """A model call that did not produce a valid answer. `usage` is what the failed call
    still cost (a malformed or cut-off answer is billed); `attempts` counts the requests."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        raw_text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_seconds = retry_after_seconds
        self.raw_text = raw_text
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = 0.0
        self.attempts = 0

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"
