"""The access log over the real server: each call is logged once it has ended, with the status
it ended with and how long it ran; a response stream from its opening to its end, not just
its opening."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from coderai.v1 import job_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.factories import Caller, random_id, rpc_error, signed_in

WATCH_JOB = "/coderai.v1.JobService/WatchJob"
WATCH_PROJECT = "/coderai.v1.JobService/WatchProject"
GET_JOB = "/coderai.v1.JobService/GetJob"
CREATE_PROJECT = "/coderai.v1.ProjectService/CreateProject"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


@pytest.fixture
async def caller(channel: grpc.aio.Channel) -> Caller:
    return await signed_in(channel, f"access-log-{uuid.uuid4().hex[:10]}@example.org")


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="coderai.rpc")
    return caplog


async def logged(caplog: pytest.LogCaptureFixture, method: str) -> tuple[str, float]:
    """The status and milliseconds of the one access-log line for `method`, waiting for it:
    the server may log a call a moment after the client has seen it end."""
    for _ in range(200):
        lines = [r.getMessage() for r in caplog.records if r.name == "coderai.rpc"]
        mine = [line for line in lines if line.startswith(f"rpc {method} ")]
        if mine:
            [line] = mine
            _, _, status, duration, _ = line.split(" ")
            return status, float(duration.removesuffix("ms"))
        await asyncio.sleep(0.01)
    raise AssertionError(f"{method} was not logged")


async def test_a_watch_that_ends_not_found_after_a_wait_is_logged_not_found_with_the_wait(
    caller: Caller, owner_url: str, access_log: pytest.LogCaptureFixture
) -> None:
    # The job's read waits for the database: another transaction holds the jobs table.
    owner = await asyncpg.connect(owner_url)
    try:
        locking = owner.transaction()
        await locking.start()
        await owner.execute("LOCK TABLE processing_jobs IN ACCESS EXCLUSIVE MODE")
        started = time.perf_counter()
        watch = caller.jobs.WatchJob(
            job_pb2.WatchJobRequest(job_id=random_id()), metadata=caller.metadata
        )
        ending = asyncio.create_task(rpc_error(watch.read()))
        await asyncio.sleep(0.6)
        await locking.rollback()
        error = await ending
        seen_by_client = (time.perf_counter() - started) * 1000
    finally:
        await owner.close()

    assert error.code() == grpc.StatusCode.NOT_FOUND
    status, duration = await logged(access_log, WATCH_JOB)
    assert status == "NOT_FOUND"
    assert 550 <= duration <= seen_by_client


async def test_a_stream_that_ends_ok_is_logged_ok_with_its_whole_run(
    channel: grpc.aio.Channel, access_log: pytest.LogCaptureFixture
) -> None:
    async def questions() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")
        await asyncio.sleep(0.4)
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    started = time.perf_counter()
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = [answer async for answer in reflection.ServerReflectionInfo(questions())]
    seen_by_client = (time.perf_counter() - started) * 1000

    assert len(answers) == 2
    status, duration = await logged(access_log, REFLECTION)
    assert status == "OK"
    assert 350 <= duration <= seen_by_client


async def test_a_watch_the_client_leaves_is_logged_cancelled_when_it_leaves(
    caller: Caller, access_log: pytest.LogCaptureFixture
) -> None:
    project = await caller.create_project()
    watch = caller.jobs.WatchProject(
        job_pb2.WatchProjectRequest(project_id=project.id), metadata=caller.metadata
    )
    snapshot = await watch.read()
    await asyncio.sleep(0.3)
    watch.cancel()

    assert isinstance(snapshot, job_pb2.WatchProjectResponse)
    assert snapshot.event_type == "snapshot"
    status, duration = await logged(access_log, WATCH_PROJECT)
    assert status == "CANCELLED"
    assert duration >= 250


async def test_unary_calls_are_logged_with_their_status(
    caller: Caller, access_log: pytest.LogCaptureFixture
) -> None:
    await caller.create_project()
    error = await rpc_error(
        caller.jobs.GetJob(job_pb2.GetJobRequest(job_id=random_id()), metadata=caller.metadata)
    )

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert (await logged(access_log, CREATE_PROJECT))[0] == "OK"
    assert (await logged(access_log, GET_JOB))[0] == "NOT_FOUND"
