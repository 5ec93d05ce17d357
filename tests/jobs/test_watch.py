"""SC-007 over native gRPC: WatchJob streams a snapshot, then the job's events in order, each
with an id; a client that reconnects with the last id it saw gets the rest; only the job's
owner, with a valid token, may watch."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import grpc
from coderai.v1 import common_pb2, job_pb2
from google.type import money_pb2
from redis.asyncio import Redis

from server.core.db import Database
from server.core.security import issue_access_token
from server.jobs import flows
from server.jobs.events import EventType, JobEvent, JobEvents, project_stream_key, stream_key
from server.jobs.feed import EventFeed
from server.jobs.models import JobStatus
from server.jobs.service import JobService
from server.llm.local_server import Fault
from tests.factories import Caller, rpc_error, signed_in
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports


async def stream_ids(redis: Redis, job_id: str, after: str | None = None) -> list[str]:
    """The ids of the events stored in the job's stream (after `after`)."""
    entries: list[tuple[bytes, object]] = await redis.xrange(  # type: ignore[assignment]
        stream_key(uuid.UUID(job_id)), min=f"({after}" if after else "-"
    )
    return [raw.decode() for raw, _ in entries]


def id_order(event_id: str) -> tuple[int, int]:
    milliseconds, sequence = event_id.split("-")
    return int(milliseconds), int(sequence)


async def watch(
    caller: Caller,
    job_id: str,
    last_event_id: str = "",
    metadata: list[tuple[str, str]] | None = None,
) -> list[job_pb2.WatchJobResponse]:
    stream = caller.jobs.WatchJob(
        job_pb2.WatchJobRequest(job_id=job_id, last_event_id=last_event_id),
        metadata=metadata if metadata is not None else caller.metadata,
    )
    return [event async for event in stream]


async def running_job(caller: Caller, stack: Stack, documents: int) -> str:
    project = await project_with_schema(caller, VARIABLES[:1])
    ids = await ready_documents(caller, project.id, reports(documents))
    stack.llm.set_default(Fault.parse("latency=0.2"))
    created = await caller.create_job(project.id, document_ids=ids)
    return created.job.id


async def test_a_watch_gets_a_snapshot_then_every_event_in_order_until_the_job_ends(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    job_id = await running_job(researcher, stack, documents=4)

    events = await watch(researcher, job_id)

    assert events[0].event_type == "snapshot"
    assert events[-1].event_type == "job_completed"
    assert events[-1].job.documents_processed == 4
    kinds = [event.event_type for event in events[1:]]
    assert kinds.count("document_completed") == 4
    assert kinds.count("progress") == 4
    ids = [event.event_id for event in events[1:]]
    assert ids == sorted(ids, key=id_order)
    assert len(set(ids)) == len(ids)
    progress = [event.job.progress_percent for event in events if event.event_type == "progress"]
    assert progress == sorted(progress)
    # Nothing in the job's stream after the snapshot was missed.
    assert await stream_ids(redis, job_id, after=events[0].event_id) == ids


async def test_each_event_carries_the_job_as_get_job_shows_it_but_its_document_ids(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    """An event's job once lacked what the worker's copy did not hold: the model, the
    budgets, the cached tokens and the times read as empty or zero while the job ran."""
    project = await project_with_schema(researcher, VARIABLES[:1])
    ids = await ready_documents(researcher, project.id, reports(2))
    created = await researcher.create_job(
        project.id,
        document_ids=ids,
        token_budget=1_000_000,
        cost_budget=money_pb2.Money(currency_code="USD", units=12, nanos=500_000_000),
    )

    events = await watch(researcher, created.job.id)

    assert [event.type for event in events[:1]] == [job_pb2.JOB_EVENT_TYPE_SNAPSHOT]
    assert events[-1].type == job_pb2.JOB_EVENT_TYPE_JOB_COMPLETED
    assert all(
        event.event_type == job_pb2.JobEventType.Name(event.type).lower()[len("job_event_type_") :]
        for event in events
    )
    final = await researcher.get_job(created.job.id)
    last = events[-1].job
    assert list(final.document_ids) == ids
    assert not last.document_ids
    final.ClearField("document_ids")
    assert last == final
    assert last.llm_model
    assert last.start_time.seconds
    assert last.token_budget == 1_000_000
    assert (last.cost_budget.units, last.cost_budget.nanos) == (12, 500_000_000)
    assert last.cost_budget_usd == 12.5
    for event in events[1:-1]:
        assert event.job.llm_model == final.llm_model
        assert event.job.create_time == final.create_time
        assert event.job.cost_budget == final.cost_budget


async def test_reconnecting_with_the_last_event_id_replays_the_gap(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    job_id = await running_job(researcher, stack, documents=4)
    seen: list[job_pb2.WatchJobResponse] = []
    stream = researcher.jobs.WatchJob(
        job_pb2.WatchJobRequest(job_id=job_id), metadata=researcher.metadata
    )
    async for event in stream:
        seen.append(event)
        if len(seen) == 3:
            break
    stream.cancel()  # the client goes away
    await researcher.job_ended(job_id)

    rest = await watch(researcher, job_id, last_event_id=seen[-1].event_id)

    assert rest[0].event_type == "snapshot"
    assert not rest[0].events_lost
    after = await stream_ids(redis, job_id, after=seen[-1].event_id)
    assert [event.event_id for event in rest[1:]] == after
    assert rest[-1].event_type == "job_completed"


async def test_a_watch_of_a_finished_job_sends_its_snapshot_and_ends_at_once(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    job_id = await running_job(researcher, stack, documents=1)
    await researcher.job_ended(job_id)

    started = asyncio.get_running_loop().time()
    events = await watch(researcher, job_id)
    seconds = asyncio.get_running_loop().time() - started

    assert [event.event_type for event in events] == ["snapshot"]
    assert events[0].job.status == common_pb2.JOB_STATUS_COMPLETED
    assert seconds < 1.0, f"the stream stayed open {seconds:.1f} s"


async def test_reconnecting_after_events_past_retention_says_they_are_lost(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    job_id = await running_job(researcher, stack, documents=3)
    await researcher.job_ended(job_id)
    first, *_, newest = await stream_ids(redis, job_id)
    # Retention drops the oldest events (the stream's length cap), then the whole stream (its
    # age limit).
    await redis.xtrim(stream_key(uuid.UUID(job_id)), maxlen=2, approximate=False)
    kept = await stream_ids(redis, job_id)

    trimmed = await watch(researcher, job_id, last_event_id=first)
    current = await watch(researcher, job_id, last_event_id=newest)
    await redis.delete(stream_key(uuid.UUID(job_id)))
    expired = await watch(researcher, job_id, last_event_id=newest)

    # The snapshot says so, shows the job as it is, and what is still kept follows.
    assert (trimmed[0].event_type, trimmed[0].events_lost) == ("snapshot", True)
    assert "no longer kept" in trimmed[0].message
    assert trimmed[0].job.status == common_pb2.JOB_STATUS_COMPLETED
    assert [event.event_id for event in trimmed[1:]] == kept == [*kept[:-1], newest]
    assert not current[0].events_lost
    assert [event.event_type for event in current] == ["snapshot"]
    assert expired[0].events_lost


async def test_only_the_owner_with_a_valid_token_may_watch(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_channel: grpc.aio.Channel,
) -> None:
    job_id = await running_job(researcher, stack, documents=1)
    intruder = await signed_in(stack_channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")
    expired_settings = stack.settings.model_copy(update={"access_token_ttl_seconds": -60})
    expired = issue_access_token(expired_settings, uuid.UUID(researcher.user_id)).token

    other_tenant = await rpc_error(watch(intruder, job_id))
    no_token = await rpc_error(watch(researcher, job_id, metadata=[]))
    bad_token = await rpc_error(
        watch(researcher, job_id, metadata=[("authorization", "Bearer not-a-token")])
    )
    expired_token = await rpc_error(
        watch(researcher, job_id, metadata=[("authorization", f"Bearer {expired}")])
    )
    bad_id = await rpc_error(watch(researcher, job_id, last_event_id="yesterday"))

    assert other_tenant.code() == grpc.StatusCode.NOT_FOUND
    assert no_token.code() == grpc.StatusCode.UNAUTHENTICATED
    assert bad_token.code() == grpc.StatusCode.UNAUTHENTICATED
    assert expired_token.code() == grpc.StatusCode.UNAUTHENTICATED
    assert bad_id.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_the_stream_ends_when_the_token_expires(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    ids = await ready_documents(researcher, project.id, reports(3))
    created = await researcher.create_job(project.id, document_ids=ids)
    # A paused job does not end by itself: only the token can end the stream.
    await researcher.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )
    short = stack.settings.model_copy(update={"access_token_ttl_seconds": 2})
    token = issue_access_token(short, uuid.UUID(researcher.user_id)).token

    started = asyncio.get_running_loop().time()
    error = await rpc_error(
        watch(researcher, created.job.id, metadata=[("authorization", f"Bearer {token}")])
    )
    waited = asyncio.get_running_loop().time() - started

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (error.details() or "")
    assert 1.0 < waited < 10


async def test_a_project_watch_follows_every_job_of_the_project(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    ids = await ready_documents(researcher, project.id, reports(2))
    stream = researcher.jobs.WatchProject(
        job_pb2.WatchProjectRequest(project_id=project.id), metadata=researcher.metadata
    )
    snapshot = await anext(aiter(stream))

    first = await researcher.create_job(project.id, document_ids=ids[:1])
    await researcher.job_ended(first.job.id)
    second = await researcher.create_job(project.id, document_ids=ids[1:])
    events: list[job_pb2.WatchProjectResponse] = []
    async for event in stream:
        events.append(event)
        if event.event_type == "job_completed" and event.job.id == second.job.id:
            break
    stream.cancel()

    assert snapshot.event_type == "snapshot"
    assert not snapshot.HasField("job")  # no active job yet
    completed = [e.job.id for e in events if e.event_type == "job_completed"]
    assert completed == [first.job.id, second.job.id]
    documents = [e.document_id for e in events if e.event_type == "document_completed"]
    assert documents == ids
    event_ids = [e.event_id for e in events]
    assert event_ids == sorted(event_ids, key=id_order)


async def test_another_researchers_project_cannot_be_watched(
    researcher: Caller, stack_channel: grpc.aio.Channel
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    intruder = await signed_in(stack_channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")

    async def watch_project() -> list[job_pb2.WatchProjectResponse]:
        stream = intruder.jobs.WatchProject(
            job_pb2.WatchProjectRequest(project_id=project.id), metadata=intruder.metadata
        )
        return [event async for event in stream]

    assert (await rpc_error(watch_project())).code() == grpc.StatusCode.NOT_FOUND


async def test_many_watchers_share_one_reader_and_all_get_every_event(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    """More watchers than a Redis connection pool holds (100 by default): one reader per
    stream in the server, so every watcher gets everything and the job can still be
    controlled."""
    project = await project_with_schema(researcher, VARIABLES[:1])
    ids = await ready_documents(researcher, project.id, reports(3))
    created = await researcher.create_job(project.id, document_ids=ids)
    await researcher.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )
    streams = [
        researcher.jobs.WatchJob(
            job_pb2.WatchJobRequest(job_id=created.job.id), metadata=researcher.metadata
        )
        for _ in range(150)
    ]
    snapshots = await asyncio.gather(*(anext(aiter(stream)) for stream in streams))

    await researcher.jobs.ResumeJob(
        job_pb2.ResumeJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )

    async def rest(stream: object) -> list[tuple[str, str]]:
        return [(e.event_id, e.event_type) async for e in stream]  # type: ignore[attr-defined]

    received = await asyncio.gather(*(rest(stream) for stream in streams))
    assert all(snapshot.event_type == "snapshot" for snapshot in snapshots)
    for snapshot, events in zip(snapshots, received, strict=True):
        # Exactly what the job's stream holds after the watcher's snapshot, in order (a
        # document in flight when the job was paused may have finished before that).
        assert [event_id for event_id, _ in events] == await stream_ids(
            redis, created.job.id, after=snapshot.event_id
        )
        assert events[-1][1] == "job_completed"


class _NoTasks:
    async def wake_workers(self, user_id: uuid.UUID, job_id: uuid.UUID, tasks: int) -> None:
        """The watch below starts no job."""


@dataclass(frozen=True)
class ServiceWatch:
    """A paused one-document job of a researcher's, and a JobService of the test's own on the
    stack's database, to watch it from inside the test."""

    service: JobService
    events: JobEvents
    database: Database
    user_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID

    def job(self) -> AsyncGenerator[JobEvent, None]:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        return cast(
            AsyncGenerator[JobEvent, None],
            self.service.watch(self.user_id, self.job_id, "", expires),
        )

    def project(self) -> AsyncGenerator[JobEvent, None]:
        expires = datetime.now(UTC) + timedelta(minutes=5)
        return cast(
            AsyncGenerator[JobEvent, None],
            self.service.watch_project(self.user_id, self.project_id, "", expires),
        )

    async def first_while_cancelling(self, watch: AsyncGenerator[JobEvent, None]) -> JobEvent:
        """The watch's first item, asked for while a cancel of the job is held uncommitted
        for a second; fails if it came before the commit."""
        async with self.database.transaction(self.user_id) as session:
            await flows.cancel_by_researcher(session, self.events, self.job_id)
            first = asyncio.ensure_future(anext(watch))
            await asyncio.sleep(1.0)
            held_back = not first.done()
        item = await asyncio.wait_for(first, 10)
        assert held_back, "the snapshot was read before the change was committed"
        return item

    async def cancel_event_id(self, key: str) -> str:
        """The id of the (one) cancel event in the stream."""
        stored = await self.events.range_after(key, "0-0")
        (cancelled,) = [event.id for event in stored if event.type is EventType.CANCELLED]
        return cancelled


async def paused_in_a_service(caller: Caller, stack: Stack, redis: Redis) -> ServiceWatch:
    project = await project_with_schema(caller, VARIABLES[:1])
    ids = await ready_documents(caller, project.id, reports(1))
    created = await caller.create_job(project.id, document_ids=ids)
    await caller.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=created.job.id), metadata=caller.metadata
    )
    settings = stack.settings
    events = JobEvents(
        redis,
        max_length=settings.job_events_max_length,
        ttl_seconds=settings.job_events_ttl_seconds,
    )
    database = stack.server.database
    return ServiceWatch(
        JobService(database, settings, _NoTasks(), events, EventFeed(events)),
        events,
        database,
        uuid.UUID(caller.user_id),
        uuid.UUID(project.id),
        uuid.UUID(created.job.id),
    )


async def test_an_event_appended_right_after_the_snapshot_reaches_the_watcher(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    """The watch continues from its snapshot's own id: an event appended between the snapshot
    and the following is the next thing the watcher gets (it used to read the stream's end
    again after the snapshot, and lose such events)."""
    paused = await paused_in_a_service(researcher, stack, redis)
    watch = paused.job()

    snapshot = await anext(watch)
    job = await paused.service.get(paused.user_id, paused.job_id)
    appended = await paused.events.publish(job, EventType.PROGRESS, message="between")
    # A document in flight when the job was paused may finish meanwhile: its events come
    # first, and then this one, exactly as the stream holds them.
    received: list[str] = []
    while appended not in received:
        received.append((await asyncio.wait_for(anext(watch), 10)).id)

    assert snapshot.type is EventType.SNAPSHOT
    stored = await stream_ids(redis, str(paused.job_id), after=snapshot.id)
    assert received == stored[: len(received)]
    await watch.aclose()


async def test_a_watcher_gets_an_event_once_its_change_is_committed(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    """A change's event is appended before its transaction commits (the stream keeps the
    changes' order); the watch hands it over only after the commit, so a client that reads
    the job on the event sees the change (the Python SDK's run() read the job back as RUNNING
    after job_completed)."""
    paused = await paused_in_a_service(researcher, stack, redis)
    watch = paused.job()
    assert (await anext(watch)).type is EventType.SNAPSHOT

    async def the_cancel() -> tuple[JobEvent, float]:
        # A document in flight when the job was paused may finish first: its events come
        # before, on their own commits.
        while (event := await anext(watch)).type is not EventType.CANCELLED:
            pass
        return event, time.monotonic()

    cancel = asyncio.ensure_future(the_cancel())
    async with paused.database.transaction(paused.user_id) as session:
        await flows.cancel_by_researcher(session, paused.events, paused.job_id)
        appended = await stream_ids(redis, str(paused.job_id))
        await asyncio.sleep(1.0)
    committed_at = time.monotonic()

    event, arrived_at = await asyncio.wait_for(cancel, 10)
    assert arrived_at >= committed_at, "the event was handed over before its change committed"
    assert event.id == appended[-1]
    job = await paused.service.get(paused.user_id, paused.job_id)
    assert job.status is JobStatus.CANCELLED
    await watch.aclose()


async def test_a_watch_begun_while_a_change_commits_starts_from_the_change(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    """The snapshot is read once the job's writers are done: a watch begun between a change's
    event and its commit gets the changed job, not the old one with the change's event
    already behind it."""
    paused = await paused_in_a_service(researcher, stack, redis)
    watch = paused.job()

    snapshot = await paused.first_while_cancelling(watch)

    assert snapshot.type is EventType.SNAPSHOT
    assert snapshot.job is not None
    assert snapshot.job.status is JobStatus.CANCELLED
    # It continues from the cancel's event or later: what follows is no change of the job's
    # (a document in flight when the job was paused may still finish).
    cancelled = await paused.cancel_event_id(stream_key(paused.job_id))
    assert id_order(snapshot.id) >= id_order(cancelled)
    following = {event.type async for event in watch}
    assert following <= {
        EventType.DOCUMENT_COMPLETED,
        EventType.DOCUMENT_FAILED,
        EventType.PROGRESS,
    }


async def test_a_project_watch_begun_while_its_job_ends_starts_without_the_job(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, redis: Redis
) -> None:
    """The same for a project-wide watch: its snapshot's active job is read once that job's
    writers are done, so a job cancelled meanwhile is no longer shown as active."""
    paused = await paused_in_a_service(researcher, stack, redis)
    watch = paused.project()

    snapshot = await paused.first_while_cancelling(watch)

    assert snapshot.type is EventType.SNAPSHOT
    assert snapshot.job is None
    cancelled = await paused.cancel_event_id(project_stream_key(paused.project_id))
    assert id_order(snapshot.id) >= id_order(cancelled)
    await watch.aclose()
