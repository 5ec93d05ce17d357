"""The usage ledger: one row per request sent to a model, failed ones too, with the tokens
the provider reported and what they cost. Budgets and cost reports read it."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, Integer, Numeric, String, Text, insert, text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from server.core.db import Base, Database, TenantOwnedMixin, table_of
from server.core.tenancy import same_tenant_fk


class LLMCall(TenantOwnedMixin, Base):
    __tablename__ = "llm_calls"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
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
    # "ok" or the failure kind (see server.llm.errors.FailureKind).
    outcome: Mapped[str] = mapped_column(String(40), nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # NULL when the model has no price in LLM_PRICES.
    cost_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)


class DatabaseLedger:
    """Writes each request's row in a transaction of its own, so that usage is kept even when
    the caller's work rolls back; record() returns once the row is committed.

    Rows that arrive while a write is under way go together in the next one (a group
    commit, one transaction per tenant): alone, a row is written at once; under load, a
    worker's hundred calls a second take a few transactions instead of a hundred."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[tuple[LLMCall, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, call: LLMCall) -> None:
        written = asyncio.get_running_loop().create_future()
        self._waiting.append((call, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        # Shielded: a caller that is cancelled does not take its paid-for row with it.
        await asyncio.shield(written)

    async def _write_while_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                # The process is stopping: no caller waits for a write that will not come.
                for _, written in batch + self._waiting:
                    written.cancel()
                raise

    async def _write(self, batch: list[tuple[LLMCall, asyncio.Future[None]]]) -> None:
        by_tenant: dict[uuid.UUID, list[tuple[LLMCall, asyncio.Future[None]]]] = {}
        for call, written in batch:
            by_tenant.setdefault(call.user_id, []).append((call, written))
        for user_id, items in by_tenant.items():
            failure = await self._insert(user_id, [call for call, _ in items])
            if failure is not None and len(items) > 1:
                # One bad row must not take the others with it: each on its own.
                for item in items:
                    await self._write([item])
                continue
            for _, written in items:
                if written.done():
                    continue
                if failure is None:
                    written.set_result(None)
                else:
                    written.set_exception(failure)

    async def _insert(self, user_id: uuid.UUID, calls: list[LLMCall]) -> Exception | None:
        """The rows in one transaction; the error when it failed (raised in the callers)."""
        try:
            async with self._db.transaction(user_id) as session:
                await session.execute(_INSERT, [_row(call) for call in calls])
        except Exception as error:  # noqa: BLE001 - each waiting caller raises it
            return error
        return None


def _row(call: LLMCall) -> dict[str, Any]:
    """The call's column values, its model's defaults where it has none (every row of one
    INSERT names the same columns)."""
    row = {column.key: getattr(call, column.key) for column in _COLUMNS}
    for column in _COLUMNS:
        if row[column.key] is None and isinstance(column.default, ScalarElementColumnDefault):
            row[column.key] = column.default.arg
    row["id"] = row["id"] or uuid.uuid4()
    return row


_TABLE = table_of(LLMCall)
_INSERT = insert(_TABLE)
# Every column but the timestamps, which the database sets.
_COLUMNS = [column for column in _TABLE.columns if column.key not in ("created_at", "updated_at")]
