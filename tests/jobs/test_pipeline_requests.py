"""What the extraction of one document sends (issue: each document's text paid for once): the
requests of a document share their start, schema included, so a provider's prompt cache serves
the document once; GROUPED projects ask for a dependency level's variables in one request.
The pipeline and the LLM gateway talk HTTP to the local OpenAI-compatible server, which reports
cached prompt tokens the way OpenAI does."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from server.core.config import Settings
from server.jobs.models import ExtractionStatus
from server.jobs.pipeline import (
    DocumentResult,
    DocumentWork,
    ExtractionPipeline,
    Usage,
    VariableWork,
    segments_of,
)
from server.jobs.postprocess import VariableRules
from server.llm.breaker import CircuitBreaker
from server.llm.factory import ModelChoice
from server.llm.gateway import LLMGateway
from server.llm.local_server import Fault, LocalLLMServer, ScriptedAnswer
from server.llm.tokens import count_tokens
from server.projects.models import Project, UnitOfObservation
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.prompts import SHARED_RESPONSE_SCHEMA, generate_prompt

MODEL = ModelChoice("openai", "gpt-4o-mini")
FILLER = "The council discussed the agenda, the weather and the minutes at length. " * 120
DOCUMENT = (
    f"{FILLER}\n\nThe budget of 2.5 million euros was approved on 12 March 2024. "
    "The mayor, Ana Silva, supported the plan. The vote passed with a large majority.\n\n"
    f"{FILLER}"
)
ANSWERS = {
    "budget": ScriptedAnswer(2500000, "The budget of 2.5 million euros was approved"),
    "approved_on": ScriptedAnswer("2024-03-12", "was approved on 12 March 2024"),
    "mayor": ScriptedAnswer("Ana Silva", "The mayor, Ana Silva, supported the plan."),
    "outcome": ScriptedAnswer("passed", "The vote passed with a large majority."),
}
PROJECT = Project(
    name="Councils",
    domain="municipal council minutes",
    language="en",
    unit_of_observation=UnitOfObservation.DOCUMENT,
    entity_identification_pattern="",
    llm_config={},
)


def variable(name: str, kind: VariableType, **overrides: Any) -> Variable:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": name,
        "display_name": name,
        "type": kind,
        "instructions": f"The {name.replace('_', ' ')} the minutes record.",
        "classification_rules": None,
        "confidence_threshold": 0.7,
        "if_uncertain": IfUncertain.FLAG_FOR_REVIEW,
        "if_multiple_values": IfMultipleValues.FIRST,
        "max_values": 1,
        "default_value": None,
        "validation_rules": {},
        "depends_on": [],
        "guidance": None,
    }
    fields.update(overrides)
    return Variable(**fields)


def schema() -> list[Variable]:
    budget = variable("budget", VariableType.NUMBER)
    outcome_rules = {
        "categories": [
            {"label": "passed", "definition": "The motion was carried."},
            {"label": "failed", "definition": "The motion was defeated."},
        ],
        "selection_logic": "",
    }
    return [
        budget,
        variable("approved_on", VariableType.DATE),
        variable("mayor", VariableType.TEXT),
        # Depends on the budget: asked after it, with its value in the context.
        variable(
            "outcome",
            VariableType.CATEGORY,
            classification_rules=outcome_rules,
            depends_on=[budget.id],
        ),
    ]


def work(variables: list[Variable], *, grouped: bool) -> DocumentWork:
    names = {v.id: v.name for v in variables}
    return DocumentWork(
        user_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        text=DOCUMENT,
        segments=segments_of(DOCUMENT, []),
        variables=tuple(
            VariableWork(
                id=v.id,
                name=v.name,
                rules=VariableRules.of(v),
                depends_on=tuple(v.depends_on),
                prompt_id=uuid.uuid4(),
                prompt_version=1,
                prompt=generate_prompt(
                    v, PROJECT, MODEL, [names[d] for d in v.depends_on if d in names]
                ),
            )
            for v in variables
        ),
        entity_prompt=None,
        grouped=grouped,
    )


@pytest.fixture
async def llm_server() -> AsyncIterator[LocalLLMServer]:
    server = LocalLLMServer(prefix_cache=True)
    await server.start()
    for name, answer in ANSWERS.items():
        server.answer_variable(name, answer)
    yield server
    await server.stop()


@pytest.fixture
async def pipeline(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> ExtractionPipeline:
    config = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": llm_server.base_url,
            "llm_api_key": None,
            "llm_retry_jitter_seconds": 0.0,
            "llm_requests_per_minute": 0,
            "llm_tokens_per_minute": 0,
        }
    )
    await CircuitBreaker(redis, f"openai|{llm_server.base_url}").reset()
    return ExtractionPipeline(LLMGateway(config, redis))


def values(result: DocumentResult) -> dict[str, Any]:
    assert all(r.outcome.status is not ExtractionStatus.FAILED for r in result.results)
    return {r.variable.name: r.outcome.value for r in result.results}


def total(usages: list[Usage]) -> Usage:
    summed = Usage()
    for usage in usages:
        summed.add_usage(usage)
    return summed


def start_of(body: dict[str, Any]) -> str:
    """A request as OpenAI lays it out for its cache: the schema, then the messages."""
    schema = json.dumps(body["response_format"]["json_schema"]["schema"])
    return schema + "".join(message["content"] for message in body["messages"])


async def test_the_requests_of_a_document_share_its_start_and_the_provider_caches_it(
    pipeline: ExtractionPipeline, llm_server: LocalLLMServer
) -> None:
    result = await pipeline.extract(work(schema(), grouped=False))

    assert values(result) == {
        "budget": 2500000,
        "approved_on": "2024-03-12",
        "mayor": "Ana Silva",
        "outcome": "passed",
    }
    requests = llm_server.requests
    assert len(requests) == 4
    assert all(
        body["response_format"]["json_schema"]["schema"] == SHARED_RESPONSE_SCHEMA
        for body in requests
    )
    starts = [start_of(body) for body in requests]
    shared = min(
        next(i for i, (a, b) in enumerate(zip(starts[0], start, strict=False)) if a != b)
        for start in starts[1:]
    )
    document_tokens = count_tokens(DOCUMENT)
    # The schema, the system prompt and the whole document, in every request.
    assert count_tokens(starts[0][:shared]) > document_tokens
    assert DOCUMENT in starts[0][:shared]
    # The provider served that start from its cache to every request but the first.
    usage = result.usage
    assert usage.cached_prompt_tokens >= 3 * (document_tokens - 128)
    assert usage.cached_prompt_tokens == sum(r.usage.cached_prompt_tokens for r in result.results)


async def test_a_grouped_project_asks_for_a_levels_variables_in_one_request(
    pipeline: ExtractionPipeline, llm_server: LocalLLMServer
) -> None:
    variables = schema()
    one_by_one = await pipeline.extract(work(variables, grouped=False))
    per_variable_tokens = one_by_one.usage.prompt_tokens
    llm_server.requests.clear()

    result = await pipeline.extract(work(variables, grouped=True))

    assert values(result) == values(one_by_one)
    # Level 0 (three variables) in one request; outcome, which depends on budget, after it.
    first, second = llm_server.requests
    assert sorted(first["response_format"]["json_schema"]["schema"]["required"]) == [
        "approved_on",
        "budget",
        "mayor",
    ]
    assert '"outcome"' in second["messages"][1]["content"]
    assert json.loads(
        second["messages"][1]["content"]
        .split("<<<CONTEXT ")[1]
        .split(">>>\n", 1)[1]
        .split("\n<<<END CONTEXT")[0]
    )["known_values"] == {"budget": 2500000}
    # Each variable's row carries its share of the request; the shares add up exactly.
    assert total([r.usage for r in result.results]) == result.usage
    # Two requests instead of four, each a little longer.
    assert result.usage.prompt_tokens < 0.6 * per_variable_tokens
    grouped_rows = [r for r in result.results if r.variable.name != "outcome"]
    assert all(r.usage.prompt_tokens > 0 for r in grouped_rows)
    assert all(isinstance(r.usage.cost_usd, Decimal) for r in grouped_rows)


async def test_a_grouped_answer_that_does_not_match_is_asked_again_one_variable_at_a_time(
    pipeline: ExtractionPipeline, llm_server: LocalLLMServer
) -> None:
    llm_server.script(Fault(kind="wrong_types"))

    result = await pipeline.extract(work(schema(), grouped=True))

    assert values(result)["mayor"] == "Ana Silva"
    schemas = [body["response_format"]["json_schema"]["name"] for body in llm_server.requests]
    assert schemas[0] == "coded_values"
    assert schemas[1:] == ["coded_value"] * 4
    # The failed grouped request is paid for, and counted once.
    assert result.usage.prompt_tokens == sum(r.usage.prompt_tokens for r in result.results)
    assert result.usage.prompt_tokens > sum(
        count_tokens(start_of(body)) for body in llm_server.requests[1:]
    )


async def test_a_grouped_answers_part_that_does_not_match_its_variable_is_asked_again_alone(
    pipeline: ExtractionPipeline, llm_server: LocalLLMServer
) -> None:
    # A value the shared schema admits and the budget's own (a number) does not.
    llm_server.answer_variable(
        "budget", ScriptedAnswer("2.5 million", "The budget of 2.5 million euros was approved")
    )

    result = await pipeline.extract(work(schema(), grouped=True))

    outcomes = {r.variable.name: r.outcome for r in result.results}
    assert outcomes["mayor"].value == "Ana Silva"
    assert outcomes["approved_on"].value == "2024-03-12"
    # The budget alone was asked again, with its own schema, and its answer still does not
    # fit: it fails visibly rather than being coerced.
    assert outcomes["budget"].status is ExtractionStatus.FAILED
    sent = [body["response_format"]["json_schema"] for body in llm_server.requests]
    assert [one["name"] for one in sent[:2]] == ["coded_values", "coded_value"]
    assert sent[0]["schema"]["properties"]["budget"] == {"$ref": "#/$defs/answer"}
    assert sent[1]["schema"]["properties"]["value"]["type"] == ["number", "null"]
    budget = next(r for r in result.results if r.variable.name == "budget")
    mayor = next(r for r in result.results if r.variable.name == "mayor")
    # The budget pays its share of the grouped request and its own request.
    assert budget.usage.prompt_tokens > mayor.usage.prompt_tokens
    assert result.usage.prompt_tokens == sum(r.usage.prompt_tokens for r in result.results)


async def test_an_answer_that_does_not_match_the_variables_schema_is_asked_again_with_it(
    pipeline: ExtractionPipeline, llm_server: LocalLLMServer
) -> None:
    variables = schema()[2:3]
    llm_server.script(Fault(kind="wrong_types"))

    result = await pipeline.extract(work(variables, grouped=False))

    assert values(result) == {"mayor": "Ana Silva"}
    loose, strict = (
        body["response_format"]["json_schema"]["schema"] for body in llm_server.requests
    )
    assert loose == SHARED_RESPONSE_SCHEMA
    assert strict == result.results[0].variable.prompt.response_schema
