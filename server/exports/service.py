"""Export use cases (FR-033..038): the results table, exports built at once or by a worker,
their files streamed back, and expiry. Each method owns its transactions."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from server.core.pagination import decode_cursor, page_with_token
from server.exports import builder, repository
from server.exports.dataset import CellStatus, DatasetHeader, Unit
from server.exports.models import FORMATS_WITH_CODEBOOK, Export, ExportFormat, ExportStatus
from server.exports.repository import UnitKey
from server.jobs.models import EvidenceMatch
from server.projects import repository as projects
from server.projects.models import Project
from server.projects.service import project_not_found

log = logging.getLogger(__name__)


class ExportQueue(Protocol):
    async def build_export(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None: ...


@dataclass(frozen=True)
class ResultFilter:
    """Rows with at least one cell in `statuses` and one whose evidence check gave one of
    `evidence` (each ignored when empty), of one document when `document_id` is set."""

    statuses: Sequence[CellStatus] = ()
    evidence: Sequence[EvidenceMatch] = ()
    document_id: uuid.UUID | None = None

    def keeps(self, unit: Unit) -> bool:
        statuses, evidence = set(self.statuses), set(self.evidence)
        return (not statuses or any(c.status in statuses for c in unit.cells)) and (
            not evidence or any(c.evidence_match in evidence for c in unit.cells)
        )


@dataclass(frozen=True)
class ResultsPage:
    header: DatasetHeader
    rows: list[Unit]
    next_page_token: str


@dataclass(frozen=True)
class Download:
    export: Export
    parts: AsyncIterator[bytes]


def export_not_found(export_id: uuid.UUID) -> NotFound:
    return NotFound(f"export {export_id} not found (or expired)")


class ExportService:
    def __init__(self, db: Database, settings: Settings, queue: ExportQueue) -> None:
        self._db = db
        self._settings = settings
        self._queue = queue

    # --- the results table ----------------------------------------------------------------

    async def results(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        where: ResultFilter,
        page_size: int,
        page_token: str,
    ) -> ResultsPage:
        after = _decode_unit_key(page_token)
        rows: list[Unit] = []
        async with self._db.transaction(user_id) as session:
            project = await self._project(session, project_id)
            header = await repository.header(
                session, project, include_metadata=False, with_run=False
            )
            # Documents a page at a time (more when a filter may skip rows), until the page
            # is full or the dataset ends; the first page starts at the token's document.
            chunk = page_size + 1 if not (where.statuses or where.evidence) else page_size * 4
            start = (after.filename, after.document_id) if after is not None else None
            inclusive = True
            while len(rows) <= page_size:
                documents = await repository.document_page(
                    session,
                    project.id,
                    start=start,
                    inclusive=inclusive,
                    limit=chunk,
                    document_id=where.document_id,
                )
                if not documents:
                    break
                batches = repository.stream_units(
                    session, header, document_ids=[id_ for _, id_ in documents], after=after
                )
                async with aclosing(batches):
                    async for units in batches:
                        rows += [unit for unit in units if where.keeps(unit)]
                start, inclusive = documents[-1], False
                if len(documents) < chunk:
                    break
        token = _encode_unit_key(rows[page_size - 1]) if len(rows) > page_size else ""
        return ResultsPage(header, rows[:page_size], token)

    # --- exports --------------------------------------------------------------------------

    async def create(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        export_format: ExportFormat,
        include_metadata: bool,
    ) -> Export:
        """A small export is built in the call; a large one is queued for a worker."""
        now = datetime.now(UTC)
        async with self._db.transaction(user_id) as session:
            project = await self._project(session, project_id)
            spec = builder.FORMATS[export_format]
            export = Export(
                user_id=user_id,
                project_id=project.id,
                format=export_format,
                include_metadata=include_metadata,
                status=ExportStatus.PENDING,
                filename=builder.filename(project.name, export_format, now),
                content_type=spec.content_type,
                expires_at=now + timedelta(seconds=self._settings.export_ttl_seconds),
            )
            session.add(export)
            await session.flush()
            cells = await repository.estimated_cells(session, project.id)
        if cells > self._settings.export_inline_max_cells:
            await self._queue.build_export(user_id, export.id)
            return export
        await self.build(user_id, export.id)
        return await self.get(user_id, export.id)

    async def build(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None:
        """Builds the export's file and stores it in parts; a failure is recorded on the
        export (FAILED with the reason), not raised. Safe to run again (a redelivered task):
        a COMPLETED export is left as it is, a half-stored file is replaced."""
        async with self._db.transaction(user_id) as session:
            export = await repository.get(session, export_id, lock=True)
            if export is None or export.status is ExportStatus.COMPLETED:
                return
            export.status = ExportStatus.RUNNING
        try:
            async with self._db.transaction(user_id) as session:
                project = await self._project(session, export.project_id)
                header = await repository.header(
                    session,
                    project,
                    export.include_metadata,
                    with_reliability=export.format in FORMATS_WITH_CODEBOOK,
                )
                built = await builder.build(session, header, export.format)
        except Exception as error:
            log.exception("export %s failed", export_id)
            async with self._db.transaction(user_id) as session:
                await repository.mark(
                    session, export_id, status=ExportStatus.FAILED, error=_reason(error)
                )
            return
        try:
            async with self._db.transaction(user_id) as session:
                await repository.replace_file(session, export)
                for number, data in enumerate(built.chunks(self._settings.export_part_bytes)):
                    await repository.add_part(session, export, number, data)
                await repository.mark(
                    session,
                    export_id,
                    status=ExportStatus.COMPLETED,
                    size_bytes=built.size_bytes,
                    sha256=built.sha256,
                    row_count=built.row_count,
                    completed_at=datetime.now(UTC),
                    error=None,
                )
        finally:
            built.close()

    async def get(self, user_id: uuid.UUID, export_id: uuid.UUID) -> Export:
        async with self._db.transaction(user_id) as session:
            export = await repository.get(session, export_id)
        if export is None:
            raise export_not_found(export_id)
        return export

    async def list(
        self, user_id: uuid.UUID, project_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[Sequence[Export], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            await self._project(session, project_id)
            rows = await repository.list_page(session, project_id, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def download(self, user_id: uuid.UUID, export_id: uuid.UUID) -> Download:
        """The export and its file's parts, each read in a transaction of its own when the
        caller asks for it (a slow client holds no transaction open)."""
        export = await self.get(user_id, export_id)
        if export.status is not ExportStatus.COMPLETED:
            raise FailedPrecondition(
                f"the export is {export.status.value}"
                + (f": {export.error}" if export.error else "; download it once COMPLETED")
            )
        return Download(export, self._parts(user_id, export))

    async def _parts(self, user_id: uuid.UUID, export: Export) -> AsyncIterator[bytes]:
        number = 0
        while True:
            async with self._db.transaction(user_id) as session:
                data = await repository.part(session, export.id, number)
            if data is None:
                return
            yield data
            number += 1

    async def sweep(self) -> int:
        """Deletes every tenant's expired exports; how many."""
        async with self._db.transaction(None) as session:
            return await repository.delete_expired(session)

    async def _project(self, session: AsyncSession, project_id: uuid.UUID) -> Project:
        project = await projects.get(session, project_id)
        if project is None:
            raise project_not_found(project_id)
        return project


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _encode_unit_key(unit: Unit) -> str:
    raw = json.dumps([unit.filename, str(unit.document_id), unit.entity_key])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_unit_key(token: str) -> UnitKey | None:
    if not token:
        return None
    try:
        filename, document_id, entity_key = json.loads(
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        )
        return UnitKey(str(filename), uuid.UUID(document_id), str(entity_key))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidArgument(
            "page_token is not a token from a previous page",
            [FieldViolation("page_token", "not a token from a previous page")],
        ) from None
