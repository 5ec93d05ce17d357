"""A circuit breaker per LLM provider endpoint whose state lives in Redis (FR-025, NFR-011), so
that every worker process stops calling a failing provider together, and tries it again together.

States, as the spec has them:

- CLOSED: calls go through; `failure_threshold` consecutive failures open the breaker.
- OPEN: `before_call` raises `CircuitOpenError` without a request being made. After
  `recovery_seconds` the breaker becomes HALF_OPEN (on the next `before_call` or recorded result).
- HALF_OPEN: every call goes through (no probe quota: a quota would need leases for probes whose
  worker dies, and the rate limiter already bounds the burst). Any failure reopens the breaker
  for another `recovery_seconds`; `success_threshold` consecutive successes close it.

Late results: a result recorded while the breaker is OPEN is ignored, so a call that started
before the breaker opened cannot close it (nor extend the wait). `before_call` returns the
breaker's generation, which grows by one each time it opens; passed back to `record_success` /
`record_failure` it also makes results of calls that started before the last opening count for
nothing once the breaker is HALF_OPEN or CLOSED again.

Every transition is one Lua script, so processes never interleave a read and a write, and time is
Redis's (`TIME`), so processes with skewed clocks agree on when the breaker half-opens. Only
commands of Redis 6.2 are used (the embedded server). The hash expires after `idle_ttl_seconds`
without a state change; the expiry is set past the end of an OPEN period, so an open breaker is
never forgotten before it would have become half-open (a forgotten breaker is CLOSED).
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger("coderai.llm.breaker")

DEFAULT_KEY_PREFIX = "coderai:llm:breaker:"

# A Lua function of the breaker's hash (key) and ARGV, run by the breaker's own script below
# and, within one round trip with the rate limiter's booking, by server.llm.admission's.
# ARGV: operation (before | success | failure | status), failure_threshold, recovery_ms,
#       success_threshold, ttl_ms, the caller's generation ("" when unknown).
# Returns {state, failures, successes, retry_after_ms, generation, previous_state}.
TRANSITION_FUNCTION = """
local function transition(key, ARGV)
local op = ARGV[1]
local failure_threshold = tonumber(ARGV[2])
local recovery_ms = tonumber(ARGV[3])
local success_threshold = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local caller_generation = tonumber(ARGV[6])

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local stored = redis.call('HMGET', key, 'state', 'failures', 'successes', 'open_until',
                          'generation')
local state = stored[1] or 'closed'
local failures = tonumber(stored[2]) or 0
local successes = tonumber(stored[3]) or 0
local open_until = tonumber(stored[4]) or 0
local generation = tonumber(stored[5]) or 0
local previous = state
local changed = false

if state == 'open' and now >= open_until then
  state = 'half_open'
  successes = 0
  changed = true
end

local stale = caller_generation ~= nil and caller_generation ~= generation
if op == 'success' and not stale and state ~= 'open' then
  if failures > 0 then
    failures = 0
    changed = true
  end
  if state == 'half_open' then
    successes = successes + 1
    changed = true
    if successes >= success_threshold then
      state = 'closed'
      successes = 0
    end
  end
elseif op == 'failure' and not stale and state ~= 'open' then
  failures = failures + 1
  successes = 0
  changed = true
  if state == 'half_open' or failures >= failure_threshold then
    state = 'open'
    open_until = now + recovery_ms
    generation = generation + 1
  end
end

if changed and op ~= 'status' then
  redis.call('HSET', key, 'state', state, 'failures', failures, 'successes', successes,
             'open_until', open_until, 'generation', generation)
  redis.call('PEXPIRE', key, ttl_ms)
end

local retry_after_ms = 0
if state == 'open' then
  retry_after_ms = open_until - now
end
return {state, failures, successes, retry_after_ms, generation, previous}
end
"""
_TRANSITION_LUA = TRANSITION_FUNCTION + "return transition(KEYS[1], ARGV)"


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A snapshot of a breaker. `consecutive_failures` counts failures since the last success;
    `consecutive_successes` counts successes towards closing (HALF_OPEN only, else 0)."""

    state: BreakerState
    consecutive_failures: int
    consecutive_successes: int
    retry_after_seconds: float
    generation: int


class CircuitOpenError(Exception):
    """The provider is failing and the breaker is open: no request was made."""

    def __init__(self, name: str, retry_after_seconds: float) -> None:
        super().__init__(
            f"the LLM provider {name!r} is failing (circuit breaker open); "
            f"it will be tried again in {retry_after_seconds:.1f} s"
        )
        self.name = name
        self.retry_after_seconds = retry_after_seconds


def _text(value: bytes | str) -> str:
    # The client may or may not have been built with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


class CircuitBreaker:
    """One named breaker (e.g. one per provider endpoint) shared by every process that builds
    a `CircuitBreaker` with the same Redis, name and key prefix."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_seconds: float = 30.0,
        success_threshold: int = 3,
        idle_ttl_seconds: float = 3600.0,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        if failure_threshold < 1 or success_threshold < 1:
            raise ValueError("failure_threshold and success_threshold must be at least 1")
        if recovery_seconds <= 0 or idle_ttl_seconds <= 0:
            raise ValueError("recovery_seconds and idle_ttl_seconds must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_seconds = recovery_seconds
        self.success_threshold = success_threshold
        self._redis = redis
        self._key = f"{key_prefix}{name}"
        self._recovery_ms = math.ceil(recovery_seconds * 1000)
        # Past the end of any OPEN period, so expiry can only forget a breaker that would
        # already be half-open.
        self._ttl_ms = self._recovery_ms + math.ceil(idle_ttl_seconds * 1000)
        self._transition = redis.register_script(_TRANSITION_LUA)

    @property
    def key(self) -> str:
        return self._key

    async def before_call(self) -> int:
        """Raises `CircuitOpenError` while the breaker is open; otherwise returns the breaker's
        generation, to pass to `record_success` / `record_failure`."""
        return self.admitted(await self._run("before"))

    def admitted(self, status: BreakerStatus) -> int:
        """before_call's answer to the status its transition returned."""
        if status.state is BreakerState.OPEN:
            raise CircuitOpenError(self.name, status.retry_after_seconds)
        return status.generation

    async def record_success(self, generation: int | None = None) -> None:
        """A call made through the breaker succeeded (`generation` from `before_call`)."""
        await self._run("success", generation)

    async def record_failure(self, generation: int | None = None) -> None:
        """A call made through the breaker failed in a way that says the provider is unwell
        (which errors count is the caller's decision: a bad request is not the provider's)."""
        await self._run("failure", generation)

    async def status(self) -> BreakerStatus:
        """The current state; reports HALF_OPEN once the recovery time is over, without
        changing anything."""
        return await self._run("status")

    async def reset(self) -> None:
        """Forgets the breaker: it is CLOSED with no failures counted."""
        await self._redis.delete(self._key)
        log.info("circuit breaker %r reset", self.name)

    def arguments(self, operation: str, generation: int | None = None) -> list[Any]:
        """The transition's ARGV for an operation (see TRANSITION_FUNCTION)."""
        return [
            operation,
            self.failure_threshold,
            self._recovery_ms,
            self.success_threshold,
            self._ttl_ms,
            "" if generation is None else generation,
        ]

    async def _run(self, operation: str, generation: int | None = None) -> BreakerStatus:
        reply: list[Any] = await self._transition(
            keys=[self._key], args=self.arguments(operation, generation)
        )
        return self.status_of(operation, reply)

    def status_of(self, operation: str, reply: list[Any]) -> BreakerStatus:
        """The status an operation's transition returned; a change it made is logged."""
        state, failures, successes, retry_after_ms, current_generation, previous = reply
        status = BreakerStatus(
            state=BreakerState(_text(state)),
            consecutive_failures=int(failures),
            consecutive_successes=int(successes),
            retry_after_seconds=max(int(retry_after_ms), 0) / 1000,
            generation=int(current_generation),
        )
        if operation != "status":
            self._log_transition(BreakerState(_text(previous)), status)
        return status

    def _log_transition(self, previous: BreakerState, status: BreakerStatus) -> None:
        # Only the process whose script made the change sees previous != current, so each
        # transition is logged once across all processes.
        if previous is status.state:
            return
        if status.state is BreakerState.OPEN:
            log.warning(
                "circuit breaker %r opened after %d consecutive failures; calls fail fast "
                "for %.1f s",
                self.name,
                status.consecutive_failures,
                status.retry_after_seconds,
            )
        elif status.state is BreakerState.HALF_OPEN:
            log.info("circuit breaker %r half-open: trying the provider again", self.name)
        else:
            log.info(
                "circuit breaker %r closed after %d consecutive successes",
                self.name,
                self.success_threshold,
            )
