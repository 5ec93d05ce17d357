"""JobService servicer: converts messages, calls JobService (FeedbackService for the feedback
RPCs)."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

from coderai.v1 import common_pb2, job_pb2, job_pb2_grpc

from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import RpcContext, current_principal, current_user_id
from server.core.pagination import page_size
from server.core.processing_log import ProcessingLog
from server.core.proto import (
    enum_from_proto,
    enum_to_proto,
    enums_from_proto,
    json_value,
    parse_id,
    parse_ids,
    timestamp,
    usd_amount,
    usd_fields,
)
from server.core.slots import Slots
from server.feedback.rpc import feedback_filter, feedback_input, feedback_message
from server.feedback.service import FeedbackService
from server.jobs.costing import ModeEstimate
from server.jobs.events import JobEvent
from server.jobs.evidence import Evidence, ValueEvidence, stored_evidence
from server.jobs.models import (
    EXTRACTION_JOB_TYPES,
    EvidenceMatch,
    Extraction,
    ExtractionStatus,
    JobDocumentStatus,
    JobType,
    ProcessingJob,
)
from server.jobs.service import Estimate, ExtractionFilter, JobService, Selection
from server.jobs.view import JobView
from server.jobs.worklist import WorkItem
from server.projects.models import ExtractionMode


def job_message(job: ProcessingJob | JobView) -> job_pb2.ProcessingJob:
    view = job if isinstance(job, JobView) else JobView.of(job)
    return job_pb2.ProcessingJob(
        id=str(view.id),
        project_id=str(view.project_id),
        type=enum_to_proto(view.job_type, "JOB_TYPE"),
        status=enum_to_proto(view.status, "JOB_STATUS"),
        document_ids=[str(d) for d in view.document_ids or ()],
        documents_total=view.documents_total,
        documents_processed=view.documents_processed,
        documents_failed=view.documents_failed,
        progress_percent=view.progress,
        tokens_used=view.tokens_used,
        input_tokens=view.input_tokens,
        cached_input_tokens=view.cached_input_tokens,
        output_tokens=view.output_tokens,
        **usd_fields("cost", "cost_usd", view.cost_usd),
        **usd_fields("cost_budget", "cost_budget_usd", view.cost_budget_usd),
        status_reason=view.status_reason,
        create_time=timestamp(view.created_at),
        start_time=timestamp(view.started_at),
        end_time=timestamp(view.finished_at),
        token_budget=view.token_budget or 0,
        consecutive_failures=view.consecutive_failures,
        stop_reason=enum_to_proto(view.stop_reason, "JOB_STOP_REASON"),
        automatic_resumes=view.automatic_resumes,
        retry_failed=view.retry_failed,
        llm_provider=view.llm_provider,
        extraction_mode=enum_to_proto(view.extraction_mode, "EXTRACTION_MODE"),
        llm_model=view.llm_model,
    )


def estimate_message(estimate: Estimate) -> job_pb2.JobEstimate:
    return job_pb2.JobEstimate(
        documents=estimate.documents,
        variables=estimate.variables,
        llm_calls=estimate.llm_calls,
        prompt_tokens=estimate.prompt_tokens,
        max_output_tokens=estimate.max_output_tokens,
        documents_already_done=estimate.documents_already_done,
        warnings=estimate.warnings,
        llm_provider=estimate.llm_provider,
        llm_model=estimate.llm_model,
        extraction_mode=enum_to_proto(estimate.extraction_mode, "EXTRACTION_MODE"),
        per_variable=mode_estimate_message(estimate.modes[ExtractionMode.PER_VARIABLE]),
        grouped=mode_estimate_message(estimate.modes[ExtractionMode.GROUPED]),
        **usd_fields("max_cost", "max_cost_usd", estimate.max_cost_usd),
    )


def mode_estimate_message(estimate: ModeEstimate) -> job_pb2.ModeEstimate:
    return job_pb2.ModeEstimate(
        llm_calls=estimate.llm_calls,
        prompt_tokens=estimate.prompt_tokens,
        cacheable_prompt_tokens=estimate.cacheable_prompt_tokens,
        max_output_tokens=estimate.max_output_tokens,
        **usd_fields("max_cost", "max_cost_usd", estimate.max_cost_usd),
        **usd_fields("max_cost_cached", "max_cost_usd_cached", estimate.max_cost_usd_cached),
    )


def extraction_message(extraction: Extraction) -> job_pb2.Extraction:
    return job_pb2.Extraction(
        id=str(extraction.id),
        document_id=str(extraction.document_id),
        variable_id=str(extraction.variable_id),
        entity_key=extraction.entity_key,
        entity_name=extraction.entity_name,
        value=json_value(extraction.value),
        confidence=extraction.confidence or 0.0,
        source_text=extraction.source_text or "",
        source_start_offset=extraction.source_start or 0,
        source_end_offset=extraction.source_end or 0,
        prompt_version=extraction.prompt_version or 0,
        status=enum_to_proto(extraction.status, "EXTRACTION_STATUS"),
        error=extraction.error or "",
        evidence_match=enum_to_proto(extraction.evidence_match, "EVIDENCE_MATCH"),
        job_id=str(extraction.job_id) if extraction.job_id else "",
        update_time=timestamp(extraction.updated_at),
        llm_provider=extraction.llm_provider or "",
        llm_model=extraction.llm_model or "",
        best_guess=extraction.best_guess,
        value_evidence=[
            value_evidence_message(item)
            for item in stored_evidence(
                extraction.value_evidence,
                ValueEvidence(
                    extraction.source_text,
                    Evidence(
                        extraction.evidence_match, extraction.source_start, extraction.source_end
                    ),
                ),
            )
        ],
    )


def value_evidence_message(item: ValueEvidence) -> common_pb2.ValueEvidence:
    return common_pb2.ValueEvidence(
        source_text=item.source_text or "",
        source_start_offset=item.evidence.start or 0,
        source_end_offset=item.evidence.end or 0,
        evidence_match=enum_to_proto(item.evidence.match, "EVIDENCE_MATCH"),
        candidates=item.evidence.candidates,
        weak=item.evidence.weak,
    )


# The work list's DONE is PROCESSED in the contract: done by this job, as opposed to SKIPPED.
_JOB_DOCUMENT_STATUSES = {
    JobDocumentStatus.PENDING: job_pb2.JOB_DOCUMENT_STATUS_PENDING,
    JobDocumentStatus.RUNNING: job_pb2.JOB_DOCUMENT_STATUS_RUNNING,
    JobDocumentStatus.DONE: job_pb2.JOB_DOCUMENT_STATUS_PROCESSED,
    JobDocumentStatus.SKIPPED: job_pb2.JOB_DOCUMENT_STATUS_SKIPPED,
    JobDocumentStatus.FAILED: job_pb2.JOB_DOCUMENT_STATUS_FAILED,
}
_JOB_DOCUMENT_STATUSES_BY_NUMBER: dict[int, JobDocumentStatus] = {
    number: status for status, number in _JOB_DOCUMENT_STATUSES.items()
}


def job_document_statuses(numbers: Sequence[int]) -> list[JobDocumentStatus]:
    """The work-list statuses a ListJobDocuments filter names."""
    statuses = []
    for number in numbers:
        if number not in _JOB_DOCUMENT_STATUSES_BY_NUMBER:
            raise InvalidArgument(
                f"statuses has an unknown value {number}",
                [FieldViolation("statuses", f"unknown value {number}")],
            )
        statuses.append(_JOB_DOCUMENT_STATUSES_BY_NUMBER[number])
    return statuses


def job_document_message(item: WorkItem) -> job_pb2.JobDocument:
    return job_pb2.JobDocument(
        document_id=str(item.document_id),
        filename=item.filename,
        status=_JOB_DOCUMENT_STATUSES[item.status],
        error=item.error or "",
        attempts=item.attempts,
    )


def log_message(entry: ProcessingLog) -> job_pb2.LogEntry:
    message = job_pb2.LogEntry(
        id=str(entry.id),
        event_type=entry.event_type.value,
        type=enum_to_proto(entry.event_type, "LOG_EVENT_TYPE"),
        message=entry.message,
        document_id=str(entry.document_id) if entry.document_id else "",
        create_time=timestamp(entry.created_at),
    )
    message.details.update(entry.details)
    return message


def event_fields(event: JobEvent) -> dict[str, Any]:
    """The fields WatchJobResponse and WatchProjectResponse share, for one event."""
    return {
        "event_id": event.id,
        "event_type": event.type,
        "type": f"JOB_EVENT_TYPE_{event.type.upper()}",
        "job": job_message(event.job) if event.job else None,
        "document_id": event.document_id,
        "message": event.message,
        "events_lost": event.events_lost,
    }


WatchResponse = TypeVar("WatchResponse", job_pb2.WatchJobResponse, job_pb2.WatchProjectResponse)


class EventMessages(Generic[WatchResponse]):
    """Each event's response message, built once in this process however many watch it: the
    feed (server.jobs.feed) hands every watcher of a stream the same JobEvent, so the first
    watcher to send an event builds its message and the others send that one (built per
    watcher, it was about half of a delivered message's server CPU). Shared, a message is never
    changed once built; its entry goes when its event does."""

    def __init__(self, message_type: type[WatchResponse]) -> None:
        self._message_type: type[WatchResponse] = message_type
        self._built: weakref.WeakKeyDictionary[JobEvent, WatchResponse] = (
            weakref.WeakKeyDictionary()
        )

    def of(self, event: JobEvent) -> WatchResponse:
        message = self._built.get(event)
        if message is None:
            message = self._built[event] = self._message_type(**event_fields(event))
        return message


def cost_budget(request: job_pb2.CreateJobRequest) -> Decimal | None:
    """The request's cost budget in US dollars, from cost_budget or the deprecated
    cost_budget_usd (both: the same amount); None when neither is set (no budget)."""
    given: dict[str, Decimal] = {}
    if request.HasField("cost_budget"):
        given["cost_budget"] = usd_amount(request.cost_budget, "cost_budget")
    if request.HasField("cost_budget_usd"):
        given["cost_budget_usd"] = Decimal(str(request.cost_budget_usd))
    if len(set(given.values())) > 1:
        description = "must be the same amount as cost_budget (or left unset)"
        raise InvalidArgument(
            f"cost_budget_usd {description}", [FieldViolation("cost_budget_usd", description)]
        )
    for field, amount in given.items():
        if amount <= 0:
            raise InvalidArgument(f"{field} must be positive", [FieldViolation(field, "> 0")])
    if "cost_budget" in given and given["cost_budget"] != round(given["cost_budget"], 6):
        # A job's money is kept to the micro-dollar; rounding a budget would change it unseen.
        description = "must be a whole number of micro-dollars (at most 6 decimal places)"
        raise InvalidArgument(
            f"cost_budget {description}", [FieldViolation("cost_budget", description)]
        )
    return next(iter(given.values()), None)


def evidence_filter(numbers: Sequence[int]) -> list[EvidenceMatch]:
    """The evidence_matches filter of a request."""
    return enums_from_proto(
        numbers, EvidenceMatch, common_pb2.EvidenceMatch, "EVIDENCE_MATCH", "evidence_matches"
    )


def selection_of(message: job_pb2.JobSelection) -> Selection:
    job_type = enum_from_proto(
        message.type, JobType, common_pb2.JobType, "JOB_TYPE", "selection.type"
    )
    if job_type not in EXTRACTION_JOB_TYPES:
        # A refinement job is started by QualityService.ProposeRefinement.
        raise InvalidArgument(
            "selection.type must be SAMPLE or FULL",
            [FieldViolation("selection.type", "SAMPLE or FULL")],
        )
    return Selection(
        project_id=parse_id(message.project_id, "selection.project_id"),
        job_type=job_type,
        document_ids=parse_ids(message.document_ids, "selection.document_ids"),
        sample_size=message.sample_size,
        retry_failed=message.retry_failed,
    )


class JobServicer(job_pb2_grpc.JobServiceServicer):
    def __init__(self, service: JobService, feedback: FeedbackService, streams: Slots) -> None:
        self._service = service
        self._feedback = feedback
        self._streams = streams
        # The feed's events are the keys: one table per process, as the feed's readers are.
        self._job_messages = EventMessages(job_pb2.WatchJobResponse)
        self._project_messages = EventMessages(job_pb2.WatchProjectResponse)

    async def EstimateJob(  # noqa: N802 - gRPC method names are the proto's
        self, request: job_pb2.EstimateJobRequest, context: RpcContext
    ) -> job_pb2.EstimateJobResponse:
        estimate = await self._service.estimate(current_user_id(), selection_of(request.selection))
        return job_pb2.EstimateJobResponse(estimate=estimate_message(estimate))

    async def CreateJob(  # noqa: N802
        self, request: job_pb2.CreateJobRequest, context: RpcContext
    ) -> job_pb2.CreateJobResponse:
        job, estimate = await self._service.create(
            current_user_id(),
            selection_of(request.selection),
            token_budget=request.token_budget or None,
            cost_budget_usd=cost_budget(request),
        )
        return job_pb2.CreateJobResponse(job=job_message(job), estimate=estimate_message(estimate))

    async def GetJob(  # noqa: N802
        self, request: job_pb2.GetJobRequest, context: RpcContext
    ) -> job_pb2.GetJobResponse:
        job = await self._service.get(current_user_id(), parse_id(request.job_id, "job_id"))
        return job_pb2.GetJobResponse(job=job_message(job))

    async def ListJobs(  # noqa: N802
        self, request: job_pb2.ListJobsRequest, context: RpcContext
    ) -> job_pb2.ListJobsResponse:
        jobs, token = await self._service.list(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            page_size(request.page_size),
            request.page_token,
        )
        return job_pb2.ListJobsResponse(
            jobs=[job_message(job) for job in jobs], next_page_token=token
        )

    async def PauseJob(  # noqa: N802
        self, request: job_pb2.PauseJobRequest, context: RpcContext
    ) -> job_pb2.PauseJobResponse:
        job = await self._service.pause(current_user_id(), parse_id(request.job_id, "job_id"))
        return job_pb2.PauseJobResponse(job=job_message(job))

    async def ResumeJob(  # noqa: N802
        self, request: job_pb2.ResumeJobRequest, context: RpcContext
    ) -> job_pb2.ResumeJobResponse:
        job = await self._service.resume(current_user_id(), parse_id(request.job_id, "job_id"))
        return job_pb2.ResumeJobResponse(job=job_message(job))

    async def CancelJob(  # noqa: N802
        self, request: job_pb2.CancelJobRequest, context: RpcContext
    ) -> job_pb2.CancelJobResponse:
        job = await self._service.cancel(current_user_id(), parse_id(request.job_id, "job_id"))
        return job_pb2.CancelJobResponse(job=job_message(job))

    async def ListJobLogs(  # noqa: N802
        self, request: job_pb2.ListJobLogsRequest, context: RpcContext
    ) -> job_pb2.ListJobLogsResponse:
        entries, token = await self._service.logs(
            current_user_id(),
            parse_id(request.job_id, "job_id"),
            page_size(request.page_size),
            request.page_token,
        )
        return job_pb2.ListJobLogsResponse(
            entries=[log_message(entry) for entry in entries], next_page_token=token
        )

    async def ListJobDocuments(  # noqa: N802
        self, request: job_pb2.ListJobDocumentsRequest, context: RpcContext
    ) -> job_pb2.ListJobDocumentsResponse:
        items, counts, token = await self._service.documents(
            current_user_id(),
            parse_id(request.job_id, "job_id"),
            job_document_statuses(request.statuses),
            page_size(request.page_size),
            request.page_token,
        )
        return job_pb2.ListJobDocumentsResponse(
            documents=[job_document_message(item) for item in items],
            next_page_token=token,
            counts=job_pb2.JobDocumentCounts(
                pending=counts.get(JobDocumentStatus.PENDING, 0),
                running=counts.get(JobDocumentStatus.RUNNING, 0),
                processed=counts.get(JobDocumentStatus.DONE, 0),
                skipped=counts.get(JobDocumentStatus.SKIPPED, 0),
                failed=counts.get(JobDocumentStatus.FAILED, 0),
            ),
        )

    async def ListExtractions(  # noqa: N802
        self, request: job_pb2.ListExtractionsRequest, context: RpcContext
    ) -> job_pb2.ListExtractionsResponse:
        where = ExtractionFilter(
            job_id=parse_id(request.job_id, "job_id") if request.job_id else None,
            document_id=parse_id(request.document_id, "document_id")
            if request.document_id
            else None,
            variable_id=parse_id(request.variable_id, "variable_id")
            if request.variable_id
            else None,
            statuses=enums_from_proto(
                request.statuses,
                ExtractionStatus,
                common_pb2.ExtractionStatus,
                "EXTRACTION_STATUS",
                "statuses",
            ),
            evidence=evidence_filter(request.evidence_matches),
        )
        extractions, token = await self._service.extractions(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            where,
            page_size(request.page_size),
            request.page_token,
        )
        return job_pb2.ListExtractionsResponse(
            extractions=[extraction_message(e) for e in extractions], next_page_token=token
        )

    async def CreateFeedback(  # noqa: N802
        self, request: job_pb2.CreateFeedbackRequest, context: RpcContext
    ) -> job_pb2.CreateFeedbackResponse:
        stored = await self._feedback.give(current_user_id(), feedback_input(request))
        return job_pb2.CreateFeedbackResponse(
            feedback_id=str(stored.id), feedback=feedback_message(stored)
        )

    async def ListFeedback(  # noqa: N802
        self, request: job_pb2.ListFeedbackRequest, context: RpcContext
    ) -> job_pb2.ListFeedbackResponse:
        feedback, token = await self._feedback.list(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            feedback_filter(request),
            page_size(request.page_size),
            request.page_token,
        )
        return job_pb2.ListFeedbackResponse(
            feedback=[feedback_message(f) for f in feedback], next_page_token=token
        )

    async def WatchJob(  # noqa: N802
        self, request: job_pb2.WatchJobRequest, context: RpcContext
    ) -> AsyncIterator[job_pb2.WatchJobResponse]:
        principal = current_principal()
        events = self._service.watch(
            principal.user_id,
            parse_id(request.job_id, "job_id"),
            request.last_event_id,
            principal.expires_at,
        )
        async with self._streams.hold(principal.user_id):
            async for event in events:
                yield self._job_messages.of(event)

    async def WatchProject(  # noqa: N802
        self, request: job_pb2.WatchProjectRequest, context: RpcContext
    ) -> AsyncIterator[job_pb2.WatchProjectResponse]:
        principal = current_principal()
        events = self._service.watch_project(
            principal.user_id,
            parse_id(request.project_id, "project_id"),
            request.last_event_id,
            principal.expires_at,
        )
        async with self._streams.hold(principal.user_id):
            async for event in events:
                yield self._project_messages.of(event)
