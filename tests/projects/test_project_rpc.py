"""User Story 1 over gRPC: a researcher creates, reads, lists, edits and deletes projects
(FR-001, FR-005)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import grpc
import pytest
from coderai.v1 import common_pb2, project_pb2
from google.protobuf.field_mask_pb2 import FieldMask

from tests.factories import (
    Caller,
    bad_request_fields,
    project_message,
    random_id,
    rpc_error,
    signed_in,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def researcher(channel: grpc.aio.Channel, unique_email: str) -> Caller:
    return await signed_in(channel, unique_email)


async def test_a_new_project_gets_an_id_draft_status_and_times(researcher: Caller) -> None:
    project = await researcher.create_project(
        name="Coalition agreements",
        description="Who promises what.",
        domain="coalition agreements",
        language="PT-br",
    )

    assert uuid.UUID(project.id)
    assert project.status == common_pb2.PROJECT_STATUS_DRAFT
    assert project.create_time.seconds > 0
    assert project.update_time.ToDatetime() >= project.create_time.ToDatetime()
    assert (project.name, project.description, project.domain) == (
        "Coalition agreements",
        "Who promises what.",
        "coalition agreements",
    )
    assert project.language == "pt-BR"  # stored in canonical BCP 47 case
    assert project.unit_of_observation == common_pb2.UNIT_OF_OBSERVATION_DOCUMENT


async def test_output_only_fields_of_a_new_project_are_ignored(researcher: Caller) -> None:
    chosen_id = random_id()

    project = await researcher.create_project(
        id=chosen_id, status=common_pb2.PROJECT_STATUS_COMPLETE
    )

    assert project.id != chosen_id
    assert project.status == common_pb2.PROJECT_STATUS_DRAFT


async def test_get_project_returns_the_project_its_variables_in_order_and_processing_status(
    researcher: Caller,
) -> None:
    project = await researcher.create_project()
    created = [
        await researcher.create_variable(project.id, name=name)
        for name in ("speaker", "party", "claim")
    ]

    details = await researcher.get_project(project.id)

    assert details.project == project
    assert [v.id for v in details.variables] == [v.id for v in created]
    assert [v.order for v in details.variables] == [0, 1, 2]
    assert list(details.variables) == created
    status = details.processing_status
    assert status == project_pb2.ProcessingStatus()  # every count zero, no active job
    assert status.active_job_id == ""
    assert status.active_job_status == common_pb2.JOB_STATUS_UNSPECIFIED


async def test_an_entity_project_stores_its_identification_pattern(researcher: Caller) -> None:
    pattern = "each company named as a party to the contract"

    project = await researcher.create_project(
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern=pattern,
    )

    stored = (await researcher.get_project(project.id)).project
    assert stored.unit_of_observation == common_pb2.UNIT_OF_OBSERVATION_ENTITY
    assert stored.entity_identification_pattern == pattern


async def test_an_entity_project_without_identification_pattern_is_refused(
    researcher: Caller,
) -> None:
    error = await rpc_error(
        researcher.create_project(unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY)
    )

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["project.entity_identification_pattern"]


@pytest.mark.parametrize(
    ("missing", "field"),
    [
        ({"name": ""}, "project.name"),
        ({"name": "   "}, "project.name"),
        ({"domain": ""}, "project.domain"),
        ({"language": ""}, "project.language"),
        (
            {"unit_of_observation": common_pb2.UNIT_OF_OBSERVATION_UNSPECIFIED},
            "project.unit_of_observation",
        ),
    ],
    ids=["name", "blank-name", "domain", "language", "unit_of_observation"],
)
async def test_a_project_without_a_required_field_is_refused_naming_it(
    researcher: Caller, missing: dict[str, object], field: str
) -> None:
    error = await rpc_error(researcher.create_project(**missing))

    assert error.code() == INVALID
    assert bad_request_fields(error) == [field]


async def test_every_missing_required_field_is_named_at_once(researcher: Caller) -> None:
    error = await rpc_error(
        researcher.projects.CreateProject(
            project_pb2.CreateProjectRequest(project=project_pb2.Project(language="en")),
            metadata=researcher.metadata,
        )
    )

    assert error.code() == INVALID
    assert sorted(bad_request_fields(error)) == [
        "project.domain",
        "project.name",
        "project.unit_of_observation",
    ]


async def test_list_projects_pages_through_all_projects_newest_first(
    researcher: Caller,
) -> None:
    created = [(await researcher.create_project(name=f"Project {n}")).id for n in range(5)]

    pages: list[list[str]] = []
    token = ""
    while True:
        page = await researcher.projects.ListProjects(
            project_pb2.ListProjectsRequest(page_size=2, page_token=token),
            metadata=researcher.metadata,
        )
        pages.append([project.id for project in page.projects])
        token = page.next_page_token
        if not token:
            break
        assert len(pages) < 5, "pagination does not end"

    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [project_id for page in pages for project_id in page]
    assert len(set(listed)) == len(listed) == 5
    assert listed == created[::-1]


async def test_list_projects_without_page_size_returns_all_on_one_page(
    researcher: Caller,
) -> None:
    created = [(await researcher.create_project(name=f"Project {n}")).id for n in range(3)]

    page = await researcher.projects.ListProjects(
        project_pb2.ListProjectsRequest(), metadata=researcher.metadata
    )

    assert [project.id for project in page.projects] == created[::-1]
    assert page.next_page_token == ""


@pytest.mark.parametrize("page_token", ["garbage", "bm90IGpzb24", "e30"])
async def test_a_page_token_not_from_a_previous_page_is_refused(
    researcher: Caller, page_token: str
) -> None:
    error = await rpc_error(
        researcher.projects.ListProjects(
            project_pb2.ListProjectsRequest(page_size=2, page_token=page_token),
            metadata=researcher.metadata,
        )
    )

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["page_token"]


async def test_update_with_a_mask_changes_only_the_named_fields(researcher: Caller) -> None:
    project = await researcher.create_project(name="Old name", description="Old description")
    edit = project_message(
        id=project.id,
        name="New name",
        description="New description",
        domain="court rulings",
        language="de",
    )

    response = await researcher.projects.UpdateProject(
        project_pb2.UpdateProjectRequest(project=edit, update_mask=FieldMask(paths=["name"])),
        metadata=researcher.metadata,
    )

    updated = response.project
    assert updated.name == "New name"
    assert (updated.description, updated.domain, updated.language) == (
        project.description,
        project.domain,
        project.language,
    )
    assert updated.create_time == project.create_time
    assert updated.update_time.ToDatetime() >= project.update_time.ToDatetime()
    assert (await researcher.get_project(project.id)).project == updated


async def test_update_without_a_mask_replaces_every_updatable_field(researcher: Caller) -> None:
    project = await researcher.create_project()
    edit = project_message(
        id=project.id,
        name="Rulings on asylum",
        description="",
        domain="court rulings",
        language="de",
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern="each applicant named in the ruling",
    )

    response = await researcher.projects.UpdateProject(
        project_pb2.UpdateProjectRequest(project=edit), metadata=researcher.metadata
    )

    updated = response.project
    assert (
        updated.name,
        updated.description,
        updated.domain,
        updated.language,
        updated.unit_of_observation,
        updated.entity_identification_pattern,
    ) == (
        edit.name,
        edit.description,
        edit.domain,
        edit.language,
        edit.unit_of_observation,
        edit.entity_identification_pattern,
    )
    assert (updated.id, updated.status) == (project.id, project.status)


async def test_an_update_that_leaves_the_project_invalid_is_refused(researcher: Caller) -> None:
    project = await researcher.create_project()

    error = await rpc_error(
        researcher.projects.UpdateProject(
            project_pb2.UpdateProjectRequest(
                project=project_message(
                    id=project.id, unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY
                ),
                update_mask=FieldMask(paths=["unit_of_observation"]),
            ),
            metadata=researcher.metadata,
        )
    )

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["project.entity_identification_pattern"]
    assert (await researcher.get_project(project.id)).project == project


@pytest.mark.parametrize("path", ["colour", "status", "id", "create_time"])
async def test_an_update_mask_naming_a_field_that_cannot_be_updated_is_refused(
    researcher: Caller, path: str
) -> None:
    project = await researcher.create_project()

    error = await rpc_error(
        researcher.projects.UpdateProject(
            project_pb2.UpdateProjectRequest(
                project=project_message(id=project.id, name="Renamed"),
                update_mask=FieldMask(paths=["name", path]),
            ),
            metadata=researcher.metadata,
        )
    )

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["update_mask"]
    assert (await researcher.get_project(project.id)).project == project


async def test_a_deleted_project_is_gone(researcher: Caller) -> None:
    project = await researcher.create_project()
    await researcher.create_variable(project.id)

    await researcher.projects.DeleteProject(
        project_pb2.DeleteProjectRequest(project_id=project.id), metadata=researcher.metadata
    )

    error = await rpc_error(researcher.get_project(project.id))
    assert error.code() == NOT_FOUND
    again = await rpc_error(
        researcher.projects.DeleteProject(
            project_pb2.DeleteProjectRequest(project_id=project.id), metadata=researcher.metadata
        )
    )
    assert again.code() == NOT_FOUND
    listed = await researcher.projects.ListProjects(
        project_pb2.ListProjectsRequest(), metadata=researcher.metadata
    )
    assert project.id not in {p.id for p in listed.projects}


def _get(caller: Caller, project_id: str) -> Awaitable[object]:
    return caller.projects.GetProject(
        project_pb2.GetProjectRequest(project_id=project_id), metadata=caller.metadata
    )


def _update(caller: Caller, project_id: str) -> Awaitable[object]:
    return caller.projects.UpdateProject(
        project_pb2.UpdateProjectRequest(
            project=project_message(id=project_id), update_mask=FieldMask(paths=["name"])
        ),
        metadata=caller.metadata,
    )


def _delete(caller: Caller, project_id: str) -> Awaitable[object]:
    return caller.projects.DeleteProject(
        project_pb2.DeleteProjectRequest(project_id=project_id), metadata=caller.metadata
    )


ProjectIdRpc = Callable[[Caller, str], Awaitable[object]]
# Each RPC that takes a project id, with the request field that carries it.
PROJECT_ID_RPCS: dict[str, tuple[ProjectIdRpc, str]] = {
    "GetProject": (_get, "project_id"),
    "UpdateProject": (_update, "project.id"),
    "DeleteProject": (_delete, "project_id"),
}


@pytest.mark.parametrize("rpc", PROJECT_ID_RPCS)
@pytest.mark.parametrize(
    "project_id", ["", "not-a-uuid", "1234", "0b6f3c2e-8d41-4f5a-9c7e-2a1d5b8e4f60x"]
)
async def test_a_malformed_project_id_is_an_invalid_argument(
    researcher: Caller, rpc: str, project_id: str
) -> None:
    call, field = PROJECT_ID_RPCS[rpc]

    error = await rpc_error(call(researcher, project_id))

    assert error.code() == INVALID
    assert bad_request_fields(error) == [field]


@pytest.mark.parametrize("rpc", PROJECT_ID_RPCS)
async def test_an_unknown_project_id_is_not_found(researcher: Caller, rpc: str) -> None:
    call, _ = PROJECT_ID_RPCS[rpc]
    unknown = random_id()

    error = await rpc_error(call(researcher, unknown))

    assert error.code() == NOT_FOUND
    assert unknown in (error.details() or "")
    assert bad_request_fields(error) == []
