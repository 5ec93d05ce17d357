"""The usage ledger against the real PostgreSQL: a request's row committed before
record_request() returns and settled in place, writes that arrive together written together,
a bad row failing alone, tenants apart."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from server.core.db import Database
from server.llm.ledger import DatabaseLedger, LLMCall
from tests.factories import user_row


def call(user_id: uuid.UUID, attempt: int = 1, **overrides: object) -> LLMCall:
    """A request about to be sent: no outcome yet, its prompt tokens estimated."""
    fields: dict[str, object] = {
        "user_id": user_id,
        "purpose": "extraction",
        "provider": "openai",
        "model": "m",
        "attempt": attempt,
        "prompt_tokens": 100 + attempt,
    }
    fields.update(overrides)
    return LLMCall(**fields)


async def rows_and_transactions(db: Database, user_id: uuid.UUID) -> tuple[list[int], int]:
    """The tenant's rows' attempt numbers, and how many transactions wrote them."""
    async with db.transaction(user_id) as session:
        attempts = list(await session.scalars(select(LLMCall.attempt).order_by(LLMCall.attempt)))
        writers = await session.scalar(
            select(func.count(text("DISTINCT xmin::text"))).select_from(LLMCall)
        )
    return attempts, int(writers or 0)


def answered(request: LLMCall) -> LLMCall:
    """The request, its answer back: the provider's counts, cost and latency."""
    request.outcome = "ok"
    request.prompt_tokens -= 40
    request.completion_tokens = 10
    request.cost_usd = Decimal("0.000021")
    request.latency_ms = 5
    return request


async def settled(db: Database, user_id: uuid.UUID) -> list[tuple[str | None, int, int]]:
    """Each of the tenant's rows' outcome and tokens, by attempt."""
    async with db.transaction(user_id) as session:
        statement = select(LLMCall.outcome, LLMCall.prompt_tokens, LLMCall.completion_tokens)
        rows = await session.execute(statement.order_by(LLMCall.attempt))
        return [(outcome, prompt, completion) for outcome, prompt, completion in rows]


async def test_a_row_is_committed_when_record_request_returns(database: Database) -> None:
    user_id = await user_row(database)
    ledger = DatabaseLedger(database)

    await ledger.record_request(call(user_id))

    assert await rows_and_transactions(database, user_id) == ([1], 1)


async def test_a_request_stays_unsettled_at_its_estimate_until_its_answer_settles_it(
    database: Database,
) -> None:
    user_id = await user_row(database)
    ledger = DatabaseLedger(database)
    request = call(user_id)

    await ledger.record_request(request)
    assert await settled(database, user_id) == [(None, 101, 0)]

    await ledger.settle(answered(request))
    assert await settled(database, user_id) == [("ok", 61, 10)]
    # Settled in place: still one row, and the settlement in a transaction of its own.
    assert await rows_and_transactions(database, user_id) == ([1], 1)


async def test_rows_recorded_at_once_share_transactions_and_stay_with_their_tenant(
    database: Database,
) -> None:
    first, second = await user_row(database), await user_row(database)
    ledger = DatabaseLedger(database)

    calls = [call(user, attempt) for attempt in range(1, 41) for user in (first, second)]
    await asyncio.gather(*(ledger.record_request(each) for each in calls))

    for user in (first, second):
        attempts, transactions = await rows_and_transactions(database, user)
        assert attempts == list(range(1, 41))
        # The first row goes alone; the 39 that arrive meanwhile follow in one transaction.
        assert transactions <= 2

    await asyncio.gather(*(ledger.settle(answered(each)) for each in calls))

    for user in (first, second):
        assert await settled(database, user) == [("ok", 60 + n, 10) for n in range(1, 41)]
        # Settlements that arrive together are written together too.
        _, transactions = await rows_and_transactions(database, user)
        assert transactions <= 2


async def test_a_bad_row_fails_its_caller_only(database: Database) -> None:
    user_id = await user_row(database)
    ledger = DatabaseLedger(database)
    # No such project: the row breaks the project foreign key.
    bad = call(user_id, 99, project_id=uuid.uuid4())

    results = await asyncio.gather(
        *(ledger.record_request(call(user_id, attempt)) for attempt in range(1, 11)),
        ledger.record_request(bad),
        *(ledger.record_request(call(user_id, attempt)) for attempt in range(11, 21)),
        return_exceptions=True,
    )

    assert [type(result) for result in results].count(IntegrityError) == 1
    assert isinstance(results[10], IntegrityError)
    attempts, _ = await rows_and_transactions(database, user_id)
    assert attempts == list(range(1, 21))


async def test_a_cancelled_caller_keeps_its_row(database: Database) -> None:
    user_id = await user_row(database)
    ledger = DatabaseLedger(database)

    recording = asyncio.create_task(ledger.record_request(call(user_id)))
    await asyncio.sleep(0)
    recording.cancel()
    with pytest.raises(asyncio.CancelledError):
        await recording
    await ledger.record_request(call(user_id, 2))

    attempts, _ = await rows_and_transactions(database, user_id)
    assert attempts == [1, 2]
