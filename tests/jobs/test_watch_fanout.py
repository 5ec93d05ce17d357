"""Fan-out of a job's events inside one server process: the watchers of a stream, native and
through the grpc-web gateway, share one reader of it, and each event's message is built once
for all of them; a watcher that falls behind catches up from the stream itself, holding up no
one, and the reader stops with its last watcher."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import grpc
import pytest
from coderai.v1 import job_pb2
from redis.asyncio import Redis

from gateway.grpcweb import Mode
from gateway.proxy import RunningGateway
from server.jobs import rpc
from server.jobs.events import EventType, JobEvent, JobEvents, stream_key
from server.jobs.feed import EventFeed
from tests.factories import Caller
from tests.gateway.client import local_gateway, read_frames
from tests.jobs.conftest import Stack
from tests.jobs.test_feed import a_job, nothing_to_wait_for
from tests.jobs.test_watch import id_order, stream_ids
from tests.jobs.test_watch_grpcweb import event, paused_job, status, watch

NATIVE_WATCHERS = 40
GATEWAY_WATCHERS = 10


@dataclass
class StreamReads:
    """The reads of one stream, seen on the real JobEvents: blocking reads (a shared reader's)
    in flight now and at most at once, and catch-ups done (one per watcher that joins)."""

    key: str
    in_flight: int = 0
    most_in_flight: int = 0
    catch_ups: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, in_flight: int = 0, catch_ups: int = 0) -> None:
        self.in_flight += in_flight
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.catch_ups += catch_ups
        self.changed.set()

    async def until(self, condition: Callable[[StreamReads], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition(self):
                self.changed.clear()
                await self.changed.wait()


def observe_reads(monkeypatch: pytest.MonkeyPatch, key: str) -> StreamReads:
    reads = StreamReads(key)
    read_after, range_after = JobEvents.read_after, JobEvents.range_after

    async def blocking_read(
        self: JobEvents, stream: str, after: str, block_ms: int, count: int = 100
    ) -> list[JobEvent]:
        if stream != key:
            return await read_after(self, stream, after, block_ms, count)
        reads.count(in_flight=1)
        try:
            return await read_after(self, stream, after, block_ms, count)
        finally:
            reads.count(in_flight=-1)

    async def catch_up(
        self: JobEvents, stream: str, after: str, count: int = 1000
    ) -> list[JobEvent]:
        found = await range_after(self, stream, after, count)
        if stream == key:
            reads.count(catch_ups=1)
        return found

    monkeypatch.setattr(JobEvents, "read_after", blocking_read)
    monkeypatch.setattr(JobEvents, "range_after", catch_up)
    return reads


def count_builds(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the server built a response message for each event id (snapshots apart)."""
    built: Counter[str] = Counter()
    build = rpc.event_fields

    def counted(event: JobEvent) -> dict[str, Any]:
        if event.type is not EventType.SNAPSHOT:
            built[event.id] += 1
        return build(event)

    monkeypatch.setattr(rpc, "event_fields", counted)
    return built


@dataclass
class Watch:
    """One subscriber's watch: its snapshot, then the rest of its messages."""

    snapshot: job_pb2.WatchJobResponse
    rest: AsyncIterator[job_pb2.WatchJobResponse]

    async def to_the_end(self) -> list[job_pb2.WatchJobResponse]:
        return [message async for message in self.rest]


async def native_watch(caller: Caller, job_id: str) -> Watch:
    call = caller.jobs.WatchJob(job_pb2.WatchJobRequest(job_id=job_id), metadata=caller.metadata)
    messages = aiter(call)
    return Watch(await anext(messages), messages)


async def gateway_watch(
    opened: contextlib.AsyncExitStack,
    http: aiohttp.ClientSession,
    gateway: RunningGateway,
    caller: Caller,
    job_id: str,
) -> Watch:
    response = await opened.enter_async_context(watch(http, gateway, caller, job_id))
    frames = read_frames(response, Mode.BINARY)

    async def rest() -> AsyncIterator[job_pb2.WatchJobResponse]:
        async for frame in frames:
            if frame.is_trailers:
                assert status(frame) == grpc.StatusCode.OK
                return
            yield event(frame)

    return Watch(event(await anext(frames)), rest())


@pytest.fixture
async def stack_gateway(stack: Stack) -> AsyncIterator[RunningGateway]:
    running = await local_gateway(stack.target)
    yield running
    await running.stop()


async def test_the_watchers_of_a_job_share_one_reader_and_one_message_per_event(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_gateway: RunningGateway,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = await paused_job(researcher, stack, documents=3)
    reads = observe_reads(monkeypatch, stream_key(uuid.UUID(job_id)))
    built = count_builds(monkeypatch)

    async with aiohttp.ClientSession() as http, contextlib.AsyncExitStack() as opened:
        watches = await asyncio.gather(
            *(native_watch(researcher, job_id) for _ in range(NATIVE_WATCHERS)),
            *(
                gateway_watch(opened, http, stack_gateway, researcher, job_id)
                for _ in range(GATEWAY_WATCHERS)
            ),
        )
        # Every watcher has joined and read what it missed: from here on only the shared
        # reader brings events.
        await reads.until(lambda r: r.catch_ups >= len(watches))
        newest = await stream_ids(redis, job_id)
        await researcher.jobs.ResumeJob(
            job_pb2.ResumeJobRequest(job_id=job_id), metadata=researcher.metadata
        )
        received = await asyncio.gather(*(w.to_the_end() for w in watches))

    for each, messages in zip(watches, received, strict=True):
        # Exactly what the stream holds after the watcher's snapshot, in order, once each.
        assert [m.event_id for m in messages] == await stream_ids(
            redis, job_id, after=each.snapshot.event_id
        )
        assert messages[-1].event_type == "job_completed"
    resumed = [
        [m for m in messages if id_order(m.event_id) > id_order(newest[-1])]
        for messages in received
    ]
    assert "resumed" in [m.event_type for m in resumed[0]]
    assert all(messages == resumed[0] for messages in resumed)
    # Each built once for every watcher; one blocking read of the stream at a time.
    assert {built[m.event_id] for m in resumed[0]} == {1}
    assert reads.most_in_flight == 1
    # The reader stops with its last watcher.
    await reads.until(lambda r: r.in_flight == 0)


async def test_a_watcher_that_falls_behind_catches_up_from_the_stream_and_holds_up_no_one(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = JobEvents(redis, max_length=1000, ttl_seconds=60)
    feed = EventFeed(events, queue_size=5)
    job = a_job()
    key = stream_key(job.id)
    reads = observe_reads(monkeypatch, key)
    start = await events.publish(job, EventType.PROGRESS)
    slow, fast = (
        cast(
            AsyncGenerator[list[JobEvent], None],
            feed.follow(key, start, quiet_seconds=0.1, settled=nothing_to_wait_for),
        )
        for _ in range(2)
    )
    # The slow watcher joins, then reads nothing while twenty events come, four times what its
    # queue holds; the fast one joins after the first and reads each as it comes.
    assert await anext(slow) == []
    published: list[str] = []
    fast_got: list[str] = []
    for _ in range(20):
        published.append(await events.publish(job, EventType.DOCUMENT_COMPLETED))
        while fast_got != published:
            fast_got += [e.id for e in await asyncio.wait_for(anext(fast), 5)]
    slow_got: list[str] = []
    while len(slow_got) < len(published):
        slow_got += [e.id for e in await asyncio.wait_for(anext(slow), 5)]

    assert fast_got == published
    assert slow_got == published
    assert reads.most_in_flight == 1
    await slow.aclose()
    await fast.aclose()
    await reads.until(lambda r: r.in_flight == 0)
