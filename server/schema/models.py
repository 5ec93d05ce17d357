"""Variables (the dataset's columns) and their versioned prompts."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk


class VariableType(enum.Enum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOLEAN = "BOOLEAN"
    CATEGORY = "CATEGORY"


class IfUncertain(enum.Enum):
    FLAG_FOR_REVIEW = "FLAG_FOR_REVIEW"
    LEAVE_EMPTY = "LEAVE_EMPTY"
    USE_DEFAULT = "USE_DEFAULT"
    BEST_GUESS = "BEST_GUESS"


class IfMultipleValues(enum.Enum):
    FIRST = "FIRST"
    MOST_CONFIDENT = "MOST_CONFIDENT"
    ALL = "ALL"
    CONCATENATE = "CONCATENATE"


class Variable(TenantOwnedMixin, Base):
    __tablename__ = "variables"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        Index("uq_variables_project_id_name_lower", "project_id", text("lower(name)"), unique=True),
        # Deferred so that ReorderVariables can permute positions inside one transaction.
        UniqueConstraint(
            "project_id",
            "order",
            deferrable=True,
            initially="DEFERRED",
            name="uq_variables_project_id_order",
        ),
        Index("ix_variables_depends_on", "depends_on", postgresql_using="gin"),
        CheckConstraint("confidence_threshold BETWEEN 0 AND 1", name="confidence_threshold_range"),
        CheckConstraint("max_values >= 1", name="max_values_positive"),
        CheckConstraint('"order" >= 0', name="order_non_negative"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(63), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    type: Mapped[VariableType] = mapped_column(
        pg_enum(VariableType, "variable_type"), nullable=False
    )
    instructions: Mapped[str] = mapped_column(Text, nullable=False)
    # {"categories": [{"label": ..., "definition": ...}], "selection_logic": ...}
    classification_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    confidence_threshold: Mapped[float] = mapped_column(Float, nullable=False, default=0.7)
    if_uncertain: Mapped[IfUncertain] = mapped_column(
        pg_enum(IfUncertain, "if_uncertain"), nullable=False, default=IfUncertain.FLAG_FOR_REVIEW
    )
    if_multiple_values: Mapped[IfMultipleValues] = mapped_column(
        pg_enum(IfMultipleValues, "if_multiple_values"),
        nullable=False,
        default=IfMultipleValues.FIRST,
    )
    max_values: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # A JSON value of the variable's type; SQL NULL when there is no default.
    default_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    validation_rules: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    depends_on: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False, default=list, server_default=text("'{}'")
    )
    order: Mapped[int] = mapped_column(Integer, nullable=False)
    # What review taught about coding the variable, in its prompt after the instructions:
    # {"rules": [...], "examples": [...]} (server.schema.prompts.Guidance); {} for none.
    guidance: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class Prompt(TenantOwnedMixin, Base):
    """One generated version of a variable's prompt; exactly one version is active."""

    __tablename__ = "prompts"
    __table_args__ = (
        same_tenant_fk("variable_id", "variables"),
        UniqueConstraint("id", "user_id"),
        UniqueConstraint("variable_id", "version"),
        Index(
            "uq_prompts_variable_id_active",
            "variable_id",
            unique=True,
            postgresql_where=text("is_active"),
        ),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("temperature BETWEEN 0 AND 2", name="temperature_range"),
    )

    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    system_prompt: Mapped[str] = mapped_column(Text, nullable=False)
    user_prompt_template: Mapped[str] = mapped_column(Text, nullable=False)
    response_schema: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # The LangChain provider ("openai", "offline", ...) and its model name.
    provider: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(200), nullable=False)
    temperature: Mapped[float] = mapped_column(Float, nullable=False)
    max_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    # SHA-256 of what the version was generated from (variable, project context, dependency
    # names, model): a change of these, and only that, makes a new version automatically.
    source_fingerprint: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    # Why this version exists: "created", "variable_updated", "regenerated", "refined", ...
    reason: Mapped[str] = mapped_column(String(100), nullable=False, default="created")
