"""Quality per variable, counted while the dataset's rows stream past (so every format's
codebook describes exactly the rows it holds)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from server.exports.dataset import CellStatus, DatasetHeader, MissingKind, Unit
from server.jobs.models import EvidenceMatch

# Cells whose answer stated a value, kept or not (LOW_CONFIDENCE may have left it empty).
_STATED = frozenset({CellStatus.SUCCESS, CellStatus.LOW_CONFIDENCE})


@dataclass
class VariableQuality:
    units: int = 0
    # Cells holding a value (a default value for a NOT_FOUND cell counts).
    filled: int = 0
    statuses: Counter[CellStatus] = field(default_factory=Counter)
    missing: Counter[MissingKind] = field(default_factory=Counter)
    # Per value (a cell holds several with if multiple values: all / concatenate).
    evidence: Counter[EvidenceMatch] = field(default_factory=Counter)
    # Values whose quote is one word.
    weak_evidence: int = 0
    # Over processed cells that carry a confidence.
    confidence_sum: float = 0.0
    confidence_count: int = 0
    below_threshold: int = 0
    # Values kept below the threshold as the answer (if_uncertain BEST_GUESS).
    best_guesses: int = 0

    @property
    def processed(self) -> int:
        return self.units - self.statuses[CellStatus.NOT_PROCESSED]

    @property
    def fill_rate(self) -> float | None:
        """Share of processed cells that hold a value."""
        return self.filled / self.processed if self.processed else None

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.confidence_count if self.confidence_count else None

    @property
    def share_below_threshold(self) -> float | None:
        return self.below_threshold / self.confidence_count if self.confidence_count else None


@dataclass
class Quality:
    """The tally of a whole dataset: rows, and per variable (in the header's order)."""

    rows: int = 0
    documents: int = 0
    variables: list[VariableQuality] = field(default_factory=list)


class QualityTally:
    def __init__(self, header: DatasetHeader) -> None:
        self._header = header
        self._last_document: object = None
        self.quality = Quality(variables=[VariableQuality() for _ in header.variables])

    def add(self, units: Iterable[Unit]) -> None:
        thresholds = [variable.confidence_threshold for variable in self._header.variables]
        for unit in units:
            self.quality.rows += 1
            if unit.document_id != self._last_document:
                self.quality.documents += 1
                self._last_document = unit.document_id
            for tally, cell, threshold in zip(
                self.quality.variables, unit.cells, thresholds, strict=True
            ):
                tally.units += 1
                tally.statuses[cell.status] += 1
                missing = cell.missing
                if missing is None:
                    tally.filled += 1
                else:
                    tally.missing[missing] += 1
                if cell.value_evidence:
                    for item in cell.value_evidence:
                        tally.evidence[item.evidence.match] += 1
                        tally.weak_evidence += item.evidence.weak
                elif cell.evidence_match is not None and cell.status in _STATED:
                    # A value stated without a quote (or stored before evidence per value).
                    tally.evidence[cell.evidence_match] += 1
                tally.best_guesses += cell.best_guess
                if cell.confidence is not None and cell.status is not CellStatus.FAILED:
                    tally.confidence_sum += cell.confidence
                    tally.confidence_count += 1
                    tally.below_threshold += cell.confidence < threshold
