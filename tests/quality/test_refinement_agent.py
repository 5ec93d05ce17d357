"""The refinement agent through the real server, a real worker and the local OpenAI-compatible
server: a prompt refinement job that streams its progress, a proposal validated like any
structured output and accepted (edited) into a new prompt version, and the agent's failure
modes (malformed, refused, timed out, cut off, unusable) failing the job visibly."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import grpc
import pytest
from coderai.v1 import common_pb2, job_pb2, quality_pb2, schema_pb2

from server.llm.local_server import Fault
from server.quality.agent import SCHEMA_NAME
from tests.factories import Caller, rpc_error
from tests.feedback.test_feedback import run_job
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import project_with_schema, ready_documents
from tests.jobs.test_watch import watch
from tests.processes import IDLE_WORKER_GRACE, stop
from tests.quality.test_quality_rpc import STANCE, code, minutes, misreading_model, submit

AGENT = quality_pb2.REFINEMENT_METHOD_AGENT
PROPOSAL = {
    "instructions": (
        "The residents' association's stance on the harbour plan: support when it is for the "
        "plan, oppose when it opposes or rejects it."
    ),
    "rules": ["'Opposes' means against the plan: code oppose, never support."],
    "rationale": "Every opposition was coded as support.",
}


@pytest.fixture(scope="module")
def worker(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """A worker that gives up on the model at once: one request of at most a second."""
    process = stack.start_worker(LLM_MAX_RETRIES="0", LLM_TIMEOUT_SECONDS="1")
    yield process
    stop(process, timeout=IDLE_WORKER_GRACE)


async def coded_project(caller: Caller, stack: Stack) -> str:
    """A stance variable misread on five documents of ten, coded by Alice; its id."""
    misreading_model(stack)
    project = await project_with_schema(caller, [STANCE])
    texts, stances = minutes(10)
    documents = await ready_documents(caller, project.id, texts)
    await run_job(caller, project.id, documents, common_pb2.JOB_TYPE_SAMPLE)
    [variable] = (
        await caller.schema.ListVariables(
            schema_pb2.ListVariablesRequest(project_id=project.id), metadata=caller.metadata
        )
    ).variables
    codes = [code(variable.id, d, s) for d, s in zip(documents, stances, strict=True)]
    await submit(caller, project.id, "Alice", codes)
    return variable.id


async def propose(caller: Caller, variable_id: str) -> quality_pb2.Refinement:
    response = await caller.quality.ProposeRefinement(
        quality_pb2.ProposeRefinementRequest(
            variable_id=variable_id, method=AGENT, reference="Alice"
        ),
        metadata=caller.metadata,
    )
    return response.refinement


async def refinement_of(caller: Caller, refinement_id: str) -> quality_pb2.Refinement:
    response = await caller.quality.GetRefinement(
        quality_pb2.GetRefinementRequest(refinement_id=refinement_id), metadata=caller.metadata
    )
    return response.refinement


async def test_the_agent_proposes_instructions_in_a_job_that_streams_its_progress(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    variable_id = await coded_project(researcher, stack)
    stack.llm.answer_schema(SCHEMA_NAME, PROPOSAL)

    pending = await propose(researcher, variable_id)
    assert pending.status == quality_pb2.REFINEMENT_STATUS_PENDING
    events = await watch(researcher, pending.job_id)
    kinds = [event.event_type for event in events]
    assert kinds[0] == "snapshot"
    assert "progress" in kinds
    assert kinds[-1] == "job_completed"
    job = events[-1].job
    assert job.type == common_pb2.JOB_TYPE_REFINEMENT
    assert job.input_tokens > 0

    ready = await refinement_of(researcher, pending.id)
    assert ready.status == quality_pb2.REFINEMENT_STATUS_READY
    assert ready.instructions == PROPOSAL["instructions"]
    assert ready.rationale == PROPOSAL["rationale"]
    assert ready.guidance.rules[0] == PROPOSAL["rules"][0]
    # The worked examples come from the training units, as in a RULES proposal.
    assert ready.guidance.examples
    assert ready.llm_model == "gpt-4o-mini"
    # What the model was shown: the training units' errors, never the held-out ones.
    [request] = [
        r
        for r in stack.llm.requests
        if r.get("response_format", {}).get("json_schema", {}).get("name") == SCHEMA_NAME
    ]
    shown = request["messages"][1]["content"]
    assert f'"units_reviewed": {len(ready.training_units)}' in shown

    edited = "Code oppose whenever the association opposes the plan; support otherwise."
    accepted = await researcher.quality.AcceptRefinement(
        quality_pb2.AcceptRefinementRequest(refinement_id=ready.id, instructions=edited),
        metadata=researcher.metadata,
    )
    assert accepted.prompt_version == 2
    variable = (
        await researcher.schema.GetVariable(
            schema_pb2.GetVariableRequest(variable_id=variable_id), metadata=researcher.metadata
        )
    ).variable
    assert variable.instructions == edited
    assert list(variable.guidance.rules) == list(ready.guidance.rules)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("malformed", "malformed"),
        ("refusal", "refus"),
        ("length", "truncated"),
        ("timeout", "timeout"),
    ],
)
async def test_a_failed_model_call_fails_the_job_and_the_proposal_with_the_reason(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, fault: str, reason: str
) -> None:
    variable_id = await coded_project(researcher, stack)
    stack.llm.answer_schema(SCHEMA_NAME, PROPOSAL)
    stack.llm.script(Fault.parse(fault))

    pending = await propose(researcher, variable_id)
    events = await watch(researcher, pending.job_id)

    assert events[-1].event_type == "job_failed"
    assert events[-1].job.stop_reason == job_pb2.JOB_STOP_REASON_MODEL_ANSWER
    failed = await refinement_of(researcher, pending.id)
    assert failed.status == quality_pb2.REFINEMENT_STATUS_FAILED
    assert reason in failed.error.lower()
    refused = await rpc_error(
        researcher.quality.AcceptRefinement(
            quality_pb2.AcceptRefinementRequest(refinement_id=pending.id),
            metadata=researcher.metadata,
        )
    )
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_answer_that_cannot_be_instructions_is_refused_and_the_job_cannot_pause(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    variable_id = await coded_project(researcher, stack)
    stack.llm.answer_schema(SCHEMA_NAME, {**PROPOSAL, "instructions": "   "})
    stack.llm.script(Fault.parse("latency=0.6"))
    pending = await propose(researcher, variable_id)
    paused = await rpc_error(
        researcher.jobs.PauseJob(
            job_pb2.PauseJobRequest(job_id=pending.job_id), metadata=researcher.metadata
        )
    )
    assert paused.code() == grpc.StatusCode.FAILED_PRECONDITION

    await watch(researcher, pending.job_id)

    failed = await refinement_of(researcher, pending.id)
    assert failed.status == quality_pb2.REFINEMENT_STATUS_FAILED
    assert "instructions are empty" in failed.error
