"""A model request's admission in one Redis round trip: the circuit breaker's check and, when
it lets the request through, the rate limiter's booking. One Lua script runs the breaker's
transition and the limiter's acquire, each its own module's function, as their scripts would
one after the other; the gateway makes the request while holding one of its slots, so a second
round trip on every request kept the slot from the next one that long."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from server.llm.breaker import TRANSITION_FUNCTION, CircuitBreaker
from server.llm.ratelimit import ACQUIRE_FUNCTION, RateLimiter, Reservation

# KEYS: the breaker's hash, the limiter's hash. ARGV: how many of them are the breaker's (n),
# then the breaker's (its "before" transition), then the limiter's.
# Returns {the breaker's status}, when it is open, else {its status, the booking}.
_ADMIT_LUA = (
    TRANSITION_FUNCTION
    + ACQUIRE_FUNCTION
    + """
local n = tonumber(ARGV[1])
local status = transition(KEYS[1], {unpack(ARGV, 2, n + 1)})
if status[1] == 'open' then
  return {status}
end
return {status, acquire(KEYS[2], {unpack(ARGV, n + 2, #ARGV)})}
"""
)


class Admission:
    """The breaker and the rate limiter of one provider endpoint, asked together."""

    def __init__(self, redis: Redis, breaker: CircuitBreaker, limiter: RateLimiter) -> None:
        self.breaker = breaker
        self.limiter = limiter
        self._admit = redis.register_script(_ADMIT_LUA)

    async def admit(self, tokens: int) -> tuple[int, Reservation]:
        """`breaker.before_call()` then `limiter.acquire(tokens)`: the breaker's generation and
        the booking (slept); CircuitOpenError, with nothing booked, while the breaker is
        open."""
        if self.limiter.unlimited:
            return await self.breaker.before_call(), await self.limiter.acquire(tokens)
        breaker = self.breaker.arguments("before")
        reply: list[Any] = await self._admit(
            keys=[self.breaker.key, self.limiter.key],
            args=[len(breaker), *breaker, *self.limiter.acquire_arguments(tokens, None)],
        )
        generation = self.breaker.admitted(self.breaker.status_of("before", reply[0]))
        return generation, await self.limiter.booked(reply[1], tokens, None)
