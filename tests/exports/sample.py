"""A small dataset in memory, for tests of the format writers (logic above the database):
one variable of every type, a multi-value one, and every kind of cell, in a document or an
entity project."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from server.exports.dataset import (
    NOT_PROCESSED,
    Category,
    Cell,
    CellStatus,
    DatasetHeader,
    FeedbackAgreement,
    PromptSpec,
    RunSummary,
    Unit,
    VariableSpec,
)
from server.jobs.evidence import Evidence, ValueEvidence
from server.jobs.models import EvidenceMatch
from server.projects.models import ExtractionMode, UnitOfObservation
from server.schema.models import IfMultipleValues, IfUncertain, VariableType

PROMPT = PromptSpec(
    version=2,
    provider="openai",
    model="gpt-4o-mini",
    temperature=0.1,
    max_tokens=400,
    system_prompt="You extract values.",
    user_prompt_template="Read $document",
    sha256="ab" * 32,
)


def variable(name: str, type_: VariableType, **fields: Any) -> VariableSpec:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": name,
        "display_name": name.replace("_", " ").capitalize(),
        "type": type_,
        "instructions": f"Find the {name}.",
        "categories": (),
        "selection_logic": "",
        "confidence_threshold": 0.7,
        "if_uncertain": IfUncertain.FLAG_FOR_REVIEW,
        "if_multiple_values": IfMultipleValues.FIRST,
        "max_values": 1,
        "default_value": None,
        "validation_rules": {},
        "depends_on": (),
        "prompt": PROMPT,
    }
    values.update(fields)
    return VariableSpec(**values)


VARIABLES = (
    variable("topic", VariableType.TEXT),
    variable("budget", VariableType.NUMBER),
    variable("meeting_date", VariableType.DATE),
    variable("approved", VariableType.BOOLEAN),
    variable(
        "stance",
        VariableType.CATEGORY,
        categories=(
            Category("Support", "In favour"),
            Category("Oppose", "Against"),
            Category("Neutral", "Neither"),
        ),
    ),
    variable(
        "parties",
        VariableType.TEXT,
        if_multiple_values=IfMultipleValues.ALL,
        max_values=3,
    ),
)


def header(
    entity: bool = False,
    include_metadata: bool = True,
    variables: tuple[VariableSpec, ...] = VARIABLES,
) -> DatasetHeader:
    return DatasetHeader(
        project_id=uuid.uuid4(),
        project_name="Council minutes",
        project_description="Budget decisions",
        domain="local government",
        language="en",
        unit=UnitOfObservation.ENTITY if entity else UnitOfObservation.DOCUMENT,
        entity_pattern="each councillor" if entity else "",
        variables=variables,
        run=RunSummary(
            jobs=2,
            documents_total=4,
            documents_processed=2,
            documents_failed=1,
            documents_not_processed=1,
            documents_unreadable=0,
            input_tokens=1200,
            output_tokens=300,
            cost_usd=Decimal("0.0123"),
            models=("openai/gpt-4o-mini",),
            extraction_modes=(ExtractionMode.PER_VARIABLE,),
            first_job_at=datetime(2026, 11, 1, tzinfo=UTC),
            last_job_at=datetime(2026, 11, 2, tzinfo=UTC),
        ),
        agreement={VARIABLES[0].id: FeedbackAgreement(4, 3, 0, 1)},
        include_metadata=include_metadata,
        generated_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
    )


def value(v: Any, status: CellStatus = CellStatus.SUCCESS, **fields: Any) -> Cell:
    values: dict[str, Any] = {
        "status": status,
        "value": v,
        "confidence": 0.9 if status is CellStatus.SUCCESS else 0.4,
        "source_text": f"…{v}…" if v is not None else None,
        "source_start": 10,
        "source_end": 20,
        "evidence_match": EvidenceMatch.EXACT if v is not None else EvidenceMatch.NO_QUOTE,
        "prompt_version": 2,
        "model": "openai/gpt-4o-mini",
        "extraction_id": str(uuid.uuid4()),
        "job_id": str(uuid.uuid4()),
        "error": None,
    }
    # Each value's quote: one per item of a list.
    items = v if isinstance(v, list) else [] if v is None else [v]
    values["value_evidence"] = tuple(
        ValueEvidence(f"…{item}…", Evidence(EvidenceMatch.EXACT, 10, 20, candidates=1))
        for item in items
    )
    values.update(fields)
    return Cell(**values)


def units(entity: bool = False) -> list[Unit]:
    """Three rows: one with a value of every type (a formula-like text, accents, two of three
    parties), one with each kind of empty cell, one not processed at all."""
    full = Unit(
        document_id=uuid.UUID(int=1),
        filename="=cmd|' /C calc'!A0 minutes.txt",
        entity_key="ada lovelace" if entity else "",
        entity_name="Ada Lovelace" if entity else "",
        cells=(
            value("Zoë's café budget"),
            value(1250.5),
            value("2024-03-05"),
            value(True),
            value("Oppose", CellStatus.LOW_CONFIDENCE, error="below the confidence threshold"),
            value(["Labour", "=SUM(A1)"]),
        ),
    )
    empty = Unit(
        document_id=uuid.UUID(int=2),
        filename="b.pdf",
        entity_key="bob" if entity else "",
        entity_name="Bob" if entity else "",
        cells=(
            value(None, CellStatus.NOT_FOUND),
            value(None, CellStatus.LOW_CONFIDENCE, error="below the confidence threshold"),
            value(None, CellStatus.FAILED, error="the model's answer was not valid JSON"),
            NOT_PROCESSED,
            value(None, CellStatus.NOT_FOUND),
            value(None, CellStatus.FAILED, error="timed out"),
        ),
    )
    unprocessed = Unit(
        document_id=uuid.UUID(int=3),
        filename="c.docx",
        entity_key="",
        entity_name="",
        cells=(NOT_PROCESSED,) * len(VARIABLES),
    )
    return [full, empty, unprocessed]
