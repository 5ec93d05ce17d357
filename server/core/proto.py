"""Conversions shared by every servicer: ids, timestamps, money, field masks, JSON values."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from coderai.money import dollars, money
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.type import money_pb2

from server.core.errors import FieldViolation, InvalidArgument

E = TypeVar("E", bound=enum.Enum)


def parse_id(value: str, field: str) -> uuid.UUID:
    """A UUID from a request field; INVALID_ARGUMENT naming the field when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        description = "required" if not value else "must be a UUID"
        raise InvalidArgument(
            f"{field} {description}", [FieldViolation(field, description)]
        ) from None


def parse_ids(values: Iterable[str], field: str) -> list[uuid.UUID]:
    return [parse_id(value, f"{field}[{index}]") for index, value in enumerate(values)]


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


# Money on the wire is US dollars (the currency of LLM_PRICES), exact to the nano-dollar.
CURRENCY = "USD"
_NANO = Decimal("1e-9")


def usd(amount: Decimal | float | None) -> money_pb2.Money | None:
    """An amount of US dollars as a Money message (None stays unset). A float (an estimate)
    is taken at its shortest decimal spelling, then to the nano-dollar."""
    if amount is None:
        return None
    return money(Decimal(str(amount)).quantize(_NANO))


def usd_fields(field: str, double_field: str, amount: Decimal | float | None) -> dict[str, Any]:
    """A response's Money field and, for clients built against v0.1.0, the deprecated double
    beside it, as the message's constructor keywords; neither for None (no price, no budget)."""
    if amount is None:
        return {}
    return {field: usd(amount), double_field: float(amount)}


def usd_amount(message: money_pb2.Money, field: str) -> Decimal:
    """The US dollars of a Money field of a request; INVALID_ARGUMENT for another currency or
    a malformed amount (nanos out of range, or of the other sign than units)."""
    problems = []
    if message.currency_code not in ("", CURRENCY):
        problems.append(FieldViolation(f"{field}.currency_code", f"must be {CURRENCY}"))
    if not -999_999_999 <= message.nanos <= 999_999_999 or message.units * message.nanos < 0:
        problems.append(
            FieldViolation(f"{field}.nanos", "must be within +-999999999, of the sign of units")
        )
    if problems:
        raise InvalidArgument.from_violations(problems)
    return dollars(message)


def json_value(value: Any) -> struct_pb2.Value | None:
    """A google.protobuf.Value for a JSON value; None (field unset) for SQL NULL."""
    if value is None:
        return None
    message = struct_pb2.Value()
    json_format.ParseDict(value, message)
    return message


def from_json_value(message: Message, field: str) -> Any:
    """The JSON value of an optional google.protobuf.Value field; None when unset."""
    if not message.HasField(field):
        return None
    return json_format.MessageToDict(getattr(message, field))


def masked_fields(mask: FieldMask, updatable: frozenset[str], prefix: str) -> frozenset[str]:
    """The fields an Update request changes: the mask's paths, or all when it is empty."""
    if not mask.paths:
        return updatable
    unknown = [path for path in mask.paths if path not in updatable]
    if unknown:
        raise InvalidArgument(
            "update_mask names fields that cannot be updated",
            [
                FieldViolation("update_mask", f"{prefix}.{path} is not an updatable field")
                for path in unknown
            ],
        )
    return frozenset(mask.paths)


def enum_to_proto(member: enum.Enum | None, prefix: str) -> str:
    """The proto enum value name of a domain enum member (UNSPECIFIED for None); message
    constructors take enum values by name."""
    return f"{prefix}_{'UNSPECIFIED' if member is None else member.value}"


def enum_from_proto(
    number: int, domain_enum: type[E], proto_enum: EnumTypeWrapper, prefix: str, field: str
) -> E | None:
    """The domain enum member of a proto enum number; None for UNSPECIFIED."""
    if number == 0:
        return None
    try:
        return domain_enum(proto_enum.Name(number).removeprefix(f"{prefix}_"))
    except ValueError:
        raise InvalidArgument(
            f"{field} has an unknown value {number}",
            [FieldViolation(field, f"unknown value {number}")],
        ) from None


def enums_from_proto(
    numbers: Sequence[int],
    domain_enum: type[E],
    proto_enum: EnumTypeWrapper,
    prefix: str,
    field: str,
) -> list[E]:
    """The domain enum members of a repeated proto enum field (a filter), UNSPECIFIED left
    out; INVALID_ARGUMENT naming the item for an unknown number."""
    members = (
        enum_from_proto(number, domain_enum, proto_enum, prefix, f"{field}[{index}]")
        for index, number in enumerate(numbers)
    )
    return [member for member in members if member is not None]
