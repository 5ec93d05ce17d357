"""Blind coding, the standard content-analysis procedure: a random sample of documents is
drawn, human coders code it without seeing the model's values, and their codes become the
reference the model is measured against (and each other, for the humans' own agreement).
Judging a value after seeing it anchors the judge; codes given blind do not. Each use case
owns its transaction."""

from __future__ import annotations

import math
import random
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.core.db import Database
from server.core.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from server.documents import repository as documents
from server.jobs.entities import entity_key
from server.jobs.postprocess import VariableRules, coerce_value
from server.projects import repository as projects
from server.projects.models import Project, UnitOfObservation
from server.projects.service import project_not_found
from server.quality import repository
from server.quality.codings import NOT_STATED
from server.quality.models import MODEL, REVIEW, CodingSample, HumanCode
from server.schema import repository as schema
from server.schema.models import Variable, VariableType
from server.schema.prompts import category_labels
from server.schema.service import existing_variable

MAX_CODER_LENGTH = 100
MAX_NOTE_LENGTH = 5000
_Z_95 = 1.959964
# Units a code should expect in a sample for its agreement to be estimable: the rarest of q
# codes is assumed to have half its equal share, 1/(2q).
_UNITS_PER_CODE = 5


@dataclass(frozen=True)
class SampleSize:
    suggested: int
    for_precision: int
    for_categories: int
    available: int
    explanation: str


@dataclass(frozen=True)
class CodeInput:
    variable_id: uuid.UUID
    document_id: uuid.UUID
    entity_name: str
    value: Any
    note: str


@dataclass(frozen=True)
class CodesFilter:
    coder: str = ""
    sample_id: uuid.UUID | None = None
    variable_id: uuid.UUID | None = None


class CodingService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def draw_sample(
        self, user_id: uuid.UUID, project_id: uuid.UUID, name: str, size: int, seed: int
    ) -> CodingSample:
        """A simple random sample, without replacement, of the project's READY documents,
        in a random coding order; reproducible from the seed and the documents."""
        if not name.strip() or len(name) > 200:
            raise InvalidArgument.from_violations([FieldViolation("name", "1-200 characters")])
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            population = await documents.ready_document_ids(session, project_id)
            if not 1 <= size <= len(population):
                violation = FieldViolation(
                    "size", f"must be between 1 and the {len(population)} READY documents"
                )
                raise InvalidArgument.from_violations([violation])
            if await repository.sample_named(session, project_id, name):
                raise AlreadyExists(f"the project has a coding sample named {name!r}")
            seed = seed or secrets.randbits(63)
            # A draw to reproduce, not a secret.
            drawn = random.Random(seed).sample(  # noqa: S311
                sorted(population), size
            )
            return await repository.add_sample(
                session,
                CodingSample(
                    user_id=user_id,
                    project_id=project_id,
                    name=name,
                    seed=seed,
                    document_ids=drawn,
                    population=len(population),
                ),
            )

    async def samples(self, user_id: uuid.UUID, project_id: uuid.UUID) -> Sequence[CodingSample]:
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            return await repository.samples(session, project_id)

    async def suggest_size(
        self,
        user_id: uuid.UUID,
        variable_id: uuid.UUID,
        half_width: float,
        expected_agreement: float,
    ) -> SampleSize:
        violations = []
        if not 0 < half_width <= 0.5:
            violations.append(FieldViolation("target_half_width", "must be in (0, 0.5]"))
        if not 0 < expected_agreement < 1:
            violations.append(FieldViolation("expected_agreement", "must be in (0, 1)"))
        if violations:
            raise InvalidArgument.from_violations(violations)
        async with self._db.transaction(user_id) as session:
            variable = await existing_variable(session, variable_id)
            available = len(await documents.ready_document_ids(session, variable.project_id))
        return sample_size(variable, half_width, expected_agreement, available)

    async def submit(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        coder: str,
        sample_id: uuid.UUID | None,
        given: Sequence[CodeInput],
    ) -> int:
        """Stores a coder's codes, all or none: every code is checked first."""
        _check_coder(coder)
        async with self._db.transaction(user_id) as session:
            project = await projects.get(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            allowed = None
            if sample_id is not None:
                sample = await repository.get_sample(session, sample_id)
                if sample is None or sample.project_id != project_id:
                    raise NotFound(f"coding sample {sample_id} not found")
                allowed = set(sample.document_ids)
            variables = {v.id: v for v in await schema.list_for_project(session, project_id)}
            document_ids = {code.document_id for code in given}
            in_project = {
                d.id for d in await documents.in_project(session, project_id, sorted(document_ids))
            }
            rows = _code_rows(
                given, project, variables, in_project, allowed, coder, sample_id, user_id
            )
            await repository.save_codes(session, rows)
        return len(rows)

    async def codes(
        self, user_id: uuid.UUID, project_id: uuid.UUID, where: CodesFilter
    ) -> Sequence[HumanCode]:
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            return await repository.codes(
                session,
                project_id,
                coder=where.coder,
                sample_id=where.sample_id,
                variable_id=where.variable_id,
            )


def sample_size(
    variable: Variable, half_width: float, expected_agreement: float, available: int
) -> SampleSize:
    """Units enough for the agreement's 95 % interval to be about ±half_width (the normal
    approximation for a proportion, n = z² p(1-p) / e²), and for every code of a nominal
    variable to expect some units (5 units for a code half as common as an equal share)."""
    p = expected_agreement
    for_precision = math.ceil(_Z_95**2 * p * (1 - p) / half_width**2)
    codes = _code_count(variable)
    for_categories = 2 * codes * _UNITS_PER_CODE if codes else 0
    wanted = max(for_precision, for_categories)
    suggested = min(wanted, available)
    explanation = (
        f"{for_precision} units give a 95 % interval of about ±{half_width:g} around an "
        f"agreement of {p:g} (n = 1.96² · p(1 - p) / e²)"
    )
    if codes:
        explanation += (
            f'; with {codes} codes ("{NOT_STATED}" included), {for_categories} units let the '
            f"rarest code, if half as common as an equal share, expect {_UNITS_PER_CODE} units"
        )
    if suggested < wanted:
        explanation += (
            f". The project has {available} READY documents: coding all of them falls short "
            "of that precision"
        )
    return SampleSize(suggested, for_precision, for_categories, available, explanation + ".")


def _code_count(variable: Variable) -> int:
    if variable.type is VariableType.CATEGORY:
        return len(category_labels(variable)) + 1
    if variable.type is VariableType.BOOLEAN:
        return 3
    return 0


def _check_coder(coder: str) -> None:
    if not coder.strip() or len(coder) > MAX_CODER_LENGTH:
        description = f"1-{MAX_CODER_LENGTH} characters"
    elif coder.strip().casefold() in (MODEL, REVIEW):
        description = f'"{MODEL}" and "{REVIEW}" name the model and the review verdicts'
    else:
        return
    raise InvalidArgument.from_violations([FieldViolation("coder", description)])


def _code_rows(
    given: Sequence[CodeInput],
    project: Project,
    variables: dict[uuid.UUID, Variable],
    in_project: set[uuid.UUID],
    allowed: set[uuid.UUID] | None,
    coder: str,
    sample_id: uuid.UUID | None,
    user_id: uuid.UUID,
) -> list[dict[str, Any]]:
    """The rows to store, or INVALID_ARGUMENT naming every bad code."""
    by_entity = project.unit_of_observation is UnitOfObservation.ENTITY
    violations: list[FieldViolation] = []
    rows: dict[tuple[uuid.UUID, uuid.UUID, str], dict[str, Any]] = {}
    for index, code in enumerate(given):
        path = f"codes[{index}]"
        variable = variables.get(code.variable_id)
        if variable is None:
            violations.append(
                FieldViolation(f"{path}.variable_id", "not a variable of the project")
            )
            continue
        if code.document_id not in in_project:
            violations.append(
                FieldViolation(f"{path}.document_id", "not a document of the project")
            )
            continue
        if allowed is not None and code.document_id not in allowed:
            violations.append(FieldViolation(f"{path}.document_id", "not in the coding sample"))
            continue
        key = entity_key(code.entity_name) if by_entity else ""
        if by_entity and not key:
            violations.append(
                FieldViolation(f"{path}.entity_name", "required: the project codes entities")
            )
            continue
        if len(code.note) > MAX_NOTE_LENGTH:
            violations.append(
                FieldViolation(f"{path}.note", f"at most {MAX_NOTE_LENGTH} characters")
            )
            continue
        try:
            value = (
                None if code.value is None else coerce_value(code.value, VariableRules.of(variable))
            )
        except ValueError as error:
            violations.append(FieldViolation(f"{path}.value", str(error)))
            continue
        # The last code given for a unit wins, as a later call would.
        rows[(variable.id, code.document_id, key)] = {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "project_id": project.id,
            "variable_id": variable.id,
            "document_id": code.document_id,
            "sample_id": sample_id,
            "coder": coder.strip(),
            "entity_key": key,
            "entity_name": code.entity_name.strip() if by_entity else "",
            "value": value,
            "note": code.note,
        }
    if violations:
        raise InvalidArgument.from_violations(violations)
    return list(rows.values())
