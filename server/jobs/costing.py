"""What a job would send and cost, in each extraction mode (EstimateJob).

Pure: the sizes of the active prompts and of the documents' segments go in, token counts
and upper bounds of cost come out. Documents are not tokenised (four characters per token);
prompts are. Every request's answer schema counts, since providers bill it as prompt. The
cacheable tokens are those a provider that caches every prefix it has seen (OpenAI, vLLM)
would serve from its cache: the prefix of a request identical to an earlier request's of the
same segment, its schema first, as OpenAI places it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.core.config import ModelPrice
from server.jobs.pipeline import grouped_batches
from server.llm.pricing import cost_usd
from server.llm.tokens import count_schema_tokens, count_tokens
from server.projects.models import ExtractionMode
from server.schema.prompts import (
    SHARED_RESPONSE_SCHEMA,
    GeneratedPrompt,
    grouped_prompt,
    shared_grouped_schema,
)

# Characters per token when estimating documents' tokens without tokenising them.
CHARS_PER_TOKEN = 4
# The rendered prompt around the document that the template does not hold: the boundary in
# the markers, the context's JSON, the chat format's tokens per message.
_RENDERING_TOKENS = 60


@dataclass(frozen=True)
class PromptSize:
    """A request's parts, in tokens."""

    system: int
    request: int
    schema: int
    max_tokens: int
    model: str

    @classmethod
    def of(cls, prompt: GeneratedPrompt, sent_schema: dict[str, Any] | None = None) -> PromptSize:
        """sent_schema: the answer's schema as sent, where it is not the prompt's."""
        return cls(
            system=count_tokens(prompt.system_prompt),
            request=count_tokens(prompt.user_prompt_template) + _RENDERING_TOKENS,
            schema=count_schema_tokens(sent_schema or prompt.response_schema),
            max_tokens=prompt.max_tokens,
            model=prompt.model,
        )


@dataclass(frozen=True)
class VariablePrompt:
    """A variable's name, active prompt and dependency level (0: depends on no other)."""

    name: str
    prompt: GeneratedPrompt
    level: int


@dataclass
class ModeEstimate:
    llm_calls: int = 0
    prompt_tokens: int = 0
    cacheable_prompt_tokens: int = 0
    max_output_tokens: int = 0
    max_cost_usd: float | None = 0.0
    max_cost_usd_cached: float | None = 0.0

    def add(
        self,
        prices: Mapping[str, ModelPrice],
        model: str,
        prompt: int,
        cacheable: int,
        output: int,
    ) -> None:
        self.llm_calls += 1
        self.prompt_tokens += prompt
        self.cacheable_prompt_tokens += cacheable
        self.max_output_tokens += output
        full = cost_usd(prices, model, prompt, output)
        cached = cost_usd(prices, model, prompt, output, cached_tokens=cacheable)
        self.max_cost_usd = _plus(self.max_cost_usd, full)
        self.max_cost_usd_cached = _plus(self.max_cost_usd_cached, cached)


def _plus(total: float | None, cost: float | None) -> float | None:
    """Unknown (no price) stays unknown."""
    return None if total is None or cost is None else total + cost


_SHARED_SCHEMA_TOKENS = count_schema_tokens(SHARED_RESPONSE_SCHEMA)


def estimate_modes(
    variables: Sequence[VariablePrompt],
    entity: PromptSize | None,
    segment_characters: Iterable[int],
    prices: Mapping[str, ModelPrice],
    *,
    shared_schema: bool,
) -> dict[ExtractionMode, ModeEstimate]:
    """The requests of every segment in each mode (an entity project's per one entity)."""
    modes = {mode: ModeEstimate() for mode in ExtractionMode}
    own = [PromptSize.of(variable.prompt) for variable in variables]
    grouped_requests = [
        size
        for batch in _grouped_batches(variables)
        for size in _grouped_sizes(batch, shared_schema)
    ]
    for characters in segment_characters:
        document = characters // CHARS_PER_TOKEN
        for estimate in modes.values():
            if entity is not None:
                estimate.add(
                    prices,
                    entity.model,
                    entity.schema + entity.system + document + entity.request,
                    0,
                    entity.max_tokens,
                )
        per_variable = modes[ExtractionMode.PER_VARIABLE]
        for index, size in enumerate(own):
            schema = _SHARED_SCHEMA_TOKENS if shared_schema else size.schema
            prefix = schema + size.system + document
            # The first request of the segment fills the cache; with a schema per variable
            # no two requests share their start.
            cacheable = prefix if shared_schema and index > 0 else 0
            per_variable.add(prices, size.model, prefix + size.request, cacheable, size.max_tokens)
        grouped = modes[ExtractionMode.GROUPED]
        for size in grouped_requests:
            # Counted as uncached: each request of a segment has its own schema, which a
            # provider reads first.
            prompt = size.schema + size.system + document + size.request
            grouped.add(prices, size.model, prompt, 0, size.max_tokens)
    return modes


def _grouped_sizes(batch: Sequence[VariablePrompt], shared_schema: bool) -> list[PromptSize]:
    """The requests of one grouped batch, as server.jobs.pipeline makes them: one for the
    batch, or one per variable where the prompts cannot be grouped."""
    names = [variable.name for variable in batch]
    prompt = grouped_prompt([(v.name, v.prompt) for v in batch]) if len(batch) > 1 else None
    if prompt is None:
        return [
            PromptSize.of(v.prompt, SHARED_RESPONSE_SCHEMA if shared_schema else None)
            for v in batch
        ]
    return [PromptSize.of(prompt, shared_grouped_schema(names) if shared_schema else None)]


def _grouped_batches(variables: Sequence[VariablePrompt]) -> list[list[VariablePrompt]]:
    """The grouped requests of one segment: each dependency level's, as the pipeline makes
    them."""
    levels: dict[int, list[VariablePrompt]] = {}
    for variable in variables:
        levels.setdefault(variable.level, []).append(variable)
    return [batch for level in sorted(levels) for batch in grouped_batches(levels[level])]


def dependency_levels(depends_on: Mapping[uuid.UUID, Sequence[uuid.UUID]]) -> dict[uuid.UUID, int]:
    """Each variable's level: 0 with no dependency among these variables, else one more than
    its deepest dependency's (a cycle, which cannot be stored, is cut)."""
    levels: dict[uuid.UUID, int] = {}

    def level(variable: uuid.UUID, seen: frozenset[uuid.UUID]) -> int:
        if variable not in levels:
            below = [
                level(dependency, seen | {variable})
                for dependency in depends_on.get(variable, ())
                if dependency in depends_on and dependency not in seen
            ]
            levels[variable] = 1 + max(below) if below else 0
        return levels[variable]

    for variable in depends_on:
        level(variable, frozenset())
    return levels
