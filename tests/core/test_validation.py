"""The request floor (server.core.validation): bad input answers INVALID_ARGUMENT naming each
bad field before any servicer runs, undecodable bytes included; its table of limits names
real fields and says what the services' own schemas say."""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import typing
import uuid
from collections.abc import AsyncIterator

import coderai.v1
import grpc
import pydantic
import pytest
from coderai.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    document_pb2,
    job_pb2,
    project_pb2,
    project_pb2_grpc,
    schema_pb2,
)
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pool, message_factory, struct_pb2
from pydantic.fields import FieldInfo
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from server.auth.schemas import ApiKeyInput, RegisterInput
from server.core import validation
from server.core.db import Database
from server.feedback.service import MAX_NOTE_LENGTH
from server.projects.schemas import LlmConfigInput, ProjectInput, ProjectValues
from server.projects.service import PROJECT_FIELDS
from server.schema.schemas import (
    CategoryInput,
    ClassificationRulesInput,
    ValidationRulesInput,
    VariableInput,
    VariableValues,
)
from server.schema.service import VARIABLE_FIELDS
from tests.factories import (
    PASSWORD,
    Caller,
    field_violations,
    project_message,
    random_id,
    rpc_error,
    signed_in,
    variable_message,
)
from tests.processes import ROOT

# The services' input schemas, by the proto message whose fields they check.
SCHEMAS: dict[str, type[pydantic.BaseModel]] = {
    "coderai.v1.RegisterRequest": RegisterInput,
    "coderai.v1.CreateApiKeyRequest": ApiKeyInput,
    "coderai.v1.Project": ProjectInput,
    "coderai.v1.LlmConfig": LlmConfigInput,
    "coderai.v1.Variable": VariableInput,
    "coderai.v1.ClassificationRules": ClassificationRulesInput,
    "coderai.v1.Category": CategoryInput,
    "coderai.v1.ValidationRules": ValidationRulesInput,
}
A_FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


def proto_field(full_name: str) -> object:
    for module in pkgutil.iter_modules(coderai.v1.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"coderai.v1.{module.name}")
    message, _, name = full_name.rpartition(".")
    return descriptor_pool.Default().FindMessageTypeByName(message).fields_by_name.get(name)


def schema_max_length(field: FieldInfo) -> int | None:
    """The max_length a Pydantic field declares, in Field(...) or in an Annotated type."""
    constraints = list(field.metadata)
    for argument in typing.get_args(field.annotation):
        constraints.extend(getattr(argument, "__metadata__", ()))
    for constraint in constraints:
        limit = getattr(constraint, "max_length", None)
        if isinstance(limit, int):
            return limit
    return None


@pytest.fixture
async def caller(channel: grpc.aio.Channel) -> Caller:
    return await signed_in(channel, f"validation-{uuid.uuid4().hex[:10]}@example.org")


@pytest.mark.parametrize(
    "full_name",
    [*validation.MAX_CHARS, *validation.MAX_ITEMS, *validation.MIN_VALUE],
)
def test_every_field_the_limits_name_is_a_field_of_the_protos(full_name: str) -> None:
    assert proto_field(full_name) is not None, f"{full_name} is no field: renamed or removed?"


@pytest.mark.parametrize("message_name", sorted(SCHEMAS))
def test_the_length_limits_are_those_of_the_services_schemas(message_name: str) -> None:
    schema = SCHEMAS[message_name]
    for name, field in schema.model_fields.items():
        limit = schema_max_length(field)
        if limit is not None and proto_field(f"{message_name}.{name}") is not None:
            edge = validation.MAX_CHARS.get(f"{message_name}.{name}", validation.DEFAULT_MAX_CHARS)
            assert edge == limit, f"{message_name}.{name}: {edge} here, {limit} in {schema}"
    assert validation.MAX_CHARS["coderai.v1.CreateFeedbackRequest.user_note"] == MAX_NOTE_LENGTH


def test_the_limits_clients_read_in_common_proto_are_those_applied() -> None:
    header = (ROOT / "protos/coderai/v1/common.proto").read_text().split("\nenum ", 1)[0]
    limits = {
        validation.DEFAULT_MAX_CHARS,
        validation.DEFAULT_MAX_ITEMS,
        validation.JSON_MAX_DEPTH,
        validation.JSON_MAX_NODES,
        validation.JSON_MAX_CHARS,
        *validation.MAX_CHARS.values(),
        *validation.MAX_ITEMS.values(),
    }

    assert [n for n in sorted(limits) if f" {n:,}" not in header] == []
    for full_name in [*validation.MAX_ITEMS, *validation.MIN_VALUE]:
        assert full_name.removeprefix("coderai.v1.") in header


def test_every_violation_of_a_message_is_reported_at_its_proto_path() -> None:
    variable = variable_message(
        random_id(), name="q\x00", instructions="x" * 10_001, confidence_threshold=math.nan
    )
    variable.classification_rules.categories.add(label="fine")
    variable.classification_rules.categories.add(label="fine too")
    variable.classification_rules.categories.add(label="bell\x07")
    variable.default_value.list_value.values.add().struct_value.fields["n"].number_value = math.inf
    request = schema_pb2.CreateVariableRequest(variable=variable)

    found = {(v.field, v.description) for v in validation.violations(request)}

    assert found == {
        ("variable.name", "must not contain the control character U+0000"),
        ("variable.instructions", "must have at most 10000 characters"),
        ("variable.confidence_threshold", "must be a finite number"),
        (
            "variable.classification_rules.categories[2].label",
            "must not contain the control character U+0007",
        ),
        ('variable.default_value[0]["n"]', "must be a finite number"),
    }


def test_tabs_newlines_and_any_script_are_fine_but_lone_surrogates_are_not() -> None:
    assert validation.text_problems("a\tb\r\nc ü 漢字 😀", 100) == []
    assert validation.text_problems("a\ud800", 100) == [
        "must not contain an unpaired surrogate U+D800"
    ]


def test_json_values_are_bounded_in_depth_and_size() -> None:
    deep = struct_pb2.Value(string_value="bottom")
    for _ in range(validation.JSON_MAX_DEPTH):
        deep = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[deep]))
    wide = struct_pb2.Value(
        list_value=struct_pb2.ListValue(
            values=[struct_pb2.Value(number_value=1)] * (validation.JSON_MAX_NODES + 1)
        )
    )

    def feedback(value: struct_pb2.Value) -> job_pb2.CreateFeedbackRequest:
        return job_pb2.CreateFeedbackRequest(
            extraction_id=random_id(),
            feedback_type=common_pb2.FEEDBACK_TYPE_INCORRECT,
            corrected_value=value,
        )

    deep_found = validation.violations(feedback(deep))
    wide_found = validation.violations(feedback(wide))

    assert [v.description for v in deep_found] == [
        f"must not nest deeper than {validation.JSON_MAX_DEPTH} levels"
    ]
    assert [v.description for v in wide_found] == [
        f"the value must hold at most {validation.JSON_MAX_NODES} items"
    ]


async def test_register_with_a_nul_in_the_display_name_is_invalid_and_logs_no_hash(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = auth_pb2_grpc.AuthServiceStub(channel)

    error = await rpc_error(
        auth.Register(
            auth_pb2.RegisterRequest(
                email=f"nul-{uuid.uuid4().hex[:8]}@example.org",
                password=PASSWORD,
                display_name="Ada\x00Lovelace",
            )
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("display_name", "must not contain the control character U+0000")
    ]
    assert "$argon2" not in caplog.text
    assert PASSWORD not in caplog.text


async def test_a_database_error_names_no_statement_parameter(database: Database) -> None:
    # What logged a password hash once: a statement PostgreSQL refuses (a NUL in a text),
    # a hash among its parameters, and the parameters in the exception's text.
    with pytest.raises(DBAPIError) as raised:
        async with database.transaction(None) as session:
            await session.execute(
                text("SELECT CAST(:hash AS text), CAST(:nul AS text)"),
                {"hash": A_FAKE_HASH, "nul": "a\x00b"},
            )

    assert "$argon2" not in str(raised.value)
    assert "parameters hidden" in str(raised.value)


async def test_undecodable_request_bytes_are_invalid_argument_naming_the_message_type(
    channel: grpc.aio.Channel, caller: Caller
) -> None:
    get_project = channel.unary_unary("/coderai.v1.ProjectService/GetProject", None, None)

    error = await rpc_error(get_project(b"\xff\xff\xff\xff", metadata=caller.metadata))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "request could not be decoded as coderai.v1.GetProjectRequest"


async def test_undecodable_bytes_inside_an_upload_stream_are_invalid_argument(
    channel: grpc.aio.Channel, caller: Caller
) -> None:
    project = await caller.create_project()
    opening = document_pb2.UploadDocumentRequest(
        metadata=document_pb2.UploadMetadata(project_id=project.id, filename="notes.txt")
    )

    async def messages() -> AsyncIterator[bytes]:
        yield opening.SerializeToString()
        yield b"\xff\xff\xff\xff"

    upload = channel.stream_unary("/coderai.v1.DocumentService/UploadDocument", None, None)
    error = await rpc_error(upload(messages(), metadata=caller.metadata))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "request could not be decoded as coderai.v1.UploadDocumentRequest"


async def test_a_control_character_in_an_upload_streams_metadata_is_invalid_argument(
    caller: Caller,
) -> None:
    project = await caller.create_project()

    error = await rpc_error(caller.upload(project.id, "notes\x00.txt", b"some text"))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(error)] == ["metadata.filename"]


async def test_nan_and_infinite_numbers_are_invalid_argument(caller: Caller) -> None:
    project = await caller.create_project()
    nan_default = await rpc_error(
        caller.schema.CreateVariable(
            schema_pb2.CreateVariableRequest(
                variable=variable_message(
                    project.id, default_value=struct_pb2.Value(number_value=math.nan)
                )
            ),
            metadata=caller.metadata,
        )
    )
    infinite_budget = await rpc_error(
        caller.jobs.CreateJob(
            job_pb2.CreateJobRequest(
                selection=job_pb2.JobSelection(project_id=project.id, type="JOB_TYPE_SAMPLE"),
                cost_budget_usd=math.inf,
            ),
            metadata=caller.metadata,
        )
    )

    assert nan_default.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(nan_default)] == ["variable.default_value"]
    assert infinite_budget.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(infinite_budget)] == ["cost_budget_usd"]


async def test_a_negative_sample_size_is_invalid_even_with_chosen_documents(
    caller: Caller,
) -> None:
    project = await caller.create_project()

    error = await rpc_error(
        caller.jobs.EstimateJob(
            job_pb2.EstimateJobRequest(
                selection=job_pb2.JobSelection(
                    project_id=project.id,
                    type="JOB_TYPE_SAMPLE",
                    document_ids=[random_id()],
                    sample_size=-1,
                )
            ),
            metadata=caller.metadata,
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("selection.sample_size", "must be >= 0")
    ]


async def test_a_megabyte_note_is_invalid_argument(caller: Caller) -> None:
    error = await rpc_error(
        caller.jobs.CreateFeedback(
            job_pb2.CreateFeedbackRequest(
                extraction_id=random_id(),
                feedback_type=common_pb2.FEEDBACK_TYPE_CORRECT,
                user_note="n" * 1_000_000,
            ),
            metadata=caller.metadata,
        )
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("user_note", "must have at most 5000 characters")
    ]


async def test_a_name_too_long_reads_the_same_whether_the_edge_or_the_schema_refuses_it(
    caller: Caller,
) -> None:
    just_over = await rpc_error(caller.create_project(name="n" * 201))
    far_over = await rpc_error(caller.create_project(name="n" * 5_000))

    assert [(v.field, v.description) for v in field_violations(just_over)] == [
        ("project.name", "must have at most 200 characters")
    ]
    assert field_violations(far_over) == field_violations(just_over)


async def test_an_unauthenticated_caller_learns_nothing_about_the_fields(
    channel: grpc.aio.Channel,
) -> None:
    projects = project_pb2_grpc.ProjectServiceStub(channel)

    error = await rpc_error(
        projects.CreateProject(
            project_pb2.CreateProjectRequest(project=project_message(name="\x00"))
        )
    )

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def contract_files() -> list[typing.Any]:
    """The file descriptor of every .proto of coderai.v1."""
    return [
        importlib.import_module(f"coderai.v1.{module.name}").DESCRIPTOR
        for module in pkgutil.iter_modules(coderai.v1.__path__)
        if module.name.endswith("_pb2")
    ]


def all_messages() -> list[typing.Any]:
    """Every message of coderai.v1, nested ones included (map entries left out)."""
    found = []
    pending = [m for file in contract_files() for m in file.message_types_by_name.values()]
    while pending:
        message = pending.pop()
        if not message.GetOptions().map_entry:
            found.append(message)
        pending.extend(message.nested_types)
    return found


def behaviours(field: typing.Any) -> list[int]:
    return list(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def test_every_field_of_every_message_states_its_behaviour() -> None:
    messages = all_messages()
    unstated = [
        field.full_name for message in messages for field in message.fields if not behaviours(field)
    ]

    assert len(messages) > 150
    assert unstated == []


def test_every_required_field_of_a_request_is_refused_when_empty() -> None:
    """The floor enforces REQUIRED on a request's own fields, for every method."""
    pool = descriptor_pool.Default()
    requests = [
        method.input_type
        for file in contract_files()
        for service in file.services_by_name.values()
        for method in service.methods
    ]
    checked = 0
    for request in requests:
        required = [
            field.name
            for field in request.fields
            if field_behavior_pb2.REQUIRED in behaviours(field)
        ]
        empty = message_factory.GetMessageClass(pool.FindMessageTypeByName(request.full_name))()
        found = [v for v in validation.violations(empty) if v.description == "required"]
        assert [v.field for v in found] == required, request.full_name
        checked += len(required)
    assert checked > 50


async def test_a_request_without_a_required_field_is_invalid_argument_naming_it(
    caller: Caller,
) -> None:
    error = await rpc_error(
        caller.projects.GetProject(project_pb2.GetProjectRequest(), metadata=caller.metadata)
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in field_violations(error)] == [
        ("project_id", "required")
    ]


def test_the_values_a_servicer_reads_are_the_fields_a_researcher_sets() -> None:
    """The typed values an update takes its masked fields from name every updatable field."""
    assert set(ProjectValues.__annotations__) == PROJECT_FIELDS
    assert set(VariableValues.__annotations__) == VARIABLE_FIELDS
