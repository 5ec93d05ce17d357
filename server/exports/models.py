"""Exports: a dataset file built from a project's extractions, kept in parts in PostgreSQL (so
that any server process can serve it) until it expires."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk


class ExportFormat(enum.Enum):
    CSV_WIDE = "CSV_WIDE"
    CSV_LONG = "CSV_LONG"
    XLSX = "XLSX"
    CODEBOOK = "CODEBOOK"
    STATA = "STATA"
    SPSS = "SPSS"
    DATA_PACKAGE = "DATA_PACKAGE"


# The formats that hold the codebook (a sheet, codebook.md, or the codebook alone): only they
# need the agreement figures, whose computation reads every value of every variable.
FORMATS_WITH_CODEBOOK = frozenset(
    {ExportFormat.XLSX, ExportFormat.CODEBOOK, ExportFormat.DATA_PACKAGE}
)


class ExportStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class Export(TenantOwnedMixin, Base):
    __tablename__ = "exports"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        Index("ix_exports_project_id_created_at", "project_id", "created_at"),
        Index("ix_exports_expires_at", "expires_at"),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    format: Mapped[ExportFormat] = mapped_column(
        pg_enum(ExportFormat, "export_format"), nullable=False
    )
    include_metadata: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[ExportStatus] = mapped_column(
        pg_enum(ExportStatus, "export_status"), nullable=False, default=ExportStatus.PENDING
    )
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    content_type: Mapped[str] = mapped_column(String(200), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    row_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExportPart(Base):
    """A piece of an export's file, at most EXPORT_PART_BYTES."""

    __tablename__ = "export_parts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["export_id", "user_id"], ["exports.id", "exports.user_id"], ondelete="CASCADE"
        ),
        CheckConstraint("part >= 0", name="part_non_negative"),
    )

    export_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
