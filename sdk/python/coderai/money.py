"""Money fields (google.type.Money, US dollars) as Decimal: exact, where the deprecated double
*_usd fields beside them are not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.type import money_pb2

_NANOS = 1_000_000_000


def dollars(money: Any) -> Decimal:
    """A Money message's amount, e.g. `dollars(job.cost)`; ValueError for another currency."""
    if money.currency_code not in ("", "USD"):
        raise ValueError(f"expected US dollars, got {money.currency_code}")
    return Decimal(money.units) + Decimal(money.nanos) / _NANOS


def usd(amount: Decimal | str | int | float) -> money_pb2.Money:
    """An amount of US dollars as a Money message, e.g. `usd("2.50")` for a job's cost budget;
    a float is taken at its shortest decimal spelling. ValueError for more than nine decimal
    places (a nano-dollar is Money's smallest unit)."""
    exact = Decimal(str(amount))
    if exact != exact.quantize(Decimal("1e-9")):
        raise ValueError(f"{amount} has more than nine decimal places")
    return money(exact)


def money(amount: Decimal) -> money_pb2.Money:
    """A Money message of an amount of US dollars whole in nano-dollars."""
    whole = int(amount * _NANOS)
    # Money keeps units and nanos of one sign: -1.75 is units -1, nanos -750000000.
    units = abs(whole) // _NANOS * (1 if whole >= 0 else -1)
    return money_pb2.Money(currency_code="USD", units=units, nanos=whole - units * _NANOS)
