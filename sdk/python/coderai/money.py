"""Money fields (google.type.Money, US dollars) as Decimal: exact, where the deprecated double
*_usd fields beside them are not."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_NANOS = 1_000_000_000


def dollars(money: Any) -> Decimal:
    """A Money message's amount, e.g. `dollars(job.cost)`; ValueError for another currency."""
    if money.currency_code not in ("", "USD"):
        raise ValueError(f"expected US dollars, got {money.currency_code}")
    return Decimal(money.units) + Decimal(money.nanos) / _NANOS
