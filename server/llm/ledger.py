"""The usage ledger: one row per request sent to a model, failed ones too, with the tokens
the provider reported and what they cost. Budgets and cost reports read it.

A row is committed before its request is sent and settled once the answer (or failure) is
back, so that a worker killed while the provider works leaves its request in the ledger as it
does on the provider's bill. An unsettled row (`outcome` NULL) keeps the request's estimated
prompt tokens and their cost: sums over the ledger count it, since the provider most likely
billed that prompt, and `outcome IS NULL` marks those figures as an estimate (the completion,
unknown, counts nothing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from server.core.db import Base, Database, TenantOwnedMixin, table_of
from server.core.tenancy import same_tenant_fk


class LLMCall(TenantOwnedMixin, Base):
    __tablename__ = "llm_calls"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
        # A call outside any project (project_id NULL) is still deleted with its user.
        ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        Index("ix_llm_calls_user_id_created_at", "user_id", "created_at"),
        Index("ix_llm_calls_project_id", "project_id"),
        Index("ix_llm_calls_job_id", "job_id", postgresql_where=text("job_id IS NOT NULL")),
    )

    project_id: Mapped[uuid.UUID | None] = mapped_column()
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    # What the call was for: "extraction", "entity_identification", "refinement", ...
    purpose: Mapped[str] = mapped_column(String(50), nullable=False)
    provider: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    # 1 for the first request of a call, 2.. for its retries.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    # "ok" or the failure kind (see server.llm.errors.FailureKind); NULL until the request is
    # settled, and for good when its worker died before the answer came back.
    outcome: Mapped[str | None] = mapped_column(String(40))
    # The provider's count once settled; until then the gateway's estimate.
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Of the prompt tokens, those the provider read from its prompt cache (billed at the
    # cached rate) and those it wrote to it (Anthropic bills writing).
    cached_prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Of the tokens above, estimated ones included. NULL when the model has no price in
    # LLM_PRICES.
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class _Write:
    call: LLMCall
    written: asyncio.Future[None]


class DatabaseLedger:
    """Writes each request's row, and then its settlement, in a transaction of its own, so that
    usage is kept even when the caller's work rolls back; each method returns once its write
    is committed. One statement per write: an INSERT before the request, an UPDATE after.

    Writes of one kind that arrive while one is under way go together in the next transaction
    (a group commit, one transaction per tenant): alone, a write is done at once; under load, a
    worker's hundred calls a second take a few transactions instead of two hundred. Rows and
    settlements are committed apart, so that a row, which its request waits for (holding the
    gateway's slot), never waits behind settlements."""

    def __init__(self, db: Database) -> None:
        self._rows = _GroupCommit(db, _INSERT, _row)
        self._settlements = _GroupCommit(db, _SETTLE, _settlement)

    async def record_request(self, call: LLMCall) -> None:
        """The row of a request about to be sent, unsettled (`outcome` None). A caller
        cancelled while this waits sends nothing but keeps its row: the ledger errs towards
        the bill."""
        if call.id is None:
            call.id = uuid.uuid4()  # what settle() finds the row by
        await self._rows.write(call)

    async def settle(self, call: LLMCall) -> None:
        """The outcome, tokens, cost and latency of a recorded request (by its id)."""
        await self._settlements.write(call)


class _GroupCommit:
    """One statement's writes, those that arrive while a transaction is under way written
    together in the next one (one per tenant)."""

    def __init__(
        self, db: Database, statement: Executable, values: Callable[[LLMCall], dict[str, Any]]
    ) -> None:
        self._db = db
        self._statement = statement
        self._values = values
        self._waiting: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, call: LLMCall) -> None:
        written = asyncio.get_running_loop().create_future()
        self._waiting.append(_Write(call, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        # A caller that is cancelled cancels its future only: the writer writes the call
        # whatever became of the future, so the paid-for row stays (no shield, which would
        # cost the caller another turn of the event loop).
        await written

    async def _write_while_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                # The process is stopping: no caller waits for a write that will not come.
                for write in batch + self._waiting:
                    write.written.cancel()
                raise

    async def _write(self, batch: list[_Write]) -> None:
        by_tenant: dict[uuid.UUID, list[_Write]] = {}
        for write in batch:
            by_tenant.setdefault(write.call.user_id, []).append(write)
        for user_id, writes in by_tenant.items():
            failure = await self._execute(user_id, writes)
            if failure is not None and len(writes) > 1:
                # One bad row must not take the others with it: each on its own.
                for write in writes:
                    await self._write([write])
                continue
            for write in writes:
                if write.written.done():
                    continue
                if failure is None:
                    write.written.set_result(None)
                else:
                    write.written.set_exception(failure)

    async def _execute(self, user_id: uuid.UUID, writes: list[_Write]) -> Exception | None:
        """The writes in one transaction, one statement; the error when it failed (raised in
        the callers)."""
        try:
            async with self._db.tenant_connection(user_id) as connection:
                await connection.execute(
                    self._statement, [self._values(write.call) for write in writes]
                )
        except Exception as error:  # noqa: BLE001 - each waiting caller raises it
            return error
        return None


def _values(call: LLMCall, columns: Sequence[Column[Any]]) -> dict[str, Any]:
    """The call's values of these columns, its model's defaults where it has none (every row
    of one statement names the same columns)."""
    values = {column.key: getattr(call, column.key) for column in columns}
    for column in columns:
        if values[column.key] is None and isinstance(column.default, ScalarElementColumnDefault):
            values[column.key] = column.default.arg
    return values


def _row(call: LLMCall) -> dict[str, Any]:
    return _values(call, _COLUMNS)


def _settlement(call: LLMCall) -> dict[str, Any]:
    return {**_values(call, _SETTLED_COLUMNS), "settled_id": call.id}


_TABLE = table_of(LLMCall)
_INSERT = insert(_TABLE)
# Every column but the timestamps, which the database sets.
_COLUMNS = [column for column in _TABLE.columns if column.key not in ("created_at", "updated_at")]
# What is known once the answer is back; updated_at is set by the column's onupdate.
_SETTLED_COLUMNS = [
    _TABLE.c[key]
    for key in (
        "outcome",
        "prompt_tokens",
        "completion_tokens",
        "cached_prompt_tokens",
        "cache_write_tokens",
        "cost_usd",
        "latency_ms",
        "error_message",
    )
]
_SETTLE = update(_TABLE).where(_TABLE.c.id == bindparam("settled_id"))
