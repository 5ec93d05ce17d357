"""User Story 1 over gRPC: a researcher defines a project's variables with every expanded field
(FR-002), keeps them consistent (names, categories, dependencies) and orders them (FR-004,
FR-005)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from coderai.v1 import common_pb2, project_pb2, schema_pb2
from google.protobuf import json_format, struct_pb2
from google.protobuf.field_mask_pb2 import FieldMask

from tests.factories import (
    Caller,
    bad_request_fields,
    random_id,
    rpc_error,
    signed_in,
    variable_message,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT

# Output-only fields: the server sets them whatever the request says.
OUTPUT_ONLY = ("id", "order", "create_time", "update_time")


@pytest.fixture
async def researcher(channel: grpc.aio.Channel, unique_email: str) -> Caller:
    return await signed_in(channel, unique_email)


@pytest.fixture
async def project(researcher: Caller) -> project_pb2.Project:
    return await researcher.create_project()


def json_value(value: Any) -> struct_pb2.Value:
    return json_format.ParseDict(value, struct_pb2.Value())


def researcher_fields(variable: schema_pb2.Variable) -> schema_pb2.Variable:
    """The variable without its output-only fields: what a researcher set."""
    copy = schema_pb2.Variable()
    copy.CopyFrom(variable)
    for field in OUTPUT_ONLY:
        copy.ClearField(field)
    return copy


async def get_variable(caller: Caller, variable_id: str) -> schema_pb2.Variable:
    response = await caller.schema.GetVariable(
        schema_pb2.GetVariableRequest(variable_id=variable_id), metadata=caller.metadata
    )
    return response.variable


async def list_variables(caller: Caller, project_id: str) -> list[schema_pb2.Variable]:
    response = await caller.schema.ListVariables(
        schema_pb2.ListVariablesRequest(project_id=project_id), metadata=caller.metadata
    )
    return list(response.variables)


async def update_variable(
    caller: Caller, variable: schema_pb2.Variable, paths: list[str]
) -> schema_pb2.Variable:
    response = await caller.schema.UpdateVariable(
        schema_pb2.UpdateVariableRequest(variable=variable, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata,
    )
    return response.variable


async def delete_variable(caller: Caller, variable_id: str) -> None:
    await caller.schema.DeleteVariable(
        schema_pb2.DeleteVariableRequest(variable_id=variable_id), metadata=caller.metadata
    )


async def reorder(
    caller: Caller, project_id: str, variable_ids: list[str]
) -> list[schema_pb2.Variable]:
    response = await caller.schema.ReorderVariables(
        schema_pb2.ReorderVariablesRequest(project_id=project_id, variable_ids=variable_ids),
        metadata=caller.metadata,
    )
    return list(response.variables)


# One fully specified variable of each type: every FR-002 field the type admits.
FULL_VARIABLES: dict[str, dict[str, Any]] = {
    "CATEGORY": {
        "name": "party_family",
        "display_name": "Party family",
        "type": common_pb2.VARIABLE_TYPE_CATEGORY,
        "instructions": "The party family of every party the speaker mentions approvingly.",
        "classification_rules": schema_pb2.ClassificationRules(
            categories=[
                schema_pb2.Category(label="Left", definition="Socialist and green parties."),
                schema_pb2.Category(label="Centre", definition="Liberal and centrist parties."),
                schema_pb2.Category(label="Right", definition="Conservative parties."),
            ],
            selection_logic="Prefer the party's self-description over the speaker's label.",
        ),
        "confidence_threshold": 0.85,
        "if_uncertain": common_pb2.IF_UNCERTAIN_USE_DEFAULT,
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_ALL,
        "max_values": 3,
        "default_value": json_value("Centre"),
    },
    "NUMBER": {
        "name": "target_year_count",
        "display_name": "Number of target years",
        "type": common_pb2.VARIABLE_TYPE_NUMBER,
        "instructions": "How many distinct target years the speech names.",
        "confidence_threshold": 0.6,
        "if_uncertain": common_pb2.IF_UNCERTAIN_LEAVE_EMPTY,
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_ALL,
        "max_values": 3,
        "default_value": json_value(0),
        "validation_rules": schema_pb2.ValidationRules(
            min_value=0, max_value=100, integer_only=True
        ),
    },
    "TEXT": {
        "name": "pledge",
        "display_name": "Pledge",
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "Each concrete pledge, quoted.",
        "confidence_threshold": 0.5,
        "if_uncertain": common_pb2.IF_UNCERTAIN_BEST_GUESS,
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_CONCATENATE,
        "max_values": 5,
        "default_value": json_value("No pledge"),
        "validation_rules": schema_pb2.ValidationRules(
            min_length=3, max_length=500, pattern="[A-Z].*"
        ),
    },
    "DATE": {
        "name": "target_date",
        "type": common_pb2.VARIABLE_TYPE_DATE,
        "instructions": "The date by which the pledge is to be met.",
        "confidence_threshold": 0.9,
        "if_uncertain": common_pb2.IF_UNCERTAIN_FLAG_FOR_REVIEW,
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_MOST_CONFIDENT,
        "max_values": 1,
        "default_value": json_value("2030-12-31"),
        "validation_rules": schema_pb2.ValidationRules(
            min_date="1990-01-01", max_date="2100-12-31"
        ),
    },
    "BOOLEAN": {
        "name": "binding",
        "type": common_pb2.VARIABLE_TYPE_BOOLEAN,
        "instructions": "Whether the speaker calls the target legally binding.",
        "confidence_threshold": 0.0,
        "if_uncertain": common_pb2.IF_UNCERTAIN_USE_DEFAULT,
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_FIRST,
        "max_values": 1,
        "default_value": json_value(False),
    },
}


@pytest.mark.parametrize("variable_type", FULL_VARIABLES)
async def test_every_field_of_a_variable_round_trips(
    researcher: Caller, project: project_pb2.Project, variable_type: str
) -> None:
    speaker = await researcher.create_variable(project.id, name="speaker")
    sent = variable_message(project.id, depends_on=[speaker.id], **FULL_VARIABLES[variable_type])

    response = await researcher.schema.CreateVariable(
        schema_pb2.CreateVariableRequest(variable=sent), metadata=researcher.metadata
    )

    created = response.variable
    assert researcher_fields(created) == researcher_fields(sent)
    assert created.order == 1
    assert created.create_time.seconds > 0
    assert await get_variable(researcher, created.id) == created
    assert await list_variables(researcher, project.id) == [speaker, created]
    assert list((await researcher.get_project(project.id)).variables) == [speaker, created]


async def test_a_variable_left_unset_gets_the_documented_defaults(
    researcher: Caller, project: project_pb2.Project
) -> None:
    variable = await researcher.create_variable(project.id)

    assert variable.HasField("confidence_threshold")
    assert variable.confidence_threshold == pytest.approx(0.7)
    assert variable.if_uncertain == common_pb2.IF_UNCERTAIN_FLAG_FOR_REVIEW
    assert variable.if_multiple_values == common_pb2.IF_MULTIPLE_VALUES_FIRST
    assert variable.max_values == 1
    assert not variable.HasField("default_value")
    assert not variable.HasField("classification_rules")
    assert variable.validation_rules == schema_pb2.ValidationRules()
    assert list(variable.depends_on) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": common_pb2.VARIABLE_TYPE_CATEGORY}, "variable.classification_rules"),
        (
            {
                "type": common_pb2.VARIABLE_TYPE_CATEGORY,
                "classification_rules": schema_pb2.ClassificationRules(
                    categories=[schema_pb2.Category(label="Only")]
                ),
            },
            "variable.classification_rules.categories",
        ),
        (
            {
                "type": common_pb2.VARIABLE_TYPE_TEXT,
                "classification_rules": schema_pb2.ClassificationRules(
                    categories=[schema_pb2.Category(label="A"), schema_pb2.Category(label="B")]
                ),
            },
            "variable.classification_rules",
        ),
        (
            {
                "type": common_pb2.VARIABLE_TYPE_CATEGORY,
                "classification_rules": schema_pb2.ClassificationRules(
                    categories=[schema_pb2.Category(label="Yes"), schema_pb2.Category(label="yes")]
                ),
            },
            "variable.classification_rules.categories[1].label",
        ),
    ],
    ids=["category-without-rules", "one-category", "text-with-categories", "repeated-label"],
)
async def test_categories_must_suit_the_variable_type(
    researcher: Caller, project: project_pb2.Project, overrides: dict[str, Any], field: str
) -> None:
    error = await rpc_error(researcher.create_variable(project.id, **overrides))

    assert error.code() == INVALID
    assert bad_request_fields(error) == [field]
    assert await list_variables(researcher, project.id) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "variable.name"),
        ({"name": "2nd_speaker"}, "variable.name"),
        ({"name": "select"}, "variable.name"),
        ({"instructions": "  "}, "variable.instructions"),
        ({"type": common_pb2.VARIABLE_TYPE_UNSPECIFIED}, "variable.type"),
        ({"confidence_threshold": 1.5}, "variable.confidence_threshold"),
        (
            {"if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_ALL, "max_values": 1},
            "variable.max_values",
        ),
        ({"if_uncertain": common_pb2.IF_UNCERTAIN_USE_DEFAULT}, "variable.default_value"),
        ({"default_value": json_value(42)}, "variable.default_value"),
        (
            {"validation_rules": schema_pb2.ValidationRules(min_value=1)},
            "variable.validation_rules.min_value",
        ),
    ],
    ids=[
        "blank-name",
        "name-starting-with-digit",
        "reserved-name",
        "blank-instructions",
        "no-type",
        "threshold-above-one",
        "all-with-one-value",
        "use-default-without-default",
        "number-default-for-text",
        "number-rule-on-text",
    ],
)
async def test_an_inconsistent_variable_is_refused_naming_the_field(
    researcher: Caller, project: project_pb2.Project, overrides: dict[str, Any], field: str
) -> None:
    error = await rpc_error(researcher.create_variable(project.id, **overrides))

    assert error.code() == INVALID
    assert bad_request_fields(error) == [field]


async def test_variable_names_are_unique_within_a_project_ignoring_case(
    researcher: Caller, project: project_pb2.Project
) -> None:
    await researcher.create_variable(project.id, name="party")

    error = await rpc_error(researcher.create_variable(project.id, name="PARTY"))

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert [v.name for v in await list_variables(researcher, project.id)] == ["party"]
    other_project = await researcher.create_project()
    assert (await researcher.create_variable(other_project.id, name="Party")).name == "Party"


async def test_renaming_a_variable_to_a_taken_name_is_refused(
    researcher: Caller, project: project_pb2.Project
) -> None:
    await researcher.create_variable(project.id, name="party")
    speaker = await researcher.create_variable(project.id, name="speaker")
    speaker.name = "Party"

    error = await rpc_error(update_variable(researcher, speaker, ["name"]))

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await get_variable(researcher, speaker.id)).name == "speaker"


async def test_depends_on_an_unknown_variable_is_refused(
    researcher: Caller, project: project_pb2.Project
) -> None:
    error = await rpc_error(researcher.create_variable(project.id, depends_on=[random_id()]))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable.depends_on"]


async def test_depends_on_a_variable_of_another_project_is_refused(
    researcher: Caller, project: project_pb2.Project
) -> None:
    other_project = await researcher.create_project(name="Another project")
    elsewhere = await researcher.create_variable(other_project.id)

    error = await rpc_error(researcher.create_variable(project.id, depends_on=[elsewhere.id]))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable.depends_on"]


async def test_a_malformed_dependency_id_is_refused_naming_its_position(
    researcher: Caller, project: project_pb2.Project
) -> None:
    speaker = await researcher.create_variable(project.id)

    error = await rpc_error(
        researcher.create_variable(project.id, depends_on=[speaker.id, "speaker"])
    )

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable.depends_on[1]"]


async def test_a_dependency_that_closes_a_cycle_is_refused(
    researcher: Caller, project: project_pb2.Project
) -> None:
    party = await researcher.create_variable(project.id, name="party")
    speaker = await researcher.create_variable(project.id, name="speaker", depends_on=[party.id])
    party.depends_on.append(speaker.id)

    error = await rpc_error(update_variable(researcher, party, ["depends_on"]))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable.depends_on"]
    assert list((await get_variable(researcher, party.id)).depends_on) == []


async def test_a_longer_cycle_and_a_self_dependency_are_refused(
    researcher: Caller, project: project_pb2.Project
) -> None:
    first = await researcher.create_variable(project.id)
    second = await researcher.create_variable(project.id, depends_on=[first.id])
    third = await researcher.create_variable(project.id, depends_on=[second.id])

    for dependency in (third.id, first.id):
        first.ClearField("depends_on")
        first.depends_on.append(dependency)
        error = await rpc_error(update_variable(researcher, first, ["depends_on"]))
        assert error.code() == INVALID
        assert bad_request_fields(error) == ["variable.depends_on"]


async def test_a_variable_others_depend_on_cannot_be_deleted_until_they_stop(
    researcher: Caller, project: project_pb2.Project
) -> None:
    party = await researcher.create_variable(project.id, name="party")
    speaker = await researcher.create_variable(project.id, name="speaker", depends_on=[party.id])

    error = await rpc_error(delete_variable(researcher, party.id))

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "speaker" in (error.details() or "")
    assert await get_variable(researcher, party.id) == party

    speaker.ClearField("depends_on")
    await update_variable(researcher, speaker, ["depends_on"])
    await delete_variable(researcher, party.id)
    assert [v.name for v in await list_variables(researcher, project.id)] == ["speaker"]


async def test_new_variables_go_last(researcher: Caller, project: project_pb2.Project) -> None:
    created = [await researcher.create_variable(project.id) for _ in range(3)]

    assert [v.order for v in created] == [0, 1, 2]
    assert await list_variables(researcher, project.id) == created


async def test_reorder_variables_sets_the_new_order_everywhere(
    researcher: Caller, project: project_pb2.Project
) -> None:
    a, b, c = [await researcher.create_variable(project.id) for _ in range(3)]

    reordered = await reorder(researcher, project.id, [c.id, a.id, b.id])

    assert [(v.id, v.order) for v in reordered] == [(c.id, 0), (a.id, 1), (b.id, 2)]
    in_project = (await researcher.get_project(project.id)).variables
    assert [(v.id, v.order) for v in in_project] == [(c.id, 0), (a.id, 1), (b.id, 2)]
    assert [v.id for v in await list_variables(researcher, project.id)] == [c.id, a.id, b.id]
    assert (await researcher.create_variable(project.id)).order == 3


@pytest.mark.parametrize(
    "permutation",
    [
        lambda ids: ids[:2],
        lambda ids: [*ids, ids[0]],
        lambda ids: [ids[0], ids[0], ids[1]],
        lambda ids: [*ids[:2], random_id()],
        lambda ids: [*ids, random_id()],
        lambda ids: [],
    ],
    ids=["missing-one", "one-twice-extra", "one-twice", "unknown-id", "extra-id", "empty"],
)
async def test_reorder_needs_every_variable_exactly_once(
    researcher: Caller, project: project_pb2.Project, permutation: Any
) -> None:
    created = [await researcher.create_variable(project.id) for _ in range(3)]

    error = await rpc_error(reorder(researcher, project.id, permutation([v.id for v in created])))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable_ids"]
    assert await list_variables(researcher, project.id) == created


async def test_reorder_with_a_malformed_id_names_its_position(
    researcher: Caller, project: project_pb2.Project
) -> None:
    first = await researcher.create_variable(project.id)

    error = await rpc_error(reorder(researcher, project.id, [first.id, "second"]))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["variable_ids[1]"]


async def test_deleting_a_middle_variable_closes_the_gap(
    researcher: Caller, project: project_pb2.Project
) -> None:
    a, b, c = [await researcher.create_variable(project.id) for _ in range(3)]

    await delete_variable(researcher, b.id)

    remaining = await list_variables(researcher, project.id)
    assert [(v.id, v.order) for v in remaining] == [(a.id, 0), (c.id, 1)]
    assert (await researcher.create_variable(project.id)).order == 2
    error = await rpc_error(get_variable(researcher, b.id))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_update_with_a_mask_of_instructions_changes_only_the_instructions(
    researcher: Caller, project: project_pb2.Project
) -> None:
    speaker = await researcher.create_variable(project.id, name="speaker")
    party = await researcher.create_variable(
        project.id, depends_on=[speaker.id], **FULL_VARIABLES["CATEGORY"]
    )
    edit = variable_message(
        project.id,
        id=party.id,
        name="renamed",
        instructions="The party family the speaker belongs to.",
        confidence_threshold=0.1,
        max_values=1,
    )

    updated = await update_variable(researcher, edit, ["instructions"])

    expected = researcher_fields(party)
    expected.instructions = "The party family the speaker belongs to."
    assert researcher_fields(updated) == expected
    assert (updated.id, updated.order, updated.create_time) == (
        party.id,
        party.order,
        party.create_time,
    )
    assert await get_variable(researcher, party.id) == updated


async def test_a_masked_field_left_unset_returns_to_its_default(
    researcher: Caller, project: project_pb2.Project
) -> None:
    variable = await researcher.create_variable(project.id, confidence_threshold=0.95)

    updated = await update_variable(
        researcher, schema_pb2.Variable(id=variable.id), ["confidence_threshold"]
    )

    assert updated.confidence_threshold == pytest.approx(0.7)
    assert updated.instructions == variable.instructions


@pytest.mark.parametrize("path", ["order", "project_id", "colour", "classification_rules.x"])
async def test_an_update_mask_naming_a_field_that_cannot_be_updated_is_refused(
    researcher: Caller, project: project_pb2.Project, path: str
) -> None:
    variable = await researcher.create_variable(project.id)

    error = await rpc_error(update_variable(researcher, variable, ["instructions", path]))

    assert error.code() == INVALID
    assert bad_request_fields(error) == ["update_mask"]
    assert await get_variable(researcher, variable.id) == variable


async def test_variables_of_a_missing_project_are_not_found(researcher: Caller) -> None:
    missing = random_id()

    for call in (
        researcher.create_variable(missing),
        list_variables(researcher, missing),
        reorder(researcher, missing, []),
    ):
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.NOT_FOUND
        assert missing in (error.details() or "")
