"""The floor every request message clears before a servicer sees it: its fields marked
REQUIRED (google.api.field_behavior) set; text that PostgreSQL and a researcher's tools can
hold, within a length limit; finite numbers; bounded lists and JSON values; integers in range
where a field needs it. Driven by the proto descriptors, so a field
added tomorrow is covered without a rule of its own; ValidationInterceptor applies it to every
request message, each message of a client stream included. Domain rules (a variable's name, a
project's language tag) stay in the services' schemas; where those limit a field's length,
the limit here is the same number, so that both say the same thing.

The limits are documented for clients in the header of protos/coderai/v1/common.proto.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

import grpc
from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from server.core.errors import FieldViolation, InvalidArgument
from server.core.interceptors import (
    Continuation,
    Handler,
    RpcContext,
    StreamBehaviour,
    UnaryBehaviour,
)

# Short text: ids, emails, names, MIME types, tokens, page tokens, filenames.
DEFAULT_MAX_CHARS = 1_000
# The fields that may hold more (or, where a service's schema says so, less) than the default,
# by the proto's full field name. tests/core/test_validation.py checks every name against the
# descriptors, so a renamed field cannot silently lose its rule.
MAX_CHARS: Mapping[str, int] = {
    "coderai.v1.RegisterRequest.password": 1_024,
    "coderai.v1.RegisterRequest.display_name": 200,
    "coderai.v1.LoginRequest.password": 1_024,
    "coderai.v1.DeleteAccountRequest.password": 1_024,
    "coderai.v1.CreateApiKeyRequest.name": 200,
    "coderai.v1.Project.name": 200,
    "coderai.v1.Project.description": 5_000,
    "coderai.v1.Project.domain": 500,
    "coderai.v1.Project.language": 35,
    "coderai.v1.Project.entity_identification_pattern": 2_000,
    "coderai.v1.LlmConfig.provider": 100,
    "coderai.v1.LlmConfig.model": 200,
    "coderai.v1.Variable.name": 63,
    "coderai.v1.Variable.display_name": 200,
    "coderai.v1.Variable.instructions": 10_000,
    "coderai.v1.ClassificationRules.selection_logic": 5_000,
    "coderai.v1.Category.label": 200,
    "coderai.v1.Category.definition": 2_000,
    "coderai.v1.ValidationRules.pattern": 1_000,
    "coderai.v1.CreateFeedbackRequest.user_note": 5_000,
    "coderai.v1.CodeInput.note": 5_000,
    # Edited instructions of a refinement: a variable's instructions.
    "coderai.v1.AcceptRefinementRequest.instructions": 10_000,
    "coderai.v1.SuggestVariablesRequest.research_question": 2_000,
    "coderai.v1.SuggestVariablesStreamRequest.research_question": 2_000,
    "coderai.v1.SuggestVariableDefinitionRequest.description": 2_000,
    # A document pasted into a prompt preview: a long report, not a corpus.
    "coderai.v1.PreviewPromptRequest.document_text": 1_000_000,
}
DEFAULT_MAX_ITEMS = 1_000
MAX_ITEMS: Mapping[str, int] = {
    # A job over chosen documents may name many of them.
    "coderai.v1.JobSelection.document_ids": 10_000,
}
# Lower bounds of integer fields: by full name, and by field name for every message.
MIN_VALUE: Mapping[str, int] = {
    "coderai.v1.JobSelection.sample_size": 0,
    "coderai.v1.CreateJobRequest.token_budget": 0,
    "coderai.v1.BeginUploadRequest.size_bytes": 0,
    "coderai.v1.AppendUploadRequest.offset": 0,
}
MIN_VALUE_BY_NAME: Mapping[str, int] = {"page_size": 0}
# google.protobuf.Value/Struct/ListValue fields (default values, corrected values, known
# values): how deep they nest, how many values they hold, how long their strings are.
JSON_MAX_DEPTH = 16
JSON_MAX_NODES = 10_000
JSON_MAX_CHARS = 10_000
# A request with more violations than this is reported by its first ones.
MAX_VIOLATIONS = 100

# C0 control characters but tab, newline and carriage return (PostgreSQL refuses NUL in text;
# the others corrupt CSV and terminals), and lone surrogates (not encodable as UTF-8).
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_JSON_TYPES = frozenset(
    {"google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue"}
)
_TIMESTAMP = "google.protobuf.Timestamp"
# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range google.protobuf.Timestamp allows.
_TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})


def check_request(message: Message) -> None:
    """INVALID_ARGUMENT listing every field of the message that breaks a rule."""
    found = violations(message)
    if found:
        raise InvalidArgument.from_violations(found)


def violations(message: Message) -> list[FieldViolation]:
    """The message's violations (at most MAX_VIOLATIONS), each at its proto field path, e.g.
    `variable.classification_rules.categories[2].label`."""
    walk = _Walk()
    for name in required_fields(message.DESCRIPTOR):
        if _is_empty(message, name):
            walk.add(name, "required")
    walk.message(message, "")
    return walk.found


@cache
def required_fields(descriptor: Descriptor) -> tuple[str, ...]:
    """The fields a request message marks REQUIRED. Only the request's own fields are checked
    here: inside a resource (a Project, a Variable) REQUIRED means required on create, which
    an update with a field mask need not repeat; the services' schemas check those."""
    return tuple(
        field.name
        for field in descriptor.fields
        if field_behavior_pb2.REQUIRED
        in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    )


def _is_empty(message: Message, name: str) -> bool:
    """Unset, or set to its type's zero value (proto3 does not tell them apart on the wire)."""
    descriptor = message.DESCRIPTOR.fields_by_name[name]
    if descriptor.is_repeated:
        return len(getattr(message, name)) == 0
    if descriptor.has_presence:
        return not message.HasField(name)
    return not getattr(message, name)


def text_problems(value: str, limit: int) -> list[str]:
    """What is wrong with a string under a length limit: empty when it is fine."""
    problems = []
    if len(value) > limit:
        problems.append(f"must have at most {limit} characters")
    bad = _FORBIDDEN_CHARS.search(value)
    if bad is not None:
        character = ord(bad.group())
        kind = "an unpaired surrogate" if character >= 0xD800 else "the control character"
        problems.append(f"must not contain {kind} U+{character:04X}")
    return problems


@dataclass
class _Walk:
    found: list[FieldViolation] = field(default_factory=list)
    json_nodes: int = 0

    @property
    def full(self) -> bool:
        return len(self.found) >= MAX_VIOLATIONS

    def add(self, path: str, description: str) -> None:
        if not self.full:
            self.found.append(FieldViolation(path or "request", description))

    def message(self, message: Message, path: str) -> None:
        name = message.DESCRIPTOR.full_name
        if name in _JSON_TYPES:
            self.json_nodes = 0
            self.json(message, path, depth=1)
            return
        if name == _TIMESTAMP:
            self.timestamp(message, path)
            return
        for descriptor, value in message.ListFields():
            if self.full:
                return
            field_path = f"{path}.{descriptor.name}" if path else descriptor.name
            if _is_map(descriptor):
                self.map(descriptor, value, field_path)
            elif descriptor.is_repeated:
                limit = MAX_ITEMS.get(descriptor.full_name, DEFAULT_MAX_ITEMS)
                if len(value) > limit:
                    self.add(field_path, f"must have at most {limit} items")
                for index, item in enumerate(value[:limit]):
                    self.value(descriptor, item, f"{field_path}[{index}]")
            else:
                self.value(descriptor, value, field_path)

    def map(self, descriptor: FieldDescriptor, entries: Mapping[Any, Any], path: str) -> None:
        if len(entries) > DEFAULT_MAX_ITEMS:
            self.add(path, f"must have at most {DEFAULT_MAX_ITEMS} entries")
        entry = descriptor.message_type
        assert entry is not None  # a map field's entry message
        value_field = entry.fields_by_name["value"]
        for key, value in list(entries.items())[:DEFAULT_MAX_ITEMS]:
            entry_path = f"{path}[{_quoted(key)}]"
            if isinstance(key, str):
                self.text(key, DEFAULT_MAX_CHARS, f"{entry_path} (key)")
            self.value(value_field, value, entry_path)

    def value(self, descriptor: FieldDescriptor, value: Any, path: str) -> None:
        kind = descriptor.type
        if kind == FieldDescriptor.TYPE_STRING:
            self.text(value, MAX_CHARS.get(descriptor.full_name, DEFAULT_MAX_CHARS), path)
        elif kind in _FLOAT_TYPES:
            if not math.isfinite(value):
                self.add(path, "must be a finite number")
        elif kind in _INTEGER_TYPES:
            low = MIN_VALUE.get(descriptor.full_name, MIN_VALUE_BY_NAME.get(descriptor.name))
            if low is not None and value < low:
                self.add(path, f"must be >= {low}")
        elif kind == FieldDescriptor.TYPE_MESSAGE:
            self.message(value, path)
        # Enums are the servicers' (an unknown number is theirs to name); bytes are bounded by
        # the message size limit.

    def text(self, value: str, limit: int, path: str) -> None:
        for problem in text_problems(value, limit):
            self.add(path, problem)

    def timestamp(self, message: Any, path: str) -> None:
        low, high = _TIMESTAMP_SECONDS
        if not low <= message.seconds <= high or not 0 <= message.nanos < 1_000_000_000:
            self.add(path, "must be a time between 0001-01-01 and 9999-12-31")

    def json(self, message: Any, path: str, depth: int) -> None:
        """A Value, Struct or ListValue, as the JSON it stands for."""
        if self.full:
            return
        if depth > JSON_MAX_DEPTH:
            self.add(path, f"must not nest deeper than {JSON_MAX_DEPTH} levels")
            return
        self.json_nodes += 1
        if self.json_nodes > JSON_MAX_NODES:
            if self.json_nodes == JSON_MAX_NODES + 1:
                self.add(path, f"the value must hold at most {JSON_MAX_NODES} items")
            return
        name = message.DESCRIPTOR.full_name
        if name == "google.protobuf.Struct":
            for key, item in message.fields.items():
                self.text(key, DEFAULT_MAX_CHARS, f"{path}[{_quoted(key)}] (key)")
                self.json(item, f"{path}[{_quoted(key)}]", depth + 1)
        elif name == "google.protobuf.ListValue":
            for index, item in enumerate(message.values):
                self.json(item, f"{path}[{index}]", depth + 1)
        else:
            kind = message.WhichOneof("kind")
            if kind == "number_value" and not math.isfinite(message.number_value):
                self.add(path, "must be a finite number")
            elif kind == "string_value":
                self.text(message.string_value, JSON_MAX_CHARS, path)
            elif kind in ("struct_value", "list_value"):
                # The Struct or ListValue inside is the same level of the JSON value.
                self.json_nodes -= 1
                self.json(getattr(message, kind), path, depth)


def _is_map(descriptor: FieldDescriptor) -> bool:
    message = descriptor.message_type
    return message is not None and bool(message.GetOptions().map_entry)


def _quoted(key: object) -> str:
    # JSON quoting shows a key's control characters rather than printing them; a long key is
    # cut, its own violation says how long it is.
    return json.dumps(key)[:60] if isinstance(key, str) else str(key)


class ValidationInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Answers INVALID_ARGUMENT, before any servicer runs, for request bytes that do not decode
    and for request messages that break the rules above. Listed after the error mapping (which
    turns InvalidArgument into its status) and after authentication (a stranger learns
    nothing about a method's fields)."""

    async def intercept_service(  # type: ignore[override]
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        deserializer = _tolerant(handler.request_deserializer)
        serializer = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _checked_unary(cast(UnaryBehaviour, handler.unary_unary), streaming=False),
                request_deserializer=deserializer,
                response_serializer=serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _checked_unary(cast(UnaryBehaviour, handler.stream_unary), streaming=True),
                request_deserializer=deserializer,
                response_serializer=serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _checked_stream(cast(StreamBehaviour, handler.unary_stream), streaming=False),
                request_deserializer=deserializer,
                response_serializer=serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _checked_stream(cast(StreamBehaviour, handler.stream_stream), streaming=True),
            request_deserializer=deserializer,
            response_serializer=serializer,
        )


@dataclass(frozen=True)
class _Undecodable:
    """What the deserializer hands on for bytes that are not the method's request message:
    grpc.aio answers UNKNOWN naming the Python exception when a deserializer raises (and a
    client stream's servicer would see the exception as its own), so the error is raised
    where the message is used instead."""

    message_type: str


def _tolerant(
    deserializer: Callable[[bytes], Any] | None,
) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    descriptor = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    message_type = getattr(descriptor, "full_name", "the method's request message")

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except DecodeError:
            return _Undecodable(message_type)

    return decode


def _checked(request: Any) -> Any:
    if isinstance(request, _Undecodable):
        raise InvalidArgument(f"request could not be decoded as {request.message_type}")
    if isinstance(request, Message):
        check_request(request)
    return request


async def _checked_requests(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _checked(request)


def _checked_unary(behaviour: UnaryBehaviour, *, streaming: bool) -> UnaryBehaviour:
    async def checked(request: Any, context: RpcContext) -> Any:
        return await behaviour(
            _checked_requests(request) if streaming else _checked(request), context
        )

    return checked


def _checked_stream(behaviour: StreamBehaviour, *, streaming: bool) -> StreamBehaviour:
    async def checked(request: Any, context: RpcContext) -> AsyncIterator[Any]:
        requests = _checked_requests(request) if streaming else _checked(request)
        async for response in behaviour(requests, context):
            yield response

    return checked
