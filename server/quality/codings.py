"""Codings of a variable's units, and agreement between two of them as a report.

A coding maps each unit (a document, or an entity in it) to the value a coder gave it: the
model's values under one prompt version, the researcher's review verdicts read as codes, or a
human coder's blind codes. "Not stated" (no value) is a code like any other: a model that
finds nothing where the reference has a value disagrees with it, and leaving such units out
would report agreement higher than it is. Units one coding has no code for are left out of
the comparison, and counted.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from server.jobs.models import ExtractionFeedback, FeedbackType
from server.quality import agreement
from server.quality.agreement import CategoryScore, Measure
from server.quality.calibration import Calibration, ReliabilityBin, calibrate
from server.schema.models import VariableType

# A unit of the dataset: the document and the entity's key ('' for document-level projects).
Unit = tuple[uuid.UUID, str]
NOT_STATED = "(not stated)"
NOMINAL_TYPES = (VariableType.CATEGORY, VariableType.BOOLEAN)


@dataclass(frozen=True)
class Coded:
    """A coding's value for a unit (None: the document does not state it), with the model's
    confidence when the coder is the model."""

    value: Any
    confidence: float | None = None
    # What the model's call for the value cost.
    cost_usd: Decimal = Decimal(0)


Coding = dict[Unit, Coded]


@dataclass(frozen=True)
class ReviewCoding:
    """The researcher's verdicts read as codes, with the notes given and the verdicts that
    give no code."""

    coding: Coding
    notes: dict[Unit, str]
    unusable: int


def review_coding(verdicts: Iterable[ExtractionFeedback]) -> ReviewCoding:
    """The newest verdict on each unit decides its code: CORRECT keeps the judged value; a
    corrected value replaces it; INCORRECT without one on a found value says the document
    does not state it. PARTIALLY_CORRECT without a corrected value, and INCORRECT without one
    on a value not found, say the value is wrong without saying what is right: no code."""
    coding: Coding = {}
    notes: dict[Unit, str] = {}
    unusable = 0
    newest_first = sorted(verdicts, key=lambda verdict: verdict.updated_at, reverse=True)
    for verdict in newest_first:
        unit = (verdict.document_id, verdict.entity_key)
        if unit in coding or unit in notes:
            continue
        if verdict.user_note:
            notes[unit] = verdict.user_note
        if verdict.feedback_type is FeedbackType.CORRECT:
            coding[unit] = Coded(verdict.judged_value)
        elif verdict.corrected_value is not None:
            coding[unit] = Coded(verdict.corrected_value)
        elif verdict.feedback_type is FeedbackType.INCORRECT and verdict.judged_value is not None:
            coding[unit] = Coded(None)
        else:
            unusable += 1
    return ReviewCoding(coding, notes, unusable)


@dataclass(frozen=True)
class Scale:
    """How values of a variable are compared: as codes of a nominal scale (CATEGORY and
    BOOLEAN), or as values that match exactly or once normalised (NUMBER, DATE, TEXT)."""

    type: VariableType
    categories: tuple[str, ...] = ()

    @property
    def nominal(self) -> bool:
        return self.type in NOMINAL_TYPES

    def code(self, value: Any) -> str:
        """The value as one nominal code; several values (a multi-valued variable) form one
        code of their own, in a canonical order."""
        if value is None or value == []:
            return NOT_STATED
        if isinstance(value, list):
            return " + ".join(sorted(self.code(item) for item in value))
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def normalised(self, value: Any) -> Any:
        """The value as a coder means it: case and spacing of text, the spelling of numbers
        and the order of several values do not matter."""
        if value is None or value == []:
            return NOT_STATED
        if isinstance(value, list):
            return tuple(sorted(json.dumps(self.normalised(item)) for item in value))
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return round(float(value), 9)
        return agreement.normalised_text(value)

    def matches(self, reference: Any, compared: Any) -> bool:
        """Whether the compared value counts as right against the reference."""
        if self.nominal:
            return self.code(reference) == self.code(compared)
        return bool(self.normalised(reference) == self.normalised(compared))

    def codes_in_use(self, codings: Sequence[Coding]) -> list[str]:
        """The nominal codes: the variable's categories (or true and false), "not stated", and
        any other code the codings used (combinations of several values)."""
        known = list(self.categories) if self.type is VariableType.CATEGORY else ["true", "false"]
        seen = {self.code(coded.value) for coding in codings for coded in coding.values()}
        extra = sorted(seen - set(known) - {NOT_STATED})
        return [*known, *extra, NOT_STATED]


@dataclass(frozen=True)
class Report:
    """Agreement of a compared coding with a reference on the units both coded."""

    reference: str
    compared: str
    prompt_version: int
    units: int
    missing: int
    measures: list[Measure]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    categories: list[CategoryScore] = field(default_factory=list)
    calibration: Calibration | None = None
    # The model's values only: the model that gave them and what they cost, over the units
    # compared.
    llm_model: str = ""
    cost_usd: Decimal = Decimal(0)

    def as_json(self) -> dict[str, Any]:
        report = asdict(self)
        report["cost_usd"] = str(self.cost_usd)
        return report

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> Report:
        calibration = stored.get("calibration")
        return cls(
            **{
                **stored,
                "measures": [Measure(**measure) for measure in stored["measures"]],
                "categories": [CategoryScore(**score) for score in stored["categories"]],
                "calibration": None
                if calibration is None
                else Calibration(
                    **{
                        **calibration,
                        "bins": [ReliabilityBin(**b) for b in calibration["bins"]],
                    }
                ),
                "cost_usd": Decimal(stored["cost_usd"]),
            }
        )


def compare(
    scale: Scale,
    reference: Coding,
    compared: Coding,
    *,
    reference_name: str,
    compared_name: str,
    prompt_version: int = 0,
    target_precision: float | None = None,
    current_threshold: float = 0.0,
    units: Sequence[Unit] | None = None,
    llm_model: str = "",
) -> Report:
    """Agreement over `units` (default: every unit either coding coded); with a target
    precision, the compared coding's calibration against the reference too. `llm_model`: the
    model whose values `compared` holds."""
    every = sorted(set(reference) | set(compared)) if units is None else list(units)
    cost = sum(
        (compared[unit].cost_usd for unit in every if unit in compared and unit in reference),
        Decimal(0),
    )
    reference_values = [reference[unit].value if unit in reference else _MISSING for unit in every]
    compared_values = [compared[unit].value if unit in compared else _MISSING for unit in every]
    calibration = None
    if target_precision is not None:
        judged = [
            (compared[unit].confidence, scale.matches(reference[unit].value, compared[unit].value))
            for unit in every
            if unit in reference and unit in compared and compared[unit].confidence is not None
        ]
        calibration = calibrate(
            [(float(c), right) for c, right in judged if c is not None],
            target_precision=target_precision,
            current_threshold=current_threshold,
        )
    if scale.nominal:
        codes = scale.codes_in_use([reference, compared])
        result = agreement.nominal(
            [None if v is _MISSING else scale.code(v) for v in reference_values],
            [None if v is _MISSING else scale.code(v) for v in compared_values],
            codes,
        )
        return Report(
            reference=reference_name,
            compared=compared_name,
            prompt_version=prompt_version,
            units=result.units,
            missing=result.missing,
            measures=[
                result.percent_agreement,
                result.cohen_kappa,
                result.krippendorff_alpha,
                result.gwet_ac1,
            ],
            confusion=result.confusion,
            categories=result.categories,
            calibration=calibration,
            llm_model=llm_model,
            cost_usd=cost,
        )
    matched = agreement.matches(
        [None if v is _MISSING else _canonical(v) for v in reference_values],
        [None if v is _MISSING else _canonical(v) for v in compared_values],
        normalise=lambda text: scale.normalised(json.loads(str(text))),
    )
    measures = [matched.exact_match, matched.normalised_match]
    if scale.type is VariableType.NUMBER:
        numeric = [
            (r, c)
            for r, c in zip(reference_values, compared_values, strict=True)
            if _is_number(r) and _is_number(c)
        ]
        numbers = agreement.matches(
            [r for r, _ in numeric], [c for _, c in numeric], normalise=float, numeric=True
        )
        measures += [m for m in (numbers.alpha_interval, numbers.alpha_ratio) if m is not None]
    return Report(
        reference=reference_name,
        compared=compared_name,
        prompt_version=prompt_version,
        units=matched.units,
        missing=matched.missing,
        measures=measures,
        calibration=calibration,
        llm_model=llm_model,
        cost_usd=cost,
    )


def pairwise(scale: Scale, codings: Mapping[str, Coding]) -> list[Report]:
    """Agreement of every pair of coders, on the units both coded."""
    names = sorted(codings)
    return [
        compare(
            scale,
            codings[first],
            codings[second],
            reference_name=first,
            compared_name=second,
            units=sorted(set(codings[first]) & set(codings[second])),
        )
        for index, first in enumerate(names)
        for second in names[index + 1 :]
    ]


class _Missing:
    """No code at all for the unit (unlike None: a code saying the value is not stated)."""


_MISSING: Any = _Missing()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
