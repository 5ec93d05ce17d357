"""The codebook as a document: headings, paragraphs and tables, rendered as Markdown
(formats/codebook.py) and as a formatted sheet of the workbook (formats/xlsx.py). It is the
methods appendix of the dataset: what each variable means and how it was extracted, the run,
the quality of every variable, and how each file writes names, missing values and text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.exports.columns import NameRule
from server.exports.dataset import DatasetHeader
from server.exports.quality import Quality


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    # 1 for the title, 2 for sections, 3 for variables.
    level: int


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    # Cells are str, int, float, bool or None.
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Preformatted:
    """Text shown as it is (a prompt)."""

    text: str


Block = Heading | Paragraph | Table | Preformatted


def codebook(header: DatasetHeader, quality: Quality, rule: NameRule) -> list[Block]:
    """The codebook of a dataset whose rows were tallied in `quality`, for a file whose
    column names follow `rule`."""
    raise NotImplementedError
