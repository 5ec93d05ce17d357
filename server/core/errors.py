"""Domain exceptions raised by the service layer; the gRPC interceptor maps each class to one
status code. Also the bridge from Pydantic validation errors to field violations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request: a dotted path in the proto's names and what is wrong."""

    field: str
    description: str


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    def __init__(self, message: str, violations: Iterable[FieldViolation] = ()) -> None:
        super().__init__(message)
        self.violations: list[FieldViolation] = list(violations)

    @classmethod
    def from_violations(cls, violations: Iterable[FieldViolation]) -> InvalidArgument:
        """An error whose message summarises its violations (the first few of them)."""
        violations = list(violations)
        shown = "; ".join(f"{v.field}: {v.description}" for v in violations[:3])
        more = f" (and {len(violations) - 3} more)" if len(violations) > 3 else ""
        return cls(f"invalid argument: {shown}{more}", violations)


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class ResourceExhausted(DomainError):
    """A limit was reached. `retry_after_seconds`, when known, is how long the caller should
    wait before trying again; it reaches the client as a google.rpc.RetryInfo detail."""

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(ResourceExhausted):
    """A service this call needs (the model provider) cannot answer now; worth trying again,
    after `retry_after_seconds` when known."""


class DeadlineExceeded(DomainError):
    """The caller stopped sending (a stalled upload) for longer than the server waits."""


# The error type of the rules the input schemas check themselves; its message is final.
RULE_VIOLATION = "rule_violation"

# Pydantic's own wording where a researcher would say it differently.
_PLAIN_MESSAGES = {
    "missing": "required",
    "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID",
}
# What Pydantic puts in front of the message of a ValueError or AssertionError.
_BOILERPLATE_PREFIXES = ("Value error, ", "Assertion failed, ")


def rule_error(message: str) -> PydanticCustomError:
    """The error a validator raises for a broken rule; the message is taken verbatim (braces
    in it, e.g. from a regular expression, are not treated as placeholders)."""
    return PydanticCustomError(RULE_VIOLATION, "{reason}", {"reason": message})


class RuleViolations:
    """Collects the findings of a validator that checks several fields together and raises
    them as one ValidationError, each at its own field's location, so that they reach the
    client exactly like single-field errors (Pydantic prefixes the enclosing locations)."""

    def __init__(self) -> None:
        self._details: list[InitErrorDetails] = []

    def add(self, loc: tuple[str | int, ...], message: str, value: Any = None) -> None:
        self._details.append(InitErrorDetails(type=rule_error(message), loc=loc, input=value))

    def raise_if_any(self, title: str) -> None:
        if self._details:
            raise pydantic.ValidationError.from_exception_data(title, self._details)


def field_path(loc: tuple[str | int, ...], prefix: str = "") -> str:
    """`("categories", 1, "label")` with prefix "variable.classification_rules" ->
    `variable.classification_rules.categories[1].label`."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def _description(error: ErrorDetails) -> str:
    error_type = error["type"]
    if error_type == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        # Strings are stripped before their length is checked: too short means blank.
        return "must not be blank"
    if error["input"] is None and (error_type == "enum" or error_type.endswith("_type")):
        # The servicers turn an unset field (an UNSPECIFIED enum, say) into None.
        return "required"
    if error_type == "string_too_long":
        # The wording of the request validator (server.core.validation), which checks the
        # same limit on the unstripped text.
        return f"must have at most {error.get('ctx', {}).get('max_length')} characters"
    if error_type in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[error_type]
    message = error["msg"]
    for boilerplate in _BOILERPLATE_PREFIXES:
        message = message.removeprefix(boilerplate)
    return message


def invalid_from_pydantic(error: pydantic.ValidationError, prefix: str = "") -> InvalidArgument:
    """The InvalidArgument for a failed validation: one violation per error, its field the
    dotted proto path under `prefix` (the request field, e.g. "variable")."""
    return InvalidArgument.from_violations(
        FieldViolation(field_path(tuple(e["loc"]), prefix), _description(e))
        for e in error.errors(include_url=False)
    )
