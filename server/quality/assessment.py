"""How well a variable is coded: the model against a reference per prompt version, coders
against each other, and one prompt version against another on the same units (FR-031).
Each use case owns its (read-only) transaction; the figures come from server.quality."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import Database
from server.core.errors import FieldViolation, InvalidArgument, NotFound
from server.quality import repository
from server.quality.agreement import BOOTSTRAP_SAMPLES, CONFIDENCE
from server.quality.codings import (
    Coded,
    Coding,
    Report,
    ReviewCoding,
    Scale,
    Unit,
    compare,
    pairwise,
    review_coding,
)
from server.quality.models import MODEL, REVIEW, Refinement
from server.schema import repository as schema
from server.schema.models import Variable
from server.schema.prompts import category_labels
from server.schema.service import existing_variable

DEFAULT_TARGET_PRECISION = 0.9


@dataclass(frozen=True)
class VariableCodings:
    """Every coding of a variable's units there is."""

    variable: Variable
    scale: Scale
    review: ReviewCoding
    # Human coders' blind codes, by coder.
    coders: dict[str, Coding]
    # The model's values, by prompt version.
    model: dict[int, Coding]
    # The model's quote for a unit under a version, where it gave one.
    quotes: dict[tuple[int, Unit], str]
    # The notes the coders gave with their codes, by coder.
    coder_notes: dict[str, dict[Unit, str]]
    # The model that gave a version's values ("provider/model").
    models: dict[int, str]

    def reference(self, name: str) -> Coding:
        """The reference coding named: REVIEW or a coder; INVALID_ARGUMENT when there is no
        such coding of the variable."""
        if name == REVIEW:
            return self.review.coding
        if name in self.coders:
            return self.coders[name]
        raise InvalidArgument.from_violations(
            [FieldViolation("reference", f"no coder named {name!r} has coded this variable")]
        )

    def notes(self, name: str) -> dict[Unit, str]:
        """The notes given with the reference's codes (the review's with its verdicts)."""
        return self.review.notes if name == REVIEW else self.coder_notes.get(name, {})

    def humans(self) -> dict[str, Coding]:
        """The reference codings there are: the coders', and the review's when it has codes."""
        humans = dict(self.coders)
        if self.review.coding:
            humans[REVIEW] = self.review.coding
        return humans


async def load_codings(session: AsyncSession, variable: Variable) -> VariableCodings:
    model: dict[int, Coding] = {}
    quotes: dict[tuple[int, Unit], str] = {}
    models: dict[int, str] = {}

    def keep(
        version: int | None, unit: Unit, coded: Coded, quote: str | None, llm_model: str | None
    ) -> None:
        # Earlier sources win: a value kept when its version was scored, then the dataset's
        # value now, then the value a verdict was given on (same version, same value). A
        # quote comes from whichever source has one for that same value.
        if version is None:
            return
        kept = model.setdefault(version, {}).setdefault(unit, coded)
        if quote and kept.value == coded.value:
            quotes.setdefault((version, unit), quote)
        if llm_model:
            models.setdefault(version, llm_model)

    for snapshot in await repository.snapshots(session, variable.id):
        unit = (snapshot.document_id, snapshot.entity_key)
        coded = Coded(snapshot.value, snapshot.confidence, snapshot.cost_usd)
        keep(snapshot.prompt_version, unit, coded, None, snapshot.llm_model)
    for extraction in await repository.extractions(session, variable.id):
        unit = (extraction.document_id, extraction.entity_key)
        coded = Coded(extraction.value, extraction.confidence, extraction.cost_usd)
        llm_model = (
            f"{extraction.llm_provider}/{extraction.llm_model}" if extraction.llm_model else None
        )
        keep(extraction.prompt_version, unit, coded, extraction.source_text, llm_model)
    verdicts = await repository.verdicts(session, variable.id)
    for verdict in verdicts:
        unit = (verdict.document_id, verdict.entity_key)
        coded = Coded(verdict.judged_value)
        keep(verdict.prompt_version, unit, coded, verdict.judged_source_text, None)
    coders: dict[str, Coding] = {}
    coder_notes: dict[str, dict[Unit, str]] = {}
    for code in await repository.codes(session, variable.project_id, variable_id=variable.id):
        unit = (code.document_id, code.entity_key)
        coders.setdefault(code.coder, {})[unit] = Coded(code.value)
        if code.note:
            coder_notes.setdefault(code.coder, {})[unit] = code.note
    return VariableCodings(
        variable=variable,
        scale=Scale(variable.type, tuple(category_labels(variable))),
        review=review_coding(verdicts),
        coders=coders,
        model=model,
        quotes=quotes,
        coder_notes=coder_notes,
        models=models,
    )


@dataclass(frozen=True)
class Agreement:
    model: list[Report]
    coders: list[Report]
    unusable_verdicts: int


@dataclass(frozen=True)
class VersionComparison:
    base: Report
    new: Report
    paired_units: int
    change: float
    change_low: float
    change_high: float
    # (unit, base value, new value, reference value) where the two versions differ.
    changes: list[tuple[Unit, object, object, object]]


class AssessmentService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def agreement(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        reference: str,
        prompt_version: int,
        target_precision: float,
    ) -> Agreement:
        _check_precision(target_precision)
        async with self._db.transaction(user_id) as session:
            codings = await load_codings(session, await existing_variable(session, variable_id))
        gold = codings.reference(reference)
        versions = sorted(codings.model, reverse=True)
        if prompt_version:
            versions = [v for v in versions if v == prompt_version]
        reports = [
            compare(
                codings.scale,
                gold,
                codings.model[version],
                reference_name=reference,
                compared_name=MODEL,
                prompt_version=version,
                target_precision=target_precision,
                current_threshold=codings.variable.confidence_threshold,
                units=sorted(gold),
                llm_model=codings.models.get(version, ""),
            )
            for version in versions
            if set(gold) & set(codings.model[version])
        ]
        return Agreement(
            model=reports,
            coders=pairwise(codings.scale, codings.humans()),
            unusable_verdicts=codings.review.unusable,
        )

    async def compare_versions(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        reference: str,
        base_version: int,
        new_version: int,
        refinement_id: uuid.UUID | None,
    ) -> VersionComparison:
        async with self._db.transaction(user_id) as session:
            variable = await existing_variable(session, variable_id)
            codings = await load_codings(session, variable)
            if not new_version:
                active = await schema.active_prompts(session, [variable_id])
                new_version = active[variable_id].version
            held_out = None
            if refinement_id is not None:
                held_out = _held_out(
                    await repository.get_refinement(session, refinement_id), refinement_id, variable
                )
        gold = codings.reference(reference)
        base = _version(codings, base_version, "base_version")
        new = _version(codings, new_version, "new_version")
        units = sorted(set(gold) & set(base) & set(new))
        if held_out is not None:
            units = [unit for unit in units if unit in held_out]
        scale = codings.scale
        reports = [
            compare(
                scale,
                gold,
                coding,
                reference_name=reference,
                compared_name=MODEL,
                prompt_version=version,
                units=units,
                llm_model=codings.models.get(version, ""),
            )
            for version, coding in ((base_version, base), (new_version, new))
        ]
        base_right = np.array([scale.matches(gold[u].value, base[u].value) for u in units], float)
        new_right = np.array([scale.matches(gold[u].value, new[u].value) for u in units], float)
        change, low, high = paired_change(base_right, new_right)
        return VersionComparison(
            base=reports[0],
            new=reports[1],
            paired_units=len(units),
            change=change,
            change_low=low,
            change_high=high,
            changes=[
                (unit, base[unit].value, new[unit].value, gold[unit].value)
                for unit in units
                if not scale.matches(base[unit].value, new[unit].value)
            ],
        )


async def reliability(
    session: AsyncSession, variable: Variable, version: int | None
) -> list[Report]:
    """What a methods section reports for a variable: the model's values of the prompt
    version in use against every reference there is (the coders', the review's), and every
    pair of coders against each other. Empty without a reference."""
    codings = await load_codings(session, variable)
    humans = codings.humans()
    model = codings.model.get(version, {}) if version is not None else {}
    reports = [
        compare(
            codings.scale,
            reference,
            model,
            reference_name=name,
            compared_name=MODEL,
            prompt_version=version or 0,
            units=sorted(reference),
            llm_model=codings.models.get(version or 0, ""),
        )
        for name, reference in sorted(humans.items())
        if set(reference) & set(model)
    ]
    return reports + pairwise(codings.scale, humans)


def paired_change(
    base_right: np.ndarray, new_right: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """The change in the share of right values, with a percentile bootstrap interval that
    resamples units (both versions together, since they coded the same units)."""
    if not len(base_right):
        return 0.0, 0.0, 0.0
    difference = new_right - base_right
    rng = np.random.default_rng(seed)
    resampled = difference[rng.integers(0, len(difference), (samples, len(difference)))].mean(1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail])
    return float(difference.mean()), float(low), float(high)


def _version(codings: VariableCodings, version: int, field: str) -> Coding:
    if version not in codings.model:
        raise InvalidArgument.from_violations(
            [FieldViolation(field, f"prompt version {version} has no values to compare")]
        )
    return codings.model[version]


def _held_out(
    refinement: Refinement | None, refinement_id: uuid.UUID, variable: Variable
) -> set[Unit]:
    if refinement is None or refinement.variable_id != variable.id:
        raise NotFound(f"refinement {refinement_id} not found")
    return {(uuid.UUID(document), key) for document, key in refinement.held_out_units}


def _check_precision(target: float) -> None:
    if not 0 < target <= 1:
        raise InvalidArgument.from_violations(
            [FieldViolation("target_precision", "must be in (0, 1]")]
        )
