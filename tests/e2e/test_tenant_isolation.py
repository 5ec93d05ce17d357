"""Two researchers, one server: whatever B asks about A's project, its variables and its
dataset, the answer is the one a missing id gets, and A's data stays as it was (FR-001, FR-004,
multi-tenancy)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest
from coderai.v1 import export_pb2, job_pb2, project_pb2, quality_pb2, schema_pb2
from google.protobuf.field_mask_pb2 import FieldMask

from tests.factories import (
    Caller,
    field_violations,
    project_message,
    random_id,
    rpc_error,
    signed_in,
    variable_message,
)


@dataclass(frozen=True)
class Target:
    """The ids an intruder aims at: a project, a variable and one that depends on it."""

    project_id: str
    variable_id: str
    dependant_id: str

    @classmethod
    def missing(cls) -> Target:
        return cls(project_id=random_id(), variable_id=random_id(), dependant_id=random_id())

    def ids(self) -> tuple[str, ...]:
        return (self.project_id, self.variable_id, self.dependant_id)


@dataclass(frozen=True)
class Tenants:
    owner: Caller
    intruder: Caller
    owners_project: Target
    intruders_project_id: str


# A call by the intruder against a target; the intruder's own project id comes third.
Intrusion = Callable[[Caller, Target, str], Awaitable[object]]


def _get_project(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.projects.GetProject(
        project_pb2.GetProjectRequest(project_id=t.project_id), metadata=b.metadata
    )


def _update_project(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.projects.UpdateProject(
        project_pb2.UpdateProjectRequest(
            project=project_message(id=t.project_id, name="Taken over"),
            update_mask=FieldMask(paths=["name"]),
        ),
        metadata=b.metadata,
    )


def _delete_project(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.projects.DeleteProject(
        project_pb2.DeleteProjectRequest(project_id=t.project_id), metadata=b.metadata
    )


def _create_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.CreateVariable(
        schema_pb2.CreateVariableRequest(variable=variable_message(t.project_id)),
        metadata=b.metadata,
    )


def _get_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.GetVariable(
        schema_pb2.GetVariableRequest(variable_id=t.variable_id), metadata=b.metadata
    )


def _list_variables(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.ListVariables(
        schema_pb2.ListVariablesRequest(project_id=t.project_id), metadata=b.metadata
    )


def _update_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.UpdateVariable(
        schema_pb2.UpdateVariableRequest(
            variable=variable_message(
                t.project_id, id=t.dependant_id, instructions="Whatever B wants."
            ),
            update_mask=FieldMask(paths=["instructions"]),
        ),
        metadata=b.metadata,
    )


def _delete_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.DeleteVariable(
        schema_pb2.DeleteVariableRequest(variable_id=t.dependant_id), metadata=b.metadata
    )


def _delete_depended_on_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    # For its owner this is FAILED_PRECONDITION; for anyone else it must not differ from a
    # missing variable, or the answer would reveal that the id exists.
    return b.schema.DeleteVariable(
        schema_pb2.DeleteVariableRequest(variable_id=t.variable_id), metadata=b.metadata
    )


def _reorder_variables(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.ReorderVariables(
        schema_pb2.ReorderVariablesRequest(
            project_id=t.project_id, variable_ids=[t.dependant_id, t.variable_id]
        ),
        metadata=b.metadata,
    )


def _depend_on_foreign_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.CreateVariable(
        schema_pb2.CreateVariableRequest(
            variable=variable_message(own, depends_on=[t.variable_id])
        ),
        metadata=b.metadata,
    )


def _list_results(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.exports.ListResults(
        export_pb2.ListResultsRequest(project_id=t.project_id), metadata=b.metadata
    )


def _create_export(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.exports.CreateExport(
        export_pb2.CreateExportRequest(
            project_id=t.project_id, format=export_pb2.EXPORT_FORMAT_CSV_WIDE
        ),
        metadata=b.metadata,
    )


def _list_feedback(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.jobs.ListFeedback(
        job_pb2.ListFeedbackRequest(project_id=t.project_id, variable_id=t.variable_id),
        metadata=b.metadata,
    )


def _list_exports(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.exports.ListExports(
        export_pb2.ListExportsRequest(project_id=t.project_id), metadata=b.metadata
    )


def _create_coding_sample(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.CreateCodingSample(
        quality_pb2.CreateCodingSampleRequest(project_id=t.project_id, name="blind", size=1),
        metadata=b.metadata,
    )


def _list_coding_samples(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.ListCodingSamples(
        quality_pb2.ListCodingSamplesRequest(project_id=t.project_id), metadata=b.metadata
    )


def _suggest_sample_size(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.SuggestSampleSize(
        quality_pb2.SuggestSampleSizeRequest(variable_id=t.variable_id), metadata=b.metadata
    )


def _submit_codes(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.SubmitCodes(
        quality_pb2.SubmitCodesRequest(project_id=t.project_id, coder="B"), metadata=b.metadata
    )


def _code_foreign_variable(b: Caller, t: Target, own: str) -> Awaitable[object]:
    code = quality_pb2.CodeInput(variable_id=t.variable_id, document_id=random_id())
    return b.quality.SubmitCodes(
        quality_pb2.SubmitCodesRequest(project_id=own, coder="B", codes=[code]),
        metadata=b.metadata,
    )


def _list_codes(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.ListCodes(
        quality_pb2.ListCodesRequest(project_id=t.project_id), metadata=b.metadata
    )


def _get_agreement(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.GetAgreement(
        quality_pb2.GetAgreementRequest(variable_id=t.variable_id), metadata=b.metadata
    )


def _propose_refinement(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.ProposeRefinement(
        quality_pb2.ProposeRefinementRequest(
            variable_id=t.variable_id, method=quality_pb2.REFINEMENT_METHOD_RULES
        ),
        metadata=b.metadata,
    )


def _list_refinements(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.ListRefinements(
        quality_pb2.ListRefinementsRequest(variable_id=t.variable_id), metadata=b.metadata
    )


def _compare_prompt_versions(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.quality.ComparePromptVersions(
        quality_pb2.ComparePromptVersionsRequest(variable_id=t.variable_id, base_version=1),
        metadata=b.metadata,
    )


def _suggest_variables(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.SuggestVariables(
        schema_pb2.SuggestVariablesRequest(project_id=t.project_id), metadata=b.metadata
    )


def _suggest_definition(b: Caller, t: Target, own: str) -> Awaitable[object]:
    return b.schema.SuggestVariableDefinition(
        schema_pb2.SuggestVariableDefinitionRequest(project_id=t.project_id, description="tone"),
        metadata=b.metadata,
    )


NOT_FOUND = grpc.StatusCode.NOT_FOUND
INTRUSIONS: dict[str, tuple[Intrusion, grpc.StatusCode]] = {
    "GetProject": (_get_project, NOT_FOUND),
    "UpdateProject": (_update_project, NOT_FOUND),
    "DeleteProject": (_delete_project, NOT_FOUND),
    "CreateVariable": (_create_variable, NOT_FOUND),
    "GetVariable": (_get_variable, NOT_FOUND),
    "ListVariables": (_list_variables, NOT_FOUND),
    "UpdateVariable": (_update_variable, NOT_FOUND),
    "DeleteVariable": (_delete_variable, NOT_FOUND),
    "DeleteVariable-depended-on": (_delete_depended_on_variable, NOT_FOUND),
    "ReorderVariables": (_reorder_variables, NOT_FOUND),
    "CreateVariable-depends-on-foreign": (
        _depend_on_foreign_variable,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    "ListResults": (_list_results, NOT_FOUND),
    "CreateExport": (_create_export, NOT_FOUND),
    "ListExports": (_list_exports, NOT_FOUND),
    "ListFeedback": (_list_feedback, NOT_FOUND),
    "CreateCodingSample": (_create_coding_sample, NOT_FOUND),
    "ListCodingSamples": (_list_coding_samples, NOT_FOUND),
    "SuggestSampleSize": (_suggest_sample_size, NOT_FOUND),
    "SubmitCodes": (_submit_codes, NOT_FOUND),
    "SubmitCodes-foreign-variable": (_code_foreign_variable, grpc.StatusCode.INVALID_ARGUMENT),
    "ListCodes": (_list_codes, NOT_FOUND),
    "GetAgreement": (_get_agreement, NOT_FOUND),
    "ProposeRefinement": (_propose_refinement, NOT_FOUND),
    "ListRefinements": (_list_refinements, NOT_FOUND),
    "ComparePromptVersions": (_compare_prompt_versions, NOT_FOUND),
    "SuggestVariables": (_suggest_variables, NOT_FOUND),
    "SuggestVariableDefinition": (_suggest_definition, NOT_FOUND),
}


@pytest.fixture
async def tenants(channel: grpc.aio.Channel) -> Tenants:
    owner = await signed_in(channel, f"owner-{uuid.uuid4().hex[:12]}@example.org")
    intruder = await signed_in(channel, f"intruder-{uuid.uuid4().hex[:12]}@example.org")
    project = await owner.create_project(name="A's confidential study")
    party = await owner.create_variable(project.id, name="party")
    speaker = await owner.create_variable(project.id, name="speaker", depends_on=[party.id])
    intruders_project = await intruder.create_project(name="B's own study")
    return Tenants(
        owner=owner,
        intruder=intruder,
        owners_project=Target(project.id, party.id, speaker.id),
        intruders_project_id=intruders_project.id,
    )


def answer_shape(error: grpc.aio.AioRpcError, target: Target) -> tuple[object, ...]:
    """What the caller learns from an error, with the ids it was asked about blanked out."""

    def blank(text: str) -> str:
        for target_id in target.ids():
            text = text.replace(target_id, "<id>")
        return text

    violations = [(blank(v.field), blank(v.description)) for v in field_violations(error)]
    return error.code(), blank(error.details() or ""), violations


@pytest.mark.parametrize("rpc", INTRUSIONS)
async def test_another_researchers_ids_answer_like_missing_ones(tenants: Tenants, rpc: str) -> None:
    intrude, expected_code = INTRUSIONS[rpc]
    a, b, own = tenants.owner, tenants.intruder, tenants.intruders_project_id
    before = await a.get_project(tenants.owners_project.project_id)

    foreign = await rpc_error(intrude(b, tenants.owners_project, own))
    missing_target = Target.missing()
    missing = await rpc_error(intrude(b, missing_target, own))

    assert foreign.code() == expected_code
    assert answer_shape(foreign, tenants.owners_project) == answer_shape(missing, missing_target)
    assert await a.get_project(tenants.owners_project.project_id) == before
    own_project = await b.get_project(own)
    assert list(own_project.variables) == []


async def test_list_projects_shows_only_the_callers_own(tenants: Tenants) -> None:
    a, b = tenants.owner, tenants.intruder

    listed = await b.projects.ListProjects(project_pb2.ListProjectsRequest(), metadata=b.metadata)

    assert [p.id for p in listed.projects] == [tenants.intruders_project_id]
    owners = await a.projects.ListProjects(project_pb2.ListProjectsRequest(), metadata=a.metadata)
    assert [p.id for p in owners.projects] == [tenants.owners_project.project_id]


async def test_the_owner_still_sees_and_controls_everything(tenants: Tenants) -> None:
    a, target = tenants.owner, tenants.owners_project

    details = await a.get_project(target.project_id)

    assert details.project.name == "A's confidential study"
    assert [(v.id, list(v.depends_on)) for v in details.variables] == [
        (target.variable_id, []),
        (target.dependant_id, [target.variable_id]),
    ]
    error = await rpc_error(
        a.schema.DeleteVariable(
            schema_pb2.DeleteVariableRequest(variable_id=target.variable_id), metadata=a.metadata
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
