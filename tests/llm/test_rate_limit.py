"""The rate limiter against the real Redis (NFR-008): requests and tokens per minute hold over
time, together and across separate processes; estimates are settled with real usage; a request
larger than a burst still goes; `max_wait` bounds the wait."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.llm.ratelimit import DEFAULT_KEY_PREFIX, RateLimiter, RateLimitTimeout
from tests.conftest import TEST_REDIS_URL

REPO_ROOT = Path(__file__).resolve().parents[2]

LimiterFactory = Callable[..., RateLimiter]


@pytest.fixture
async def make_limiter(redis: Redis) -> AsyncIterator[LimiterFactory]:
    """Builds limiters (by default on a fresh unique name) and deletes their keys afterwards."""
    names: set[str] = set()

    def make(name: str | None = None, **options: Any) -> RateLimiter:
        name = name or f"test-{uuid.uuid4().hex}"
        names.add(name)
        options.setdefault("requests_per_minute", None)
        options.setdefault("tokens_per_minute", None)
        return RateLimiter(redis, name, **options)

    yield make
    if names:
        await redis.delete(*(f"{DEFAULT_KEY_PREFIX}{name}" for name in names))


class RecordedSleep:
    """An injected `sleep` that returns at once and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def worst_excess(times: list[float], costs: list[int], per_second: float, burst: float) -> float:
    """How far the busiest time window went over `burst + rate * window` (<= 0 when the limit
    held everywhere)."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    worst = float("-inf")
    for a, first in enumerate(order):
        spent = 0
        for last in order[a:]:
            spent += costs[last]
            allowed = burst + per_second * (times[last] - times[first])
            worst = max(worst, spent - allowed)
    return worst


async def test_600_requests_per_minute_spread_30_requests_over_about_3_seconds(
    make_limiter: LimiterFactory,
) -> None:
    # A 0.1 s burst at 10 requests/s is a single request: the other 29 come 0.1 s apart.
    limiter = make_limiter(requests_per_minute=600, burst_seconds=0.1)

    started = time.perf_counter()
    for _ in range(30):
        await limiter.acquire()
    elapsed = time.perf_counter() - started

    # Not less than the limit allows (10 ms for the difference between Redis's and our clock).
    assert 2.9 - 0.01 <= elapsed < 3.3


async def test_a_tokens_per_minute_limit_holds_under_concurrent_callers(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter(tokens_per_minute=60_000, burst_seconds=0.2)  # 1000/s, burst 200
    times: list[float] = []
    costs: list[int] = []

    async def caller() -> None:
        for _ in range(4):
            reservation = await limiter.acquire(100)
            times.append(time.perf_counter())
            costs.append(reservation.tokens)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(4)))

    assert time.perf_counter() - started >= (1600 - 200) / 1000
    # One request's worth of slack for event-loop wake-up jitter.
    assert worst_excess(times, costs, per_second=1000, burst=200) <= 100


async def test_settling_refunds_unused_tokens_and_charges_extra_usage(
    make_limiter: LimiterFactory,
) -> None:
    sleep = RecordedSleep()
    limiter = make_limiter(tokens_per_minute=6000, sleep=sleep)  # 100/s, burst 100

    first = await limiter.acquire(100)
    await limiter.settle(first, used_tokens=20)  # 80 back
    second = await limiter.acquire(100)  # 20 short: 0.2 s
    await limiter.settle(second, used_tokens=300)  # 200 more: 2 s of debt
    third = await limiter.acquire(100)

    assert first.waited_seconds == 0
    assert second.waited_seconds == pytest.approx(0.2, abs=0.03)
    assert third.waited_seconds == pytest.approx(0.2 + 1.0 + 2.0, abs=0.03)
    assert sleep.waits == [second.waited_seconds, third.waited_seconds]


async def test_both_limits_are_consumed_together_or_not_at_all(
    make_limiter: LimiterFactory,
) -> None:
    # The requests limit refuses: no tokens are taken.
    both = make_limiter(requests_per_minute=60, tokens_per_minute=60_000)  # burst 1 req, 1000 tok
    tokens_only = make_limiter(both.name, tokens_per_minute=60_000)
    await both.acquire(500)
    with pytest.raises(RateLimitTimeout):
        await both.acquire(500, max_wait=0)
    await tokens_only.acquire(500, max_wait=0)
    with pytest.raises(RateLimitTimeout):
        await tokens_only.acquire(500, max_wait=0)

    # The tokens limit refuses: no request is taken.
    both = make_limiter(requests_per_minute=120, tokens_per_minute=60_000)  # burst 2 req
    requests_only = make_limiter(both.name, requests_per_minute=120)
    await both.acquire(1000)
    with pytest.raises(RateLimitTimeout):
        await both.acquire(1000, max_wait=0)
    await requests_only.acquire(max_wait=0)
    with pytest.raises(RateLimitTimeout):
        await requests_only.acquire(max_wait=0)


async def test_a_request_larger_than_a_burst_goes_and_later_requests_wait_off_its_debt(
    make_limiter: LimiterFactory,
) -> None:
    sleep = RecordedSleep()
    limiter = make_limiter(tokens_per_minute=6000, sleep=sleep)  # 100/s, burst 100

    oversized = await limiter.acquire(250)
    small = await limiter.acquire(50)
    oversized_again = await limiter.acquire(250)

    assert oversized.waited_seconds == 0
    # 150 tokens of debt plus 50 for itself at 100 tokens/s.
    assert small.waited_seconds == pytest.approx(2.0, abs=0.03)
    # It waits for a full bucket: every earlier token paid off plus one burst.
    assert oversized_again.waited_seconds == pytest.approx(3.0, abs=0.03)


async def test_max_wait_raises_at_once_without_booking_anything(
    make_limiter: LimiterFactory,
) -> None:
    sleep = RecordedSleep()
    limiter = make_limiter(requests_per_minute=60, sleep=sleep)  # one per second
    await limiter.acquire()

    with pytest.raises(RateLimitTimeout) as raised:
        await limiter.acquire(max_wait=0.5)

    assert raised.value.retry_after_seconds == pytest.approx(1.0, abs=0.03)
    assert "longer than max_wait=0.5 s" in str(raised.value)
    assert sleep.waits == []
    # The refused request left the schedule alone: the next slot is still 1 s away, not 2.
    reservation = await limiter.acquire(max_wait=1.5)
    assert reservation.waited_seconds == pytest.approx(1.0, abs=0.03)


async def test_a_caller_cancelled_while_waiting_gives_its_slot_back(
    make_limiter: LimiterFactory,
) -> None:
    limiter = make_limiter(requests_per_minute=60)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)

    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    sleep = RecordedSleep()
    after = make_limiter(limiter.name, requests_per_minute=60, sleep=sleep)
    reservation = await after.acquire()
    assert reservation.waited_seconds == pytest.approx(0.95, abs=0.05)


async def test_an_unlimited_limiter_neither_waits_nor_touches_redis(
    make_limiter: LimiterFactory, redis: Redis
) -> None:
    limiter = make_limiter(requests_per_minute=0, tokens_per_minute=None)

    reservations = [await limiter.acquire(10_000) for _ in range(100)]
    await limiter.settle(reservations[0], used_tokens=50_000)

    assert all(r.waited_seconds == 0 for r in reservations)
    assert await redis.exists(f"{DEFAULT_KEY_PREFIX}{limiter.name}") == 0


async def test_its_key_expires_once_the_buckets_are_full_again(
    make_limiter: LimiterFactory, redis: Redis
) -> None:
    sleep = RecordedSleep()
    limiter = make_limiter(requests_per_minute=60, tokens_per_minute=600, sleep=sleep)
    await limiter.acquire(50)  # the tokens bucket is full again in 5 s

    ttl_ms = await redis.pttl(f"{DEFAULT_KEY_PREFIX}{limiter.name}")

    assert 5_000 < ttl_ms <= 6_000


# A worker process: it says "ready", waits for "go" on stdin, acquires in a loop and prints
# the wall-clock time of each acquisition as JSON.
_WORKER_PROCESS = """
import asyncio, json, sys, time
from redis.asyncio import Redis
from server.llm.ratelimit import RateLimiter

async def main() -> None:
    url, name, per_minute, burst, count = sys.argv[1:6]
    redis = Redis.from_url(url)
    limiter = RateLimiter(redis, name, requests_per_minute=int(per_minute),
                          tokens_per_minute=None, burst_seconds=float(burst))
    await redis.ping()
    print("ready", flush=True)
    sys.stdin.readline()
    times = []
    for _ in range(int(count)):
        await limiter.acquire()
        times.append(time.time())
    print(json.dumps(times), flush=True)
    await redis.aclose()

asyncio.run(main())
"""


async def test_the_limit_holds_across_two_processes(make_limiter: LimiterFactory) -> None:
    per_minute, burst_seconds, each = 1200, 0.25, 25
    per_second = per_minute / 60
    burst = per_second * burst_seconds  # 5 requests
    name = make_limiter().name  # registers the key for clean-up
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _WORKER_PROCESS,
            TEST_REDIS_URL,
            name,
            str(per_minute),
            str(burst_seconds),
            str(each),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert await asyncio.wait_for(worker.stdout.readline(), timeout=10) == b"ready\n"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    outputs = [await asyncio.wait_for(worker.communicate(), timeout=10) for worker in workers]
    per_worker: list[list[float]] = [json.loads(stdout) for stdout, _ in outputs]

    times = sorted(per_worker[0] + per_worker[1])
    span = times[-1] - times[0]
    achieved = (len(times) - burst) / span
    print(
        f"configured {per_second:.1f} requests/s (burst {burst:.0f}); two processes achieved "
        f"{achieved:.2f} requests/s over {span:.2f} s"
    )
    # Both processes were served throughout, not one after the other.
    assert max(map(min, per_worker)) < min(map(max, per_worker))
    assert per_second * 0.85 <= achieved <= per_second * 1.02
    # One request's worth of slack for wake-up jitter between the processes.
    assert worst_excess(times, [1] * len(times), per_second, burst) <= 1
