"""The demo's side of the gRPC API: a signed-in researcher and the calls a client makes to go
from documents to a dataset, with nothing but the public contract (coderai.v1)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
from coderai.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    document_pb2,
    document_pb2_grpc,
    export_pb2,
    export_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    project_pb2,
    project_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)

from server.demo.project import SampleDocument

UPLOAD_CHUNK_BYTES = 64 * 1024
PAGE_SIZE = 200
# An access token lives 15 minutes by default; refresh it this long before it expires.
REFRESH_MARGIN = timedelta(seconds=60)
JOB_ENDED = (
    common_pb2.JOB_STATUS_COMPLETED,
    common_pb2.JOB_STATUS_FAILED,
    common_pb2.JOB_STATUS_CANCELLED,
    common_pb2.JOB_STATUS_PAUSED,
)


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why in a researcher's words."""


@dataclass
class Researcher:
    """A registered researcher and stubs on one channel; metadata() keeps the access token
    fresh, so that a long run with a slow model is not signed out halfway."""

    email: str
    password: str
    tokens: auth_pb2.TokenPair
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    projects: project_pb2_grpc.ProjectServiceAsyncStub
    schema: schema_pb2_grpc.SchemaServiceAsyncStub
    documents: document_pb2_grpc.DocumentServiceAsyncStub
    jobs: job_pb2_grpc.JobServiceAsyncStub
    exports: export_pb2_grpc.ExportServiceAsyncStub
    _refreshed: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def metadata(self) -> list[tuple[str, str]]:
        async with self._refreshed:
            expires = self.tokens.access_token_expire_time.ToDatetime(tzinfo=UTC)
            if expires - datetime.now(UTC) < REFRESH_MARGIN:
                response = await self.auth.Refresh(
                    auth_pb2.RefreshRequest(refresh_token=self.tokens.refresh_token)
                )
                self.tokens = response.tokens
        return [("authorization", f"Bearer {self.tokens.access_token}")]


async def register(channel: grpc.aio.Channel) -> Researcher:
    """A new demo researcher: a unique e-mail per run and a random password."""
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    email = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}@example.org"
    password = secrets.token_urlsafe(18)
    await auth.Register(
        auth_pb2.RegisterRequest(email=email, password=password, display_name="Demo Researcher")
    )
    # Register signs nobody in (it does not tell whether the email was new): Login does.
    registered = await auth.Login(auth_pb2.LoginRequest(email=email, password=password))
    return Researcher(
        email=registered.user.email,
        password=password,
        tokens=registered.tokens,
        auth=auth,
        projects=project_pb2_grpc.ProjectServiceStub(channel),
        schema=schema_pb2_grpc.SchemaServiceStub(channel),
        documents=document_pb2_grpc.DocumentServiceStub(channel),
        jobs=job_pb2_grpc.JobServiceStub(channel),
        exports=export_pb2_grpc.ExportServiceStub(channel),
    )


async def create_project(
    researcher: Researcher, project: project_pb2.Project
) -> project_pb2.Project:
    response = await researcher.projects.CreateProject(
        project_pb2.CreateProjectRequest(project=project), metadata=await researcher.metadata()
    )
    return response.project


async def create_variable(
    researcher: Researcher, variable: schema_pb2.Variable
) -> schema_pb2.Variable:
    response = await researcher.schema.CreateVariable(
        schema_pb2.CreateVariableRequest(variable=variable), metadata=await researcher.metadata()
    )
    return response.variable


async def upload(
    researcher: Researcher, project_id: str, sample: SampleDocument
) -> document_pb2.Document:
    """Streams one file to UploadDocument; the document it became."""

    async def messages() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
        yield document_pb2.UploadDocumentRequest(
            metadata=document_pb2.UploadMetadata(project_id=project_id, filename=sample.filename)
        )
        for start in range(0, len(sample.content), UPLOAD_CHUNK_BYTES):
            yield document_pb2.UploadDocumentRequest(
                chunk=sample.content[start : start + UPLOAD_CHUNK_BYTES]
            )

    response = await researcher.documents.UploadDocument(
        messages(), metadata=await researcher.metadata()
    )
    [result] = response.results
    if result.error_message:
        raise DemoError(f"{sample.filename} was refused: {result.error_message}")
    return result.document


async def processing_status(
    researcher: Researcher, project_id: str
) -> project_pb2.ProcessingStatus:
    response = await researcher.projects.GetProject(
        project_pb2.GetProjectRequest(project_id=project_id), metadata=await researcher.metadata()
    )
    return response.processing_status


async def list_documents(
    researcher: Researcher,
    project_id: str,
    status: common_pb2.DocumentStatus = common_pb2.DOCUMENT_STATUS_UNSPECIFIED,
) -> list[document_pb2.Document]:
    """Every document of the project (with this status, if one is given), all pages."""
    found: list[document_pb2.Document] = []
    token = ""
    while True:
        response = await researcher.documents.ListDocuments(
            document_pb2.ListDocumentsRequest(
                project_id=project_id, status=status, page_size=PAGE_SIZE, page_token=token
            ),
            metadata=await researcher.metadata(),
        )
        found.extend(response.documents)
        token = response.next_page_token
        if not token:
            return found


async def estimate_job(
    researcher: Researcher, selection: job_pb2.JobSelection
) -> job_pb2.JobEstimate:
    response = await researcher.jobs.EstimateJob(
        job_pb2.EstimateJobRequest(selection=selection), metadata=await researcher.metadata()
    )
    return response.estimate


async def create_job(
    researcher: Researcher, selection: job_pb2.JobSelection
) -> job_pb2.CreateJobResponse:
    return await researcher.jobs.CreateJob(
        job_pb2.CreateJobRequest(selection=selection), metadata=await researcher.metadata()
    )


async def wait_for_job(
    researcher: Researcher,
    job_id: str,
    *,
    on_change: Callable[[job_pb2.ProcessingJob], None],
    still_running: Callable[[], None],
    poll_seconds: float,
    within: float,
) -> job_pb2.ProcessingJob:
    """Polls GetJob until the job ends (completed, failed, cancelled or paused); on_change is
    told of every change of status or progress, still_running may raise to give up early."""
    deadline = time.monotonic() + within
    last: tuple[int, int, int] | None = None
    while True:
        response = await researcher.jobs.GetJob(
            job_pb2.GetJobRequest(job_id=job_id), metadata=await researcher.metadata()
        )
        job = response.job
        state = (job.status, job.documents_processed, job.documents_failed)
        if state != last:
            on_change(job)
            last = state
        if job.status in JOB_ENDED:
            return job
        still_running()
        if time.monotonic() > deadline:
            raise DemoError(f"the job did not finish within {within:.0f} s")
        await asyncio.sleep(poll_seconds)


async def list_results(researcher: Researcher, project_id: str) -> export_pb2.ListResultsResponse:
    """The project's dataset as ListResults gives it: its columns and every row, all pages."""
    merged = export_pb2.ListResultsResponse()
    token = ""
    while True:
        response = await researcher.exports.ListResults(
            export_pb2.ListResultsRequest(
                project_id=project_id, page_size=PAGE_SIZE, page_token=token
            ),
            metadata=await researcher.metadata(),
        )
        if not merged.columns:
            merged.columns.extend(response.columns)
        merged.rows.extend(response.rows)
        token = response.next_page_token
        if not token:
            return merged


async def export(
    researcher: Researcher, project_id: str, export_format: export_pb2.ExportFormat, within: float
) -> bytes:
    """The project exported in this format: created, built (at once, or by the worker while
    this polls), then downloaded."""
    response = await researcher.exports.CreateExport(
        export_pb2.CreateExportRequest(project_id=project_id, format=export_format),
        metadata=await researcher.metadata(),
    )
    built = response.export
    deadline = time.monotonic() + within
    while built.status in (export_pb2.EXPORT_STATUS_PENDING, export_pb2.EXPORT_STATUS_RUNNING):
        if time.monotonic() > deadline:
            raise DemoError(f"the export was not built within {within:.0f} s")
        await asyncio.sleep(0.2)
        got = await researcher.exports.GetExport(
            export_pb2.GetExportRequest(export_id=built.id), metadata=await researcher.metadata()
        )
        built = got.export
    if built.status != export_pb2.EXPORT_STATUS_COMPLETED:
        raise DemoError(f"the export failed: {built.error}")
    chunks = [
        message.chunk
        async for message in researcher.exports.DownloadExport(
            export_pb2.DownloadExportRequest(export_id=built.id),
            metadata=await researcher.metadata(),
        )
    ]
    return b"".join(chunks)


async def active_prompt(
    researcher: Researcher, variables: Sequence[schema_pb2.Variable]
) -> schema_pb2.PromptVersion:
    """The active prompt version of the first variable: it names the provider and model."""
    response = await researcher.schema.GetPromptVersion(
        schema_pb2.GetPromptVersionRequest(variable_id=variables[0].id, version=0),
        metadata=await researcher.metadata(),
    )
    return response.version
