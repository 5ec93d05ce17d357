"""EstimateJob's figures for both extraction modes, from the sizes of prompts and segments."""

from __future__ import annotations

import uuid

import pytest

from server.core.config import DEFAULT_PRICES, ModelPrice
from server.jobs.costing import PromptSize, VariablePrompt, dependency_levels, estimate_modes
from server.llm.tokens import count_schema_tokens
from server.projects.models import ExtractionMode
from server.schema.prompts import SHARED_RESPONSE_SCHEMA

SIZE = PromptSize(system=500, request=200, schema=100, max_tokens=300, model="gpt-4o-mini")
SHARED = count_schema_tokens(SHARED_RESPONSE_SCHEMA)


def variables(levels: list[int]) -> list[VariablePrompt]:
    return [VariablePrompt(SIZE, level) for level in levels]


def test_per_variable_requests_after_a_segments_first_are_cacheable_up_to_the_document() -> None:
    modes = estimate_modes(
        variables([0, 0, 0]), None, [4000, 8000], DEFAULT_PRICES, shared_schema=True
    )
    estimate = modes[ExtractionMode.PER_VARIABLE]

    assert estimate.llm_calls == 6
    prefixes = [SHARED + 500 + 1000, SHARED + 500 + 2000]
    assert estimate.prompt_tokens == sum(3 * (prefix + 200) for prefix in prefixes)
    assert estimate.cacheable_prompt_tokens == sum(2 * prefix for prefix in prefixes)
    assert estimate.max_output_tokens == 6 * 300
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert estimate.max_cost_usd == pytest.approx(
        (estimate.prompt_tokens * price.input + 1800 * price.output) / 1e6
    )
    assert price.cached_input is not None
    assert estimate.max_cost_usd_cached == pytest.approx(
        (
            (estimate.prompt_tokens - estimate.cacheable_prompt_tokens) * price.input
            + estimate.cacheable_prompt_tokens * price.cached_input
            + 1800 * price.output
        )
        / 1e6
    )


def test_with_a_schema_per_variable_nothing_is_counted_as_cacheable() -> None:
    modes = estimate_modes(variables([0, 0]), None, [4000], DEFAULT_PRICES, shared_schema=False)

    estimate = modes[ExtractionMode.PER_VARIABLE]
    assert estimate.cacheable_prompt_tokens == 0
    assert estimate.prompt_tokens == 2 * (100 + 500 + 1000 + 200)


def test_grouped_requests_follow_dependency_levels_twenty_variables_at_most() -> None:
    modes = estimate_modes(
        variables([0] * 25 + [1]), None, [4000], DEFAULT_PRICES, shared_schema=True
    )

    grouped = modes[ExtractionMode.GROUPED]
    assert grouped.llm_calls == 3
    assert grouped.prompt_tokens == (
        (20 * 100 + 500 + 1000 + 20 * 200) + (5 * 100 + 500 + 1000 + 5 * 200) + (100 + 1700)
    )
    assert grouped.max_output_tokens == 6000 + 1500 + 300
    assert grouped.prompt_tokens < modes[ExtractionMode.PER_VARIABLE].prompt_tokens / 4


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
