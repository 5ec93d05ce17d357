"""A researcher's client for notebooks and scripts: the whole workflow in plain Python.

    from coderai import Client

    client = Client("127.0.0.1:50051")
    client.login("ada@example.org", "a long passphrase")
    project = client.create_project("Speeches", domain="parliamentary debates", unit="document")
    client.apply_codebook(project, "codebook.yaml")          # or client.add_variable(...)
    client.upload(project, "speeches/")                       # a folder, with a progress bar
    client.run(project, sample=10)                            # watched live, with a progress bar
    frame = client.results(project)                           # a pandas DataFrame
    client.export(project, "xlsx", "speeches.xlsx")

Calls block (a grpc channel without asyncio), so the client works inside Jupyter, whose event
loop is already running. Signed in with a password, it refreshes its access token before it
expires; with an API key (`Client(target, api_key="cak_...")`) there is nothing to refresh.
Every failure is a `CoderAIError` carrying the gRPC status and, for invalid input, the fields
at fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import grpc
import yaml
from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from tqdm.auto import tqdm

from coderai.channel import Tls, connect_blocking
from coderai.money import usd
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
    quality_pb2,
    quality_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)

if TYPE_CHECKING:
    # Imported where a table is made or read: pandas takes longer to import than the rest of
    # the client, and the command line mostly makes none.
    import pandas as pd

__all__ = ["Client", "CoderAIError", "UploadOutcome"]

Reply = TypeVar("Reply", bound=Message)

PAGE_SIZE = 200
# SubmitCodes takes at most this many codes per call (the edge's bound on repeated fields).
CODES_PER_CALL = 1000
UPLOAD_CHUNK_BYTES = 256 * 1024
# The server lets a user have 4 uploads in flight; a little fewer leaves room for the others.
UPLOADS_AT_ONCE = 3
# File types the server reads; a folder's other files are left out.
UPLOADABLE = frozenset({".pdf", ".docx", ".txt", ".text", ".md", ".html", ".htm", ".zip"})
# Refresh the access token this long before it expires.
REFRESH_MARGIN = timedelta(seconds=60)
# RESOURCE_EXHAUSTED with a retry delay (uploads in flight, open streams) is tried again.
RETRIES_WHEN_BUSY = 8
JOB_ENDED = frozenset(
    {
        common_pb2.JOB_STATUS_COMPLETED,
        common_pb2.JOB_STATUS_FAILED,
        common_pb2.JOB_STATUS_CANCELLED,
        common_pb2.JOB_STATUS_PAUSED,
    }
)
DOCUMENT_SETTLED = frozenset({common_pb2.DOCUMENT_STATUS_READY, common_pb2.DOCUMENT_STATUS_FAILED})


class CoderAIError(Exception):
    """A call the server refused or could not answer: its status code, message, and for
    invalid input each field at fault with what is wrong with it."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        violations: Sequence[tuple[str, str]] = (),
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.violations = list(violations)
        self.retry_after = retry_after
        lines = [f"{code.name}: {message}"]
        lines += [f"  {name}: {what}" for name, what in self.violations]
        super().__init__("\n".join(lines))

    @classmethod
    def of(cls, error: grpc.RpcError) -> CoderAIError:
        call: Any = error
        violations: list[tuple[str, str]] = []
        retry_after = None
        status = rpc_status.from_call(call)
        for detail in status.details if status is not None else ():
            bad_request = error_details_pb2.BadRequest()
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(bad_request):
                violations += [(v.field, v.description) for v in bad_request.field_violations]
            elif detail.Unpack(retry):
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
        return cls(call.code(), call.details() or "", violations, retry_after)


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one file: its document (None when refused) and why it was refused or
    why parsing failed."""

    path: Path
    document: document_pb2.Document | None
    error: str = ""
    duplicate: bool = False


@dataclass(frozen=True)
class CodebookChanges:
    """What apply_codebook did, by variable name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Client:
    """The CoderAI API for one researcher (see the module's example)."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        tls: Tls | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        progress: bool = True,
    ) -> None:
        self.target = target
        self.timeout = timeout
        # Progress bars (tqdm) for uploads and jobs; False for quiet scripts and tests.
        self.progress = progress
        self._channel = connect_blocking(
            target,
            tls=tls,
            api_key=api_key,
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
        )
        self._tokens: auth_pb2.TokenPair | None = None
        self._refreshing = threading.Lock()
        self.auth = auth_pb2_grpc.AuthServiceStub(self._channel)
        self.projects = project_pb2_grpc.ProjectServiceStub(self._channel)
        self.schema = schema_pb2_grpc.SchemaServiceStub(self._channel)
        self.documents = document_pb2_grpc.DocumentServiceStub(self._channel)
        self.jobs = job_pb2_grpc.JobServiceStub(self._channel)
        self.exports = export_pb2_grpc.ExportServiceStub(self._channel)
        self.quality = quality_pb2_grpc.QualityServiceStub(self._channel)

    # --- the connection and signing in ------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def register(self, email: str, password: str, display_name: str = "") -> auth_pb2.User:
        """Creates the account, then signs in with it (Register itself signs nobody in)."""
        self.call(
            self.auth.Register,
            auth_pb2.RegisterRequest(email=email, password=password, display_name=display_name),
            signed=False,
        )
        return self.login(email, password)

    def login(self, email: str, password: str) -> auth_pb2.User:
        reply = self.call(
            self.auth.Login, auth_pb2.LoginRequest(email=email, password=password), signed=False
        )
        self._tokens = reply.tokens
        return reply.user

    def resume_session(self, refresh_token: str) -> None:
        """Signs in with a refresh token kept from an earlier session (the command line's)."""
        self._tokens = auth_pb2.TokenPair(refresh_token=refresh_token)
        self._refresh()

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token: single-use, so it changes with every refresh."""
        return self._tokens.refresh_token if self._tokens is not None else None

    def logout(self) -> None:
        if self._tokens is not None:
            self.call(
                self.auth.Logout,
                auth_pb2.LogoutRequest(refresh_token=self._tokens.refresh_token),
                signed=False,
            )
            self._tokens = None

    def me(self) -> auth_pb2.User:
        return self.call(self.auth.GetMe, auth_pb2.GetMeRequest()).user

    # --- projects -------------------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        *,
        domain: str = "",
        language: str = "en",
        unit: str = "document",
        description: str = "",
        entity_identification_pattern: str = "",
        extraction_mode: str = "per_variable",
    ) -> project_pb2.Project:
        """A project; unit is "document" (a row per document) or "entity" (a row per entity
        found in a document, as entity_identification_pattern describes); extraction_mode
        is "per_variable" (a request per variable, the most accurate) or "grouped" (a
        document's variables in one request, several times cheaper)."""
        project = project_pb2.Project(
            name=name,
            description=description,
            domain=domain,
            language=language,
            unit_of_observation=_enum(common_pb2.UnitOfObservation, "UNIT_OF_OBSERVATION", unit),
            entity_identification_pattern=entity_identification_pattern,
            extraction_mode=_enum(common_pb2.ExtractionMode, "EXTRACTION_MODE", extraction_mode),
        )
        request = project_pb2.CreateProjectRequest(project=project)
        return self.call(self.projects.CreateProject, request).project

    def list_projects(self) -> list[project_pb2.Project]:
        return self._pages(
            lambda token: self.call(
                self.projects.ListProjects,
                project_pb2.ListProjectsRequest(page_size=PAGE_SIZE, page_token=token),
            ),
            lambda reply: reply.projects,
        )

    def project(self, name_or_id: str | project_pb2.Project) -> project_pb2.Project:
        """A project by its id or its name (NOT_FOUND when there is none; a name that several
        projects have is refused: use the id)."""
        if isinstance(name_or_id, project_pb2.Project):
            return name_or_id
        named = [p for p in self.list_projects() if name_or_id in (p.id, p.name)]
        if len(named) == 1:
            return named[0]
        if not named:
            raise CoderAIError(grpc.StatusCode.NOT_FOUND, f"no project {name_or_id!r}")
        raise CoderAIError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"{len(named)} projects are named {name_or_id!r}: use the id "
            f"({', '.join(p.id for p in named)})",
        )

    def update_project(
        self, project: str | project_pb2.Project, **fields: Any
    ) -> project_pb2.Project:
        """Changes the given fields (name, description, domain, language, unit,
        extraction_mode, ...) only; enums by name or number."""
        message = project_pb2.Project(id=self.project(project).id)
        paths = []
        for name, value in fields.items():
            if name in ("unit", "unit_of_observation"):
                name = "unit_of_observation"
                value = _enum(common_pb2.UnitOfObservation, "UNIT_OF_OBSERVATION", value)
            elif name == "extraction_mode":
                value = _enum(common_pb2.ExtractionMode, "EXTRACTION_MODE", value)
            setattr(message, name, value)
            paths.append(name)
        request = project_pb2.UpdateProjectRequest(project=message)
        request.update_mask.paths.extend(paths)
        return self.call(self.projects.UpdateProject, request).project

    def delete_project(self, project: str | project_pb2.Project) -> None:
        request = project_pb2.DeleteProjectRequest(project_id=self.project(project).id)
        self.call(self.projects.DeleteProject, request)

    # --- variables -----------------------------------------------------------------------------

    def add_variable(
        self,
        project: str | project_pb2.Project,
        name: str,
        type: str,
        instructions: str,
        **rules: Any,
    ) -> schema_pb2.Variable:
        """A variable: its column name, type (text, number, date, boolean, category) and
        instructions, and any of display_name, categories ({label: definition} or a list of
        {label, definition}), selection_logic, confidence_threshold, if_uncertain,
        if_multiple_values, max_values, default_value, validation ({min_value: 0, ...}) and
        depends_on (names of other variables)."""
        project_id = self.project(project).id
        spec = {"name": name, "type": type, "instructions": instructions, **rules}
        message = _variable_message(project_id, spec, self._variable_ids(project_id))
        request = schema_pb2.CreateVariableRequest(variable=message)
        return self.call(self.schema.CreateVariable, request).variable

    def suggest_variables(
        self,
        project: str | project_pb2.Project,
        question: str = "",
        *,
        documents: int = 5,
        max_suggestions: int = 8,
    ) -> schema_pb2.SuggestVariablesResponse:
        """The co-pilot's suggestions from excerpts of `documents` READY documents drawn at
        random (more than 5 are read in batches, a model call each) and the research
        question: each a valid variable to add with add_suggestion, with why it helps and a
        passage stating it; what was dropped and why; what was read and spent."""
        project_id = self.project(project).id
        if documents <= 5:
            request = schema_pb2.SuggestVariablesRequest(
                project_id=project_id,
                research_question=question,
                documents=documents,
                max_suggestions=max_suggestions,
            )
            return self.call(self.schema.SuggestVariables, request)
        streamed = schema_pb2.SuggestVariablesStreamRequest(
            project_id=project_id,
            research_question=question,
            documents=documents,
            max_suggestions=max_suggestions,
        )
        result = schema_pb2.SuggestVariablesResponse()
        for step in self._stream(self.schema.SuggestVariablesStream, streamed):
            if step.HasField("result"):
                result = step.result
        return result

    def add_suggestion(self, suggestion: schema_pb2.VariableSuggestion) -> schema_pb2.Variable:
        """Creates the suggested variable (CreateVariable: the same validation, its prompt)."""
        request = schema_pb2.CreateVariableRequest(variable=suggestion.variable)
        return self.call(self.schema.CreateVariable, request).variable

    def list_variables(self, project: str | project_pb2.Project) -> list[schema_pb2.Variable]:
        request = schema_pb2.ListVariablesRequest(project_id=self.project(project).id)
        return list(self.call(self.schema.ListVariables, request).variables)

    def apply_codebook(
        self, project: str | project_pb2.Project, codebook: str | Path | Mapping[str, Any]
    ) -> CodebookChanges:
        """Makes the project's variables what the codebook says (a YAML file, or its content
        as a mapping: `variables:` a list of variables as add_variable takes them): missing
        ones are created, changed ones updated, in the codebook's order. Variables the
        codebook does not name are left alone."""
        project_id = self.project(project).id
        if not isinstance(codebook, Mapping):
            codebook = yaml.safe_load(Path(codebook).read_text(encoding="utf-8")) or {}
        specs = codebook.get("variables") or []
        if not isinstance(specs, list):
            raise CoderAIError(
                grpc.StatusCode.INVALID_ARGUMENT, "the codebook's variables must be a list"
            )
        changes = CodebookChanges()
        existing = {v.name: v for v in self.list_variables(project_id)}
        for spec in specs:
            ids = {name: variable.id for name, variable in existing.items()}
            wanted = _variable_message(project_id, spec, ids)
            current = existing.get(wanted.name)
            if current is None:
                request = schema_pb2.CreateVariableRequest(variable=wanted)
                existing[wanted.name] = self.call(self.schema.CreateVariable, request).variable
                changes.created.append(wanted.name)
            elif _same_definition(current, wanted):
                changes.unchanged.append(wanted.name)
            else:
                wanted.id = current.id
                update = schema_pb2.UpdateVariableRequest(variable=wanted)
                existing[wanted.name] = self.call(self.schema.UpdateVariable, update).variable
                changes.updated.append(wanted.name)
        return changes

    def prompt(self, variable: schema_pb2.Variable) -> schema_pb2.PromptVersion:
        """The variable's active prompt: what the model is sent for it."""
        request = schema_pb2.GetPromptVersionRequest(variable_id=variable.id, version=0)
        return self.call(self.schema.GetPromptVersion, request).version

    # --- documents -----------------------------------------------------------------------------

    def upload(
        self,
        project: str | project_pb2.Project,
        *paths: str | Path,
        wait: bool = True,
        timeout: float = 600.0,
    ) -> list[UploadOutcome]:
        """Uploads files and folders (recursively; hidden files and types the server does not
        read are left out), a few at a time, then (wait) waits until each is parsed: READY,
        or FAILED with the reason in the outcome's error."""
        project_id = self.project(project).id
        files = sorted(_files(paths))
        bar = self._bar(total=sum(path.stat().st_size for path in files), unit="B", desc="upload")
        with bar, ThreadPoolExecutor(UPLOADS_AT_ONCE) as pool:
            outcomes = list(pool.map(lambda path: self._upload(project_id, path, bar), files))
        if wait:
            outcomes = self._parsed(outcomes, timeout)
        return outcomes

    def upload_data(
        self, project: str | project_pb2.Project, filename: str, data: bytes, *, wait: bool = True
    ) -> UploadOutcome:
        """Uploads bytes held in memory as a file of that name (downloaded, generated)."""
        project_id = self.project(project).id
        chunks = range(0, len(data), UPLOAD_CHUNK_BYTES)
        outcome = self._send(
            project_id,
            Path(filename),
            lambda: (data[start : start + UPLOAD_CHUNK_BYTES] for start in chunks),
        )
        return self._parsed([outcome], self.timeout * 10)[0] if wait else outcome

    def list_documents(self, project: str | project_pb2.Project) -> list[document_pb2.Document]:
        project_id = self.project(project).id
        return self._pages(
            lambda token: self.call(
                self.documents.ListDocuments,
                document_pb2.ListDocumentsRequest(
                    project_id=project_id, page_size=PAGE_SIZE, page_token=token
                ),
            ),
            lambda reply: reply.documents,
        )

    # --- jobs ----------------------------------------------------------------------------------

    def estimate(
        self, project: str | project_pb2.Project, *, sample: int | None = None
    ) -> job_pb2.JobEstimate:
        """What a SAMPLE job of `sample` documents, or a FULL job, would cost."""
        request = job_pb2.EstimateJobRequest(selection=self._selection(project, sample))
        return self.call(self.jobs.EstimateJob, request).estimate

    def run(
        self,
        project: str | project_pb2.Project,
        *,
        sample: int | None = None,
        retry_failed: bool = False,
        cost_budget: Decimal | str | None = None,
        token_budget: int | None = None,
        watch: bool = True,
        on_event: Callable[[job_pb2.WatchJobResponse], None] | None = None,
    ) -> job_pb2.ProcessingJob:
        """Starts a SAMPLE job of `sample` documents drawn at random, or a FULL job of every
        READY document; with watch, follows it until it ends or pauses (a progress bar) and
        returns it so, else returns it started. The job pauses before it would spend more
        than `cost_budget` US dollars or `token_budget` tokens (None: no budget)."""
        selection = self._selection(project, sample)
        selection.retry_failed = retry_failed
        request = job_pb2.CreateJobRequest(selection=selection, token_budget=token_budget or 0)
        if cost_budget is not None:
            request.cost_budget.CopyFrom(usd(cost_budget))
        job = self.call(self.jobs.CreateJob, request).job
        return self.watch(job, on_event) if watch else job

    def watch(
        self,
        job: str | job_pb2.ProcessingJob,
        on_event: Callable[[job_pb2.WatchJobResponse], None] | None = None,
    ) -> job_pb2.ProcessingJob:
        """Follows the job's live events (WatchJob) until it ends or pauses (a budget reached,
        too many failures, a provider outage, a pause by hand: nothing more happens until it
        is resumed), with a progress bar; reconnects after the last event seen if the stream
        breaks, and gives up (raising the last error) when the server stays out of reach for
        WATCH_RECONNECT_SECONDS. The job as it ended or paused."""
        job_id = job if isinstance(job, str) else job.id
        last_event = ""
        last_heard = time.monotonic()
        with self._bar(total=None, unit="doc", desc="job") as bar:
            while True:
                request = job_pb2.WatchJobRequest(job_id=job_id, last_event_id=last_event)
                try:
                    with contextlib.closing(self._stream(self.jobs.WatchJob, request)) as events:
                        for event in events:
                            last_heard = time.monotonic()
                            last_event = event.event_id or last_event
                            if event.HasField("job"):
                                _show_progress(bar, event.job)
                            if on_event is not None:
                                on_event(event)
                            if event.HasField("job") and event.job.status in JOB_ENDED:
                                break  # ended, or paused: the stream would wait for a resume
                    break
                except CoderAIError as error:
                    if error.code not in (
                        grpc.StatusCode.UNAUTHENTICATED,
                        grpc.StatusCode.UNAVAILABLE,
                    ):
                        raise
                    if time.monotonic() - last_heard > WATCH_RECONNECT_SECONDS:
                        raise
                    time.sleep(1)  # the stream broke or the token expired: go on
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> job_pb2.ProcessingJob:
        return self.call(self.jobs.GetJob, job_pb2.GetJobRequest(job_id=job_id)).job

    def list_jobs(self, project: str | project_pb2.Project) -> list[job_pb2.ProcessingJob]:
        project_id = self.project(project).id
        return self._pages(
            lambda token: self.call(
                self.jobs.ListJobs,
                job_pb2.ListJobsRequest(
                    project_id=project_id, page_size=PAGE_SIZE, page_token=token
                ),
            ),
            lambda reply: reply.jobs,
        )

    def pause(self, job_id: str) -> job_pb2.ProcessingJob:
        return self.call(self.jobs.PauseJob, job_pb2.PauseJobRequest(job_id=job_id)).job

    def resume(self, job_id: str) -> job_pb2.ProcessingJob:
        return self.call(self.jobs.ResumeJob, job_pb2.ResumeJobRequest(job_id=job_id)).job

    def cancel(self, job_id: str) -> job_pb2.ProcessingJob:
        return self.call(self.jobs.CancelJob, job_pb2.CancelJobRequest(job_id=job_id)).job

    def job_documents(self, job_id: str) -> list[job_pb2.JobDocument]:
        """The job's documents by filename, each processed, skipped, failed (with why), ..."""
        return self._pages(
            lambda token: self.call(
                self.jobs.ListJobDocuments,
                job_pb2.ListJobDocumentsRequest(
                    job_id=job_id, page_size=PAGE_SIZE, page_token=token
                ),
            ),
            lambda reply: reply.documents,
        )

    # --- the dataset ---------------------------------------------------------------------------

    def results(
        self, project: str | project_pb2.Project, *, metadata: bool = False
    ) -> pd.DataFrame:
        """The dataset as a DataFrame: a row per document (or entity), document_id and
        filename (entity_key and entity_name in entity projects), then a column per variable
        (a list in each cell for variables that keep several values; None when a cell holds no
        value). With metadata, each variable adds status_{name}, confidence_{name} and
        source_{name} (its first value's quote)."""
        import pandas as pd

        table = self.results_table(project)
        columns, rows = table.columns, table.rows
        entity = any(row.entity_key for row in rows)
        records = []
        for row in rows:
            record: dict[str, Any] = {"document_id": row.document_id, "filename": row.filename}
            if entity:
                record.update(entity_key=row.entity_key, entity_name=row.entity_name)
            for column, cell in zip(columns, row.cells, strict=True):
                record[column.name] = _cell_value(column, cell)
                if metadata:
                    status = export_pb2.CellStatus.Name(cell.status)
                    record[f"status_{column.name}"] = status.removeprefix("CELL_STATUS_")
                    record[f"confidence_{column.name}"] = cell.confidence or None
                    record[f"source_{column.name}"] = cell.source_text or None
            records.append(record)
        names = ["document_id", "filename", *(["entity_key", "entity_name"] if entity else [])]
        names += [column.name for column in columns]
        frame = pd.DataFrame.from_records(records, columns=None if metadata else names)
        for column in columns:
            if column.type == common_pb2.VARIABLE_TYPE_DATE and column.max_values <= 1:
                frame[column.name] = pd.to_datetime(frame[column.name], errors="coerce")
        return frame

    def results_table(self, project: str | project_pb2.Project) -> export_pb2.ListResultsResponse:
        """The dataset as ListResults gives it, every page in one: its columns and rows, each
        cell with its status, confidence and evidence."""
        project_id = self.project(project).id
        merged = export_pb2.ListResultsResponse()

        def page(token: str) -> export_pb2.ListResultsResponse:
            request = export_pb2.ListResultsRequest(
                project_id=project_id, page_size=PAGE_SIZE, page_token=token
            )
            reply = self.call(self.exports.ListResults, request)
            if not merged.columns:
                merged.columns.extend(reply.columns)
            return reply

        merged.rows.extend(self._pages(page, lambda reply: reply.rows))
        return merged

    def export(
        self,
        project: str | project_pb2.Project,
        format: str | int,
        path: str | Path,
        *,
        include_metadata: bool = False,
        timeout: float = 600.0,
    ) -> Path:
        """Builds the export (csv_wide, csv_long, xlsx, codebook, stata, spss, data_package),
        waits for it, downloads it to `path` (its SHA-256 checked) and returns the path."""
        request = export_pb2.CreateExportRequest(
            project_id=self.project(project).id,
            format=_enum(export_pb2.ExportFormat, "EXPORT_FORMAT", format),
            include_metadata=include_metadata,
        )
        built = self.call(self.exports.CreateExport, request).export
        deadline = time.monotonic() + timeout
        while built.status in (export_pb2.EXPORT_STATUS_PENDING, export_pb2.EXPORT_STATUS_RUNNING):
            if time.monotonic() > deadline:
                raise CoderAIError(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"export not built within {timeout:.0f} s"
                )
            time.sleep(0.5)
            get = export_pb2.GetExportRequest(export_id=built.id)
            built = self.call(self.exports.GetExport, get).export
        if built.status != export_pb2.EXPORT_STATUS_COMPLETED:
            raise CoderAIError(grpc.StatusCode.INTERNAL, f"the export failed: {built.error}")
        target = Path(path)
        digest = hashlib.sha256()
        expected = ""
        download = export_pb2.DownloadExportRequest(export_id=built.id)
        with target.open("wb") as out:
            for message in self._stream(self.exports.DownloadExport, download):
                if message.HasField("file"):
                    expected = message.file.sha256
                out.write(message.chunk)
                digest.update(message.chunk)
        if expected and digest.hexdigest() != expected:
            raise CoderAIError(grpc.StatusCode.DATA_LOSS, f"{target} arrived damaged: try again")
        return target

    # --- plumbing ------------------------------------------------------------------------------

    # --- quality: blind coding, agreement, refinement ------------------------------------------

    def coding_sample(
        self, project: str | project_pb2.Project, name: str, size: int, *, seed: int = 0
    ) -> quality_pb2.CodingSample:
        """Draws `size` of the project's READY documents at random for blind coding."""
        request = quality_pb2.CreateCodingSampleRequest(
            project_id=self.project(project).id, name=name, size=size, seed=seed
        )
        return self.call(self.quality.CreateCodingSample, request).sample

    def import_codes(
        self,
        project: str | project_pb2.Project,
        coder: str,
        codes: str | Path | pd.DataFrame,
        *,
        sample: quality_pb2.CodingSample | None = None,
    ) -> int:
        """Stores a coder's codes from a table (a CSV file or a DataFrame) with a row per
        document: a `filename` or `document_id` column, `entity_name` in entity projects, a
        column per coded variable, named as the variable, and optionally `note_<variable>`.
        An empty cell says the document does not state the value; a variable without a column
        is not coded. Returns the number of codes stored; all or nothing per call."""
        import pandas as pd

        project_id = self.project(project).id
        frame = codes if isinstance(codes, pd.DataFrame) else pd.read_csv(codes, dtype=str)
        variables = self._variable_ids(project_id)
        coded = [name for name in frame.columns if name in variables]
        if not coded:
            raise ValueError(f"no column names a variable of the project ({', '.join(variables)})")
        documents = self._document_ids(project_id, frame)
        inputs = []
        for index, row in frame.iterrows():
            for name in coded:
                given = quality_pb2.CodeInput(
                    variable_id=variables[name],
                    document_id=documents[index],
                    entity_name=_text(row.get("entity_name")),
                    note=_text(row.get(f"note_{name}")),
                )
                if _text(row[name]):
                    given.value.string_value = _text(row[name])
                inputs.append(given)
        stored = 0
        for start in range(0, len(inputs), CODES_PER_CALL):
            request = quality_pb2.SubmitCodesRequest(
                project_id=project_id,
                coder=coder,
                sample_id=sample.id if sample else "",
                codes=inputs[start : start + CODES_PER_CALL],
            )
            stored += self.call(self.quality.SubmitCodes, request).stored
        return stored

    def agreement(
        self,
        project: str | project_pb2.Project,
        variable: str,
        *,
        reference: str = "review",
        target_precision: float = 0.0,
    ) -> pd.DataFrame:
        """The variable's agreement as a tidy table: a row per measure of each comparison
        (the model per prompt version against `reference`, then every pair of coders), with
        its value, 95 % interval and units, or why it is undefined."""
        request = quality_pb2.GetAgreementRequest(
            variable_id=self._variable_ids(self.project(project).id)[variable],
            reference=reference,
            target_precision=target_precision,
        )
        reply = self.call(self.quality.GetAgreement, request)
        records = [
            {
                "compared": report.compared,
                "reference": report.reference,
                "prompt_version": report.prompt_version or None,
                "measure": measure.name,
                "value": measure.value if measure.HasField("value") else None,
                "ci_low": measure.ci_low if measure.HasField("ci_low") else None,
                "ci_high": measure.ci_high if measure.HasField("ci_high") else None,
                "units": measure.units,
                "undefined": measure.undefined_reason or None,
            }
            for report in (*reply.model, *reply.coders)
            for measure in report.measures
        ]
        import pandas as pd

        return pd.DataFrame.from_records(records, columns=_AGREEMENT_COLUMNS)

    def refine(
        self,
        project: str | project_pb2.Project,
        variable: str,
        *,
        method: str = "rules",
        reference: str = "review",
        timeout: float = 600.0,
    ) -> quality_pb2.Refinement:
        """Proposes a refinement of the variable's prompt ("rules": from the reference's
        corrections and notes; "agent": the model proposes), waiting for the agent's job."""
        request = quality_pb2.ProposeRefinementRequest(
            variable_id=self._variable_ids(self.project(project).id)[variable],
            method=_enum(quality_pb2.RefinementMethod, "REFINEMENT_METHOD", method),
            reference=reference,
        )
        refinement = self.call(self.quality.ProposeRefinement, request).refinement
        deadline = time.monotonic() + timeout
        while refinement.status == quality_pb2.REFINEMENT_STATUS_PENDING:
            if time.monotonic() > deadline:
                raise TimeoutError(f"refinement {refinement.id} still pending after {timeout}s")
            time.sleep(0.5)
            lookup = quality_pb2.GetRefinementRequest(refinement_id=refinement.id)
            refinement = self.call(self.quality.GetRefinement, lookup).refinement
        return refinement

    def accept_refinement(
        self, refinement: quality_pb2.Refinement, *, instructions: str | None = None
    ) -> int:
        """Accepts a READY proposal (with edited instructions, if given); the new active
        prompt version."""
        request = quality_pb2.AcceptRefinementRequest(refinement_id=refinement.id)
        if instructions is not None:
            request.instructions = instructions
        return self.call(self.quality.AcceptRefinement, request).prompt_version

    def compare_versions(
        self,
        project: str | project_pb2.Project,
        variable: str,
        base_version: int,
        *,
        new_version: int = 0,
        reference: str = "review",
        refinement: quality_pb2.Refinement | None = None,
    ) -> quality_pb2.ComparePromptVersionsResponse:
        """Two prompt versions on the same units (a refinement's held-out ones, if given):
        each one's agreement, the change with its interval, and each value that changed."""
        request = quality_pb2.ComparePromptVersionsRequest(
            variable_id=self._variable_ids(self.project(project).id)[variable],
            reference=reference,
            base_version=base_version,
            new_version=new_version,
            refinement_id=refinement.id if refinement else "",
        )
        return self.call(self.quality.ComparePromptVersions, request)

    def call(self, method: Callable[..., Reply], request: Message, *, signed: bool = True) -> Reply:
        """Any unary call of the API, e.g. `client.call(client.jobs.ListJobLogs, request)`:
        signed with a fresh access token, tried again once after a refresh when the token was
        refused, and after the server's delay when it is busy; CoderAIError when refused."""
        refreshed = False
        busy = 0
        while True:
            try:
                metadata = self._metadata() if signed else None
                return method(request, metadata=metadata, timeout=self.timeout)
            except grpc.RpcError as raw:
                error = CoderAIError.of(raw)
            if error.code == grpc.StatusCode.UNAUTHENTICATED and signed and not refreshed:
                if self._tokens is None:
                    raise error
                self._refresh()
                refreshed = True
            elif (
                error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
                and error.retry_after is not None
                and busy < RETRIES_WHEN_BUSY
            ):
                busy += 1
                time.sleep(min(error.retry_after, 30.0))
            else:
                raise error

    def _stream(
        self, method: Callable[..., Iterable[Reply]], request: Message
    ) -> Generator[Reply, None, None]:
        """A server stream's messages; a refused stream raises CoderAIError. A reader that
        stops early (closing the iterator) ends the call."""
        call = method(request, metadata=self._metadata())
        try:
            yield from call
        except grpc.RpcError as raw:
            raise CoderAIError.of(raw) from None
        finally:
            # A no-op once the stream has ended. (grpc's stubs leave cancel untyped.)
            cast(grpc.Call, call).cancel()  # type: ignore[no-untyped-call]

    def _metadata(self) -> tuple[tuple[str, str], ...] | None:
        if self._tokens is None:
            return None  # an API key, sent by the channel, or not signed in
        expires = self._tokens.access_token_expire_time.ToDatetime(tzinfo=UTC)
        if not self._tokens.access_token or expires - datetime.now(UTC) < REFRESH_MARGIN:
            self._refresh()
        return (("authorization", f"Bearer {self._tokens.access_token}"),)

    def _refresh(self) -> None:
        with self._refreshing:
            if self._tokens is None:
                raise CoderAIError(grpc.StatusCode.UNAUTHENTICATED, "not signed in")
            request = auth_pb2.RefreshRequest(refresh_token=self._tokens.refresh_token)
            try:
                reply = self.auth.Refresh(request, timeout=self.timeout)
            except grpc.RpcError as raw:
                raise CoderAIError.of(raw) from None
            self._tokens = reply.tokens

    def _pages(
        self, fetch: Callable[[str], Reply], items: Callable[[Reply], Iterable[Any]]
    ) -> list[Any]:
        found: list[Any] = []
        token = ""
        while True:
            reply = fetch(token)
            found.extend(items(reply))
            token = getattr(reply, "next_page_token", "")
            if not token:
                return found

    def _document_ids(self, project_id: str, frame: pd.DataFrame) -> dict[Any, str]:
        """Each row's document, by its document_id or its filename."""
        if "document_id" in frame.columns:
            return {index: str(value) for index, value in frame["document_id"].items()}
        if "filename" not in frame.columns:
            raise ValueError("the codes need a filename or a document_id column")
        by_name = {document.filename: document.id for document in self.list_documents(project_id)}
        unknown = sorted(set(frame["filename"]) - set(by_name))
        if unknown:
            raise ValueError(f"no document of the project is named {', '.join(unknown)}")
        return {index: by_name[name] for index, name in frame["filename"].items()}

    def _variable_ids(self, project_id: str) -> dict[str, str]:
        return {variable.name: variable.id for variable in self.list_variables(project_id)}

    def _selection(
        self, project: str | project_pb2.Project, sample: int | None
    ) -> job_pb2.JobSelection:
        return job_pb2.JobSelection(
            project_id=self.project(project).id,
            type=common_pb2.JOB_TYPE_SAMPLE if sample is not None else common_pb2.JOB_TYPE_FULL,
            sample_size=sample or 0,
        )

    def _bar(self, total: float | None, unit: str, desc: str) -> tqdm[Any]:
        return tqdm(
            total=total, unit=unit, desc=desc, disable=not self.progress, unit_scale=unit == "B"
        )

    def _upload(self, project_id: str, path: Path, bar: tqdm[Any]) -> UploadOutcome:
        def chunks() -> Iterator[bytes]:
            with path.open("rb") as file:
                while chunk := file.read(UPLOAD_CHUNK_BYTES):
                    yield chunk

        outcome = self._send(project_id, path, chunks)
        bar.update(path.stat().st_size)
        return outcome

    def _send(
        self, project_id: str, path: Path, chunks: Callable[[], Iterator[bytes]]
    ) -> UploadOutcome:
        """Streams one file to UploadDocument, again after the server's delay when it has too
        many uploads in flight; what became of it."""

        def messages() -> Iterator[document_pb2.UploadDocumentRequest]:
            metadata = document_pb2.UploadMetadata(project_id=project_id, filename=path.name)
            yield document_pb2.UploadDocumentRequest(metadata=metadata)
            for chunk in chunks():
                yield document_pb2.UploadDocumentRequest(chunk=chunk)

        for _ in range(RETRIES_WHEN_BUSY + 1):
            try:
                reply = self.documents.UploadDocument(
                    messages(), metadata=self._metadata(), timeout=self.timeout * 10
                )
            except grpc.RpcError as raw:
                error = CoderAIError.of(raw)
                if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and error.retry_after:
                    time.sleep(min(error.retry_after, 30.0))
                    continue
                return UploadOutcome(path, None, error.message)
            [result] = reply.results[:1] or [document_pb2.UploadResult(error_message="no result")]
            document = result.document if result.HasField("document") else None
            return UploadOutcome(path, document, result.error_message, result.duplicate)
        return UploadOutcome(path, None, "the server stayed busy: upload it again")

    def _parsed(self, outcomes: list[UploadOutcome], timeout: float) -> list[UploadOutcome]:
        """The outcomes once every uploaded document is READY or FAILED (its error then)."""
        deadline = time.monotonic() + timeout
        settled: dict[str, document_pb2.Document] = {}
        waiting = {o.document.id for o in outcomes if o.document is not None}
        while waiting - settled.keys():
            for document_id in waiting - settled.keys():
                request = document_pb2.GetDocumentRequest(document_id=document_id)
                document = self.call(self.documents.GetDocument, request).document
                if document.status in DOCUMENT_SETTLED:
                    settled[document_id] = document
            if waiting - settled.keys():
                if time.monotonic() > deadline:
                    raise CoderAIError(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"{len(waiting - settled.keys())} documents not parsed within "
                        f"{timeout:.0f} s",
                    )
                time.sleep(0.3)
        result = []
        for outcome in outcomes:
            if outcome.document is None:
                result.append(outcome)
                continue
            parsed = settled[outcome.document.id]
            failed = parsed.status == common_pb2.DOCUMENT_STATUS_FAILED
            error = parsed.error_message if failed else ""
            result.append(UploadOutcome(outcome.path, parsed, error, outcome.duplicate))
        return result


# How long watch() tries to reconnect to a server it cannot reach before it gives up.
WATCH_RECONNECT_SECONDS = 60.0

_AGREEMENT_COLUMNS = [
    "compared",
    "reference",
    "prompt_version",
    "measure",
    "value",
    "ci_low",
    "ci_high",
    "units",
    "undefined",
]


def _text(cell: Any) -> str:
    """A table cell as text; empty for a missing one (NaN)."""
    return "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell).strip()


def _enum(wrapper: Any, prefix: str, value: str | int) -> Any:
    """An enum's number from its number or its name, whole or short, any case ("category",
    "CATEGORY", "VARIABLE_TYPE_CATEGORY")."""
    if isinstance(value, int):
        return value
    name = value.strip().upper().replace("-", "_").replace(" ", "_")
    if not name.startswith(f"{prefix}_"):
        name = f"{prefix}_{name}"
    try:
        return int(wrapper.Value(name))
    except ValueError:
        choices = [
            n.removeprefix(f"{prefix}_").lower()
            for n in wrapper.keys()  # noqa: SIM118 - an enum wrapper, not a dict
            if not n.endswith("UNSPECIFIED")
        ]
        raise CoderAIError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{value!r} is not one of {', '.join(choices)}",
        ) from None


_VARIABLE_KEYS = frozenset(
    {
        "name",
        "type",
        "instructions",
        "display_name",
        "categories",
        "selection_logic",
        "confidence_threshold",
        "if_uncertain",
        "if_multiple_values",
        "max_values",
        "default_value",
        "validation",
        "depends_on",
    }
)


def _variable_message(
    project_id: str, spec: Mapping[str, Any], ids: Mapping[str, str]
) -> schema_pb2.Variable:
    """A Variable from the plain description add_variable and codebooks use."""
    unknown = sorted(set(spec) - _VARIABLE_KEYS)
    if unknown:
        raise CoderAIError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"variable {spec.get('name', '?')!r}: unknown keys {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_VARIABLE_KEYS))})",
        )
    variable = schema_pb2.Variable(
        project_id=project_id,
        name=str(spec.get("name", "")),
        display_name=str(spec.get("display_name") or ""),
        type=_enum(common_pb2.VariableType, "VARIABLE_TYPE", spec.get("type", "text")),
        instructions=str(spec.get("instructions") or "").strip(),
    )
    categories = spec.get("categories")
    if categories:
        pairs = (
            categories.items()
            if isinstance(categories, Mapping)
            else [
                (item["label"], item.get("definition", ""))
                if isinstance(item, Mapping)
                else (item, "")
                for item in categories
            ]
        )
        variable.classification_rules.categories.extend(
            schema_pb2.Category(label=str(label), definition=str(definition or ""))
            for label, definition in pairs
        )
    if spec.get("selection_logic"):
        variable.classification_rules.selection_logic = str(spec["selection_logic"])
    if spec.get("confidence_threshold") is not None:
        variable.confidence_threshold = float(spec["confidence_threshold"])
    if spec.get("if_uncertain"):
        variable.if_uncertain = _enum(common_pb2.IfUncertain, "IF_UNCERTAIN", spec["if_uncertain"])
    if spec.get("if_multiple_values"):
        variable.if_multiple_values = _enum(
            common_pb2.IfMultipleValues, "IF_MULTIPLE_VALUES", spec["if_multiple_values"]
        )
    if spec.get("max_values") is not None:
        variable.max_values = int(spec["max_values"])
    if spec.get("default_value") is not None:
        variable.default_value.CopyFrom(
            json_format.ParseDict(spec["default_value"], struct_pb2.Value())
        )
    for name, value in (spec.get("validation") or {}).items():
        setattr(variable.validation_rules, name, value)
    for dependency in spec.get("depends_on") or []:
        if dependency not in ids:
            raise CoderAIError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"variable {variable.name!r} depends on {dependency!r}, which the project has "
                "not (define it first)",
            )
        variable.depends_on.append(ids[dependency])
    return variable


# What apply_codebook compares: the definition, not ids, order or times.
_DEFINITION = (
    "name",
    "display_name",
    "type",
    "instructions",
    "classification_rules",
    "confidence_threshold",
    "if_uncertain",
    "if_multiple_values",
    "max_values",
    "default_value",
    "validation_rules",
    "depends_on",
)


def _same_definition(current: schema_pb2.Variable, wanted: schema_pb2.Variable) -> bool:
    """Whether the stored variable already is what the codebook asks (unset fields of the
    codebook take the server's defaults, so they are not compared)."""
    for name in _DEFINITION:
        if name in ("confidence_threshold", "default_value") and not wanted.HasField(name):
            continue
        if name in ("if_uncertain", "if_multiple_values", "max_values") and not getattr(
            wanted, name
        ):
            continue
        if getattr(current, name) != getattr(wanted, name):
            return False
    return True


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for found in path.rglob("*"):
                relative = found.relative_to(path)
                hidden = any(part.startswith(".") for part in relative.parts)
                if found.is_file() and not hidden and found.suffix.lower() in UPLOADABLE:
                    yield found
        elif path.is_file():
            yield path  # named on purpose: the server says if it cannot read it
        else:
            raise CoderAIError(grpc.StatusCode.NOT_FOUND, f"no file or folder {path}")


def _cell_value(column: export_pb2.ResultColumn, cell: export_pb2.ResultCell) -> Any:
    if not cell.HasField("value") or cell.status in (
        export_pb2.CELL_STATUS_FAILED,
        export_pb2.CELL_STATUS_NOT_PROCESSED,
    ):
        return None
    value = json_format.MessageToDict(cell.value)
    if (
        column.type == common_pb2.VARIABLE_TYPE_NUMBER
        and isinstance(value, float)
        and value.is_integer()
    ):
        return int(value)
    return value


def _show_progress(bar: tqdm[Any], job: job_pb2.ProcessingJob) -> None:
    if bar.total != job.documents_total:
        bar.total = job.documents_total
    bar.n = job.documents_processed + job.documents_failed
    status = common_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_").lower()
    bar.set_postfix_str(f"{status}, {job.documents_failed} failed, {job.tokens_used} tokens")
    bar.refresh()
