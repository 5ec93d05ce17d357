"""The dataset every export format and the results table are built from: its header (the
project, its variables with their prompts, the run) and its rows (units of observation, one
cell per variable). Formats only render these; none reads the database itself, so they cannot
disagree."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from server.jobs.evidence import ValueEvidence
from server.jobs.models import EvidenceMatch
from server.llm.factory import OFFLINE
from server.projects.models import ExtractionMode, UnitOfObservation
from server.quality.codings import Report
from server.schema.models import IfMultipleValues, IfUncertain, VariableType


class CellStatus(enum.Enum):
    """Why a cell has its value, or none: the extraction's status, or NOT_PROCESSED when the
    unit has no extraction for the variable yet."""

    SUCCESS = "SUCCESS"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    NOT_FOUND = "NOT_FOUND"
    FAILED = "FAILED"
    NOT_PROCESSED = "NOT_PROCESSED"


class MissingKind(enum.Enum):
    """The four reasons a cell holds no value, kept apart in every format."""

    NOT_PROCESSED = "not processed"
    NOT_FOUND = "not found"
    UNCERTAIN = "uncertain"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Category:
    label: str
    definition: str


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """The active prompt version of a variable: what the codebook reports as its method."""

    version: int
    provider: str
    model: str
    temperature: float
    max_tokens: int
    system_prompt: str
    user_prompt_template: str
    # Hex SHA-256 of the system prompt, a blank line and the user template.
    sha256: str


@dataclass(frozen=True, slots=True)
class VariableSpec:
    id: uuid.UUID
    name: str
    display_name: str
    type: VariableType
    instructions: str
    categories: tuple[Category, ...]
    selection_logic: str
    confidence_threshold: float
    if_uncertain: IfUncertain
    if_multiple_values: IfMultipleValues
    max_values: int
    default_value: Any
    validation_rules: dict[str, Any]
    # The names of the variables this one is given the values of.
    depends_on: tuple[str, ...]
    prompt: PromptSpec | None

    @property
    def slots(self) -> int:
        """Cells the variable takes in a wide row: max_values for ALL, else 1."""
        return self.max_values if self.if_multiple_values is IfMultipleValues.ALL else 1

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the project's jobs did, for the codebook."""

    jobs: int
    documents_total: int
    # READY documents with at least one extraction / whose last job failed them / none yet.
    documents_processed: int
    documents_failed: int
    documents_not_processed: int
    # Uploaded documents that could not be read (never part of the dataset's rows).
    documents_unreadable: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    # "provider/model" of the models that answered the dataset's extractions.
    models: tuple[str, ...]
    # How the extraction jobs asked for the values (see ExtractionMode).
    extraction_modes: tuple[ExtractionMode, ...]
    first_job_at: datetime | None
    last_job_at: datetime | None

    @property
    def offline_baseline(self) -> bool:
        """Whether the offline baseline (rules, not a language model) answered any of them."""
        return any(model.partition("/")[0] == OFFLINE for model in self.models)


@dataclass(frozen=True, slots=True)
class FeedbackAgreement:
    """The researcher's verdicts on one variable's values."""

    judged: int
    correct: int
    partially_correct: int
    incorrect: int

    @property
    def accuracy(self) -> float | None:
        """Share judged CORRECT (partially correct counts as not correct)."""
        return self.correct / self.judged if self.judged else None


@dataclass(frozen=True, slots=True)
class DatasetHeader:
    project_id: uuid.UUID
    project_name: str
    project_description: str
    domain: str
    language: str
    unit: UnitOfObservation
    entity_pattern: str
    variables: tuple[VariableSpec, ...]
    # What the project's jobs did (None where only the rows are wanted: the results table).
    run: RunSummary | None
    agreement: dict[uuid.UUID, FeedbackAgreement]
    include_metadata: bool
    generated_at: datetime
    # Agreement with the human codings per variable (server.quality.assessment.reliability).
    reliability: dict[uuid.UUID, list[Report]] = field(default_factory=dict)

    @property
    def entity_level(self) -> bool:
        return self.unit is UnitOfObservation.ENTITY


@dataclass(frozen=True, slots=True)
class Cell:
    """One variable's value for one unit."""

    status: CellStatus
    # The JSON value as stored: None for no value, a list for ALL multi-value variables.
    value: Any = None
    confidence: float | None = None
    source_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None
    evidence_match: EvidenceMatch | None = None
    prompt_version: int | None = None
    # "provider/model" of the model that answered.
    model: str | None = None
    # Kept below the confidence threshold because the variable's if_uncertain is BEST_GUESS.
    best_guess: bool = False
    # As text: ids are only shown, and a UUID object per cell costs time on large exports.
    extraction_id: str | None = None
    job_id: str | None = None
    error: str | None = None
    # Each value's quote and where it was found, in the order of the values.
    value_evidence: tuple[ValueEvidence, ...] = ()

    @property
    def missing(self) -> MissingKind | None:
        """Why the cell holds no value; None when it holds one. A FAILED extraction never
        counts as a value, whatever it stored."""
        if self.status is CellStatus.FAILED:
            return MissingKind.FAILED
        if self.status is CellStatus.NOT_PROCESSED:
            return MissingKind.NOT_PROCESSED
        if self.value is not None and self.value != []:
            return None
        if self.status is CellStatus.LOW_CONFIDENCE:
            return MissingKind.UNCERTAIN
        return MissingKind.NOT_FOUND

    @property
    def values(self) -> list[Any]:
        """The value as a list: [] for none, the items of a multi-value list."""
        if self.missing is not None:
            return []
        return list(self.value) if isinstance(self.value, list) else [self.value]


NOT_PROCESSED = Cell(CellStatus.NOT_PROCESSED)


@dataclass(frozen=True, slots=True)
class Unit:
    """One row of the dataset: a document, or an entity in a document."""

    document_id: uuid.UUID
    filename: str
    entity_key: str
    entity_name: str
    # One per variable of the header, in its order.
    cells: tuple[Cell, ...] = field(default_factory=tuple)
