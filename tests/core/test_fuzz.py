"""Every method of every service, enumerated from the proto descriptors, answered with random
bytes and with messages full of hostile values (NUL and control characters, huge strings,
NaN and infinities, out-of-range integers, ids that name nothing or are no ids, unknown enum
numbers, deeply nested JSON values), as a signed-in researcher who owns a real project and
variable: no answer is INTERNAL or UNKNOWN. Seeded, so that a failure repeats."""

from __future__ import annotations

import asyncio
import importlib
import math
import pkgutil
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import cast

import coderai.v1
import grpc
from google.protobuf import descriptor_pool, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from tests.factories import Caller, signed_in

SEED = 20261202
HOSTILE_MESSAGES_PER_METHOD = 10
RANDOM_PAYLOADS_PER_METHOD = 4
CALL_TIMEOUT_SECONDS = 20.0
# How long a response stream is read before the client leaves it (a watch does not end).
STREAM_READ_SECONDS = 0.3
BROKEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def all_methods() -> list[MethodDescriptor]:
    """Every method of every service in the coderai.v1 package, those that destroy the
    caller's data (Delete*) last so that the others see the caller's real objects."""
    for module in pkgutil.iter_modules(coderai.v1.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"coderai.v1.{module.name}")
    pool = descriptor_pool.Default()
    methods: list[MethodDescriptor] = []
    for module in pkgutil.iter_modules(coderai.v1.__path__):
        if not module.name.endswith("_pb2"):
            continue
        file = pool.FindFileByName(f"coderai/v1/{module.name.removesuffix('_pb2')}.proto")
        for service in file.services_by_name.values():
            methods.extend(service.methods)
    return sorted(methods, key=lambda m: (m.name.startswith("Delete"), m.full_name))


def enum_numbers(field: FieldDescriptor) -> list[int]:
    assert field.enum_type is not None
    return [value.number for value in field.enum_type.values]


@dataclass(frozen=True)
class Hostile:
    """Builds messages whose every field holds something a careless server trips over."""

    rng: random.Random
    real_ids: tuple[str, ...]

    def strings(self, name: str) -> list[str]:
        values = [
            "",
            "fuzz",
            "a\x00b",
            "\x00",
            "\x01\x07\x1b[31m\x7f",
            "tab\tnewline\ncarriage\r",
            "x" * self.rng.choice((1_001, 70_000, 1_100_000)),
            "ü😀漢字",
            "'; DROP TABLE users; --",
            "%s%n{0}",
            "   ",
            "not-a-uuid",
            str(uuid.UUID(int=self.rng.getrandbits(128))),
        ]
        if name == "id" or name.endswith(("_id", "_ids")):
            values += [*self.real_ids, *self.real_ids, "00000000-0000-0000-0000-000000000000"]
        if "email" in name:
            values += ["a@b", f"fuzz-{self.rng.getrandbits(32)}@example.org", "@\x00.org"]
        return values

    def benign(self, field: FieldDescriptor) -> object:
        """A plausible value, so that the hostile ones next to it get past the first check."""
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            if field.name == "id" or field.name.endswith(("_id", "_ids")):
                return self.rng.choice(self.real_ids)
            if "email" in field.name:
                return f"fuzz-{self.rng.getrandbits(32)}@example.org"
            return {"language": "en", "type": "JOB_TYPE_SAMPLE"}.get(field.name, "fuzz")
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return 0.5
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            return enum_numbers(field)[-1]
        if kind == FieldDescriptor.TYPE_BYTES:
            return b"fuzz"
        return 1

    def scalar(self, field: FieldDescriptor) -> object:
        if self.rng.random() < 0.6:
            return self.benign(field)
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.rng.choice(self.strings(field.name))
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.rng.choice((math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308, -1e308, 0.5))
        if kind == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            return self.rng.choice([*enum_numbers(field), 99, 12345, -1])
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.rng.randbytes(self.rng.choice((0, 16, 4096)))
        if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
            return self.rng.choice((-(2**63), -1, 0, 1, 2**63 - 1, 10**12))
        if kind == FieldDescriptor.TYPE_UINT64:
            return self.rng.choice((0, 1, 2**64 - 1))
        if kind == FieldDescriptor.TYPE_UINT32:
            return self.rng.choice((0, 1, 2**32 - 1))
        return self.rng.choice((-(2**31), -1, 0, 1, 3, 2**31 - 1))

    def json_value(self, depth: int = 0) -> struct_pb2.Value:
        value = struct_pb2.Value()
        choice = self.rng.randrange(7)
        if depth > 40 or choice == 0:
            value.number_value = self.rng.choice((math.nan, math.inf, -math.inf, 1.5))
        elif choice == 1:
            value.string_value = self.rng.choice(self.strings("value"))
        elif choice in (2, 3):
            # Deep nesting: a list inside a list inside ...
            value.list_value.values.append(self.json_value(depth + 1))
        elif choice == 4:
            value.struct_value.fields[self.rng.choice(("k", "a\x00", "x" * 2000))].CopyFrom(
                self.json_value(depth + 1)
            )
        elif choice == 5:
            value.null_value = struct_pb2.NULL_VALUE
        else:
            value.bool_value = True
        return value

    def fill(self, message: Message, depth: int = 0) -> Message:
        # The stubs also admit upb's own descriptor class, the same API.
        descriptor = cast(Descriptor, message.DESCRIPTOR)
        if descriptor.full_name == "google.protobuf.Value":
            message.CopyFrom(self.json_value())
            return message
        if descriptor.full_name == "google.protobuf.Struct":
            message.CopyFrom(self.json_value(1).struct_value)
            message.fields["deep"].CopyFrom(self.json_value())  # type: ignore[attr-defined]
            return message
        for field in descriptor.fields:
            if self.rng.random() < 0.2 or depth > 4:
                continue
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if field.message_type is None or field.message_type.GetOptions().map_entry:
                    continue
                if field.is_repeated:
                    items = getattr(message, field.name)
                    for _ in range(self.rng.choice((1, 2, 3))):
                        self.fill(items.add(), depth + 1)
                else:
                    self.fill(getattr(message, field.name), depth + 1)
            elif field.is_repeated:
                count = self.rng.choice((1, 3, 1_001 if self.rng.random() < 0.1 else 2))
                getattr(message, field.name).extend(self.scalar(field) for _ in range(count))
            else:
                setattr(message, field.name, self.scalar(field))
        return message


def random_payloads(rng: random.Random) -> Iterator[bytes]:
    yield b"\xff\xff\xff\xff\xff"  # a tag with no end
    yield b"\x0a\xff\xff\xff\x0f" + b"x" * 8  # a length beyond the message
    yield b"\x0a\x02\xc3\x28"  # field 1 as a string of invalid UTF-8
    for _ in range(RANDOM_PAYLOADS_PER_METHOD):
        yield rng.randbytes(rng.choice((1, 7, 64, 300)))


@dataclass
class Finding:
    method: str
    code: grpc.StatusCode
    details: str
    case: str


async def call_raw(
    channel: grpc.aio.Channel, method: MethodDescriptor, payloads: list[bytes], caller: Caller
) -> grpc.StatusCode:
    """The status of a call carrying these serialized requests (one unless client
    streaming); a response stream is read briefly, then left."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata, timeout = caller.metadata, CALL_TIMEOUT_SECONDS
    try:
        if method.client_streaming:

            async def requests() -> AsyncIterator[bytes]:
                for payload in payloads:
                    yield payload

            if method.server_streaming:
                both = channel.stream_stream(path, None, None)
                await read_briefly(both(requests(), metadata=metadata, timeout=timeout))
            else:
                upload = channel.stream_unary(path, None, None)
                await upload(requests(), metadata=metadata, timeout=timeout)
        elif method.server_streaming:
            watch = channel.unary_stream(path, None, None)
            await read_briefly(watch(payloads[0], metadata=metadata, timeout=timeout))
        else:
            unary = channel.unary_unary(path, None, None)
            await unary(payloads[0], metadata=metadata, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def read_briefly(stream: grpc.aio.Call) -> None:
    async def read_all() -> None:
        async for _ in stream:  # type: ignore[attr-defined]
            pass

    try:
        await asyncio.wait_for(read_all(), STREAM_READ_SECONDS)
    except TimeoutError:
        stream.cancel()


async def test_no_method_answers_internal_or_unknown_to_random_bytes_or_hostile_values(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in(channel, f"fuzz-{uuid.uuid4().hex[:10]}@example.org")
    project = await caller.create_project()
    variable = await caller.create_variable(project.id)
    rng = random.Random(SEED)
    hostile = Hostile(rng, (project.id, variable.id))
    methods = all_methods()
    findings: list[Finding] = []
    calls = 0
    started = time.perf_counter()

    for method in methods:
        request_class = GetMessageClass(method.input_type)
        cases: list[tuple[str, list[bytes]]] = [
            (f"random bytes {payload!r:.60}", [payload]) for payload in random_payloads(rng)
        ]
        for _ in range(HOSTILE_MESSAGES_PER_METHOD):
            messages = [
                hostile.fill(request_class()) for _ in range(3 if method.client_streaming else 1)
            ]
            cases.append(
                (f"{[str(m)[:300] for m in messages]}", [m.SerializeToString() for m in messages])
            )
        if method.client_streaming:
            # A valid-looking opening followed by bytes that are no message.
            cases.append(("stream with undecodable second message", [b"", b"\xff\xff\xff"]))
        for case, payloads in cases:
            code = await call_raw(channel, method, payloads, caller)
            calls += 1
            if code in BROKEN:
                findings.append(Finding(method.full_name, code, "", case))

    elapsed = time.perf_counter() - started
    assert len(methods) >= 40, [m.full_name for m in methods]
    assert not findings, "\n".join(f"{f.method} {f.code.name}: {f.case}" for f in findings)
    assert elapsed < 90, f"{calls} calls took {elapsed:.1f}s"
