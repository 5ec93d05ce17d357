"""SC-007 from a browser: WatchJob through the product's grpc-web gateway streams the snapshot
and then each event as it happens, in order, to job_completed, in the binary and text modes;
grpc-timeout ends a watch with DEADLINE_EXCEEDED after what was sent; a browser that leaves
ends its watch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from coderai.v1 import common_pb2, job_pb2
from redis.asyncio import Redis

from gateway import grpcweb
from gateway.grpcweb import Frame, Mode
from gateway.proxy import RunningGateway
from server.llm.local_server import Fault
from tests.factories import Caller
from tests.gateway.client import (
    CODES,
    base_url,
    local_gateway,
    read_frames,
    request_body,
    request_headers,
)
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports
from tests.jobs.test_watch import id_order, stream_ids

WATCH_JOB = "/coderai.v1.JobService/WatchJob"


@pytest.fixture(scope="module")
async def stack_gateway(stack: Stack) -> AsyncIterator[RunningGateway]:
    running = await local_gateway(stack.target)
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def paused_job(caller: Caller, stack: Stack, documents: int) -> str:
    """A job of `documents` documents, paused as soon as it is created."""
    project = await project_with_schema(caller, VARIABLES[:1])
    ids = await ready_documents(caller, project.id, reports(documents))
    stack.llm.set_default(Fault.parse("latency=0.2"))
    created = await caller.create_job(project.id, document_ids=ids)
    await caller.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=created.job.id), metadata=caller.metadata
    )
    return created.job.id


@contextlib.asynccontextmanager
async def watch(
    http: aiohttp.ClientSession,
    gateway: RunningGateway,
    caller: Caller,
    job_id: str,
    mode: Mode = Mode.BINARY,
    **headers: str,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """WatchJob POSTed as a browser page does, with the caller's token: the open response."""
    async with http.post(
        f"{base_url(gateway)}{WATCH_JOB}",
        data=request_body(job_pb2.WatchJobRequest(job_id=job_id), mode),
        headers={**request_headers(mode, **headers), **dict(caller.metadata)},
    ) as response:
        yield response


def event(frame: Frame) -> job_pb2.WatchJobResponse:
    assert not frame.is_trailers, grpcweb.decode_trailers(frame.payload)
    return job_pb2.WatchJobResponse.FromString(frame.payload)


def status(frame: Frame) -> grpc.StatusCode:
    assert frame.is_trailers
    return CODES[int(dict(grpcweb.decode_trailers(frame.payload))["grpc-status"])]


@pytest.mark.parametrize("mode", [Mode.BINARY, Mode.TEXT])
async def test_a_watch_through_the_gateway_streams_each_event_as_it_happens_to_job_completed(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_gateway: RunningGateway,
    http: aiohttp.ClientSession,
    redis: Redis,
    mode: Mode,
) -> None:
    job_id = await paused_job(researcher, stack, documents=3)

    async with watch(http, stack_gateway, researcher, job_id, mode) as response:
        frames = read_frames(response, mode)
        # The snapshot reaches the browser while the job waits, paused: frames are not held
        # back until the stream ends.
        snapshot = event(await anext(frames))
        await researcher.jobs.ResumeJob(
            job_pb2.ResumeJobRequest(job_id=job_id), metadata=researcher.metadata
        )
        rest = [frame async for frame in frames]

    assert response.headers["Content-Type"] == mode.content_type
    assert snapshot.event_type == "snapshot"
    assert snapshot.job.status == common_pb2.JOB_STATUS_PAUSED
    events = [event(frame) for frame in rest[:-1]]
    assert status(rest[-1]) == grpc.StatusCode.OK
    assert events[-1].event_type == "job_completed"
    assert events[-1].job.documents_processed == 3
    assert "resumed" in [e.event_type for e in events]
    ids = [e.event_id for e in events]
    assert ids == sorted(ids, key=id_order)
    assert len(set(ids)) == len(ids)
    # Every event of the job's stream after the snapshot, none missed.
    assert await stream_ids(redis, job_id, after=snapshot.event_id) == ids


async def test_a_watch_past_its_grpc_timeout_ends_with_deadline_exceeded_after_the_snapshot(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_gateway: RunningGateway,
    http: aiohttp.ClientSession,
) -> None:
    job_id = await paused_job(researcher, stack, documents=1)
    started = asyncio.get_running_loop().time()

    async with watch(http, stack_gateway, researcher, job_id, grpc_timeout="1S") as response:
        frames = [frame async for frame in read_frames(response, Mode.BINARY)]

    waited = asyncio.get_running_loop().time() - started
    # The snapshot, what the document in progress at the pause produced, then the status.
    events = [event(frame) for frame in frames[:-1]]
    assert events[0].event_type == "snapshot"
    assert "job_completed" not in [e.event_type for e in events]
    assert status(frames[-1]) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 1.0 <= waited < 10


async def test_a_browser_that_leaves_a_watch_ends_it_without_an_error(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_gateway: RunningGateway,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="coderai.gateway")
    job_id = await paused_job(researcher, stack, documents=1)

    async with watch(http, stack_gateway, researcher, job_id) as response:
        snapshot = event(await anext(read_frames(response, Mode.BINARY)))
        response.close()  # the tab is closed while the job is paused

    for _ in range(100):
        if "the client went away" in caplog.text:
            break
        await asyncio.sleep(0.05)
    assert snapshot.event_type == "snapshot"
    assert f"{WATCH_JOB}: the client went away; the backend call is cancelled" in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
