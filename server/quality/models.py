"""Quality measurement: blind coding samples, the coders' codes, the model's values kept per
prompt version, and prompt refinements with the units they were made from and held out from."""

from __future__ import annotations

import enum
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk

# The coder name under which the researcher's review verdicts (feedback) serve as reference.
REVIEW = "review"
# The compared coding that is the model's values.
MODEL = "model"


class CodingSample(TenantOwnedMixin, Base):
    """Documents drawn at random for blind coding: coders code them without seeing the
    model's values, and their codes become the reference."""

    __tablename__ = "coding_samples"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        UniqueConstraint("project_id", "name"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The draw is reproducible: the seed and the READY documents it was drawn from decide it.
    seed: Mapped[int] = mapped_column(BigInteger, nullable=False)
    document_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False)
    # Documents there were to draw from.
    population: Mapped[int] = mapped_column(Integer, nullable=False)


class HumanCode(TenantOwnedMixin, Base):
    """One coder's value for one unit (document, or entity in it) and one variable."""

    __tablename__ = "human_codes"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("variable_id", "variables"),
        same_tenant_fk("document_id", "documents"),
        same_tenant_fk("sample_id", "coding_samples", ondelete="SET NULL"),
        UniqueConstraint("variable_id", "document_id", "entity_key", "coder"),
        Index("ix_human_codes_project_id_coder", "project_id", "coder"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    sample_id: Mapped[uuid.UUID | None] = mapped_column()
    coder: Mapped[str] = mapped_column(String(100), nullable=False)
    # '' for document-level projects; the entity's normalised key otherwise.
    entity_key: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    entity_name: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # A value of the variable as it stores values; SQL NULL: the document does not state it.
    value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class ValueSnapshot(TenantOwnedMixin, Base):
    """The model's value for a unit under one prompt version, kept when the version is scored:
    re-running the sample overwrites the extraction, and the comparison of versions needs the
    old value."""

    __tablename__ = "value_snapshots"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("variable_id", "variables"),
        same_tenant_fk("document_id", "documents"),
        UniqueConstraint("variable_id", "document_id", "entity_key", "prompt_version"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    entity_key: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    prompt_version: Mapped[int] = mapped_column(Integer, nullable=False)
    value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    # The model that gave the value, and what its call cost.
    llm_model: Mapped[str | None] = mapped_column(String(200))
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))


class RefinementMethod(enum.Enum):
    # The researcher's corrections as worked examples and their notes as rules.
    RULES = "RULES"
    # The model proposes better instructions from the error patterns.
    AGENT = "AGENT"


class RefinementStatus(enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    ACCEPTED = "ACCEPTED"
    DISCARDED = "DISCARDED"


class Refinement(TenantOwnedMixin, Base):
    """A proposed change to a variable's instructions and review guidance, made from the judged
    units of its training part; the held-out part measures the change."""

    __tablename__ = "refinements"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("variable_id", "variables"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
        UniqueConstraint("id", "user_id"),
        Index("ix_refinements_variable_id_created_at", "variable_id", "created_at"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    method: Mapped[RefinementMethod] = mapped_column(
        pg_enum(RefinementMethod, "refinement_method"), nullable=False
    )
    status: Mapped[RefinementStatus] = mapped_column(
        pg_enum(RefinementStatus, "refinement_status"), nullable=False
    )
    # The coding the judged values come from: REVIEW or a coder's name.
    reference: Mapped[str] = mapped_column(String(100), nullable=False)
    base_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The version accepting it created.
    accepted_version: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # {"rules": [...], "examples": [...]}: see server.quality.refinement.Guidance.
    guidance: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    rationale: Mapped[str] = mapped_column(Text, nullable=False, default="")
    error: Mapped[str | None] = mapped_column(Text)
    # [[document_id, entity_key], ...]: the units it was made from, and those kept out.
    training_units: Mapped[list[list[str]]] = mapped_column(JSONB, nullable=False, default=list)
    held_out_units: Mapped[list[list[str]]] = mapped_column(JSONB, nullable=False, default=list)
    # The base version scored against the reference on the judged units when the proposal was
    # made (server.quality.codings.Report.as_json).
    base_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    llm_model: Mapped[str | None] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))
