"""Research projects."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum


class UnitOfObservation(enum.Enum):
    DOCUMENT = "DOCUMENT"
    ENTITY = "ENTITY"


class ExtractionMode(enum.Enum):
    """How a document's variables are asked for: a request per variable (the most accurate;
    the document's prefix is cached across them where the provider caches), or the
    variables of a dependency level in one request (several times cheaper, somewhat less
    accurate)."""

    PER_VARIABLE = "PER_VARIABLE"
    GROUPED = "GROUPED"


class ProjectStatus(enum.Enum):
    DRAFT = "DRAFT"
    SAMPLING = "SAMPLING"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"


class Project(TenantOwnedMixin, Base):
    __tablename__ = "projects"
    __table_args__ = (
        # The target of the children's composite (id, user_id) foreign keys: a child row can
        # only point at a parent of the same tenant, even though FK checks bypass RLS.
        UniqueConstraint("id", "user_id"),
        ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        Index(
            "ix_projects_user_id_created_at", "user_id", text("created_at DESC"), text("id DESC")
        ),
        CheckConstraint(
            "unit_of_observation <> 'ENTITY' OR length(entity_identification_pattern) > 0",
            name="entity_pattern_required",
        ),
    )

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    domain: Mapped[str] = mapped_column(String(500), nullable=False)
    language: Mapped[str] = mapped_column(String(35), nullable=False)
    unit_of_observation: Mapped[UnitOfObservation] = mapped_column(
        pg_enum(UnitOfObservation, "unit_of_observation"), nullable=False
    )
    entity_identification_pattern: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[ProjectStatus] = mapped_column(
        pg_enum(ProjectStatus, "project_status"), nullable=False, default=ProjectStatus.DRAFT
    )
    extraction_mode: Mapped[ExtractionMode] = mapped_column(
        pg_enum(ExtractionMode, "extraction_mode"),
        nullable=False,
        default=ExtractionMode.PER_VARIABLE,
        server_default=ExtractionMode.PER_VARIABLE.value,
    )
    # Per-project overrides of the LLM settings (provider, model), filled by the gateway work.
    llm_config: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
