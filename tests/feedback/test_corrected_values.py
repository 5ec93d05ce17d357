"""A researcher's corrected value is stored as the variable stores values: coerced by the rules
the model's answers go through, in the shape of the variable (one value, a list for ALL, the
values joined for CONCATENATE)."""

from __future__ import annotations

from typing import Any

import pytest

from server.jobs.postprocess import VariableRules, coerce_value
from server.schema.models import IfMultipleValues, VariableType
from tests.jobs.test_postprocess import variable

ALL = IfMultipleValues.ALL
CONCATENATE = IfMultipleValues.CONCATENATE


def rules(type_: VariableType, **overrides: Any) -> VariableRules:
    return VariableRules.of(variable(type_, **overrides))


@pytest.mark.parametrize(
    ("given", "type_", "overrides", "stored"),
    [
        ("1,200", VariableType.NUMBER, {}, 1200),
        ("12 %", VariableType.NUMBER, {}, 12),
        ("2019-03", VariableType.DATE, {}, "2019-03-01"),
        ("Yes", VariableType.BOOLEAN, {}, True),
        ("  Support ", VariableType.CATEGORY, {}, "support"),
        (7, VariableType.TEXT, {}, "7"),
        # Validation rules flag the model's values; a researcher may know better.
        (99, VariableType.NUMBER, {"validation_rules": {"max_value": 10}}, 99),
        (["3", 4], VariableType.NUMBER, {"if_multiple_values": ALL, "max_values": 3}, [3, 4]),
        ("5", VariableType.NUMBER, {"if_multiple_values": ALL, "max_values": 3}, [5]),
        (
            "7;  2 ;",
            VariableType.NUMBER,
            {"if_multiple_values": CONCATENATE, "max_values": 3},
            "7; 2",
        ),
        (
            ["a", "b "],
            VariableType.TEXT,
            {"if_multiple_values": CONCATENATE, "max_values": 2},
            "a; b",
        ),
    ],
)
def test_a_corrected_value_is_coerced_like_the_models(
    given: Any, type_: VariableType, overrides: dict[str, Any], stored: Any
) -> None:
    assert coerce_value(given, rules(type_, **overrides)) == stored


@pytest.mark.parametrize(
    ("given", "type_", "overrides", "reason"),
    [
        ("seven", VariableType.NUMBER, {}, "'seven' is not a number"),
        (True, VariableType.NUMBER, {}, "true is not a number"),
        ("soon", VariableType.DATE, {}, "is not a date"),
        ("maybe", VariableType.BOOLEAN, {}, "is not true or false"),
        ("neutral", VariableType.CATEGORY, {}, "is not one of the categories"),
        ({"text": "x"}, VariableType.TEXT, {}, "is not text"),
        (["a", "b"], VariableType.TEXT, {}, "is not text"),
        ("  ", VariableType.TEXT, {}, "no value is given"),
        ([], VariableType.TEXT, {"if_multiple_values": ALL, "max_values": 2}, "no value"),
        (
            [1, 2, 3],
            VariableType.NUMBER,
            {"if_multiple_values": ALL, "max_values": 2},
            "max_values",
        ),
        (["1", "x"], VariableType.NUMBER, {"if_multiple_values": ALL, "max_values": 2}, "'x'"),
    ],
)
def test_a_corrected_value_that_is_not_a_value_of_the_variable_is_refused(
    given: Any, type_: VariableType, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        coerce_value(given, rules(type_, **overrides))
