"""Extraction of one document (FR-018..020, FR-022): every variable, for the document or for
each entity in it, through the LLM gateway, then post-processed and checked against the text.

The document is read whole, or chunk by chunk when it was chunked; a variable's answers from
every chunk are merged. Entity projects first list the document's entities (per chunk,
merged), then extract every variable per entity. Variables are extracted in dependency order:
one that depends on others is given their values. Calls run concurrently within the bound of
the gateway (requests in flight per process); nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from server.jobs.entities import Entity, merge_entities
from server.jobs.evidence import Evidence
from server.jobs.models import EvidenceMatch, ExtractionStatus
from server.jobs.postprocess import Answer, Outcome, VariableRules, decide
from server.llm.errors import FailureKind, LLMError
from server.llm.factory import ModelChoice
from server.llm.gateway import CallResult, LLMGateway, ModelCall
from server.schema.prompts import (
    ENTITY_SCHEMA_NAME,
    SCHEMA_NAME,
    CallContext,
    GeneratedPrompt,
    render_messages,
)

# Failures that mean the provider cannot be used now: the job pauses or fails instead of
# marking documents failed one after another.
_STOPS_THE_JOB = {FailureKind.CIRCUIT_OPEN, FailureKind.CONFIGURATION}


class JobInterrupted(Exception):
    """The job cannot go on: the breaker is open (pause) or the model is misconfigured
    (fail). The document in hand is handed back, not marked failed."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(error.message)
        self.error = error

    @property
    def pauses(self) -> bool:
        return self.error.kind is FailureKind.CIRCUIT_OPEN


@dataclass(frozen=True)
class Segment:
    """What one call reads: the whole text, or one chunk of it."""

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class VariableWork:
    id: uuid.UUID
    name: str
    rules: VariableRules
    depends_on: tuple[uuid.UUID, ...]
    prompt_id: uuid.UUID
    prompt_version: int
    prompt: GeneratedPrompt


@dataclass(frozen=True)
class DocumentWork:
    """Everything the extraction of one document needs, loaded beforehand."""

    user_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    document_id: uuid.UUID
    text: str
    segments: tuple[Segment, ...]
    # In dependency order.
    variables: tuple[VariableWork, ...]
    # Set for ENTITY projects.
    entity_prompt: GeneratedPrompt | None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = field(default_factory=lambda: Decimal(0))

    def add(self, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if cost is None or self.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += Decimal(str(round(cost, 6)))

    def add_usage(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd + other.cost_usd
        )


@dataclass(frozen=True)
class ExtractionResult:
    """One (unit, variable) row."""

    entity: Entity | None
    variable: VariableWork
    outcome: Outcome
    raw_responses: tuple[Any, ...]
    usage: Usage


@dataclass
class DocumentResult:
    results: list[ExtractionResult]
    entities: list[Entity] | None
    usage: Usage
    # Why the document failed as a whole (entity identification failed, or every extraction
    # failed); None when it did not.
    error: str | None = None


class ExtractionPipeline:
    def __init__(self, gateway: LLMGateway) -> None:
        self._gateway = gateway

    async def extract(self, work: DocumentWork) -> DocumentResult:
        usage = Usage()
        entities: list[Entity] | None = None
        if work.entity_prompt is not None:
            try:
                entities = await self._identify_entities(work, work.entity_prompt, usage)
            except LLMError as error:
                return DocumentResult([], None, usage, f"listing entities failed: {error}")
            units: list[Entity | None] = list(entities)
        else:
            units = [None]
        per_unit = await asyncio.gather(*(self._extract_unit(work, unit) for unit in units))
        results = [result for unit_results in per_unit for result in unit_results]
        for result in results:
            usage.add_usage(result.usage)
        failed = [r for r in results if r.outcome.status is ExtractionStatus.FAILED]
        failure = None
        if results and len(failed) == len(results):
            failure = f"every extraction failed; the first: {failed[0].outcome.error}"
        return DocumentResult(results, entities, usage, failure)

    async def _identify_entities(
        self, work: DocumentWork, prompt: GeneratedPrompt, usage: Usage
    ) -> list[Entity]:
        async def one(segment: Segment) -> list[tuple[str, str]]:
            context = _chunk_context(work, segment)
            result = await self._call(work, prompt, segment, context, ENTITY_SCHEMA_NAME, usage)
            return [
                (str(item["name"]), str(item["source_text"])) for item in result.data["entities"]
            ]

        lists = await asyncio.gather(*(one(segment) for segment in work.segments))
        return merge_entities(lists)

    async def _extract_unit(
        self, work: DocumentWork, entity: Entity | None
    ) -> list[ExtractionResult]:
        """Every variable for one unit, dependency level by level."""
        done: dict[uuid.UUID, ExtractionResult] = {}
        remaining = list(work.variables)
        while remaining:
            ready = [
                v for v in remaining if all(d in done or not _in(work, d) for d in v.depends_on)
            ]
            if not ready:  # a cycle cannot be stored; guard anyway
                ready = remaining
            results = await asyncio.gather(
                *(self._extract_variable(work, entity, variable, done) for variable in ready)
            )
            for variable, result in zip(ready, results, strict=True):
                done[variable.id] = result
            remaining = [v for v in remaining if v.id not in done]
        return [done[variable.id] for variable in work.variables]

    async def _extract_variable(
        self,
        work: DocumentWork,
        entity: Entity | None,
        variable: VariableWork,
        done: Mapping[uuid.UUID, ExtractionResult],
    ) -> ExtractionResult:
        names = {v.id: v.name for v in work.variables}
        known = {
            names[dependency]: done[dependency].outcome.value
            for dependency in variable.depends_on
            if dependency in done
        }
        usage = Usage()

        async def one(segment: Segment) -> CallResult | LLMError:
            context = CallContext(
                entity=entity.name if entity else None,
                known_values=known or None,
                chunk_index=segment.index if len(work.segments) > 1 else None,
                chunk_count=len(work.segments) if len(work.segments) > 1 else None,
            )
            try:
                return await self._call(work, variable.prompt, segment, context, SCHEMA_NAME, usage)
            except LLMError as error:
                if error.kind in _STOPS_THE_JOB:
                    raise JobInterrupted(error) from error
                return error

        calls = await asyncio.gather(*(one(segment) for segment in work.segments))
        answers = [
            Answer.parse(
                call.data, multi_valued=variable.rules.multi_valued, chunk_index=segment.index
            )
            for call, segment in zip(calls, work.segments, strict=True)
            if isinstance(call, CallResult)
        ]
        raw = tuple(
            call.data if isinstance(call, CallResult) else {"error": str(call)} for call in calls
        )
        failed = [
            (segment, call)
            for call, segment in zip(calls, work.segments, strict=True)
            if isinstance(call, LLMError)
        ]
        if not answers:
            outcome = _failed(failed[0][1])
        else:
            outcome = decide(
                answers,
                variable.rules,
                work.text,
                [(segment.start, segment.end) for segment in work.segments],
            )
            if failed:
                outcome = _with_failed_chunks(outcome, failed, len(work.segments))
        return ExtractionResult(entity, variable, outcome, raw, usage)

    async def _call(
        self,
        work: DocumentWork,
        prompt: GeneratedPrompt,
        segment: Segment,
        context: CallContext,
        schema_name: str,
        usage: Usage,
    ) -> CallResult:
        messages = render_messages(
            prompt.system_prompt, prompt.user_prompt_template, segment.text, context
        )
        request = ModelCall(
            system=messages.system,
            user=messages.user,
            response_schema=prompt.response_schema,
            model=ModelChoice(prompt.provider, prompt.model),
            temperature=prompt.temperature,
            max_tokens=prompt.max_tokens,
            purpose="entity_identification" if schema_name == ENTITY_SCHEMA_NAME else "extraction",
            user_id=work.user_id,
            project_id=work.project_id,
            job_id=work.job_id,
            schema_name=schema_name,
        )
        try:
            result = await self._gateway.call(request)
        except LLMError as error:
            usage.add(error.prompt_tokens, error.completion_tokens, error.cost_usd)
            raise
        usage.add(result.prompt_tokens, result.completion_tokens, result.cost_usd)
        return result


def _in(work: DocumentWork, variable_id: uuid.UUID) -> bool:
    return any(v.id == variable_id for v in work.variables)


def _chunk_context(work: DocumentWork, segment: Segment) -> CallContext:
    if len(work.segments) == 1:
        return CallContext()
    return CallContext(chunk_index=segment.index, chunk_count=len(work.segments))


def _failed(error: LLMError) -> Outcome:
    return Outcome(
        value=None,
        status=ExtractionStatus.FAILED,
        confidence=None,
        source_text=None,
        evidence=Evidence(EvidenceMatch.NO_QUOTE, None, None),
        error=str(error),
    )


def _with_failed_chunks(
    outcome: Outcome, failed: Sequence[tuple[Segment, LLMError]], chunks: int
) -> Outcome:
    """The outcome of a document some of whose chunks could not be read: FAILED, naming the
    chunks, since the value (or a first, better or further one) may be in them; a FAILED value
    is not current, so the next job reads the document again. What the other chunks gave is
    kept for review."""
    reasons = "; ".join(
        f"chunk {segment.index + 1} of {chunks} (characters {segment.start}-{segment.end}) "
        f"failed: {error}"
        for segment, error in failed
    )
    found = f"; the other chunks gave: {outcome.error}" if outcome.error else ""
    return replace(
        outcome,
        status=ExtractionStatus.FAILED,
        error=f"{reasons}; the value may be there{found}",
        best_guess=False,
    )


def segments_of(text: str, chunks: Sequence[tuple[int, int, str]]) -> tuple[Segment, ...]:
    """The chunks as segments; the whole text as one when the document was not chunked."""
    if not chunks:
        return (Segment(0, 0, len(text), text),)
    return tuple(
        Segment(index, start, end, chunk_text)
        for index, (start, end, chunk_text) in enumerate(chunks)
    )
