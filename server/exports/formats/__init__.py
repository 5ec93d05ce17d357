"""One writer per export format. Each takes the dataset's header, then its rows in batches,
then the quality tallied over those rows, and writes one file; none reads the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO, Protocol

from server.exports.dataset import DatasetHeader, Unit
from server.exports.quality import Quality


class DatasetWriter(Protocol):
    def add(self, units: Sequence[Unit]) -> None:
        """Writes (or keeps, for formats written at the end) a batch of rows, in order."""

    def finish(self, quality: Quality) -> None:
        """Completes the file; quality was tallied over every row added."""


class WriterFactory(Protocol):
    def __call__(self, header: DatasetHeader, out: BinaryIO) -> DatasetWriter: ...
