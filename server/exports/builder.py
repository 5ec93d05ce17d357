"""Builds an export's file: streams the dataset's rows once through the format's writer and
the quality tally, into a temporary file that stays in memory while it is small."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from server.exports import repository
from server.exports.columns import slug
from server.exports.dataset import DatasetHeader, Unit
from server.exports.formats import DatasetWriter, WriterFactory
from server.exports.formats.codebook import CodebookWriter
from server.exports.formats.csv import LongCsvWriter, WideCsvWriter
from server.exports.formats.package import DataPackageWriter
from server.exports.formats.stats import SpssWriter, StataWriter
from server.exports.formats.xlsx import XlsxWriter
from server.exports.models import ExportFormat
from server.exports.quality import QualityTally

# A built file stays in memory up to this size, then moves to a temporary file on disk.
_SPOOL_BYTES = 8 * 1024 * 1024
_COPY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FormatSpec:
    writer: WriterFactory
    # What the file holds, in its name: "dataset", "extractions", "codebook".
    content: str
    extension: str
    content_type: str


FORMATS: dict[ExportFormat, FormatSpec] = {
    ExportFormat.CSV_WIDE: FormatSpec(WideCsvWriter, "dataset", "csv", "text/csv; charset=utf-8"),
    ExportFormat.CSV_LONG: FormatSpec(
        LongCsvWriter, "extractions", "csv", "text/csv; charset=utf-8"
    ),
    ExportFormat.XLSX: FormatSpec(
        XlsxWriter,
        "dataset",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ExportFormat.CODEBOOK: FormatSpec(
        CodebookWriter, "codebook", "md", "text/markdown; charset=utf-8"
    ),
    ExportFormat.STATA: FormatSpec(StataWriter, "dataset", "dta", "application/x-stata-dta"),
    ExportFormat.SPSS: FormatSpec(SpssWriter, "dataset", "sav", "application/x-spss-sav"),
    ExportFormat.DATA_PACKAGE: FormatSpec(
        DataPackageWriter, "datapackage", "zip", "application/zip"
    ),
}


@dataclass
class BuiltFile:
    """A finished export file (call close() when done with it)."""

    file: BinaryIO
    size_bytes: int
    sha256: str
    row_count: int

    def chunks(self, size: int) -> Iterator[bytes]:
        self.file.seek(0)
        while data := self.file.read(size):
            yield data

    def close(self) -> None:
        self.file.close()


async def build(
    session: AsyncSession, header: DatasetHeader, export_format: ExportFormat
) -> BuiltFile:
    """The export file of the dataset as the session sees it now. The writing runs in a
    thread, batch by batch, so that the event loop keeps serving other calls meanwhile."""
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned
    try:
        writer = FORMATS[export_format].writer(header, out)  # type: ignore[arg-type]
        tally = QualityTally(header)

        def write(units: list[Unit]) -> None:
            writer.add(units)
            tally.add(units)

        async for units in repository.stream_units(session, header):
            await asyncio.to_thread(write, units)
        size, digest = await asyncio.to_thread(_finish, writer, tally, out)
        return BuiltFile(out, size, digest, tally.quality.rows)  # type: ignore[arg-type]
    except BaseException:
        out.close()
        raise


def _finish(writer: DatasetWriter, tally: QualityTally, out: IO[bytes]) -> tuple[int, str]:
    """Completes the file; its size and hex SHA-256."""
    writer.finish(tally.quality)
    digest = hashlib.sha256()
    out.seek(0)
    while data := out.read(_COPY_BYTES):
        digest.update(data)
    return out.tell(), digest.hexdigest()


def filename(project_name: str, export_format: ExportFormat, at: datetime) -> str:
    """e.g. council-minutes-dataset-20261202-101500.csv."""
    spec = FORMATS[export_format]
    return f"{slug(project_name)}-{spec.content}-{at:%Y%m%d-%H%M%S}.{spec.extension}"
