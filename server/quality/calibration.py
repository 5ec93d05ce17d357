"""Whether the model's confidence means what it says: reliability curve data, the expected
calibration error, and the confidence threshold that reaches a precision the researcher
chooses, proposed and never applied (the researcher sets the variable's threshold)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

BINS = 10
# Fewer values than this kept above a threshold say nothing about its precision.
MIN_UNITS_FOR_THRESHOLD = 10


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    units: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class Calibration:
    units: int
    bins: list[ReliabilityBin]
    # None without values.
    expected_calibration_error: float | None
    target_precision: float
    current_threshold: float
    # None when no threshold keeps MIN_UNITS_FOR_THRESHOLD values at the target precision.
    proposed_threshold: float | None = None
    precision_at_threshold: float | None = None
    coverage_at_threshold: float | None = None
    # Values below the proposed threshold: those that would go to review.
    to_review: int = 0


def calibrate(
    judged: Sequence[tuple[float, bool]], *, target_precision: float, current_threshold: float
) -> Calibration:
    """`judged`: each value's confidence and whether it matched the reference."""
    bins = _bins(judged)
    total = len(judged)
    error = (
        sum(b.units * abs(b.accuracy - b.mean_confidence) for b in bins) / total if total else None
    )
    calibration = Calibration(
        units=total,
        bins=bins,
        expected_calibration_error=error,
        target_precision=target_precision,
        current_threshold=current_threshold,
    )
    threshold = _lowest_threshold(judged, target_precision)
    if threshold is None:
        return calibration
    kept = [right for confidence, right in judged if confidence >= threshold]
    return replace(
        calibration,
        proposed_threshold=threshold,
        precision_at_threshold=sum(kept) / len(kept),
        coverage_at_threshold=len(kept) / total,
        to_review=total - len(kept),
    )


def _bins(judged: Sequence[tuple[float, bool]]) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1] (the last one closed); empty bins are left out."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(BINS)]
    for confidence, right in judged:
        members[min(int(confidence * BINS), BINS - 1)].append((confidence, right))
    return [
        ReliabilityBin(
            low=index / BINS,
            high=(index + 1) / BINS,
            units=len(values),
            mean_confidence=sum(c for c, _ in values) / len(values),
            accuracy=sum(1 for _, right in values if right) / len(values),
        )
        for index, values in enumerate(members)
        if values
    ]


def _lowest_threshold(judged: Sequence[tuple[float, bool]], target: float) -> float | None:
    """The lowest confidence t such that the values with confidence >= t are right at least
    `target` of the time, with at least MIN_UNITS_FOR_THRESHOLD of them. Lower thresholds keep
    more values, so the lowest that reaches the target sends the fewest to review."""
    ordered = sorted(judged, key=lambda item: item[0], reverse=True)
    best = None
    right = 0
    for count, (confidence, correct) in enumerate(ordered, start=1):
        right += correct
        next_confidence = ordered[count][0] if count < len(ordered) else None
        if next_confidence == confidence:
            continue  # a threshold keeps all values of equal confidence or none
        if count >= MIN_UNITS_FOR_THRESHOLD and right / count >= target:
            best = confidence
    return best
