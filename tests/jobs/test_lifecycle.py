"""Results a researcher can trust, end to end through the real server, workers, PostgreSQL,
Redis and the local OpenAI-compatible server: values follow the text they came from; every
document's outcome is recorded and paid for once; a job recovers from a provider outage on
its own; the project's status follows its jobs. (A job whose tasks were lost: test_runner.)"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from coderai.v1 import common_pb2, job_pb2
from sqlalchemy import delete

from server.core.db import Database
from server.documents import repository as documents
from server.documents.models import DocumentChunk, text_hash
from server.llm.local_server import Fault
from tests.factories import Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import (
    COMPLETED,
    PAUSED,
    VARIABLES,
    project_with_schema,
    ready_documents,
    reports,
)
from tests.processes import IDLE_WORKER_GRACE, stop

CIRCUIT_OPEN = job_pb2.JOB_STOP_REASON_CIRCUIT_OPEN


@pytest.fixture(scope="module")
def worker(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """The module's one worker (every worker's supervisor resumes paused jobs by its own
    settings): a breaker that half-opens after a second, a supervisor that looks often, one
    automatic resume per job."""
    process = stack.start_worker(
        LLM_BREAKER_RECOVERY_SECONDS="1",
        JOB_SUPERVISOR_INTERVAL_SECONDS="0.3",
        JOB_MAX_AUTOMATIC_RESUMES="1",
    )
    yield process
    stop(process, timeout=IDLE_WORKER_GRACE)


async def replace_text(database: Database, caller: Caller, document_id: str, text: str) -> None:
    """The document's text changes, as when ReparseDocument runs a newer parser: text, hash
    and chunks."""
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        document = await documents.get_for_update(session, uuid.UUID(document_id))
        assert document is not None
        document.text_content = text
        document.text_hash = text_hash(text)
        document.chunk_count = 0
        await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == document.id))


async def test_a_document_whose_text_changed_is_read_again_and_its_evidence_follows_it(
    researcher: Caller, worker: subprocess.Popen[bytes], database: Database
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    [document] = await ready_documents(researcher, project.id, reports(1))
    first = await researcher.create_job(project.id, document_ids=[document])
    await researcher.job_ended(first.job.id)
    [before] = await researcher.extractions(project.id)
    old_text = (await researcher.get_document(document, include_text=True)).text
    preface = "Preface added when the document was read again.\n\n"

    await replace_text(database, researcher, document, preface + old_text)
    again = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    job = await researcher.job_ended(again.job.id)

    assert again.estimate.documents_already_done == 0
    assert job.status == COMPLETED, job.status_reason
    [after] = await researcher.extractions(project.id)
    assert after.job_id == again.job.id
    assert after.source_start_offset == before.source_start_offset + len(preface)
    new_text = (await researcher.get_document(document, include_text=True)).text
    assert new_text[after.source_start_offset : after.source_end_offset] == after.source_text


async def test_a_document_without_entities_is_recorded_as_read_and_not_paid_for_again(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(
        researcher,
        VARIABLES[:1],
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern="each city that approved a coastal plan",
    )
    [document] = await ready_documents(
        researcher, project.id, ["the weather was mild and the meeting was short."]
    )
    first = await researcher.create_job(project.id, document_ids=[document])
    job = await researcher.job_ended(first.job.id)
    assert (job.status, job.documents_processed) == (COMPLETED, 1), job.status_reason
    assert await researcher.extractions(project.id) == []
    requests = len(stack.llm.requests)

    again = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    await researcher.job_ended(again.job.id)

    assert again.estimate.documents_already_done == 1
    assert again.estimate.llm_calls == 0
    assert len(stack.llm.requests) == requests, "the document was not read again"


async def job_while_the_provider_fails(
    researcher: Caller, stack: Stack, documents: int
) -> tuple[str, str]:
    """(project, job): a job over READY documents, created while every model call fails."""
    project = await project_with_schema(researcher, VARIABLES[:1])
    ids = await ready_documents(researcher, project.id, reports(documents))
    stack.llm.set_default(Fault.parse("500"))
    created = await researcher.create_job(project.id, document_ids=ids)
    return project.id, created.job.id


async def test_a_job_the_breaker_paused_resumes_on_its_own_once_the_provider_answers(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project_id, job_id = await job_while_the_provider_fails(researcher, stack, documents=4)

    paused = await researcher.job_ended(job_id)
    assert (paused.status, paused.stop_reason) == (PAUSED, CIRCUIT_OPEN), paused
    stack.llm.set_default(None)  # the provider is back
    job = await researcher.job_ended(job_id, within=30, statuses=(COMPLETED,))

    assert job.automatic_resumes == 1
    assert job.documents_processed == 4
    assert len(await researcher.extractions(project_id)) == 4


async def test_a_provider_that_stays_down_leaves_the_job_paused_after_the_automatic_resumes(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    _, job_id = await job_while_the_provider_fails(researcher, stack, documents=3)

    for _ in range(100):
        job = await researcher.get_job(job_id)
        if job.automatic_resumes == 1 and job.status == PAUSED:
            break
        await asyncio.sleep(0.1)
    # Long enough for another resume, had one been allowed.
    await asyncio.sleep(2.5)
    job = await researcher.get_job(job_id)

    assert (job.status, job.stop_reason, job.automatic_resumes) == (PAUSED, CIRCUIT_OPEN, 1)
    assert "resume it" in job.status_reason


async def test_the_projects_status_follows_its_jobs_and_says_when_results_are_stale(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(2))

    async def status() -> tuple[int, bool, str]:
        details = await researcher.get_project(project.id)
        processing = details.processing_status
        return details.project.status, processing.results_stale, processing.stale_reason

    sample = await researcher.create_job(project.id, document_ids=documents[:1])
    await researcher.job_ended(sample.job.id)
    assert await status() == (common_pb2.PROJECT_STATUS_DRAFT, False, "")

    cancelled = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    await researcher.jobs.CancelJob(
        job_pb2.CancelJobRequest(job_id=cancelled.job.id), metadata=researcher.metadata
    )
    assert (await status())[0] == common_pb2.PROJECT_STATUS_DRAFT

    full = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    await researcher.job_ended(full.job.id)
    assert await status() == (common_pb2.PROJECT_STATUS_COMPLETE, False, "")

    await researcher.create_variable(project.id, **VARIABLES[1])
    project_status, stale, reason = await status()
    assert (project_status, stale) == (common_pb2.PROJECT_STATUS_COMPLETE, True)
    assert "variables changed" in reason
