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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol, TypeVar

from server.jobs.entities import Entity, merge_entities
from server.jobs.evidence import Evidence
from server.jobs.models import EvidenceMatch, ExtractionStatus
from server.jobs.postprocess import Answer, Outcome, VariableRules, decide
from server.llm.errors import FailureKind, LLMError
from server.llm.factory import ModelChoice
from server.llm.fencing import new_boundary
from server.llm.gateway import CallResult, LLMGateway, ModelCall, schema_problems
from server.schema.prompts import (
    ENTITY_SCHEMA_NAME,
    GROUPED_SCHEMA_NAME,
    SCHEMA_NAME,
    SHARED_RESPONSE_SCHEMA,
    CallContext,
    GeneratedPrompt,
    grouped_prompt,
    grouping_key,
    render_messages,
    shared_grouped_schema,
)

# Failures that mean the provider cannot be used now: the job pauses or fails instead of
# marking documents failed one after another.
_STOPS_THE_JOB = {FailureKind.CIRCUIT_OPEN, FailureKind.CONFIGURATION}
# Answers that a request with a stricter schema (the variable's own, or one variable at a
# time instead of a group) may get right.
_ASK_AGAIN = {FailureKind.MALFORMED, FailureKind.TRUNCATED}
# Variables in one grouped request at most: the answer grows with each, and one malformed
# part costs the whole request.
MAX_GROUPED_VARIABLES = 20
_MICRODOLLAR = Decimal("0.000001")


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
    # The project's GROUPED extraction mode: the variables of a dependency level in one
    # request per unit and segment (else one request per variable).
    grouped: bool = False
    # The fence boundary of every request that reads the document (server.llm.fencing): the
    # same for all of them, so that they share their prefix.
    boundary: str = field(default_factory=new_boundary)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal | None = field(default_factory=lambda: Decimal(0))
    # Of the prompt tokens, those the provider served from its prompt cache.
    cached_prompt_tokens: int = 0

    def add(
        self, prompt_tokens: int, completion_tokens: int, cost: float | None, cached: int = 0
    ) -> None:
        self.add_usage(
            Usage(
                prompt_tokens,
                completion_tokens,
                None if cost is None else Decimal(str(round(cost, 6))),
                cached,
            )
        )

    def add_usage(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_prompt_tokens += other.cached_prompt_tokens
        self.cost_usd = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else self.cost_usd + other.cost_usd
        )

    def shares(self, count: int) -> list[Usage]:
        """The usage split into `count` parts that add up to it exactly (the first takes
        what does not divide): a grouped request's cost, per variable."""

        def split(total: int) -> list[int]:
            return [total // count + (total % count if index == 0 else 0) for index in range(count)]

        costs: list[Decimal | None] = [None] * count
        if self.cost_usd is not None:
            part = (self.cost_usd / count).quantize(_MICRODOLLAR, rounding=ROUND_DOWN)
            costs = [self.cost_usd - part * (count - 1), *[part] * (count - 1)]
        return [
            Usage(prompt, completion, cost, cached)
            for prompt, completion, cost, cached in zip(
                split(self.prompt_tokens),
                split(self.completion_tokens),
                costs,
                split(self.cached_prompt_tokens),
                strict=True,
            )
        ]


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
    def __init__(self, gateway: LLMGateway, *, shared_response_schema: bool = True) -> None:
        """shared_response_schema: every variable's request carries SHARED_RESPONSE_SCHEMA
        (see LLM_SHARED_RESPONSE_SCHEMA), else its variable's own."""
        self._gateway = gateway
        self._shared_schema = shared_response_schema

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
            context = _context(work, None, (), {})(segment)
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
            batches = await asyncio.gather(
                *(self._extract_batch(work, entity, batch, done) for batch in _batches(work, ready))
            )
            for batch in batches:
                for result in batch:
                    done[result.variable.id] = result
            remaining = [v for v in remaining if v.id not in done]
        return [done[variable.id] for variable in work.variables]

    async def _extract_batch(
        self,
        work: DocumentWork,
        entity: Entity | None,
        batch: Sequence[VariableWork],
        done: Mapping[uuid.UUID, ExtractionResult],
    ) -> list[ExtractionResult]:
        """The variables of one request: a grouped one when there are several (and their
        prompts can be grouped), else each variable's own."""
        prompt = grouped_prompt([(v.name, v.prompt) for v in batch]) if len(batch) > 1 else None
        if prompt is None:
            return list(
                await asyncio.gather(
                    *(self._extract_variable(work, entity, variable, done) for variable in batch)
                )
            )
        usage = Usage()
        context = _context(work, entity, batch, done)
        # With a shared schema the answer is checked per variable below, not as a whole.
        sent = shared_grouped_schema([v.name for v in batch]) if self._shared_schema else None
        calls = await asyncio.gather(
            *(
                self._settled(
                    self._call(
                        work,
                        prompt,
                        segment,
                        context(segment),
                        GROUPED_SCHEMA_NAME,
                        usage,
                        sent,
                        expected_schema=sent,
                    )
                )
                for segment in work.segments
            )
        )
        if any(isinstance(call, LLMError) and call.kind in _ASK_AGAIN for call in calls):
            # The group's answer is unreadable as a whole: each variable is asked alone, and
            # the grouped request's cost goes to the first.
            results = list(
                await asyncio.gather(
                    *(self._extract_variable(work, entity, variable, done) for variable in batch)
                )
            )
            results[0].usage.add_usage(usage)
            return results
        return list(
            await asyncio.gather(
                *(
                    self._variable_of_group(work, entity, variable, calls, share, done)
                    for variable, share in zip(batch, usage.shares(len(batch)), strict=True)
                )
            )
        )

    async def _variable_of_group(
        self,
        work: DocumentWork,
        entity: Entity | None,
        variable: VariableWork,
        calls: Sequence[CallResult | LLMError],
        share: Usage,
        done: Mapping[uuid.UUID, ExtractionResult],
    ) -> ExtractionResult:
        """One variable's result from a grouped request's answers (one per segment), its
        share of their cost included; asked alone with its own schema when its part of an
        answer does not match that schema."""
        answers = [
            call if isinstance(call, LLMError) else call.data[variable.name] for call in calls
        ]
        if any(
            not isinstance(answer, LLMError)
            and schema_problems(answer, variable.prompt.response_schema)
            for answer in answers
        ):
            result = await self._extract_variable(work, entity, variable, done, own_schema=True)
            result.usage.add_usage(share)
            return result
        return _result(work, entity, variable, answers, share)

    async def _extract_variable(
        self,
        work: DocumentWork,
        entity: Entity | None,
        variable: VariableWork,
        done: Mapping[uuid.UUID, ExtractionResult],
        *,
        own_schema: bool = False,
    ) -> ExtractionResult:
        """own_schema: ask with the variable's own schema from the start."""
        usage = Usage()
        context = _context(work, entity, [variable], done)
        calls = await asyncio.gather(
            *(
                self._settled(
                    self._ask(work, variable.prompt, segment, context(segment), usage, own_schema)
                )
                for segment in work.segments
            )
        )
        answers = [call if isinstance(call, LLMError) else call.data for call in calls]
        return _result(work, entity, variable, answers, usage)

    async def _ask(
        self,
        work: DocumentWork,
        prompt: GeneratedPrompt,
        segment: Segment,
        context: CallContext,
        usage: Usage,
        own_schema: bool = False,
    ) -> CallResult:
        """One variable's request: with the shared schema first, where that is the setting,
        and with the variable's own if the answer does not match it."""
        if self._shared_schema and not own_schema:
            try:
                return await self._call(
                    work, prompt, segment, context, SCHEMA_NAME, usage, SHARED_RESPONSE_SCHEMA
                )
            except LLMError as error:
                if error.kind is not FailureKind.MALFORMED:
                    raise
        return await self._call(work, prompt, segment, context, SCHEMA_NAME, usage)

    @staticmethod
    async def _settled(call: Awaitable[CallResult]) -> CallResult | LLMError:
        """The call's result or its failure; a failure that stops the job is raised."""
        try:
            return await call
        except LLMError as error:
            if error.kind in _STOPS_THE_JOB:
                raise JobInterrupted(error) from error
            return error

    async def _call(
        self,
        work: DocumentWork,
        prompt: GeneratedPrompt,
        segment: Segment,
        context: CallContext,
        schema_name: str,
        usage: Usage,
        sent_schema: dict[str, Any] | None = None,
        *,
        expected_schema: dict[str, Any] | None = None,
    ) -> CallResult:
        """sent_schema: the answer's schema as sent, when it is looser than the prompt's;
        the answer is checked against expected_schema, by default the prompt's."""
        messages = render_messages(
            prompt.system_prompt, prompt.user_prompt_template, segment.text, context, work.boundary
        )
        request = ModelCall(
            system=messages.system,
            user=messages.user,
            response_schema=prompt.response_schema if sent_schema is None else sent_schema,
            expected_schema=expected_schema or prompt.response_schema,
            cache_point=messages.cache_point,
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
        usage.add(
            result.prompt_tokens,
            result.completion_tokens,
            result.cost_usd,
            result.cached_prompt_tokens,
        )
        return result


def _in(work: DocumentWork, variable_id: uuid.UUID) -> bool:
    return any(v.id == variable_id for v in work.variables)


def _batches(work: DocumentWork, ready: Sequence[VariableWork]) -> list[list[VariableWork]]:
    """The requests of one dependency level: one per variable, or grouped_batches for a
    GROUPED project."""
    if not work.grouped:
        return [[variable] for variable in ready]
    return grouped_batches(ready)


class _Prompted(Protocol):
    @property
    def prompt(self) -> GeneratedPrompt: ...


Prompted = TypeVar("Prompted", bound=_Prompted)


def grouped_batches(ready: Sequence[Prompted]) -> list[list[Prompted]]:
    """The grouped requests of one dependency level (EstimateJob sizes the same ones): the
    variables whose prompts can share a request (grouping_key) together, in schema order, up
    to MAX_GROUPED_VARIABLES a request; a variable whose prompt cannot be grouped alone. A
    project whose older variables' prompts were generated by an earlier version thus makes
    one grouped request per version, not one request per variable."""
    groups: dict[tuple[str, str, str], list[Prompted]] = {}
    alone: list[list[Prompted]] = []
    for variable in ready:
        key = grouping_key(variable.prompt)
        if key is None:
            alone.append([variable])
        else:
            groups.setdefault(key, []).append(variable)
    return [
        group[start : start + MAX_GROUPED_VARIABLES]
        for group in groups.values()
        for start in range(0, len(group), MAX_GROUPED_VARIABLES)
    ] + alone


def _context(
    work: DocumentWork,
    entity: Entity | None,
    variables: Sequence[VariableWork],
    done: Mapping[uuid.UUID, ExtractionResult],
) -> Callable[[Segment], CallContext]:
    """The CONTEXT of the requests for `variables`, per segment: the entity, the values of
    the variables they depend on, and which chunk is read."""
    names = {v.id: v.name for v in work.variables}
    known = {
        names[dependency]: done[dependency].outcome.value
        for variable in variables
        for dependency in variable.depends_on
        if dependency in done
    }
    chunked = len(work.segments) > 1

    def of(segment: Segment) -> CallContext:
        return CallContext(
            entity=entity.name if entity else None,
            known_values=known or None,
            chunk_index=segment.index if chunked else None,
            chunk_count=len(work.segments) if chunked else None,
        )

    return of


def _result(
    work: DocumentWork,
    entity: Entity | None,
    variable: VariableWork,
    answers: Sequence[dict[str, Any] | LLMError],
    usage: Usage,
) -> ExtractionResult:
    """A variable's row from its answer for each segment (or the segment's failure): the
    answers merged, post-processed and checked against the text."""
    parsed = [
        Answer.parse(answer, multi_valued=variable.rules.multi_valued, chunk_index=segment.index)
        for answer, segment in zip(answers, work.segments, strict=True)
        if not isinstance(answer, LLMError)
    ]
    raw = tuple(
        {"error": str(answer)} if isinstance(answer, LLMError) else answer for answer in answers
    )
    failed = [
        (segment, answer)
        for answer, segment in zip(answers, work.segments, strict=True)
        if isinstance(answer, LLMError)
    ]
    if not parsed:
        outcome = _failed(failed[0][1])
    else:
        outcome = decide(
            parsed,
            variable.rules,
            work.text,
            [(segment.start, segment.end) for segment in work.segments],
        )
        if failed:
            outcome = _with_failed_chunks(outcome, failed, len(work.segments))
    return ExtractionResult(entity, variable, outcome, raw, usage)


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
