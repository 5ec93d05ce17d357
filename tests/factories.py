"""Small builders for tests over real gRPC: a signed-in researcher with ready stubs, Project and
Variable messages with sensible defaults, and the decoding of google.rpc error details."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, cast

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
    quality_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)
from google.rpc import error_details_pb2, status_pb2

from server.auth.models import User
from server.core.db import Database
from server.documents.models import Document, DocumentStatus
from server.jobs import worklist
from server.jobs.models import JobStatus, JobType, ProcessingJob
from server.projects.models import Project, UnitOfObservation

PASSWORD = "correct horse battery staple"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Caller:
    """A registered researcher: the call metadata that authenticates as them, and stubs."""

    user_id: str
    email: str
    metadata: list[tuple[str, str]]
    auth: auth_pb2_grpc.AuthServiceAsyncStub
    projects: project_pb2_grpc.ProjectServiceAsyncStub
    schema: schema_pb2_grpc.SchemaServiceAsyncStub
    documents: document_pb2_grpc.DocumentServiceAsyncStub
    jobs: job_pb2_grpc.JobServiceAsyncStub
    exports: export_pb2_grpc.ExportServiceAsyncStub
    quality: quality_pb2_grpc.QualityServiceAsyncStub

    async def create_project(self, **overrides: Any) -> project_pb2.Project:
        """Creates a project from project_message(**overrides)."""
        response = await self.projects.CreateProject(
            project_pb2.CreateProjectRequest(project=project_message(**overrides)),
            metadata=self.metadata,
        )
        return response.project

    async def get_project(self, project_id: str) -> project_pb2.GetProjectResponse:
        return await self.projects.GetProject(
            project_pb2.GetProjectRequest(project_id=project_id), metadata=self.metadata
        )

    async def create_variable(self, project_id: str, **overrides: Any) -> schema_pb2.Variable:
        """Creates a variable from variable_message(project_id, **overrides)."""
        response = await self.schema.CreateVariable(
            schema_pb2.CreateVariableRequest(variable=variable_message(project_id, **overrides)),
            metadata=self.metadata,
        )
        return response.variable

    async def upload(
        self, project_id: str, filename: str, data: bytes, chunk_bytes: int = 64 * 1024
    ) -> list[document_pb2.UploadResult]:
        """Streams the file to UploadDocument in chunks; the results."""

        async def messages() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
            yield document_pb2.UploadDocumentRequest(
                metadata=document_pb2.UploadMetadata(project_id=project_id, filename=filename)
            )
            for start in range(0, len(data), chunk_bytes):
                yield document_pb2.UploadDocumentRequest(chunk=data[start : start + chunk_bytes])

        response = await self.documents.UploadDocument(messages(), metadata=self.metadata)
        return list(response.results)

    async def get_document(
        self, document_id: str, include_text: bool = False
    ) -> document_pb2.GetDocumentResponse:
        return await self.documents.GetDocument(
            document_pb2.GetDocumentRequest(document_id=document_id, include_text=include_text),
            metadata=self.metadata,
        )

    async def parsed(
        self, document_id: str, within: float = 30.0
    ) -> document_pb2.GetDocumentResponse:
        """The document once the workers are done with it (READY or FAILED), with its text."""
        deadline = time.monotonic() + within
        while True:
            response = await self.get_document(document_id, include_text=True)
            done = response.document.status in (
                common_pb2.DOCUMENT_STATUS_READY,
                common_pb2.DOCUMENT_STATUS_FAILED,
            )
            if done or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.1)

    async def create_job(
        self,
        project_id: str,
        job_type: common_pb2.JobType = common_pb2.JOB_TYPE_SAMPLE,
        document_ids: list[str] | None = None,
        retry_failed: bool = False,
        **fields: Any,
    ) -> job_pb2.CreateJobResponse:
        selection = job_pb2.JobSelection(
            project_id=project_id,
            type=job_type,
            document_ids=document_ids or [],
            retry_failed=retry_failed,
        )
        return await self.jobs.CreateJob(
            job_pb2.CreateJobRequest(selection=selection, **fields), metadata=self.metadata
        )

    async def get_job(self, job_id: str) -> job_pb2.ProcessingJob:
        response = await self.jobs.GetJob(
            job_pb2.GetJobRequest(job_id=job_id), metadata=self.metadata
        )
        return response.job

    async def job_ended(
        self,
        job_id: str,
        within: float = 60.0,
        statuses: tuple[common_pb2.JobStatus, ...] = (),
    ) -> job_pb2.ProcessingJob:
        """The job once it is COMPLETED, FAILED, CANCELLED or PAUSED (or in `statuses`)."""
        wanted = statuses or (
            common_pb2.JOB_STATUS_COMPLETED,
            common_pb2.JOB_STATUS_FAILED,
            common_pb2.JOB_STATUS_CANCELLED,
            common_pb2.JOB_STATUS_PAUSED,
        )
        deadline = time.monotonic() + within
        while True:
            job = await self.get_job(job_id)
            if job.status in wanted:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job still {job.status} after {within}s: {job}")
            await asyncio.sleep(0.1)

    async def job_settled(self, job_id: str, quiet: float = 1.0) -> job_pb2.ProcessingJob:
        """The job once it has ended (see job_ended) and the documents that were in flight
        then have been counted: its counters stayed the same for `quiet` seconds."""
        job = await self.job_ended(job_id)
        counted = (job.documents_processed, job.documents_failed)
        since = time.monotonic()
        while time.monotonic() - since < quiet:
            await asyncio.sleep(0.1)
            job = await self.get_job(job_id)
            now = (job.documents_processed, job.documents_failed)
            if now != counted:
                counted, since = now, time.monotonic()
        return job

    async def extractions(self, project_id: str, **filters: Any) -> list[job_pb2.Extraction]:
        """Every extraction of the project matching the filters, all pages."""
        found: list[job_pb2.Extraction] = []
        token = ""
        while True:
            response = await self.jobs.ListExtractions(
                job_pb2.ListExtractionsRequest(
                    project_id=project_id, page_size=200, page_token=token, **filters
                ),
                metadata=self.metadata,
            )
            found.extend(response.extractions)
            token = response.next_page_token
            if not token:
                return found

    async def export(
        self,
        project_id: str,
        export_format: export_pb2.ExportFormat,
        include_metadata: bool = False,
    ) -> export_pb2.Export:
        """Creates the export and returns it once built (in the call or by a worker)."""
        response = await self.exports.CreateExport(
            export_pb2.CreateExportRequest(
                project_id=project_id, format=export_format, include_metadata=include_metadata
            ),
            metadata=self.metadata,
        )
        return await self.export_built(response.export.id)

    async def export_built(self, export_id: str, within: float = 60.0) -> export_pb2.Export:
        """The export once it is COMPLETED or FAILED."""
        deadline = time.monotonic() + within
        while True:
            export = (
                await self.exports.GetExport(
                    export_pb2.GetExportRequest(export_id=export_id), metadata=self.metadata
                )
            ).export
            if export.status not in (
                export_pb2.EXPORT_STATUS_PENDING,
                export_pb2.EXPORT_STATUS_RUNNING,
            ):
                return export
            if time.monotonic() > deadline:
                raise AssertionError(f"export still {export.status} after {within}s")
            await asyncio.sleep(0.1)

    async def download(self, export_id: str) -> tuple[export_pb2.ExportFile, bytes]:
        """The export's file description (the stream's first message) and its bytes."""
        file: export_pb2.ExportFile | None = None
        chunks: list[bytes] = []
        async for message in self.exports.DownloadExport(
            export_pb2.DownloadExportRequest(export_id=export_id), metadata=self.metadata
        ):
            if message.HasField("file"):
                assert file is None, "the file's description comes once"
                assert not chunks, "the file's description comes first"
                file = message.file
            else:
                chunks.append(message.chunk)
        assert file is not None, "no file description"
        return file, b"".join(chunks)


async def signed_in(channel: grpc.aio.Channel, email: str) -> Caller:
    """Registers a researcher with this email and returns them signed in."""
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    await auth.Register(
        auth_pb2.RegisterRequest(email=email, password=PASSWORD, display_name="Test Researcher")
    )
    registered = await auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    return Caller(
        user_id=registered.user.id,
        email=registered.user.email,
        metadata=[("authorization", f"Bearer {registered.tokens.access_token}")],
        auth=auth,
        projects=project_pb2_grpc.ProjectServiceStub(channel),
        schema=schema_pb2_grpc.SchemaServiceStub(channel),
        documents=document_pb2_grpc.DocumentServiceStub(channel),
        jobs=job_pb2_grpc.JobServiceStub(channel),
        exports=export_pb2_grpc.ExportServiceStub(channel),
        quality=quality_pb2_grpc.QualityServiceStub(channel),
    )


def project_message(**overrides: Any) -> project_pb2.Project:
    """A valid one-row-per-document project; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "name": "Climate pledges in parliament",
        "description": "How members of parliament talk about climate targets.",
        "domain": "parliamentary debates",
        "language": "en",
        "unit_of_observation": common_pb2.UNIT_OF_OBSERVATION_DOCUMENT,
    }
    fields.update(overrides)
    return project_pb2.Project(**fields)


def variable_message(project_id: str, **overrides: Any) -> schema_pb2.Variable:
    """A valid TEXT variable of the project with a unique name; keyword arguments replace
    fields."""
    fields: dict[str, Any] = {
        "project_id": project_id,
        "name": f"claim_{uuid.uuid4().hex[:8]}",
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "The speaker's main claim about climate targets, in one sentence.",
    }
    fields.update(overrides)
    return schema_pb2.Variable(**fields)


def random_id() -> str:
    """A well-formed id that names nothing."""
    return str(uuid.uuid4())


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call fails with; fails the test when the call succeeds."""
    try:
        response = await call
    except grpc.aio.AioRpcError as error:
        return error
    raise AssertionError(f"expected the call to fail, it answered {response!r}")


def status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The google.rpc.Status in the error's trailing metadata, if the server sent one."""
    # grpc.aio returns its Metadata here; the stubs still describe the sync API's tuple.
    trailing = cast(grpc.aio.Metadata, error.trailing_metadata())
    for value in trailing.get_all(STATUS_DETAILS_KEY):
        assert isinstance(value, bytes), f"{STATUS_DETAILS_KEY} must be binary"
        return status_pb2.Status.FromString(value)
    return None


def field_violations(
    error: grpc.aio.AioRpcError,
) -> list[error_details_pb2.BadRequest.FieldViolation]:
    """Every google.rpc.BadRequest field violation in the error's status details."""
    status = status_details(error)
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(bad_request.field_violations)
    return violations


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields the error's google.rpc.BadRequest details name, in order."""
    return [violation.field for violation in field_violations(error)]


async def user_row(database: Database) -> uuid.UUID:
    """A user inserted directly (no sign-in), for tests of what sits below the RPCs: rows
    that name a user need it to exist."""
    user_id = uuid.uuid4()
    async with database.transaction(user_id) as session:
        session.add(
            User(id=user_id, email=f"{user_id.hex}@example.org", password_hash="!", display_name="")
        )
    return user_id


@dataclass(frozen=True)
class JobRows:
    """A user's project with READY documents and a RUNNING job over them, inserted directly."""

    user_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    document_ids: list[uuid.UUID]


async def running_job_rows(database: Database, documents: int = 3) -> JobRows:
    """Rows for tests of claims, recording and queries: no server, worker or model involved
    (the end-to-end tests prove that wiring)."""
    user_id = await user_row(database)
    async with database.transaction(user_id) as session:
        project = Project(
            user_id=user_id,
            name="rows",
            domain="tests",
            language="en",
            unit_of_observation=UnitOfObservation.DOCUMENT,
        )
        session.add(project)
        await session.flush()
        rows = [
            Document(
                user_id=user_id,
                project_id=project.id,
                filename=f"report-{index}.txt",
                mime_type="text/plain",
                size_bytes=10,
                content_hash=f"{index:064x}",
                status=DocumentStatus.READY,
                text_content=f"Report {index}.",
            )
            for index in range(documents)
        ]
        session.add_all(rows)
        await session.flush()
        document_ids = [row.id for row in rows]
        job = ProcessingJob(
            user_id=user_id,
            project_id=project.id,
            job_type=JobType.FULL,
            status=JobStatus.RUNNING,
            document_ids=document_ids,
            documents_total=documents,
        )
        session.add(job)
        await session.flush()
        await worklist.add_work(session, job, document_ids)
        return JobRows(user_id, project.id, job.id, document_ids)
