"""Feedback use cases (FR-030): a researcher's verdict on an extracted value, stored with the
value as it was judged, and the read path over a project's feedback. Each owns its
transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.core.db import Database
from server.core.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from server.core.pagination import decode_cursor, page_with_token
from server.feedback import repository
from server.jobs.models import Extraction, ExtractionFeedback, FeedbackType
from server.jobs.postprocess import VariableRules, coerce_value
from server.projects import repository as projects
from server.projects.service import project_not_found
from server.schema import repository as schema

MAX_NOTE_LENGTH = 5000


@dataclass(frozen=True)
class FeedbackInput:
    extraction_id: uuid.UUID
    feedback_type: FeedbackType
    # What the value should be; None for none.
    corrected_value: Any = None
    user_note: str = ""
    # The extraction's update time as the researcher saw it: the verdict is refused if the
    # extraction has been re-done since. None: judge the value it holds now.
    seen_update_time: datetime | None = None


@dataclass(frozen=True)
class FeedbackFilter:
    variable_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    feedback_types: Sequence[FeedbackType] = ()


@dataclass(frozen=True)
class StoredFeedback:
    """A verdict, and whether the extraction still holds the value it is about."""

    feedback: ExtractionFeedback
    # The extraction is gone, or now holds another value or a value of another prompt version.
    superseded: bool

    @property
    def id(self) -> uuid.UUID:
        return self.feedback.id

    @property
    def created_at(self) -> datetime:
        return self.feedback.created_at


class FeedbackService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def give(self, user_id: uuid.UUID, given: FeedbackInput) -> StoredFeedback:
        """Records the verdict on the extraction's current value; replaces the researcher's
        earlier verdict on that same value (same prompt version)."""
        _check(given)
        async with self._db.transaction(user_id) as session:
            extraction = await repository.extraction_to_judge(session, given.extraction_id)
            if extraction is None:
                raise NotFound(f"extraction {given.extraction_id} not found")
            seen = given.seen_update_time
            if seen is not None and seen != extraction.updated_at:
                raise FailedPrecondition(
                    "the extraction has been re-done since it was shown; judge its current value"
                )
            corrected = None
            if given.corrected_value is not None:
                variable = await schema.get(session, extraction.variable_id)
                assert variable is not None  # an extraction's variable: deleted with it
                corrected = _corrected(given.corrected_value, VariableRules.of(variable))
            feedback = await repository.save(session, _judgment(extraction, given, corrected))
        # The extraction is share-locked until the commit: it held the judged value then.
        return StoredFeedback(feedback, superseded=False)

    async def list(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        where: FeedbackFilter,
        page_size: int,
        page_token: str,
    ) -> tuple[Sequence[StoredFeedback], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            rows = await repository.list_page(
                session,
                project_id,
                variable_id=where.variable_id,
                job_id=where.job_id,
                feedback_types=where.feedback_types,
                limit=page_size + 1,
                after=after,
            )
        return page_with_token([StoredFeedback(f, superseded) for f, superseded in rows], page_size)


def _check(given: FeedbackInput) -> None:
    """The rules a verdict obeys whatever it is about."""
    violations = []
    if given.feedback_type is FeedbackType.CORRECT and given.corrected_value is not None:
        violations.append(
            FieldViolation("corrected_value", "must be unset when feedback_type is CORRECT")
        )
    if len(given.user_note) > MAX_NOTE_LENGTH:
        violations.append(FieldViolation("user_note", f"at most {MAX_NOTE_LENGTH} characters"))
    if violations:
        raise InvalidArgument.from_violations(violations)


def _corrected(value: Any, rules: VariableRules) -> Any:
    """The corrected value as the variable stores it; INVALID_ARGUMENT when it is not a value
    of the variable (its type, its categories)."""
    try:
        return coerce_value(value, rules)
    except ValueError as error:
        violation = FieldViolation("corrected_value", str(error))
        raise InvalidArgument.from_violations([violation]) from None


def _judgment(extraction: Extraction, given: FeedbackInput, corrected: Any) -> dict[str, Any]:
    """The feedback row: the verdict, and the extraction as it is now."""
    return {
        "id": uuid.uuid4(),
        "user_id": extraction.user_id,
        "extraction_id": extraction.id,
        "feedback_type": given.feedback_type,
        "corrected_value": corrected,
        "user_note": given.user_note,
        "project_id": extraction.project_id,
        "document_id": extraction.document_id,
        "variable_id": extraction.variable_id,
        "job_id": extraction.job_id,
        "prompt_id": extraction.prompt_id,
        "prompt_version": extraction.prompt_version,
        "entity_key": extraction.entity_key,
        "entity_name": extraction.entity_name,
        "judged_value": extraction.value,
        "judged_status": extraction.status,
        "judged_source_text": extraction.source_text,
    }
