"""Money on the wire (google.type.Money, US dollars): exact both ways, and a request's budget
read from the Money field or the deprecated double beside it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from coderai import dollars
from coderai import usd as sdk_usd
from coderai.v1 import job_pb2
from google.type import money_pb2

from server.core.errors import InvalidArgument
from server.core.proto import usd, usd_amount
from server.jobs.rpc import cost_budget


@pytest.mark.parametrize(
    ("amount", "units", "nanos"),
    [
        (Decimal("0.000150"), 0, 150_000),
        (Decimal("12.5"), 12, 500_000_000),
        (Decimal("-1.75"), -1, -750_000_000),
        (Decimal("0"), 0, 0),
        (0.1 + 0.2, 0, 300_000_000),  # a float estimate, at its shortest spelling
        (Decimal("12345678.123456"), 12_345_678, 123_456_000),
    ],
)
def test_an_amount_goes_to_money_and_back_exactly(amount: object, units: int, nanos: int) -> None:
    money = usd(amount)  # type: ignore[arg-type]

    assert money is not None
    assert (money.currency_code, money.units, money.nanos) == ("USD", units, nanos)
    assert usd_amount(money, "cost") == Decimal(units) + Decimal(nanos) / 10**9
    assert dollars(money) == usd_amount(money, "cost")


def test_no_amount_is_no_money() -> None:
    assert usd(None) is None


@pytest.mark.parametrize(
    ("money", "field"),
    [
        (money_pb2.Money(currency_code="EUR", units=1), "cost.currency_code"),
        (money_pb2.Money(units=1, nanos=-5), "cost.nanos"),
        (money_pb2.Money(units=0, nanos=1_000_000_000), "cost.nanos"),
    ],
)
def test_a_malformed_amount_is_invalid_naming_its_field(money: money_pb2.Money, field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        usd_amount(money, "cost")
    assert [v.field for v in refused.value.violations] == [field]


def budget_request(**fields: object) -> job_pb2.CreateJobRequest:
    return job_pb2.CreateJobRequest(**fields)  # type: ignore[arg-type]


def test_a_budget_is_read_from_either_field_and_none_is_no_budget() -> None:
    exact = money_pb2.Money(currency_code="USD", units=2, nanos=250_000_000)

    assert cost_budget(budget_request(cost_budget=exact)) == Decimal("2.25")
    assert cost_budget(budget_request(cost_budget_usd=2.25)) == Decimal("2.25")
    assert cost_budget(budget_request(cost_budget=exact, cost_budget_usd=2.25)) == Decimal("2.25")
    assert cost_budget(budget_request()) is None


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"cost_budget": money_pb2.Money(units=2), "cost_budget_usd": 3.0}, "cost_budget_usd"),
        ({"cost_budget": money_pb2.Money()}, "cost_budget"),
        ({"cost_budget_usd": -1.0}, "cost_budget_usd"),
        ({"cost_budget": money_pb2.Money(nanos=1)}, "cost_budget"),
        (
            {"cost_budget": money_pb2.Money(currency_code="GBP", units=1)},
            "cost_budget.currency_code",
        ),
    ],
)
def test_a_budget_that_is_not_one_clear_positive_amount_is_refused(
    request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        cost_budget(budget_request(**request_fields))
    assert [v.field for v in refused.value.violations] == [field]


def test_the_sdk_writes_an_amount_as_the_server_reads_it() -> None:
    assert usd_amount(sdk_usd("2.50"), "cost_budget") == Decimal("2.5")
    assert usd_amount(sdk_usd(Decimal("-0.000001")), "cost_budget") == Decimal("-0.000001")
    assert usd_amount(sdk_usd(0.1), "cost_budget") == Decimal("0.1")
    with pytest.raises(ValueError, match="nine decimal places"):
        sdk_usd("0.0000000001")
