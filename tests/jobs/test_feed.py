"""The event feed's fan-out on the real Redis: a watcher that joins while the shared reader is
being started still gets every event after the point it asked for."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from server.core.embedded import start_embedded_redis, stop_embedded
from server.core.infrastructure import connect_redis
from server.jobs.events import EventType, JobEvent, JobEvents, stream_key
from server.jobs.feed import EventFeed
from server.jobs.models import JobStatus, JobType, ProcessingJob
from tests.conftest import TEST_REDIS_URL


class SlowStart(JobEvents):
    """Redis answers the newest id late, as it does under load (150 watchers sharing a pool):
    the window in which a second watcher can join before the reader knows where to start."""

    async def last_id(self, key: str) -> str:
        await asyncio.sleep(0.3)
        return await super().last_id(key)


def a_job() -> ProcessingJob:
    return ProcessingJob(
        id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        job_type=JobType.FULL,
        status=JobStatus.RUNNING,
        documents_total=1,
        documents_processed=0,
        documents_failed=0,
        consecutive_failures=0,
        progress=0.0,
        input_tokens=0,
        output_tokens=0,
        cost_usd=Decimal(0),
        document_ids=[],
    )


async def nothing_to_wait_for(events: list[JobEvent]) -> None:
    """These tests' events are appended outside any transaction."""


async def collect(feed: EventFeed, key: str, after: str, count: int, into: list[JobEvent]) -> None:
    batches: AsyncIterator[list[JobEvent]] = feed.follow(
        key, after, quiet_seconds=0.1, settled=nothing_to_wait_for
    )
    async for batch in batches:
        into.extend(batch)
        if len(into) >= count:
            return


async def test_a_watcher_joining_while_the_reader_starts_misses_nothing(redis: Redis) -> None:
    events = SlowStart(redis, max_length=1000, ttl_seconds=60)
    feed = EventFeed(events)
    job = a_job()
    key = stream_key(job.id)
    start = await events.publish(job, EventType.PROGRESS)
    first: list[JobEvent] = []
    second: list[JobEvent] = []

    watching = asyncio.gather(
        collect(feed, key, start, 2, first), collect(feed, key, start, 2, second)
    )
    # While the first watch is still finding out where the stream ends.
    await asyncio.sleep(0.1)
    published = [await events.publish(job, EventType.DOCUMENT_COMPLETED)]
    await asyncio.sleep(0.5)
    published.append(await events.publish(job, EventType.JOB_COMPLETED))
    await asyncio.wait_for(watching, 10)

    assert [event.id for event in first] == published
    assert [event.id for event in second] == published


@pytest.fixture(params=["tcp", "embedded"])
async def connected(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Redis]:
    """The product's Redis client on the test Redis and on an embedded one (a unix socket)."""
    if request.param == "tcp":
        url, data_dir = TEST_REDIS_URL, None
    else:
        data_dir = tmp_path_factory.mktemp("embedded-redis")
        url = await asyncio.to_thread(start_embedded_redis, data_dir)
    client = connect_redis(url)
    yield client
    await client.aclose()
    if data_dir is not None:
        await asyncio.to_thread(stop_embedded, data_dir)


@pytest.mark.timeout(60)
async def test_a_quiet_watch_waits_without_timeouts_or_errors(
    connected: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Longer than a blocking read (5 s) with no event: the reader waits again, quietly, and
    the next event still arrives."""
    events = JobEvents(connected, max_length=1000, ttl_seconds=60)
    feed = EventFeed(events)
    job = a_job()
    key = stream_key(job.id)
    start = await events.publish(job, EventType.PROGRESS)
    received: list[JobEvent] = []

    with caplog.at_level(logging.WARNING, logger="server.jobs.feed"):
        watching = asyncio.create_task(collect(feed, key, start, 1, received))
        await asyncio.sleep(7)
        published = await events.publish(job, EventType.JOB_COMPLETED)
        await asyncio.wait_for(watching, 10)

    assert [event.id for event in received] == [published]
    assert [record.getMessage() for record in caplog.records] == []
