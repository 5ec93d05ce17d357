"""FR-030: the researcher's verdict on a value is about that value. Jobs that re-do the
extraction later neither move the verdict onto another value nor delete it; a corrected value
is a value of the variable; a second verdict on the same value replaces the first; and the
project's feedback can be listed and filtered. Values come from real jobs (workers, the local
OpenAI-compatible server), verdicts go through the real gRPC server."""

from __future__ import annotations

import subprocess
from typing import Any

import grpc
from coderai.v1 import common_pb2, job_pb2, project_pb2, schema_pb2
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from tests.factories import Caller, bad_request_fields, random_id, rpc_error, signed_in
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import REPORT, VARIABLES, project_with_schema, ready_documents, reports

CORRECT = common_pb2.FEEDBACK_TYPE_CORRECT
INCORRECT = common_pb2.FEEDBACK_TYPE_INCORRECT
PARTIALLY_CORRECT = common_pb2.FEEDBACK_TYPE_PARTIALLY_CORRECT
COMPLETED = common_pb2.JOB_STATUS_COMPLETED
PLAN = {
    "name": "plan",
    "type": common_pb2.VARIABLE_TYPE_TEXT,
    "instructions": "What the plan approved by the council is for.",
}


def as_value(python: Any) -> struct_pb2.Value:
    message = struct_pb2.Value()
    json_format.ParseDict(python, message)
    return message


def python(message: struct_pb2.Value) -> Any:
    return json_format.MessageToDict(message)


async def run_job(
    caller: Caller,
    project_id: str,
    document_ids: list[str] | None = None,
    job_type: common_pb2.JobType = common_pb2.JOB_TYPE_FULL,
) -> job_pb2.ProcessingJob:
    created = await caller.create_job(project_id, job_type, document_ids=document_ids)
    job = await caller.job_ended(created.job.id)
    assert job.status == COMPLETED, job.status_reason
    return job


async def judge(
    caller: Caller,
    extraction: job_pb2.Extraction,
    feedback_type: common_pb2.FeedbackType,
    corrected: Any = None,
    **fields: Any,
) -> job_pb2.Feedback:
    request = job_pb2.CreateFeedbackRequest(
        extraction_id=extraction.id, feedback_type=feedback_type, **fields
    )
    if corrected is not None:
        request.corrected_value.CopyFrom(as_value(corrected))
    response = await caller.jobs.CreateFeedback(request, metadata=caller.metadata)
    assert response.feedback_id == response.feedback.id
    return response.feedback


async def feedback_of(caller: Caller, project_id: str, **filters: Any) -> list[job_pb2.Feedback]:
    """Every verdict of the project matching the filters, all pages."""
    found: list[job_pb2.Feedback] = []
    token = ""
    while True:
        response = await caller.jobs.ListFeedback(
            job_pb2.ListFeedbackRequest(project_id=project_id, page_token=token, **filters),
            metadata=caller.metadata,
        )
        found.extend(response.feedback)
        token = response.next_page_token
        if not token:
            return found


async def change_instructions(caller: Caller, variable: schema_pb2.Variable, text: str) -> None:
    variable.instructions = text
    await caller.schema.UpdateVariable(
        schema_pb2.UpdateVariableRequest(
            variable=variable, update_mask=field_mask_pb2.FieldMask(paths=["instructions"])
        ),
        metadata=caller.metadata,
    )


async def test_a_correct_verdict_stays_on_the_value_it_judged_when_a_later_job_changes_it(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher, [PLAN])
    [document] = await ready_documents(researcher, project.id, reports(1))
    first = await run_job(researcher, project.id)
    [judged] = await researcher.extractions(project.id)

    given = await judge(researcher, judged, CORRECT, extraction_update_time=judged.update_time)

    assert python(given.judged_value) == python(judged.value)
    assert (given.prompt_version, given.job_id, given.superseded) == (1, first.id, False)
    [plan] = (await researcher.get_project(project.id)).variables
    await change_instructions(researcher, plan, "The budget of the plan in euros.")
    second = await run_job(researcher, project.id)
    [redone] = await researcher.extractions(project.id)
    assert redone.id == judged.id  # overwritten in place: a new value on the same row
    assert (redone.prompt_version, redone.job_id) == (2, second.id)
    assert python(redone.value) != python(judged.value)

    [kept] = await feedback_of(researcher, project.id)
    assert kept.id == given.id
    assert kept.feedback_type == CORRECT
    assert python(kept.judged_value) == python(judged.value)
    assert kept.judged_status == judged.status
    assert kept.judged_source_text == judged.source_text
    assert (kept.prompt_version, kept.job_id, kept.extraction_id) == (1, first.id, judged.id)
    assert (kept.document_id, kept.variable_id) == (document, plan.id)
    assert kept.superseded
    # A verdict given on the value the researcher saw, which a job has since replaced, is
    # refused rather than recorded against the new value.
    stale = await rpc_error(
        judge(researcher, redone, CORRECT, extraction_update_time=judged.update_time)
    )
    assert stale.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(await feedback_of(researcher, project.id)) == 1


async def test_feedback_outlives_the_extraction_it_judged(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    """Switching an entity project to one row per document removes every entity's values:
    the corrections the researcher made on them stay, with the entity they were about."""
    project = await project_with_schema(
        researcher,
        VARIABLES[1:2],
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern="each city that approved a coastal plan",
    )
    text = (
        "Coastal plans.\n\nOn 12 March 2024 Rotterdam approved a plan with a budget of 900 "
        "euros. On 3 May 2024 Hamburg approved a plan with a budget of 700 euros."
    )
    [document] = await ready_documents(researcher, project.id, [text])
    await run_job(researcher, project.id)
    [hamburg] = [e for e in await researcher.extractions(project.id) if e.entity_name == "Hamburg"]
    given = await judge(researcher, hamburg, INCORRECT, 750, user_note="750 after the amendment")

    edit = project_pb2.Project(
        id=project.id, unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_DOCUMENT
    )
    await researcher.projects.UpdateProject(
        project_pb2.UpdateProjectRequest(
            project=edit, update_mask=field_mask_pb2.FieldMask(paths=["unit_of_observation"])
        ),
        metadata=researcher.metadata,
    )
    await run_job(researcher, project.id)
    assert {e.entity_key for e in await researcher.extractions(project.id)} == {""}

    [kept] = await feedback_of(researcher, project.id)
    assert kept.id == given.id
    assert kept.extraction_id == ""
    assert (kept.entity_key, kept.entity_name) == ("hamburg", "Hamburg")
    assert (kept.document_id, kept.variable_id) == (document, hamburg.variable_id)
    assert python(kept.judged_value) == python(hamburg.value)
    assert (kept.feedback_type, python(kept.corrected_value)) == (INCORRECT, 750)
    assert kept.user_note == "750 after the amendment"
    assert kept.superseded


async def test_a_corrected_value_must_be_a_value_of_the_variable(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher)
    await ready_documents(researcher, project.id, reports(1))
    await run_job(researcher, project.id)
    names = {v.id: v.name for v in (await researcher.get_project(project.id)).variables}
    extraction = {names[e.variable_id]: e for e in await researcher.extractions(project.id)}
    refused: dict[str, list[Any]] = {
        "budget": ["about two million", True, [1, 2]],
        "approval_date": ["last spring", "2024-13-45"],
        "approved": ["maybe", 1],
        "sector": ["defence", 3],
        "plan": [{"text": "sea walls"}, "   "],
    }
    # Stored as the variable stores values: the same coercion as the model's answers get.
    accepted = {
        "budget": ("2,500,000", 2_500_000),
        "approval_date": ("2024-03-13", "2024-03-13"),
        "approved": ("no", False),
        "sector": ("Health", "health"),
        "plan": ("  New sea walls. ", "New sea walls."),
    }

    for name, values in refused.items():
        for bad in values:
            error = await rpc_error(judge(researcher, extraction[name], INCORRECT, bad))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, bad)
            assert bad_request_fields(error) == ["corrected_value"], (name, bad)
    assert await feedback_of(researcher, project.id) == []
    for name, (given, stored) in accepted.items():
        feedback = await judge(researcher, extraction[name], PARTIALLY_CORRECT, given)
        assert python(feedback.corrected_value) == stored, name


async def test_a_correct_verdict_carries_no_corrected_value(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher, [PLAN])
    await ready_documents(researcher, project.id, reports(1))
    await run_job(researcher, project.id)
    [extraction] = await researcher.extractions(project.id)

    error = await rpc_error(judge(researcher, extraction, CORRECT, "Sea walls."))
    too_long = await rpc_error(judge(researcher, extraction, INCORRECT, user_note="x" * 5001))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error) == ["corrected_value"]
    assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(too_long) == ["user_note"]
    assert await feedback_of(researcher, project.id) == []
    correct = await judge(researcher, extraction, CORRECT)
    assert not correct.HasField("corrected_value")


async def test_a_second_verdict_on_the_same_value_replaces_the_first(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await project_with_schema(researcher, [PLAN])
    await ready_documents(researcher, project.id, reports(1))
    await run_job(researcher, project.id)
    [extraction] = await researcher.extractions(project.id)
    first = await judge(researcher, extraction, INCORRECT, "Dunes.", user_note="not the walls")

    second = await judge(researcher, extraction, CORRECT, user_note="on second reading, right")

    assert second.id == first.id
    assert second.create_time == first.create_time
    assert second.update_time.ToDatetime() > first.update_time.ToDatetime()
    assert second.feedback_type == CORRECT
    assert not second.HasField("corrected_value")
    assert second.user_note == "on second reading, right"
    assert await feedback_of(researcher, project.id) == [second]


async def test_feedback_is_listed_newest_first_and_filtered_by_variable_job_and_type(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await project_with_schema(researcher, [VARIABLES[1], PLAN])
    documents = await ready_documents(researcher, project.id, reports(2))
    first = await run_job(researcher, project.id, documents[:1], common_pb2.JOB_TYPE_SAMPLE)
    second = await run_job(researcher, project.id, documents[1:], common_pb2.JOB_TYPE_SAMPLE)
    budget, plan = (await researcher.get_project(project.id)).variables
    extraction = {
        (e.document_id, e.variable_id): e for e in await researcher.extractions(project.id)
    }
    correct = await judge(researcher, extraction[documents[0], budget.id], CORRECT)
    incorrect = await judge(researcher, extraction[documents[0], plan.id], INCORRECT, "Dunes.")
    partly = await judge(researcher, extraction[documents[1], budget.id], PARTIALLY_CORRECT)

    def ids(feedback: list[job_pb2.Feedback]) -> list[str]:
        return [f.id for f in feedback]

    assert ids(await feedback_of(researcher, project.id)) == [partly.id, incorrect.id, correct.id]
    assert ids(await feedback_of(researcher, project.id, variable_id=budget.id)) == [
        partly.id,
        correct.id,
    ]
    assert ids(await feedback_of(researcher, project.id, job_id=first.id)) == [
        incorrect.id,
        correct.id,
    ]
    assert ids(await feedback_of(researcher, project.id, job_id=second.id)) == [partly.id]
    assert ids(await feedback_of(researcher, project.id, feedback_types=[CORRECT, INCORRECT])) == [
        incorrect.id,
        correct.id,
    ]
    assert ids(await feedback_of(researcher, project.id, page_size=1)) == [
        partly.id,
        incorrect.id,
        correct.id,
    ]

    unnamed = await rpc_error(
        researcher.jobs.ListFeedback(job_pb2.ListFeedbackRequest(), metadata=researcher.metadata)
    )
    assert (unnamed.code(), bad_request_fields(unnamed)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["project_id"],
    )


async def test_another_researchers_values_and_feedback_are_not_found(
    researcher: Caller, worker: subprocess.Popen[bytes], stack_channel: grpc.aio.Channel
) -> None:
    project = await project_with_schema(researcher, [PLAN])
    await ready_documents(researcher, project.id, [REPORT.format(town="Kiel", budget=1)])
    await run_job(researcher, project.id)
    [extraction] = await researcher.extractions(project.id)
    await judge(researcher, extraction, CORRECT)
    intruder = await signed_in(stack_channel, f"intruder-{random_id()[:8]}@example.org")

    judged = await rpc_error(judge(intruder, extraction, INCORRECT, "Nothing."))
    listed = await rpc_error(feedback_of(intruder, project.id))

    assert judged.code() == listed.code() == grpc.StatusCode.NOT_FOUND
    [kept] = await feedback_of(researcher, project.id)
    assert kept.feedback_type == CORRECT
