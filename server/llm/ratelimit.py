"""Requests-per-minute and tokens-per-minute limits shared by every process through Redis
(NFR-008), so that all workers together stay under a provider's quota.

The algorithm is GCRA (the generic cell rate algorithm) with reservations: each limit keeps
one number in Redis, its theoretical arrival time (TAT), the moment its bucket would be full
again. `acquire` books the earliest moment both limits allow, in one Lua script (both limits are
consumed or neither), and then sleeps until that moment. Booking ahead makes waiting callers
first-come first-served across processes, so a large request is never starved by a stream of
small ones, and each acquire costs one round trip instead of a polling loop.

- Burst: each limit admits `burst_seconds` worth of its rate at once (the requests limit at
  least one request).
- Tokens are reserved from an estimate (prompt tokens + max_tokens) and `settle`d with the
  provider's reported usage: the difference is refunded or added as debt.
- A request costing more tokens than one burst waits until the token bucket is full and then
  goes, leaving the bucket in debt; later requests wait the debt off, so the long-run rate holds
  and no request deadlocks.
- Time is Redis's (`TIME`), so processes with skewed clocks share one schedule. Only commands of
  Redis 6.2 are used (the embedded server).
- The hash expires once both buckets would be full again: an absent key means a full bucket.

Processes that share a limiter's name must be configured with the same limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger("coderai.llm.ratelimit")

DEFAULT_KEY_PREFIX = "coderai:llm:ratelimit:"

# Shared by both scripts, Lua functions of the limiter's hash (key) and ARGV: Redis's clock in
# milliseconds, and how a TAT is written (Lua turns numbers into strings with 14 significant
# digits, too few for milliseconds since 1970 with their fractions).
_LUA_PRELUDE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local stored = redis.call('HMGET', key, 'requests', 'tokens')
local tats = {tonumber(stored[1]) or now, tonumber(stored[2]) or now}

local function save()
  redis.call('HSET', key, 'requests', string.format('%.17g', tats[1]),
             'tokens', string.format('%.17g', tats[2]))
  local full_again = math.max(tats[1], tats[2]) - now
  redis.call('PEXPIRE', key, math.ceil(math.max(full_again, 0)) + 1000)
end
"""

# Run by the limiter's own script below and, within one round trip with the circuit breaker's
# check, by server.llm.admission's.
# ARGV: request interval ms (0 = unlimited), request tolerance ms, token interval ms
#       (0 = unlimited), token tolerance ms, tokens, max wait ms ("" = none).
# Returns {1 if booked else 0, wait in microseconds}.
ACQUIRE_FUNCTION = (
    "local function acquire(key, ARGV)"
    + _LUA_PRELUDE
    + """
local intervals = {tonumber(ARGV[1]), tonumber(ARGV[3])}
local tolerances = {tonumber(ARGV[2]), tonumber(ARGV[4])}
local costs = {1, tonumber(ARGV[5])}
local max_wait = tonumber(ARGV[6])

-- The earliest start both limits allow: the bucket must hold the cost, or be full when the
-- cost is more than a full bucket.
local start = now
for i = 1, 2 do
  if intervals[i] > 0 then
    local needed = math.min(costs[i] * intervals[i], tolerances[i])
    start = math.max(start, tats[i] - tolerances[i] + needed)
  end
end

local wait = start - now
if max_wait ~= nil and wait > max_wait then
  return {0, math.ceil(wait * 1000)}
end
for i = 1, 2 do
  if intervals[i] > 0 then
    tats[i] = math.max(tats[i], start) + costs[i] * intervals[i]
  end
end
save()
return {1, math.ceil(wait * 1000)}
end
"""
)
_ACQUIRE_LUA = ACQUIRE_FUNCTION + "return acquire(KEYS[1], ARGV)"

# ARGV: request interval ms, requests to add (negative: give back), token interval ms, tokens
#       to add. A refund never makes a bucket fuller than full.
_ADJUST_LUA = (
    "local function adjust(key, ARGV)"
    + _LUA_PRELUDE
    + """
local intervals = {tonumber(ARGV[1]), tonumber(ARGV[3])}
local deltas = {tonumber(ARGV[2]), tonumber(ARGV[4])}
for i = 1, 2 do
  if intervals[i] > 0 then
    tats[i] = math.max(now, math.max(tats[i], now) + deltas[i] * intervals[i])
  end
end
save()
return 1
end
return adjust(KEYS[1], ARGV)
"""
)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What `acquire` booked: the tokens reserved and how long the caller was made to wait."""

    tokens: int
    waited_seconds: float


class RateLimitTimeout(Exception):
    """The limiter's next free slot is further away than the caller's `max_wait`; nothing was
    booked. Raised at once rather than after waiting, since the wait is known in advance."""

    def __init__(self, name: str, retry_after_seconds: float, max_wait: float) -> None:
        super().__init__(
            f"rate limit {name!r}: the next free slot is {retry_after_seconds:.1f} s away, "
            f"longer than max_wait={max_wait:.1f} s"
        )
        self.name = name
        self.retry_after_seconds = retry_after_seconds
        self.max_wait = max_wait


class RateLimiter:
    """One named pair of limits (e.g. one per provider API key), shared by every process that
    builds a `RateLimiter` with the same Redis, name and key prefix."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        burst_seconds: float = 1.0,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if (requests_per_minute or 0) < 0 or (tokens_per_minute or 0) < 0:
            raise ValueError("rate limits must be positive, or None/0 for unlimited")
        if burst_seconds < 0:
            raise ValueError("burst_seconds must not be negative")
        self.name = name
        self.requests_per_minute = requests_per_minute or None
        self.tokens_per_minute = tokens_per_minute or None
        self.burst_seconds = burst_seconds
        self._key = f"{key_prefix}{name}"
        self._sleep = sleep
        burst_ms = burst_seconds * 1000
        # Milliseconds one request / one token is worth; 0 means unlimited.
        self._request_interval_ms = 60_000 / requests_per_minute if requests_per_minute else 0.0
        self._token_interval_ms = 60_000 / tokens_per_minute if tokens_per_minute else 0.0
        self._request_tolerance_ms = max(burst_ms, self._request_interval_ms)
        self._token_tolerance_ms = burst_ms
        self._acquire = redis.register_script(_ACQUIRE_LUA)
        self._adjust = redis.register_script(_ADJUST_LUA)

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None

    @property
    def key(self) -> str:
        return self._key

    async def acquire(self, tokens: int = 0, *, max_wait: float | None = None) -> Reservation:
        """Books one request and `tokens` tokens, then sleeps until they may be spent.

        Raises `RateLimitTimeout`, without booking, when that would take longer than
        `max_wait` seconds. If the caller is cancelled while waiting, the booking is given back.
        """
        arguments = self.acquire_arguments(tokens, max_wait)
        if self.unlimited:
            return Reservation(tokens=tokens, waited_seconds=0.0)
        reply: list[Any] = await self._acquire(keys=[self._key], args=arguments)
        return await self.booked(reply, tokens, max_wait)

    def acquire_arguments(self, tokens: int, max_wait: float | None) -> list[Any]:
        """The booking's ARGV (see ACQUIRE_FUNCTION)."""
        if tokens < 0:
            raise ValueError("tokens must not be negative")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must not be negative")
        return [
            self._request_interval_ms,
            self._request_tolerance_ms,
            self._token_interval_ms,
            self._token_tolerance_ms,
            tokens,
            "" if max_wait is None else max_wait * 1000,
        ]

    async def booked(self, reply: list[Any], tokens: int, max_wait: float | None) -> Reservation:
        """acquire's end, from what the booking returned: refused (RateLimitTimeout), or the
        wait it booked, slept."""
        booked, wait_us = (int(value) for value in reply)
        wait = max(wait_us, 0) / 1_000_000
        if not booked:  # only refused when given a max_wait
            raise RateLimitTimeout(self.name, wait, max_wait or 0.0)
        if wait > 0:
            log.debug("rate limit %r: waiting %.3f s for %d tokens", self.name, wait, tokens)
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                await self._give_back(requests=1, tokens=tokens)
                raise
        return Reservation(tokens=tokens, waited_seconds=wait)

    async def settle(self, reservation: Reservation, used_tokens: int) -> None:
        """Replaces the estimate with the tokens the call really used: the difference is
        refunded, or added as debt that later callers wait off."""
        if used_tokens < 0:
            raise ValueError("used_tokens must not be negative")
        if self.tokens_per_minute is None or used_tokens == reservation.tokens:
            return
        await self._give_back(requests=0, tokens=reservation.tokens - used_tokens)

    async def _give_back(self, *, requests: int, tokens: int) -> None:
        await self._adjust(
            keys=[self._key],
            args=[self._request_interval_ms, -requests, self._token_interval_ms, -tokens],
        )
