"""User Stories 4 and 5 end to end: jobs run by real worker processes, calling LangChain's
OpenAI client against the local OpenAI-compatible server, on the real PostgreSQL and Redis.
A sample over every variable type; entity projects; chunked documents; faults at a rate; the
automatic pause; pause, resume and cancel; budgets; the breaker; skipping what is current."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections import Counter
from typing import Any

import grpc
from coderai.v1 import common_pb2, job_pb2, project_pb2, schema_pb2
from google.protobuf import field_mask_pb2, json_format
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from server.core.db import Database
from server.jobs.events import stream_key
from server.jobs.models import JobDocument, JobDocumentStatus
from server.llm.fencing import sections
from server.llm.ledger import LLMCall
from server.llm.local_server import Fault
from tests.factories import Caller, rpc_error, signed_in
from tests.jobs.conftest import Stack

COMPLETED = common_pb2.JOB_STATUS_COMPLETED
PAUSED = common_pb2.JOB_STATUS_PAUSED

REPORT = (
    "Harbour council minutes.\n\n"
    "On 12 March 2024 the city council approved the coastal protection plan for {town}. "
    "The plan has a budget of {budget} euros for new sea walls and dunes. "
    "The council said the works protect the harbour infrastructure from storm floods."
)

VARIABLES = [
    {
        "name": "approval_date",
        "type": common_pb2.VARIABLE_TYPE_DATE,
        "instructions": "The date the council approved the plan.",
    },
    {
        "name": "budget",
        "type": common_pb2.VARIABLE_TYPE_NUMBER,
        "instructions": "The budget of the plan in euros.",
    },
    {
        "name": "approved",
        "type": common_pb2.VARIABLE_TYPE_BOOLEAN,
        "instructions": "Whether the council approved the plan.",
    },
    {
        "name": "sector",
        "type": common_pb2.VARIABLE_TYPE_CATEGORY,
        "instructions": "The policy sector of the plan.",
        "classification_rules": schema_pb2.ClassificationRules(
            categories=[
                schema_pb2.Category(
                    label="infrastructure", definition="sea walls, dunes, harbour works, roads"
                ),
                schema_pb2.Category(label="health", definition="hospitals, doctors, patients"),
            ]
        ),
    },
    {
        "name": "plan",
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "What the plan approved by the council is for.",
    },
]


async def project_with_schema(
    caller: Caller, variables: list[dict[str, object]] | None = None, **project: object
) -> project_pb2.Project:
    created = await caller.create_project(**project)
    for fields in variables if variables is not None else VARIABLES:
        await caller.create_variable(created.id, **fields)
    return created


async def ready_documents(caller: Caller, project_id: str, texts: list[str]) -> list[str]:
    ids = []
    for index, text in enumerate(texts):
        [result] = await caller.upload(project_id, f"doc-{index}.txt", text.encode())
        parsed = await caller.parsed(result.document.id)
        assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY, parsed.document
        ids.append(result.document.id)
    return ids


def reports(count: int) -> list[str]:
    return [REPORT.format(town=f"Town {index}", budget=2_000_000 + index) for index in range(count)]


PROCESSED = job_pb2.JOB_DOCUMENT_STATUS_PROCESSED
SKIPPED = job_pb2.JOB_DOCUMENT_STATUS_SKIPPED
FAILED_DOCUMENT = job_pb2.JOB_DOCUMENT_STATUS_FAILED


async def job_documents(
    caller: Caller, job_id: str, **request: Any
) -> job_pb2.ListJobDocumentsResponse:
    return await caller.jobs.ListJobDocuments(
        job_pb2.ListJobDocumentsRequest(job_id=job_id, **request), metadata=caller.metadata
    )


def value(extraction: job_pb2.Extraction) -> object:
    return json_format.MessageToDict(extraction.value)


async def test_a_sample_job_extracts_every_variable_of_every_document(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, database: Database
) -> None:
    project = await project_with_schema(researcher)
    documents = await ready_documents(researcher, project.id, reports(3))

    created = await researcher.create_job(project.id, document_ids=documents[:2])
    job = await researcher.job_ended(created.job.id)

    assert job.status == COMPLETED, job.status_reason
    assert (job.documents_total, job.documents_processed, job.documents_failed) == (2, 2, 0)
    assert job.progress_percent == 100
    assert created.estimate.llm_calls == 2 * len(VARIABLES)
    extractions = await researcher.extractions(project.id, job_id=job.id)
    assert len(extractions) == 2 * len(VARIABLES)
    assert {e.document_id for e in extractions} == set(documents[:2])
    variables = {v.id: v.name for v in (await researcher.get_project(project.id)).variables}
    by_name = {variables[e.variable_id]: e for e in extractions if e.document_id == documents[0]}
    assert value(by_name["approval_date"]) == "2024-03-12"
    assert value(by_name["budget"]) == 2_000_000
    assert value(by_name["approved"]) is True
    assert value(by_name["sector"]) == "infrastructure"
    for extraction in extractions:
        assert extraction.prompt_version == 1
        assert extraction.source_text
        assert extraction.evidence_match == common_pb2.EVIDENCE_MATCH_EXACT
        document = await researcher.get_document(extraction.document_id, include_text=True)
        start, end = extraction.source_start_offset, extraction.source_end_offset
        assert document.text[start:end] == extraction.source_text
    # Every request is in the ledger, and the job's tokens are theirs.
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        calls, tokens = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(LLMCall.prompt_tokens + LLMCall.completion_tokens),
                ).where(LLMCall.job_id == uuid.UUID(job.id))
            )
        ).one()
    assert calls == len(stack.llm.requests) == 2 * len(VARIABLES)
    assert job.tokens_used == tokens > 0
    assert job.cost_usd > 0
    # The sample is over: the project is being set up again.
    status = (await researcher.get_project(project.id)).project.status
    assert status == common_pb2.PROJECT_STATUS_DRAFT


async def test_a_grouped_project_codes_a_documents_variables_in_one_request(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, database: Database
) -> None:
    grouped = common_pb2.EXTRACTION_MODE_GROUPED
    project = await project_with_schema(researcher, extraction_mode=grouped)
    documents = await ready_documents(researcher, project.id, reports(2))
    asked_before = len(stack.llm.requests)

    created = await researcher.create_job(project.id, document_ids=documents)
    job = await researcher.job_ended(created.job.id)

    assert job.status == COMPLETED, job.status_reason
    assert job.extraction_mode == grouped
    # The estimate gives both modes, and the project's is the one counted.
    estimate = created.estimate
    assert estimate.extraction_mode == grouped
    assert estimate.llm_calls == estimate.grouped.llm_calls == 2
    assert estimate.per_variable.llm_calls == 2 * len(VARIABLES)
    assert estimate.grouped.prompt_tokens < estimate.per_variable.prompt_tokens / 2
    sent = stack.llm.requests[asked_before:]
    assert [body["response_format"]["json_schema"]["name"] for body in sent] == ["coded_values"] * 2
    extractions = await researcher.extractions(project.id, job_id=job.id)
    assert len(extractions) == 2 * len(VARIABLES)
    variables = {v.id: v.name for v in (await researcher.get_project(project.id)).variables}
    by_name = {variables[e.variable_id]: e for e in extractions if e.document_id == documents[0]}
    assert value(by_name["approval_date"]) == "2024-03-12"
    assert value(by_name["budget"]) == 2_000_000
    assert value(by_name["sector"]) == "infrastructure"
    assert all(e.evidence_match == common_pb2.EVIDENCE_MATCH_EXACT for e in extractions)
    # Two requests in the ledger, their tokens the job's.
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        calls, tokens = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(LLMCall.prompt_tokens + LLMCall.completion_tokens),
                ).where(LLMCall.job_id == uuid.UUID(job.id))
            )
        ).one()
    assert calls == 2
    assert job.tokens_used == tokens > 0


async def test_a_job_a_model_answers_names_it_on_the_job_and_its_values_without_a_warning(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:2])
    documents = await ready_documents(researcher, project.id, reports(1))
    selection = job_pb2.JobSelection(
        project_id=project.id, type=common_pb2.JOB_TYPE_SAMPLE, document_ids=documents
    )
    estimate = (
        await researcher.jobs.EstimateJob(
            job_pb2.EstimateJobRequest(selection=selection), metadata=researcher.metadata
        )
    ).estimate
    model = ("openai", stack.settings.llm_model)
    assert (estimate.llm_provider, estimate.llm_model) == model
    assert list(estimate.warnings) == []

    created = await researcher.create_job(project.id, document_ids=documents)
    assert (created.job.llm_provider, created.job.llm_model) == model
    job = await researcher.job_ended(created.job.id)
    assert job.status == COMPLETED, job.status_reason
    assert (job.llm_provider, job.llm_model) == model
    extractions = await researcher.extractions(project.id, job_id=job.id)
    assert len(extractions) == 2
    assert {(e.llm_provider, e.llm_model) for e in extractions} == {model}


async def test_a_full_job_after_a_sample_skips_what_is_current_and_completes_the_project(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:2])
    documents = await ready_documents(researcher, project.id, reports(4))
    sample = await researcher.create_job(project.id, document_ids=documents[:2])
    await researcher.job_ended(sample.job.id)
    calls_for_sample = len(stack.llm.requests)

    full = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    job = await researcher.job_ended(full.job.id)

    assert full.estimate.documents_already_done == 2
    assert full.estimate.llm_calls == 2 * 2
    assert job.status == COMPLETED
    assert job.documents_processed == 4
    assert len(stack.llm.requests) - calls_for_sample == 2 * 2
    assert len(await researcher.extractions(project.id)) == 4 * 2
    status = (await researcher.get_project(project.id)).project.status
    assert status == common_pb2.PROJECT_STATUS_COMPLETE

    # Per document, by filename: the sample's two skipped, the other two processed.
    listed = await job_documents(researcher, full.job.id)
    assert [(d.filename, d.status) for d in listed.documents] == [
        ("doc-0.txt", SKIPPED),
        ("doc-1.txt", SKIPPED),
        ("doc-2.txt", PROCESSED),
        ("doc-3.txt", PROCESSED),
    ]
    assert [d.document_id for d in listed.documents] == documents
    assert listed.counts == job_pb2.JobDocumentCounts(processed=2, skipped=2)
    # A page at a time, and filtered; the counts are the whole job's either way.
    pages, token = [], ""
    while True:
        page = await job_documents(researcher, full.job.id, page_size=1, page_token=token)
        pages.append([d.filename for d in page.documents])
        assert page.counts == listed.counts
        if not (token := page.next_page_token):
            break
    assert pages == [["doc-0.txt"], ["doc-1.txt"], ["doc-2.txt"], ["doc-3.txt"]]
    processed = await job_documents(researcher, full.job.id, statuses=[PROCESSED])
    assert [d.filename for d in processed.documents] == ["doc-2.txt", "doc-3.txt"]
    sampled = await job_documents(researcher, sample.job.id)
    assert [d.status for d in sampled.documents] == [PROCESSED, PROCESSED]
    bad_token = await rpc_error(job_documents(researcher, full.job.id, page_token="nonsense"))
    assert bad_token.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_an_entity_project_yields_one_record_per_entity_and_variable(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(
        researcher,
        VARIABLES[:2],
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern="each city that approved a coastal plan",
    )
    texts = [
        "Coastal plans.\n\nOn 12 March 2024 Rotterdam approved a plan with a budget of 900 "
        "euros. On 3 May 2024 Hamburg approved a plan with a budget of 700 euros.",
        "Coastal plans.\n\nOn 1 June 2024 Lisbon approved a plan with a budget of 500 euros.",
    ]
    documents = await ready_documents(researcher, project.id, texts)

    created = await researcher.create_job(project.id, document_ids=documents)
    job = await researcher.job_ended(created.job.id)

    assert job.status == COMPLETED, job.status_reason
    extractions = await researcher.extractions(project.id)
    per_document = Counter(e.document_id for e in extractions)
    entities = {(e.document_id, e.entity_name) for e in extractions}
    assert entities == {
        (documents[0], "Rotterdam"),
        (documents[0], "Hamburg"),
        (documents[1], "Lisbon"),
    }
    assert per_document == {documents[0]: 2 * 2, documents[1]: 1 * 2}


async def test_a_long_document_is_read_chunk_by_chunk_into_one_value(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    filler = "The committee discussed the weather and the agenda at length. " * 1200
    text = filler + "\n\n" + REPORT.format(town="Kiel", budget=1) + "\n\n" + filler
    [document] = await ready_documents(researcher, project.id, [text])
    chunks = (await researcher.get_document(document, include_text=True)).chunks

    created = await researcher.create_job(project.id, document_ids=[document])
    job = await researcher.job_ended(created.job.id)

    assert len(chunks) >= 3
    assert job.status == COMPLETED
    assert len(stack.llm.requests) == len(chunks)
    [extraction] = await researcher.extractions(project.id)
    assert value(extraction) == "2024-03-12"
    assert extraction.evidence_match == common_pb2.EVIDENCE_MATCH_EXACT


async def test_a_value_whose_chunk_failed_is_failed_and_read_again_by_the_next_job(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    """One chunk's answers are unusable, another's state the date: the value fails, naming the
    chunk, instead of a value that hides a chunk nobody read. Its only value failed, so the
    document failed: the next job skips it, and a job that retries failures reads it again."""
    project = await project_with_schema(researcher, VARIABLES[:1])
    filler = "The committee discussed the weather and the agenda at length. " * 1200
    text = "\n\n".join(
        [filler, REPORT.format(town="Kiel", budget=1), filler, "[[local-llm:malformed]]"]
    )
    [document] = await ready_documents(researcher, project.id, [text])
    chunks = (await researcher.get_document(document, include_text=True)).chunks

    created = await researcher.create_job(project.id, document_ids=[document])
    job = await researcher.job_ended(created.job.id)

    # The document's only value failed: the document failed, and nothing was stored as done.
    assert job.status == common_pb2.JOB_STATUS_FAILED
    assert await researcher.extractions(project.id) == []
    logs = await researcher.jobs.ListJobLogs(
        job_pb2.ListJobLogsRequest(job_id=job.id), metadata=researcher.metadata
    )
    [failure] = [e for e in logs.entries if e.event_type == "DOCUMENT_PROCESSING_FAILED"]
    last = chunks[-1]
    assert (
        f"chunk {len(chunks)} of {len(chunks)} (characters {last.start_offset}-"
        f"{last.end_offset}) failed" in failure.message
    )
    [failed] = (await job_documents(researcher, job.id)).documents
    assert (failed.filename, failed.status) == ("doc-0.txt", FAILED_DOCUMENT)
    assert f"chunk {len(chunks)} of {len(chunks)}" in failed.error
    requests = len(stack.llm.requests)

    skipping = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    assert skipping.estimate.documents_already_done == 1
    await researcher.job_ended(skipping.job.id)
    assert len(stack.llm.requests) == requests

    again = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL, retry_failed=True)
    assert again.estimate.documents_already_done == 0
    await researcher.job_ended(again.job.id)
    # The malformed chunk is asked twice: with the shared answer schema, then with the
    # variable's own.
    assert len(stack.llm.requests) - requests == len(chunks) + 1


async def test_faults_at_a_rate_are_retried_or_recorded_and_the_job_completes(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, database: Database
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:2])
    documents = await ready_documents(researcher, project.id, reports(6))
    pattern = ["ok", "500", "ok", "429", "ok", "timeout=0.3", "ok", "malformed", "ok", "503"]
    stack.llm.script(*[Fault.parse(fault) for fault in pattern * 4])

    created = await researcher.create_job(project.id, document_ids=documents)
    job = await researcher.job_ended(created.job.id)

    assert job.status == COMPLETED, job.status_reason
    extractions = await researcher.extractions(project.id)
    assert len(extractions) == 6 * 2
    failed = [e for e in extractions if e.status == common_pb2.EXTRACTION_STATUS_FAILED]
    # 5xx, 429 and timeouts were retried; a malformed answer is asked again with the
    # variable's own schema, and only a second malformed one fails the extraction.
    assert all("malformed" in e.error for e in failed)
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        outcomes = Counter(
            (
                await session.scalars(
                    select(LLMCall.outcome).where(LLMCall.job_id == uuid.UUID(job.id))
                )
            ).all()
        )
    assert sum(outcomes.values()) == len(stack.llm.requests)
    assert outcomes["malformed"] >= max(1, 2 * len(failed))
    assert outcomes["server_error"] + outcomes["rate_limited"] + outcomes["timeout"] > 0
    assert outcomes["ok"] == 6 * 2 - len(failed)


async def test_more_than_ten_failed_documents_in_a_row_pause_the_job(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    # Enough that documents remain after the pause, whatever was in flight (8 at once).
    documents = await ready_documents(researcher, project.id, reports(24))
    stack.llm.set_default(Fault.parse("malformed"))

    created = await researcher.create_job(project.id, document_ids=documents)
    job = await researcher.job_settled(created.job.id)

    assert job.status == PAUSED
    assert "11 documents failed in a row" in job.status_reason
    assert job.documents_failed >= 11
    logs = await researcher.jobs.ListJobLogs(
        job_pb2.ListJobLogsRequest(job_id=job.id, page_size=200), metadata=researcher.metadata
    )
    kinds = Counter(entry.event_type for entry in logs.entries)
    assert kinds["DOCUMENT_PROCESSING_FAILED"] == job.documents_failed
    assert kinds["JOB_PAUSED"] == 1

    stack.llm.set_default(None)
    await researcher.jobs.ResumeJob(
        job_pb2.ResumeJobRequest(job_id=job.id), metadata=researcher.metadata
    )
    resumed = await researcher.job_ended(job.id, statuses=(COMPLETED,))
    assert resumed.documents_processed + resumed.documents_failed == 24
    assert resumed.documents_processed >= 1


async def test_an_open_circuit_breaker_pauses_the_job_instead_of_failing_documents(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(5))
    stack.llm.set_default(Fault.parse("500"))

    created = await researcher.create_job(project.id, document_ids=documents)
    job = await researcher.job_ended(created.job.id)

    assert job.status == PAUSED
    assert job.stop_reason == job_pb2.JOB_STOP_REASON_CIRCUIT_OPEN
    assert "circuit breaker" in job.status_reason
    assert job.documents_failed <= 1
    # Else the worker resumes it once the breaker half-opens, during another test.
    await researcher.jobs.CancelJob(
        job_pb2.CancelJobRequest(job_id=job.id), metadata=researcher.metadata
    )


async def test_pause_keeps_what_is_done_and_resume_continues_where_it_stopped(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(12))
    stack.llm.set_default(Fault.parse("latency=0.3"))
    created = await researcher.create_job(project.id, document_ids=documents)
    await researcher.job_ended(created.job.id, statuses=(common_pb2.JOB_STATUS_RUNNING,))

    paused = await researcher.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )
    await _settled(researcher, created.job.id)
    after_pause = await researcher.get_job(created.job.id)
    requests_at_pause = len(stack.llm.requests)
    await _settled(researcher, created.job.id, seconds=1.0)

    assert paused.job.status == PAUSED
    assert after_pause.documents_processed < 12
    assert len(stack.llm.requests) == requests_at_pause  # nothing called while paused
    stack.llm.set_default(None)
    await researcher.jobs.ResumeJob(
        job_pb2.ResumeJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )
    job = await researcher.job_ended(created.job.id, statuses=(COMPLETED,))
    assert job.documents_processed == 12
    assert len(await researcher.extractions(project.id)) == 12
    assert len(stack.llm.requests) == 12  # no document was extracted twice


async def test_a_job_paused_after_its_last_document_completes_on_resume(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, database: Database
) -> None:
    """A budget of one token pauses the job before its first document; then every document
    is marked done, as when workers finish the last ones while a pause comes in. Resuming
    completes it, and the answer lists its documents (it failed INTERNAL once, reading them
    after the session that loaded the job had closed)."""
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(2))
    created = await researcher.create_job(project.id, document_ids=documents, token_budget=1)
    paused = await researcher.job_ended(created.job.id)
    assert paused.status == PAUSED, paused
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        await session.execute(
            update(JobDocument)
            .where(JobDocument.job_id == uuid.UUID(created.job.id))
            .values(status=JobDocumentStatus.DONE)
        )

    resumed = await researcher.jobs.ResumeJob(
        job_pb2.ResumeJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )

    assert resumed.job.status == COMPLETED
    assert sorted(resumed.job.document_ids) == sorted(documents)


async def test_cancel_stops_the_job_and_keeps_what_is_done(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(12))
    stack.llm.set_default(Fault.parse("latency=0.3"))
    created = await researcher.create_job(project.id, document_ids=documents)
    await researcher.job_ended(created.job.id, statuses=(common_pb2.JOB_STATUS_RUNNING,))

    await researcher.jobs.CancelJob(
        job_pb2.CancelJobRequest(job_id=created.job.id), metadata=researcher.metadata
    )
    await _settled(researcher, created.job.id)
    job = await researcher.get_job(created.job.id)

    assert job.status == common_pb2.JOB_STATUS_CANCELLED
    assert job.documents_processed < 12
    assert len(await researcher.extractions(project.id)) == job.documents_processed
    # A cancelled job is not active: another may start.
    again = await researcher.create_job(project.id, document_ids=documents[:1])
    assert again.job.status == common_pb2.JOB_STATUS_PENDING


async def test_a_token_budget_pauses_the_job_before_it_is_overspent(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(6))
    estimate = await researcher.jobs.EstimateJob(
        job_pb2.EstimateJobRequest(
            selection=job_pb2.JobSelection(
                project_id=project.id, type=common_pb2.JOB_TYPE_SAMPLE, document_ids=documents
            )
        ),
        metadata=researcher.metadata,
    )
    budget = 2 * (estimate.estimate.prompt_tokens + estimate.estimate.max_output_tokens) // 6

    created = await researcher.create_job(project.id, document_ids=documents, token_budget=budget)
    job = await researcher.job_ended(created.job.id)

    assert job.status == PAUSED
    assert "token budget reached" in job.status_reason
    assert job.tokens_used <= budget
    assert 1 <= job.documents_processed < 6


async def test_a_job_needs_ready_documents_variables_and_no_other_active_job(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    empty = await project_with_schema(researcher)
    no_documents = await rpc_error(researcher.create_job(empty.id))
    no_variables_project = await researcher.create_project()
    await ready_documents(researcher, no_variables_project.id, reports(1))
    no_variables = await rpc_error(researcher.create_job(no_variables_project.id))
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(2))
    stack.llm.set_default(Fault.parse("latency=0.5"))
    await researcher.create_job(project.id, document_ids=documents)
    second = await rpc_error(researcher.create_job(project.id, document_ids=documents))

    assert no_documents.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no READY documents" in (no_documents.details() or "")
    assert no_variables.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert second.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "active job" in (second.details() or "")


async def test_job_events_are_appended_to_the_jobs_stream(
    researcher: Caller, worker: subprocess.Popen[bytes], redis: Redis
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(3))

    created = await researcher.create_job(project.id, document_ids=documents)
    await researcher.job_ended(created.job.id)
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(  # type: ignore[assignment]
        stream_key(uuid.UUID(created.job.id))
    )

    types = [fields[b"type"].decode() for _, fields in entries]
    assert types.count("document_completed") == 3
    assert types.count("progress") == 3
    assert types[-1] == "job_completed"


async def test_another_researchers_jobs_are_not_found(
    researcher: Caller, worker: subprocess.Popen[bytes], stack_channel: grpc.aio.Channel
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(1))
    created = await researcher.create_job(project.id, document_ids=documents)
    intruder = await signed_in(stack_channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")

    for call in (
        intruder.get_job(created.job.id),
        intruder.create_job(project.id, document_ids=documents),
        intruder.jobs.CancelJob(
            job_pb2.CancelJobRequest(job_id=created.job.id), metadata=intruder.metadata
        ),
        intruder.extractions(project.id),
        job_documents(intruder, created.job.id),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND


async def _settled(caller: Caller, job_id: str, seconds: float = 1.5) -> None:
    """Waits until documents already in progress when the job stopped have finished."""
    previous = None
    while True:
        await asyncio.sleep(seconds)
        job = await caller.get_job(job_id)
        now = (job.documents_processed, job.documents_failed)
        if now == previous:
            return
        previous = now


async def test_a_variable_is_given_the_values_of_the_variables_it_depends_on(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    [date_variable] = (await researcher.get_project(project.id)).variables
    dependant = await researcher.create_variable(
        project.id,
        name="approved_after_date",
        type=common_pb2.VARIABLE_TYPE_BOOLEAN,
        instructions="Whether the plan was approved on the approval date given in context.",
        depends_on=[date_variable.id],
    )
    documents = await ready_documents(researcher, project.id, reports(1))

    created = await researcher.create_job(project.id, document_ids=documents)
    await researcher.job_ended(created.job.id)

    [request] = [
        r for r in stack.llm.requests if "approved_after_date" in r["messages"][-1]["content"]
    ]
    context = sections(request["messages"][-1]["content"])["CONTEXT"]
    assert json.loads(context)["known_values"] == {"approval_date": "2024-03-12"}
    [first] = [r for r in stack.llm.requests if r is not request]
    assert stack.llm.requests.index(first) < stack.llm.requests.index(request)
    assert dependant.depends_on == [date_variable.id]


async def test_reprocessing_after_a_prompt_change_overwrites_instead_of_duplicating(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:2])
    documents = await ready_documents(researcher, project.id, reports(2))
    first = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    await researcher.job_ended(first.job.id)
    variables = (await researcher.get_project(project.id)).variables
    changed = variables[0]
    changed.instructions = "The day the council approved the coastal plan."
    await researcher.schema.UpdateVariable(
        schema_pb2.UpdateVariableRequest(
            variable=changed, update_mask=field_mask_pb2.FieldMask(paths=["instructions"])
        ),
        metadata=researcher.metadata,
    )

    second = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    job = await researcher.job_ended(second.job.id)

    assert second.estimate.documents_already_done == 0  # a prompt of theirs changed
    assert job.status == COMPLETED
    extractions = await researcher.extractions(project.id)
    assert len(extractions) == len(documents) * 2
    versions = {(e.variable_id, e.prompt_version) for e in extractions}
    assert versions == {(changed.id, 2), (variables[1].id, 1)}
    assert {e.job_id for e in extractions} == {job.id}
