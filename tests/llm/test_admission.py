"""A request's admission against the real Redis: the breaker's check and the rate limiter's
booking in one script answer as before_call() and acquire() one after the other would, and an
open breaker books nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from server.llm.admission import Admission
from server.llm.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from server.llm.ratelimit import RateLimiter
from tests.llm.test_rate_limit import RecordedSleep


@dataclass
class Endpoint:
    """A breaker that opens at the first failure and a limiter of one request a second (no
    burst beyond it) that sleeps through `sleep`, on a fresh name."""

    breaker: CircuitBreaker
    limiter: RateLimiter
    sleep: RecordedSleep


@pytest.fixture
async def endpoint(redis: Redis) -> AsyncIterator[Endpoint]:
    """An Endpoint; its keys deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    sleep = RecordedSleep()
    breaker = CircuitBreaker(redis, name, failure_threshold=1, recovery_seconds=60)
    limiter = RateLimiter(
        redis, name, requests_per_minute=60, tokens_per_minute=None, burst_seconds=0, sleep=sleep
    )
    yield Endpoint(breaker, limiter, sleep)
    await redis.delete(breaker.key, limiter.key)


async def test_a_closed_breaker_admits_and_the_request_is_booked(
    redis: Redis, endpoint: Endpoint
) -> None:
    admission = Admission(redis, endpoint.breaker, endpoint.limiter)

    generation, first = await admission.admit(10)
    _, second = await admission.admit(10)

    assert generation == (await endpoint.breaker.status()).generation
    assert (first.tokens, first.waited_seconds) == (10, 0)
    # Booked like acquire(): the second request of a one-a-second limit waits its second.
    assert second.waited_seconds == pytest.approx(1.0, abs=0.05)
    assert endpoint.sleep.waits == [second.waited_seconds]


async def test_an_open_breaker_refuses_and_books_nothing(redis: Redis, endpoint: Endpoint) -> None:
    breaker, limiter = endpoint.breaker, endpoint.limiter
    admission = Admission(redis, breaker, limiter)
    await breaker.record_failure(await breaker.before_call())
    assert (await breaker.status()).state is BreakerState.OPEN

    with pytest.raises(CircuitOpenError) as refused:
        await admission.admit(10)

    assert refused.value.retry_after_seconds > 59
    assert not await redis.exists(limiter.key)
    # The limiter's budget is whole: a request goes at once.
    assert (await limiter.acquire(10)).waited_seconds == 0


async def test_without_limits_only_the_breaker_is_asked(redis: Redis) -> None:
    name = f"test-{uuid.uuid4().hex}"
    breaker = CircuitBreaker(redis, name)
    limiter = RateLimiter(redis, name, requests_per_minute=None, tokens_per_minute=None)

    generation, reservation = await Admission(redis, breaker, limiter).admit(10)

    assert generation == 0
    assert (reservation.tokens, reservation.waited_seconds) == (10, 0)
    assert not await redis.exists(limiter.key)
    await redis.delete(breaker.key)
