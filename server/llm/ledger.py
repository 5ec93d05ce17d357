"""The usage ledger: one row per request sent to a model, failed ones too, with the tokens
the provider reported and what they cost. Budgets and cost reports read it."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, Database, TenantOwnedMixin
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
    """Writes each attempt in its own transaction, so that usage is kept even when the
    caller's work rolls back."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, call: LLMCall) -> None:
        async with self._db.transaction(call.user_id) as session:
            session.add(call)
