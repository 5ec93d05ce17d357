"""The task broker's batches against the real Redis: tasks kicked in a batch reach the stream
when it ends, in order, as the messages a worker reads; none when it fails."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.conftest import TEST_REDIS_URL
from workers.broker import ReclaimingStreamBroker, build_broker
from workers.queue import TaskiqQueue


@pytest.fixture
async def broker(redis: Redis) -> AsyncIterator[ReclaimingStreamBroker]:
    broker = build_broker(TEST_REDIS_URL, f"coderai:test-broker:{uuid.uuid4().hex[:10]}")
    await broker.startup()
    yield broker
    await broker.shutdown()
    await redis.delete(broker.queue_name)


async def stream_args(redis: Redis, stream: str) -> list[list[str]]:
    entries: Any = await redis.xrange(stream)
    return [json.loads(fields[b"data"])["args"] for _, fields in entries]


async def test_the_tasks_that_wake_workers_for_a_job_are_sent_together(
    broker: ReclaimingStreamBroker, redis: Redis
) -> None:
    user_id, job_id = uuid.uuid4(), uuid.uuid4()

    await TaskiqQueue(broker).wake_workers(user_id, job_id, 1_203)

    assert await stream_args(redis, broker.queue_name) == [[str(user_id), str(job_id)]] * 1_203


async def test_a_batch_that_fails_sends_nothing_and_kicks_outside_go_at_once(
    broker: ReclaimingStreamBroker, redis: Redis
) -> None:
    from workers.tasks import ping

    kicker = ping.kicker().with_broker(broker)

    async def failing_batch() -> None:
        async with broker.batched():
            await kicker.kiq("lost")
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        await failing_batch()
    await kicker.kiq("alone")
    async with broker.batched():
        await kicker.kiq("batched")
        assert await stream_args(redis, broker.queue_name) == [["alone"]]

    assert await stream_args(redis, broker.queue_name) == [["alone"], ["batched"]]
