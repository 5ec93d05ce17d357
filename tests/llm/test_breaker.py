"""The circuit breaker against the real Redis (FR-025, NFR-011): it opens after 5 consecutive
failures, fails fast while open, half-opens after the recovery time, closes after 3 successes,
and all of it is shared by separate processes."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.llm.breaker import (
    DEFAULT_KEY_PREFIX,
    BreakerState,
    BreakerStatus,
    CircuitBreaker,
    CircuitOpenError,
)
from tests.conftest import TEST_REDIS_URL

REPO_ROOT = Path(__file__).resolve().parents[2]
RECOVERY = 0.3  # seconds; short so that tests wait little

BreakerFactory = Callable[..., CircuitBreaker]


@pytest.fixture
async def make_breaker(redis: Redis) -> AsyncIterator[BreakerFactory]:
    """Builds breakers with unique names (a fast recovery unless told otherwise) and deletes
    their keys afterwards."""
    names: list[str] = []

    def make(name: str | None = None, **options: Any) -> CircuitBreaker:
        name = name or f"test-{uuid.uuid4().hex}"
        names.append(name)
        options.setdefault("recovery_seconds", RECOVERY)
        return CircuitBreaker(redis, name, **options)

    yield make
    if names:
        await redis.delete(*(f"{DEFAULT_KEY_PREFIX}{name}" for name in names))


class FakeProvider:
    """Stands in for an LLM endpoint: counts the requests that reach it."""

    def __init__(self) -> None:
        self.healthy = True
        self.requests = 0

    async def complete(self) -> str:
        self.requests += 1
        if not self.healthy:
            raise ConnectionError("provider unavailable")
        return "ok"


async def call_through(breaker: CircuitBreaker, provider: FakeProvider) -> str:
    """How the gateway uses a breaker around one model call."""
    generation = await breaker.before_call()
    try:
        answer = await provider.complete()
    except ConnectionError:
        await breaker.record_failure(generation)
        raise
    await breaker.record_success(generation)
    return answer


async def fail_times(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        await breaker.record_failure()


async def wait_for_recovery(breaker: CircuitBreaker) -> None:
    status = await breaker.status()
    await asyncio.sleep(status.retry_after_seconds + 0.05)


async def test_four_failures_keep_it_closed_and_the_fifth_opens(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker()
    await fail_times(breaker, 4)
    status = await breaker.status()
    assert status.state is BreakerState.CLOSED
    assert status.consecutive_failures == 4

    await breaker.record_failure()

    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert status.consecutive_failures == 5
    assert 0 < status.retry_after_seconds <= RECOVERY


async def test_a_success_resets_the_consecutive_failure_count(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker()
    await fail_times(breaker, 4)
    await breaker.record_success()
    await fail_times(breaker, 4)

    status = await breaker.status()
    assert status.state is BreakerState.CLOSED
    assert status.consecutive_failures == 4


async def test_an_open_breaker_fails_fast_without_calling_the_provider(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker(recovery_seconds=30.0)
    provider = FakeProvider()
    provider.healthy = False
    for _ in range(5):
        with pytest.raises(ConnectionError):
            await call_through(breaker, provider)
    assert provider.requests == 5

    started = time.perf_counter()
    with pytest.raises(CircuitOpenError) as raised:
        await call_through(breaker, provider)
    elapsed = time.perf_counter() - started

    assert provider.requests == 5
    assert elapsed < 0.05
    assert raised.value.name == breaker.name
    assert 29.0 < raised.value.retry_after_seconds <= 30.0
    assert "is failing" in str(raised.value)
    assert "tried again in 30.0 s" in str(raised.value)


async def test_after_the_recovery_time_it_is_half_open_and_three_successes_close_it(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker()
    provider = FakeProvider()
    await fail_times(breaker, 5)
    await wait_for_recovery(breaker)

    # status() reports the half-open state without writing it; before_call makes it so.
    assert (await breaker.status()).state is BreakerState.HALF_OPEN
    await call_through(breaker, provider)
    await call_through(breaker, provider)
    assert await breaker.status() == BreakerStatus(
        state=BreakerState.HALF_OPEN,
        consecutive_failures=0,
        consecutive_successes=2,
        retry_after_seconds=0.0,
        generation=1,
    )

    await call_through(breaker, provider)

    assert await breaker.status() == BreakerStatus(
        state=BreakerState.CLOSED,
        consecutive_failures=0,
        consecutive_successes=0,
        retry_after_seconds=0.0,
        generation=1,
    )


async def test_a_failure_in_half_open_reopens_it_for_another_recovery_period(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker()
    provider = FakeProvider()
    await fail_times(breaker, 5)
    await wait_for_recovery(breaker)
    await call_through(breaker, provider)
    await call_through(breaker, provider)

    provider.healthy = False
    with pytest.raises(ConnectionError):
        await call_through(breaker, provider)

    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert status.generation == 2
    assert RECOVERY - 0.05 < status.retry_after_seconds <= RECOVERY
    with pytest.raises(CircuitOpenError):
        await breaker.before_call()


async def test_late_results_while_open_neither_close_it_nor_extend_the_wait(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker(recovery_seconds=5.0)
    await fail_times(breaker, 5)
    opened = await breaker.status()

    # Calls that started before it opened finish now, without a generation.
    for _ in range(5):
        await breaker.record_success()
    await breaker.record_failure()

    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert status.consecutive_successes == 0
    assert status.generation == opened.generation
    assert status.retry_after_seconds <= opened.retry_after_seconds


async def test_results_of_calls_started_before_it_opened_do_not_count_once_half_open(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker()
    slow_calls = [await breaker.before_call() for _ in range(3)]
    await fail_times(breaker, 5)
    await wait_for_recovery(breaker)
    await breaker.before_call()

    for generation in slow_calls:
        await breaker.record_success(generation)
    await breaker.record_failure(slow_calls[0])

    status = await breaker.status()
    assert status.state is BreakerState.HALF_OPEN
    assert status.consecutive_successes == 0


async def test_thresholds_and_recovery_time_are_configurable(
    make_breaker: BreakerFactory,
) -> None:
    breaker = make_breaker(failure_threshold=2, success_threshold=1, recovery_seconds=0.2)
    await fail_times(breaker, 2)
    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert status.retry_after_seconds <= 0.2

    await wait_for_recovery(breaker)
    await breaker.before_call()
    await breaker.record_success()

    assert (await breaker.status()).state is BreakerState.CLOSED


async def test_concurrent_failures_open_it_once(make_breaker: BreakerFactory) -> None:
    breaker = make_breaker(recovery_seconds=5.0)
    await asyncio.gather(*(breaker.record_failure() for _ in range(50)))

    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert status.generation == 1  # the 45 failures after it opened were late results


async def test_its_key_expires_when_unused_but_not_before_an_open_breaker_half_opens(
    make_breaker: BreakerFactory, redis: Redis
) -> None:
    breaker = make_breaker(recovery_seconds=30.0, idle_ttl_seconds=1.0)
    await fail_times(breaker, 5)

    ttl_ms = await redis.pttl(f"{DEFAULT_KEY_PREFIX}{breaker.name}")

    assert 30_000 < ttl_ms <= 31_000


async def test_reset_closes_it(make_breaker: BreakerFactory) -> None:
    breaker = make_breaker(recovery_seconds=30.0)
    await fail_times(breaker, 5)

    await breaker.reset()

    status = await breaker.status()
    assert status.state is BreakerState.CLOSED
    assert status.consecutive_failures == 0
    await breaker.before_call()


async def test_transitions_are_logged_once_with_a_warning_on_open(
    make_breaker: BreakerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = make_breaker(success_threshold=1)
    with caplog.at_level(logging.INFO, logger="coderai.llm.breaker"):
        await fail_times(breaker, 6)
        await wait_for_recovery(breaker)
        await breaker.before_call()
        await breaker.before_call()
        await breaker.record_success()

    transitions = [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if breaker.name in record.getMessage()
    ]
    assert [level for level, _ in transitions] == [logging.WARNING, logging.INFO, logging.INFO]
    assert "opened after 5 consecutive failures" in transitions[0][1]
    assert "half-open" in transitions[1][1]
    assert "closed" in transitions[2][1]


# A second process sharing the breaker: it reads commands on stdin and answers each with the
# breaker's status as JSON.
_OTHER_PROCESS = """
import asyncio, json, sys
from redis.asyncio import Redis
from server.llm.breaker import CircuitBreaker

async def main() -> None:
    redis = Redis.from_url(sys.argv[1])
    breaker = CircuitBreaker(redis, sys.argv[2], recovery_seconds=float(sys.argv[3]))
    for line in sys.stdin:
        if line.strip() == "fail":
            await breaker.record_failure(await breaker.before_call())
        elif line.strip() == "succeed":
            await breaker.record_success(await breaker.before_call())
        status = await breaker.status()
        print(json.dumps({"state": status.state.value,
                          "successes": status.consecutive_successes}), flush=True)
    await redis.aclose()

asyncio.run(main())
"""


class OtherProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, name: str, recovery_seconds: float) -> OtherProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OTHER_PROCESS,
            TEST_REDIS_URL,
            name,
            str(recovery_seconds),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        return cls(process)

    async def send(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout=10)
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert await asyncio.wait_for(self.process.wait(), timeout=10) == 0


async def test_the_breaker_is_shared_by_separate_processes(make_breaker: BreakerFactory) -> None:
    recovery = 0.5
    breaker = make_breaker(recovery_seconds=recovery)
    other = await OtherProcess.start(breaker.name, recovery)
    try:
        replies = [await other.send("fail") for _ in range(5)]
        assert [reply["state"] for reply in replies] == ["closed"] * 4 + ["open"]

        # This process sees it open and fails fast.
        assert (await breaker.status()).state is BreakerState.OPEN
        with pytest.raises(CircuitOpenError):
            await breaker.before_call()

        # After recovery, successes from both processes together close it.
        await wait_for_recovery(breaker)
        await breaker.record_success(await breaker.before_call())
        assert await other.send("succeed") == {"state": "half_open", "successes": 2}
        await breaker.record_success(await breaker.before_call())

        assert (await breaker.status()).state is BreakerState.CLOSED
        assert (await other.send("status"))["state"] == "closed"
    finally:
        await other.stop()
