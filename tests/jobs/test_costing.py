"""EstimateJob's figures for both extraction modes, from the sizes of prompts and segments."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from server.core.config import DEFAULT_PRICES, ModelPrice
from server.jobs.costing import PromptSize, VariablePrompt, dependency_levels, estimate_modes
from server.jobs.pipeline import grouped_batches
from server.llm.factory import ModelChoice
from server.llm.tokens import count_schema_tokens
from server.projects.models import ExtractionMode, Project, UnitOfObservation
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.prompts import (
    SHARED_RESPONSE_SCHEMA,
    generate_prompt,
    grouped_prompt,
    shared_grouped_schema,
)

MODEL = ModelChoice("openai", "gpt-4o-mini")
PROJECT = Project(
    name="Councils",
    domain="municipal council minutes",
    language="en",
    unit_of_observation=UnitOfObservation.DOCUMENT,
    entity_identification_pattern="",
    llm_config={},
)
SHARED = count_schema_tokens(SHARED_RESPONSE_SCHEMA)


def variables(levels: list[int]) -> list[VariablePrompt]:
    described = [
        Variable(
            id=uuid.uuid4(),
            name=f"amount_{index}",
            display_name=f"Amount {index}",
            type=VariableType.NUMBER,
            instructions=f"The amount of the {index}th grant the minutes record.",
            classification_rules=None,
            confidence_threshold=0.7,
            if_uncertain=IfUncertain.FLAG_FOR_REVIEW,
            if_multiple_values=IfMultipleValues.FIRST,
            max_values=1,
            default_value=None,
            validation_rules={},
            depends_on=[],
            guidance=None,
        )
        for index in range(len(levels))
    ]
    return [
        VariablePrompt(variable.name, generate_prompt(variable, PROJECT, MODEL), level)
        for variable, level in zip(described, levels, strict=True)
    ]


def test_per_variable_requests_after_a_segments_first_are_cacheable_up_to_the_document() -> None:
    asked = variables([0, 0, 0])
    modes = estimate_modes(asked, None, [4000, 8000], DEFAULT_PRICES, shared_schema=True)
    estimate = modes[ExtractionMode.PER_VARIABLE]

    size = PromptSize.of(asked[0].prompt)
    assert estimate.llm_calls == 6
    prefixes = [SHARED + size.system + 1000, SHARED + size.system + 2000]
    assert estimate.prompt_tokens == sum(
        3 * prefix + sum(PromptSize.of(v.prompt).request for v in asked) for prefix in prefixes
    )
    assert estimate.cacheable_prompt_tokens == sum(2 * prefix for prefix in prefixes)
    assert estimate.max_output_tokens == 6 * size.max_tokens
    price = DEFAULT_PRICES["gpt-4o-mini"]
    output = 6 * size.max_tokens
    assert estimate.max_cost_usd == pytest.approx(
        (estimate.prompt_tokens * price.input + output * price.output) / 1e6
    )
    assert price.cached_input is not None
    assert estimate.max_cost_usd_cached == pytest.approx(
        (
            (estimate.prompt_tokens - estimate.cacheable_prompt_tokens) * price.input
            + estimate.cacheable_prompt_tokens * price.cached_input
            + output * price.output
        )
        / 1e6
    )


def test_with_a_schema_per_variable_nothing_is_counted_as_cacheable() -> None:
    asked = variables([0, 0])
    modes = estimate_modes(asked, None, [4000], DEFAULT_PRICES, shared_schema=False)

    estimate = modes[ExtractionMode.PER_VARIABLE]
    assert estimate.cacheable_prompt_tokens == 0
    sizes = [PromptSize.of(v.prompt) for v in asked]
    assert estimate.prompt_tokens == sum(s.schema + s.system + 1000 + s.request for s in sizes)


def test_grouped_requests_follow_dependency_levels_twenty_variables_at_most() -> None:
    asked = variables([0] * 25 + [1])
    modes = estimate_modes(asked, None, [4000], DEFAULT_PRICES, shared_schema=True)

    grouped = modes[ExtractionMode.GROUPED]
    assert grouped.llm_calls == 3
    # Sized as the pipeline sends them: the grouped prompts of the first twenty and of the
    # next five with the shared schema, and the last variable's own request.
    first = grouped_prompt([(v.name, v.prompt) for v in asked[:20]])
    rest = grouped_prompt([(v.name, v.prompt) for v in asked[20:25]])
    assert first is not None
    assert rest is not None
    sizes = [
        PromptSize.of(first, shared_grouped_schema([v.name for v in asked[:20]])),
        PromptSize.of(rest, shared_grouped_schema([v.name for v in asked[20:25]])),
        PromptSize.of(asked[25].prompt, SHARED_RESPONSE_SCHEMA),
    ]
    assert grouped.prompt_tokens == sum(s.schema + s.system + 1000 + s.request for s in sizes)
    assert grouped.max_output_tokens == sum(s.max_tokens for s in sizes)
    assert grouped.prompt_tokens < modes[ExtractionMode.PER_VARIABLE].prompt_tokens / 4


def test_prompts_of_two_generator_versions_make_two_grouped_requests_not_one_each() -> None:
    # A project whose first variables' prompts were generated by an earlier release (another
    # system prompt) and whose later ones by this one.
    asked = variables([0] * 6)
    earlier = [
        replace(v, prompt=replace(v.prompt, system_prompt=v.prompt.system_prompt + " (v1)"))
        for v in asked[:4]
    ]
    batches = grouped_batches([*earlier, *asked[4:]])

    assert [[v.name for v in batch] for batch in batches] == [
        [v.name for v in asked[:4]],
        [v.name for v in asked[4:]],
    ]
    modes = estimate_modes([*earlier, *asked[4:]], None, [4000], DEFAULT_PRICES, shared_schema=True)
    assert modes[ExtractionMode.GROUPED].llm_calls == 2


def test_a_prompt_of_an_earlier_layout_is_asked_alone_and_the_others_together() -> None:
    asked = variables([0] * 4)
    old = replace(
        asked[1], prompt=replace(asked[1].prompt, user_prompt_template="Code it: ${document}")
    )
    batches = grouped_batches([asked[0], old, *asked[2:]])

    assert [[v.name for v in batch] for batch in batches] == [
        [asked[0].name, asked[2].name, asked[3].name],
        [old.name],
    ]


def test_an_entity_projects_identification_request_counts_in_both_modes() -> None:
    entity = PromptSize(system=500, request=150, schema=80, max_tokens=4096, model="gpt-4o-mini")

    modes = estimate_modes(variables([0]), entity, [400], DEFAULT_PRICES, shared_schema=True)

    assert all(estimate.llm_calls == 2 for estimate in modes.values())


def test_a_model_without_a_price_has_no_cost() -> None:
    prices = {"other": ModelPrice(input=1, output=1)}

    modes = estimate_modes(variables([0]), None, [400], prices, shared_schema=True)

    assert modes[ExtractionMode.PER_VARIABLE].max_cost_usd is None
    assert modes[ExtractionMode.GROUPED].max_cost_usd_cached is None


def test_dependency_levels_are_the_longest_chain_below_each_variable() -> None:
    a, b, c, d = (uuid.uuid4() for _ in range(4))

    levels = dependency_levels({a: [], b: [a], c: [a, b], d: [uuid.uuid4()]})

    assert levels == {a: 0, b: 1, c: 2, d: 0}
