"""SchemaService servicer: converts messages, calls SchemaService."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from coderai.v1 import common_pb2, schema_pb2, schema_pb2_grpc
from google.protobuf import json_format

from server.copilot.service import (
    DEFAULT_DOCUMENTS,
    DEFAULT_SUGGESTIONS,
    CopilotService,
    Progress,
    Suggestion,
    SuggestionRequest,
    Suggestions,
)
from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import RpcContext, current_user_id
from server.core.proto import (
    enum_from_proto,
    enum_to_proto,
    from_json_value,
    json_value,
    masked_fields,
    parse_id,
    parse_ids,
    timestamp,
    usd_fields,
)
from server.core.slots import Slots
from server.schema.guidance import Example, Guidance
from server.schema.models import IfMultipleValues, IfUncertain, Prompt, Variable, VariableType
from server.schema.prompts import CallContext
from server.schema.schemas import VariableValues
from server.schema.service import VARIABLE_FIELDS, PreviewSource, SchemaService, validate_variable


def variable_message(variable: Variable) -> schema_pb2.Variable:
    message = schema_pb2.Variable(
        id=str(variable.id),
        project_id=str(variable.project_id),
        name=variable.name,
        display_name=variable.display_name,
        type=enum_to_proto(variable.type, "VARIABLE_TYPE"),
        instructions=variable.instructions,
        confidence_threshold=variable.confidence_threshold,
        if_uncertain=enum_to_proto(variable.if_uncertain, "IF_UNCERTAIN"),
        if_multiple_values=enum_to_proto(variable.if_multiple_values, "IF_MULTIPLE_VALUES"),
        max_values=variable.max_values,
        default_value=json_value(variable.default_value),
        depends_on=[str(dependency) for dependency in variable.depends_on],
        order=variable.order,
        create_time=timestamp(variable.created_at),
        update_time=timestamp(variable.updated_at),
    )
    if variable.guidance:
        message.guidance.CopyFrom(guidance_message(Guidance.of(variable.guidance)))
    if variable.classification_rules:
        json_format.ParseDict(variable.classification_rules, message.classification_rules)
    if variable.validation_rules:
        json_format.ParseDict(variable.validation_rules, message.validation_rules)
    return message


def guidance_message(guidance: Guidance) -> schema_pb2.Guidance:
    return schema_pb2.Guidance(
        rules=guidance.rules,
        examples=[
            schema_pb2.GuidanceExample(
                excerpt=example.excerpt,
                value=json_value(example.value),
                not_value=json_value(example.not_value),
                note=example.note,
            )
            for example in guidance.examples
        ],
    )


def guidance_from_message(message: schema_pb2.Guidance) -> Guidance:
    return Guidance(
        rules=tuple(message.rules),
        examples=tuple(
            Example(
                excerpt=example.excerpt,
                value=from_json_value(example, "value"),
                not_value=from_json_value(example, "not_value"),
                note=example.note,
            )
            for example in message.examples
        ),
    )


def variable_values(message: schema_pb2.Variable) -> VariableValues:
    """The researcher-set fields present in a Variable message, in domain types. Fields left
    unset are absent, so that their defaults apply."""
    values: VariableValues = {
        "name": message.name,
        "display_name": message.display_name,
        "instructions": message.instructions,
        "type": enum_from_proto(
            message.type, VariableType, common_pb2.VariableType, "VARIABLE_TYPE", "variable.type"
        ),
        "depends_on": parse_ids(message.depends_on, "variable.depends_on"),
        "default_value": from_json_value(message, "default_value"),
    }
    if message.HasField("classification_rules"):
        values["classification_rules"] = _as_dict(message.classification_rules)
    if message.HasField("validation_rules"):
        values["validation_rules"] = _as_dict(message.validation_rules)
    if message.HasField("confidence_threshold"):
        values["confidence_threshold"] = message.confidence_threshold
    if message.max_values:
        values["max_values"] = message.max_values
    if_uncertain = enum_from_proto(
        message.if_uncertain,
        IfUncertain,
        common_pb2.IfUncertain,
        "IF_UNCERTAIN",
        "variable.if_uncertain",
    )
    if if_uncertain is not None:
        values["if_uncertain"] = if_uncertain
    if_multiple_values = enum_from_proto(
        message.if_multiple_values,
        IfMultipleValues,
        common_pb2.IfMultipleValues,
        "IF_MULTIPLE_VALUES",
        "variable.if_multiple_values",
    )
    if if_multiple_values is not None:
        values["if_multiple_values"] = if_multiple_values
    return values


def prompt_version_message(prompt: Prompt) -> schema_pb2.PromptVersion:
    message = schema_pb2.PromptVersion(
        id=str(prompt.id),
        variable_id=str(prompt.variable_id),
        version=prompt.version,
        active=prompt.is_active,
        system_prompt=prompt.system_prompt,
        user_prompt_template=prompt.user_prompt_template,
        provider=prompt.provider,
        model=prompt.model,
        temperature=prompt.temperature,
        max_tokens=prompt.max_tokens,
        reason=prompt.reason,
        create_time=timestamp(prompt.created_at),
    )
    message.response_schema.update(prompt.response_schema)
    return message


def _version_or_active(version: int) -> int | None:
    if version < 0:
        raise InvalidArgument(
            "version must be 1 or more (0 for the active version)",
            [FieldViolation("version", "must be 0 (active) or a version number")],
        )
    return version or None


def _as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def suggestion_message(
    project_id: uuid.UUID, suggestion: Suggestion
) -> schema_pb2.VariableSuggestion:
    """A co-pilot suggestion: its variable as CreateVariable's input (no id, order or times)."""
    proposed = Variable(
        id=uuid.UUID(int=0), project_id=project_id, order=0, **suggestion.variable.to_columns()
    )
    variable = variable_message(proposed)
    for output_only in ("id", "order", "create_time", "update_time"):
        variable.ClearField(output_only)
    return schema_pb2.VariableSuggestion(
        variable=variable,
        rationale=suggestion.rationale,
        example_quote=suggestion.example_quote,
        example_document_id=str(suggestion.example_document_id or ""),
        quote_found=suggestion.quote_found,
        repairs=suggestion.repairs,
    )


def copilot_fields(found: Suggestions) -> dict[str, Any]:
    """The suggestions, what was dropped and why, and what the co-pilot read and spent."""
    usage = found.usage
    return {
        "dropped": [
            schema_pb2.DroppedSuggestion(name=d.name, reason=d.reason) for d in found.dropped
        ],
        "usage": schema_pb2.CopilotUsage(
            baseline=usage.baseline,
            llm_model=usage.llm_model,
            documents_read=usage.documents_read,
            excerpt_characters=usage.excerpt_characters,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            **usd_fields("cost", "cost_usd", usage.cost_usd),
        ),
    }


def suggestion_request(
    request: schema_pb2.SuggestVariablesRequest | schema_pb2.SuggestVariablesStreamRequest,
) -> SuggestionRequest:
    return SuggestionRequest(
        question=request.research_question,
        max_suggestions=request.max_suggestions or DEFAULT_SUGGESTIONS,
        documents=request.documents or DEFAULT_DOCUMENTS,
    )


def suggestions_response(
    project_id: uuid.UUID, found: Suggestions
) -> schema_pb2.SuggestVariablesResponse:
    return schema_pb2.SuggestVariablesResponse(
        suggestions=[suggestion_message(project_id, s) for s in found.suggestions],
        **copilot_fields(found),
    )


class SchemaServicer(schema_pb2_grpc.SchemaServiceServicer):
    def __init__(self, service: SchemaService, copilot: CopilotService, streams: Slots) -> None:
        self._service = service
        self._copilot = copilot
        self._streams = streams

    async def SuggestVariablesStream(  # noqa: N802
        self, request: schema_pb2.SuggestVariablesStreamRequest, context: RpcContext
    ) -> AsyncIterator[schema_pb2.SuggestVariablesStreamResponse]:
        user_id = current_user_id()
        project_id = parse_id(request.project_id, "project_id")
        async with self._streams.hold(user_id):
            async for step in self._copilot.suggest_in_batches(
                user_id, project_id, suggestion_request(request)
            ):
                if isinstance(step, Progress):
                    progress = schema_pb2.CopilotProgress(
                        documents_read=step.documents_read,
                        documents=step.documents,
                        message=step.message,
                    )
                    yield schema_pb2.SuggestVariablesStreamResponse(progress=progress)
                else:
                    yield schema_pb2.SuggestVariablesStreamResponse(
                        result=suggestions_response(project_id, step)
                    )

    async def SuggestVariables(  # noqa: N802
        self, request: schema_pb2.SuggestVariablesRequest, context: RpcContext
    ) -> schema_pb2.SuggestVariablesResponse:
        project_id = parse_id(request.project_id, "project_id")
        found = await self._copilot.suggest(
            current_user_id(), project_id, suggestion_request(request)
        )
        return suggestions_response(project_id, found)

    async def SuggestVariableDefinition(  # noqa: N802
        self, request: schema_pb2.SuggestVariableDefinitionRequest, context: RpcContext
    ) -> schema_pb2.SuggestVariableDefinitionResponse:
        project_id = parse_id(request.project_id, "project_id")
        type_hint = enum_from_proto(
            request.type, VariableType, common_pb2.VariableType, "VARIABLE_TYPE", "type"
        )
        found = await self._copilot.complete(
            current_user_id(), project_id, request.description, type_hint
        )
        return schema_pb2.SuggestVariableDefinitionResponse(
            suggestion=suggestion_message(project_id, found.suggestions[0])
            if found.suggestions
            else None,
            **copilot_fields(found),
        )

    async def CreateVariable(  # noqa: N802 - gRPC method names are the proto's
        self, request: schema_pb2.CreateVariableRequest, context: RpcContext
    ) -> schema_pb2.CreateVariableResponse:
        project_id = parse_id(request.variable.project_id, "variable.project_id")
        data = validate_variable(variable_values(request.variable))
        variable = await self._service.create(current_user_id(), project_id, data)
        return schema_pb2.CreateVariableResponse(variable=variable_message(variable))

    async def GetVariable(  # noqa: N802
        self, request: schema_pb2.GetVariableRequest, context: RpcContext
    ) -> schema_pb2.GetVariableResponse:
        variable = await self._service.get(
            current_user_id(), parse_id(request.variable_id, "variable_id")
        )
        return schema_pb2.GetVariableResponse(variable=variable_message(variable))

    async def ListVariables(  # noqa: N802
        self, request: schema_pb2.ListVariablesRequest, context: RpcContext
    ) -> schema_pb2.ListVariablesResponse:
        variables = await self._service.list(
            current_user_id(), parse_id(request.project_id, "project_id")
        )
        return schema_pb2.ListVariablesResponse(
            variables=[variable_message(variable) for variable in variables]
        )

    async def UpdateVariable(  # noqa: N802
        self, request: schema_pb2.UpdateVariableRequest, context: RpcContext
    ) -> schema_pb2.UpdateVariableResponse:
        variable_id = parse_id(request.variable.id, "variable.id")
        fields = masked_fields(request.update_mask, VARIABLE_FIELDS, "variable")
        variable = await self._service.update(
            current_user_id(), variable_id, variable_values(request.variable), fields
        )
        return schema_pb2.UpdateVariableResponse(variable=variable_message(variable))

    async def DeleteVariable(  # noqa: N802
        self, request: schema_pb2.DeleteVariableRequest, context: RpcContext
    ) -> schema_pb2.DeleteVariableResponse:
        await self._service.delete(current_user_id(), parse_id(request.variable_id, "variable_id"))
        return schema_pb2.DeleteVariableResponse()

    async def ReorderVariables(  # noqa: N802
        self, request: schema_pb2.ReorderVariablesRequest, context: RpcContext
    ) -> schema_pb2.ReorderVariablesResponse:
        variables = await self._service.reorder(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            parse_ids(request.variable_ids, "variable_ids"),
        )
        return schema_pb2.ReorderVariablesResponse(
            variables=[variable_message(variable) for variable in variables]
        )

    async def ListPromptVersions(  # noqa: N802
        self, request: schema_pb2.ListPromptVersionsRequest, context: RpcContext
    ) -> schema_pb2.ListPromptVersionsResponse:
        versions = await self._service.list_prompt_versions(
            current_user_id(), parse_id(request.variable_id, "variable_id")
        )
        return schema_pb2.ListPromptVersionsResponse(
            versions=[prompt_version_message(prompt) for prompt in versions]
        )

    async def GetPromptVersion(  # noqa: N802
        self, request: schema_pb2.GetPromptVersionRequest, context: RpcContext
    ) -> schema_pb2.GetPromptVersionResponse:
        prompt = await self._service.get_prompt_version(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            _version_or_active(request.version),
        )
        return schema_pb2.GetPromptVersionResponse(version=prompt_version_message(prompt))

    async def RegeneratePrompts(  # noqa: N802
        self, request: schema_pb2.RegeneratePromptsRequest, context: RpcContext
    ) -> schema_pb2.RegeneratePromptsResponse:
        synced = await self._service.regenerate_prompts(
            current_user_id(),
            parse_id(request.project_id, "project_id"),
            parse_ids(request.variable_ids, "variable_ids"),
        )
        return schema_pb2.RegeneratePromptsResponse(
            versions=[prompt_version_message(item.prompt) for item in synced],
            created_count=sum(item.created for item in synced),
        )

    async def ActivatePromptVersion(  # noqa: N802
        self, request: schema_pb2.ActivatePromptVersionRequest, context: RpcContext
    ) -> schema_pb2.ActivatePromptVersionResponse:
        version = _version_or_active(request.version)
        if version is None:
            raise InvalidArgument("version is required", [FieldViolation("version", "required")])
        prompt = await self._service.activate_prompt_version(
            current_user_id(), parse_id(request.variable_id, "variable_id"), version
        )
        return schema_pb2.ActivatePromptVersionResponse(version=prompt_version_message(prompt))

    async def PreviewPrompt(  # noqa: N802
        self, request: schema_pb2.PreviewPromptRequest, context: RpcContext
    ) -> schema_pb2.PreviewPromptResponse:
        if request.WhichOneof("source") == "document_id":
            source = PreviewSource(document_id=parse_id(request.document_id, "document_id"))
        else:
            source = PreviewSource(document_text=request.document_text)
        call_context = CallContext(
            entity=request.entity or None,
            known_values=_as_dict(request.known_values)
            if request.HasField("known_values")
            else None,
        )
        preview = await self._service.preview_prompt(
            current_user_id(),
            parse_id(request.variable_id, "variable_id"),
            _version_or_active(request.version),
            source,
            call_context,
        )
        return schema_pb2.PreviewPromptResponse(
            version=prompt_version_message(preview.prompt),
            messages=[
                schema_pb2.ChatMessage(role="system", content=preview.messages.system),
                schema_pb2.ChatMessage(role="user", content=preview.messages.user),
            ],
            estimated_prompt_tokens=preview.estimated_prompt_tokens,
            **usd_fields(
                "estimated_max_cost", "estimated_max_cost_usd", preview.estimated_max_cost_usd
            ),
        )
