"""Quotas per user, through a real gRPC server whose QUOTA_MAX_* settings are small: each
refuses the one past its limit with RESOURCE_EXHAUSTED naming it, frees up when something is
deleted or ends, holds under concurrent creates, shows in GetUsage, and leaves other users
alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from coderai.v1 import auth_pb2, document_pb2, export_pb2, job_pb2, project_pb2
from google.rpc import error_details_pb2
from redis.asyncio import Redis
from sqlalchemy import update

from server.core.config import Settings
from server.core.db import Database
from server.documents.models import Document, DocumentStatus, text_hash
from server.main import RunningServer, start_server
from tests.conftest import TEST_REDIS_URL
from tests.documents.files import zip_bytes
from tests.factories import Caller, random_id, rpc_error, signed_in, status_details
from tests.jobs.conftest import cancel_active_jobs

RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
QUOTAS = {
    "quota_max_projects": 3,
    "quota_max_documents": 4,
    "quota_max_storage_bytes": 10_000,
    "quota_max_active_jobs": 2,
    "quota_max_open_streams": 2,
    "server_max_open_streams": 3,
}
TEXT = "The council met on 4 May and approved the budget of 2.1 million.\n"


@pytest.fixture(scope="module")
async def quota_server(
    settings: Settings, database: Database, redis: Redis, database_name: str
) -> AsyncIterator[RunningServer]:
    """A second server on the session's database and Redis with small quotas, on a task queue
    no worker reads: documents stay UPLOADED and jobs PENDING unless a test moves them."""
    quota_settings = settings.model_copy(
        update={**QUOTAS, "task_queue_name": f"coderai:test:quotas:{uuid.uuid4().hex[:10]}"}
    )
    running = await start_server(quota_settings, database, redis, TEST_REDIS_URL, port=0)
    yield running
    await running.stop(grace=1)
    await cancel_active_jobs(database_name)


@pytest.fixture(scope="module")
async def quota_channel(quota_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quota_server.port}") as channel:
        yield channel


async def researcher(channel: grpc.aio.Channel) -> Caller:
    return await signed_in(channel, f"quota-{uuid.uuid4().hex[:12]}@example.org")


async def usage(caller: Caller) -> auth_pb2.Usage:
    response = await caller.auth.GetUsage(auth_pb2.GetUsageRequest(), metadata=caller.metadata)
    return response.usage


def text_file(number: int, size: int = 0) -> bytes:
    """A distinct plain-text file of about `size` bytes (at least one line)."""
    line = f"Minutes {number}: {TEXT}"
    return (line * max(1, size // len(line) + 1))[: max(size, len(line))].encode()


async def upload_batch(
    caller: Caller, project_id: str, files: dict[str, bytes]
) -> list[document_pb2.UploadResult]:
    response = await caller.documents.UploadDocuments(
        document_pb2.UploadDocumentsRequest(
            project_id=project_id,
            files=[
                document_pb2.UploadFile(filename=name, content=content)
                for name, content in files.items()
            ],
        ),
        metadata=caller.metadata,
    )
    return list(response.results)


def message(error: grpc.aio.AioRpcError) -> str:
    return error.details() or ""


async def document_count(caller: Caller, project_id: str) -> int:
    response = await caller.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(project_id=project_id, page_size=100),
        metadata=caller.metadata,
    )
    return len(response.documents)


# --- projects ------------------------------------------------------------------------------


async def test_the_project_past_the_quota_is_refused_until_one_is_deleted(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    projects = [await owner.create_project(name=f"Study {n}") for n in range(3)]

    refused = await rpc_error(owner.create_project(name="One too many"))
    at_limit = await usage(owner)
    other = await researcher(quota_channel)
    await other.create_project(name="Someone else's")
    await owner.projects.DeleteProject(
        project_pb2.DeleteProjectRequest(project_id=projects[0].id), metadata=owner.metadata
    )
    again = await owner.create_project(name="After a deletion")

    assert refused.code() == RESOURCE_EXHAUSTED
    assert refused.details() == (
        "you have 3 projects, the most allowed (QUOTA_MAX_PROJECTS is 3); "
        "delete one or ask your operator to raise it"
    )
    assert (at_limit.projects.used, at_limit.projects.limit) == (3, 3)
    assert again.id
    assert (await usage(other)).projects.used == 1


async def test_concurrent_creates_do_not_pass_the_project_quota(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)

    outcomes = await asyncio.gather(
        *(owner.create_project(name=f"Race {n}") for n in range(12)), return_exceptions=True
    )

    created = [o for o in outcomes if isinstance(o, project_pb2.Project)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) == 3
    assert len(refused) == 9
    assert {error.code() for error in refused} == {RESOURCE_EXHAUSTED}
    listed = await owner.projects.ListProjects(
        project_pb2.ListProjectsRequest(page_size=50), metadata=owner.metadata
    )
    assert len(listed.projects) == 3


# --- documents and storage -----------------------------------------------------------------


async def test_the_document_past_the_quota_is_refused_but_a_duplicate_is_not(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    stored = [(await owner.upload(project.id, f"m{n}.txt", text_file(n)))[0] for n in range(4)]

    refused = await rpc_error(owner.upload(project.id, "m4.txt", text_file(4)))
    duplicate = await owner.upload(project.id, "again.txt", text_file(0))
    at_limit = await usage(owner)
    await owner.documents.DeleteDocument(
        document_pb2.DeleteDocumentRequest(document_id=stored[0].document.id),
        metadata=owner.metadata,
    )
    after_deletion = await owner.upload(project.id, "m4.txt", text_file(4))

    assert refused.code() == RESOURCE_EXHAUSTED
    assert refused.details() == (
        "you have 4 documents, the most allowed (QUOTA_MAX_DOCUMENTS is 4); "
        "delete some or ask your operator to raise it"
    )
    assert duplicate[0].duplicate
    assert (at_limit.documents.used, at_limit.documents.limit) == (4, 4)
    stored_bytes = sum(len(text_file(n)) for n in range(4))
    assert (at_limit.storage_bytes.used, at_limit.storage_bytes.limit) == (stored_bytes, 10_000)
    assert after_deletion[0].document.id
    assert await document_count(owner, project.id) == 4


async def test_the_upload_past_the_storage_quota_is_refused_and_names_it(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    first = text_file(1, 6_000)
    await owner.upload(project.id, "long.txt", first)

    refused = await rpc_error(owner.upload(project.id, "longer.txt", text_file(2, 5_000)))

    assert refused.code() == RESOURCE_EXHAUSTED
    assert refused.details() == (
        f"this would bring you from {len(first):,} to {len(first) + 5_000:,} bytes stored, "
        "past the most allowed (QUOTA_MAX_STORAGE_BYTES is 10,000); "
        "delete documents or ask your operator to raise it"
    )
    assert (await usage(owner)).storage_bytes.used == len(first)


async def test_a_batch_or_archive_that_would_pass_the_quota_stores_nothing(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    await owner.upload(project.id, "m0.txt", text_file(0))
    files = {f"m{n}.txt": text_file(n) for n in range(1, 5)}

    batch = await rpc_error(upload_batch(owner, project.id, files))
    archive = await rpc_error(owner.upload(project.id, "minutes.zip", zip_bytes(files)))
    archive_in_batch = await rpc_error(
        upload_batch(owner, project.id, {"minutes.zip": zip_bytes(files)})
    )

    assert batch.code() == RESOURCE_EXHAUSTED
    assert "from 1 to 5 documents" in message(batch)
    assert archive.code() == RESOURCE_EXHAUSTED
    assert "from 1 to 5 documents" in message(archive)
    assert archive_in_batch.code() == RESOURCE_EXHAUSTED
    assert await document_count(owner, project.id) == 1
    fitting = await upload_batch(owner, project.id, dict(list(files.items())[:3]))
    assert [result.document.filename for result in fitting] == ["m1.txt", "m2.txt", "m3.txt"]


async def test_a_resumable_upload_counts_its_bytes_and_is_refused_past_the_quota(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    metadata = document_pb2.UploadMetadata(project_id=project.id, filename="big.txt")

    announced = await rpc_error(
        owner.documents.BeginUpload(
            document_pb2.BeginUploadRequest(metadata=metadata, size_bytes=20_000),
            metadata=owner.metadata,
        )
    )
    begun = await owner.documents.BeginUpload(
        document_pb2.BeginUploadRequest(metadata=metadata), metadata=owner.metadata
    )
    part = text_file(1, 6_000)
    await owner.documents.AppendUpload(
        document_pb2.AppendUploadRequest(upload_id=begun.upload_id, offset=0, data=part),
        metadata=owner.metadata,
    )
    while_uploading = await usage(owner)
    past = await rpc_error(
        owner.documents.AppendUpload(
            document_pb2.AppendUploadRequest(
                upload_id=begun.upload_id, offset=len(part), data=part
            ),
            metadata=owner.metadata,
        )
    )
    finished = await owner.documents.FinishUpload(
        document_pb2.FinishUploadRequest(upload_id=begun.upload_id), metadata=owner.metadata
    )
    after = await usage(owner)

    assert announced.code() == RESOURCE_EXHAUSTED
    assert "QUOTA_MAX_STORAGE_BYTES is 10,000" in message(announced)
    assert while_uploading.storage_bytes.used == len(part)
    assert while_uploading.documents.used == 0
    assert past.code() == RESOURCE_EXHAUSTED
    assert "QUOTA_MAX_STORAGE_BYTES" in message(past)
    assert finished.results[0].document.size_bytes == len(part)
    assert (after.documents.used, after.storage_bytes.used) == (1, len(part))


async def test_concurrent_uploads_do_not_pass_the_document_quota(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    other = await researcher(quota_channel)
    other_project = await other.create_project()

    outcomes = await asyncio.gather(
        *(owner.upload(project.id, f"m{n}.txt", text_file(n)) for n in range(10)),
        other.upload(other_project.id, "theirs.txt", text_file(99)),
        return_exceptions=True,
    )

    stored = [o for o in outcomes[:10] if isinstance(o, list)]
    refused = [o for o in outcomes[:10] if isinstance(o, grpc.aio.AioRpcError)]
    assert len(stored) == 4
    assert {error.code() for error in refused} == {RESOURCE_EXHAUSTED}
    assert await document_count(owner, project.id) == 4
    assert isinstance(outcomes[10], list)
    assert (await usage(other)).documents.used == 1


# --- active jobs ---------------------------------------------------------------------------


async def project_with_ready_document(
    caller: Caller, database: Database, name: str
) -> project_pb2.Project:
    """A project with a variable and one READY document (marked so in the database: no
    worker parses on this server's queue)."""
    project = await caller.create_project(name=name)
    await caller.create_variable(project.id)
    await caller.upload(project.id, f"{name}.txt", text_file(hash(name) % 1000))
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        await session.execute(
            update(Document)
            .where(Document.project_id == uuid.UUID(project.id))
            .values(status=DocumentStatus.READY, text_content=TEXT, text_hash=text_hash(TEXT))
        )
    return project


async def test_the_job_past_the_active_jobs_quota_is_refused_until_one_ends(
    quota_channel: grpc.aio.Channel, database: Database
) -> None:
    owner = await researcher(quota_channel)
    projects = [await project_with_ready_document(owner, database, f"p{n}") for n in range(3)]
    first = await owner.create_job(projects[0].id)
    await owner.create_job(projects[1].id)
    await owner.jobs.PauseJob(job_pb2.PauseJobRequest(job_id=first.job.id), metadata=owner.metadata)

    refused = await rpc_error(owner.create_job(projects[2].id))
    at_limit = await usage(owner)
    await owner.jobs.CancelJob(
        job_pb2.CancelJobRequest(job_id=first.job.id), metadata=owner.metadata
    )
    after_cancel = await owner.create_job(projects[2].id)

    assert refused.code() == RESOURCE_EXHAUSTED
    assert refused.details() == (
        "you have 2 active jobs, the most allowed (QUOTA_MAX_ACTIVE_JOBS is 2); "
        "let one end or cancel one or ask your operator to raise it"
    )
    assert (at_limit.active_jobs.used, at_limit.active_jobs.limit) == (2, 2)
    assert after_cancel.job.id


async def test_concurrent_creates_do_not_pass_the_active_jobs_quota(
    quota_channel: grpc.aio.Channel, database: Database
) -> None:
    owner = await researcher(quota_channel)
    projects = [await project_with_ready_document(owner, database, f"r{n}") for n in range(3)]

    outcomes = await asyncio.gather(
        *(owner.create_job(project.id) for project in projects), return_exceptions=True
    )

    created = [o for o in outcomes if isinstance(o, job_pb2.CreateJobResponse)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) == 2
    assert [error.code() for error in refused] == [RESOURCE_EXHAUSTED]
    assert (await usage(owner)).active_jobs.used == 2


# --- open streams --------------------------------------------------------------------------


async def test_streams_past_the_user_or_server_limit_are_refused_with_a_retry_delay(
    quota_channel: grpc.aio.Channel,
) -> None:
    owner = await researcher(quota_channel)
    project = await owner.create_project()
    other = await researcher(quota_channel)
    other_project = await other.create_project()

    def watch(caller: Caller, project_id: str) -> grpc.aio.UnaryStreamCall:  # type: ignore[type-arg]
        return caller.jobs.WatchProject(
            job_pb2.WatchProjectRequest(project_id=project_id), metadata=caller.metadata
        )

    streams = [watch(owner, project.id) for _ in range(2)]
    for stream in streams:
        await stream.read()  # the snapshot: the stream holds its slot
    held = await usage(owner)
    third = await rpc_error(watch(owner, project.id).read())
    job_watch = await rpc_error(
        owner.jobs.WatchJob(
            job_pb2.WatchJobRequest(job_id=random_id()), metadata=owner.metadata
        ).read()
    )
    download = await rpc_error(
        owner.exports.DownloadExport(
            export_pb2.DownloadExportRequest(export_id=random_id()), metadata=owner.metadata
        ).read()
    )
    theirs = watch(other, other_project.id)
    await theirs.read()  # another user is not held to this user's quota
    server_full = await rpc_error(watch(other, other_project.id).read())

    streams[0].cancel()
    for _ in range(100):
        if (await usage(owner)).open_streams.used == 1:
            break
        await asyncio.sleep(0.05)
    freed = await rpc_error(
        owner.exports.DownloadExport(
            export_pb2.DownloadExportRequest(export_id=random_id()), metadata=owner.metadata
        ).read()
    )
    streams[1].cancel()
    theirs.cancel()

    assert (held.open_streams.used, held.open_streams.limit) == (2, 2)
    for refused in (third, job_watch, download):
        assert refused.code() == RESOURCE_EXHAUSTED
        assert refused.details() == (
            "you have 2 open streams, the most allowed (QUOTA_MAX_OPEN_STREAMS is 2); "
            "retry when one has ended"
        )
    details = status_details(third)
    assert details is not None
    assert any(detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for detail in details.details)
    assert server_full.code() == RESOURCE_EXHAUSTED
    assert server_full.details() == (
        "this server has 3 open streams, the most it allows (SERVER_MAX_OPEN_STREAMS is 3); "
        "retry in 5 s"
    )
    # Past the quota once a stream ended: the export is looked up (and is not there).
    assert freed.code() == grpc.StatusCode.NOT_FOUND
