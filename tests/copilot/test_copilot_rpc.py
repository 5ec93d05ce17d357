"""The co-pilot through the real server and the local OpenAI-compatible server: suggestions
that are valid variables (repaired where they can be, dropped with the reason where not),
accepted through CreateVariable with their prompts; malformed, refused and cut-off answers;
the token budget on a long document; the ledger; the offline baseline; another tenant's
project NOT_FOUND."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import grpc
import pytest
from coderai.v1 import common_pb2, project_pb2, schema_pb2
from sqlalchemy import select

from server.copilot.service import SUGGESTIONS_SCHEMA_NAME
from server.core.db import Database
from server.llm.ledger import LLMCall
from server.llm.local_server import Fault
from tests.factories import Caller, rpc_error, signed_in
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import ready_documents

MINUTES = (
    "Minutes of the council of Town {n}.\n\nOn 12 March 2024 the council approved the harbour "
    "plan with a budget of {budget} euros. The residents' association opposes the harbour plan "
    "and says so in a letter to the council."
)


def suggestion(name: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "display_name": name.replace("_", " "),
        "type": kind,
        "instructions": f"Code the {name}.",
        "categories": [],
        "selection_logic": "",
        "several_values": False,
        "if_uncertain": "FLAG_FOR_REVIEW",
        "rationale": "It answers the question.",
        "example_quote": "",
        "example_excerpt": 0,
        **fields,
    }


ANSWER = {
    "suggestions": [
        suggestion(
            "association_stance",
            "CATEGORY",
            categories=[
                {"label": "support", "definition": "for the plan"},
                {"label": "oppose", "definition": "against the plan"},
                {"label": "Oppose", "definition": "a repeat"},
            ],
            example_quote="The residents' association opposes the harbour plan",
            example_excerpt=1,
        ),
        suggestion(
            "Plan Budget (EUR)!",
            "NUMBER",
            example_quote="invented words",
            example_excerpt=1,
            if_uncertain="BEST_GUESS",
        ),
        suggestion("tone", "CATEGORY", categories=[{"label": "angry", "definition": "angry"}]),
        suggestion("Approved", "BOOLEAN"),
        suggestion("", "TEXT"),
    ]
}


async def suggest(caller: Caller, project_id: str, **request: Any) -> Any:
    return await caller.schema.SuggestVariables(
        schema_pb2.SuggestVariablesRequest(project_id=project_id, **request),
        metadata=caller.metadata,
    )


async def project_with_minutes(caller: Caller, count: int = 3, **project: Any) -> str:
    created = await caller.create_project(**project)
    await caller.create_variable(
        created.id, name="approved", type=common_pb2.VARIABLE_TYPE_BOOLEAN, instructions="x"
    )
    texts = [MINUTES.format(n=n, budget=1_000_000 + n) for n in range(count)]
    await ready_documents(caller, created.id, texts)
    return created.id


async def test_suggestions_are_valid_variables_and_accepting_one_creates_it_with_its_prompt(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack, database: Database
) -> None:
    project_id = await project_with_minutes(researcher)
    stack.llm.answer_schema(SUGGESTIONS_SCHEMA_NAME, ANSWER)

    found = await suggest(researcher, project_id, research_question="Who opposes the plan?")

    names = [s.variable.name for s in found.suggestions]
    assert names == ["association_stance", "plan_budget_eur"]
    stance, budget = found.suggestions
    assert [c.label for c in stance.variable.classification_rules.categories] == [
        "support",
        "oppose",
    ]
    assert stance.repairs == ["1 repeated categories merged"]
    assert stance.quote_found
    assert stance.example_document_id
    assert budget.repairs == ["name 'Plan Budget (EUR)!' written as 'plan_budget_eur'"]
    assert not budget.quote_found
    assert budget.variable.if_uncertain == common_pb2.IF_UNCERTAIN_BEST_GUESS
    dropped = {d.name: d.reason for d in found.dropped}
    assert dropped["tone"] == "a CATEGORY variable needs at least two distinct categories"
    assert dropped["approved"] == "the codebook has a variable of that name already"
    assert dropped[""] == "no usable name"
    assert not found.usage.baseline
    assert found.usage.documents_read == 3
    assert found.usage.input_tokens > 0
    # The question and the excerpts went to the model, fenced.
    request = stack.llm.requests[-1]
    shown = request["messages"][1]["content"]
    assert "Who opposes the plan?" in shown
    assert "<<<EXCERPTS " in shown

    created = await researcher.schema.CreateVariable(
        schema_pb2.CreateVariableRequest(variable=stance.variable), metadata=researcher.metadata
    )
    prompt = await researcher.schema.GetPromptVersion(
        schema_pb2.GetPromptVersionRequest(variable_id=created.variable.id),
        metadata=researcher.metadata,
    )
    assert prompt.version.version == 1
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        calls = (await session.scalars(select(LLMCall).where(LLMCall.purpose == "copilot"))).all()
    assert len(calls) == 1
    assert str(calls[0].project_id) == project_id


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("malformed", grpc.StatusCode.UNAVAILABLE),
        ("length", grpc.StatusCode.UNAVAILABLE),
        ("refusal", grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
async def test_an_answer_that_cannot_be_used_is_a_clear_error(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    fault: str,
    code: grpc.StatusCode,
) -> None:
    project_id = await project_with_minutes(researcher, count=1)
    stack.llm.answer_schema(SUGGESTIONS_SCHEMA_NAME, ANSWER)
    stack.llm.script(Fault.parse(fault))
    error = await rpc_error(suggest(researcher, project_id))
    assert error.code() == code
    assert "model" in (error.details() or "")


async def test_a_long_document_is_read_within_the_token_budget(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    created = await researcher.create_project()
    long_text = " ".join(MINUTES.format(n=n, budget=n) for n in range(3000))
    await ready_documents(researcher, created.id, [long_text])
    stack.llm.answer_schema(SUGGESTIONS_SCHEMA_NAME, {"suggestions": []})

    found = await suggest(researcher, created.id)

    budget = stack.settings.copilot_max_input_tokens
    assert found.usage.documents_read == 1
    assert found.usage.excerpt_characters < len(long_text) / 10
    # The whole request: the excerpt within its budget, plus the fixed instructions.
    assert found.usage.input_tokens <= budget + 1500


async def test_the_offline_baseline_answers_from_the_texts_structure_and_says_so(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project_id = await project_with_minutes(
        researcher, llm_config=project_pb2.LlmConfig(provider="offline")
    )
    found = await suggest(researcher, project_id)
    assert found.usage.baseline
    by_name = {s.variable.name: s for s in found.suggestions}
    assert by_name["document_date"].variable.type == common_pb2.VARIABLE_TYPE_DATE
    assert by_name["document_date"].quote_found
    assert by_name["amount"].variable.type == common_pb2.VARIABLE_TYPE_NUMBER
    defined = await researcher.schema.SuggestVariableDefinition(
        schema_pb2.SuggestVariableDefinitionRequest(
            project_id=project_id,
            description="whether the speaker attacks the opposition",
            type=common_pb2.VARIABLE_TYPE_CATEGORY,
        ),
        metadata=researcher.metadata,
    )
    assert defined.usage.baseline
    assert defined.suggestion.variable.name == "whether_the_speaker_attacks"
    assert len(defined.suggestion.variable.classification_rules.categories) == 2


async def test_one_variable_is_defined_from_a_rough_description(
    researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project_id = await project_with_minutes(researcher, count=1)
    stack.llm.answer_schema(
        SUGGESTIONS_SCHEMA_NAME,
        {
            "suggestions": [
                suggestion(
                    "attacks_opposition",
                    "CATEGORY",
                    categories=[
                        {"label": "attack", "definition": "criticises the opposition"},
                        {"label": "no_attack", "definition": "does not"},
                    ],
                )
            ]
        },
    )
    defined = await researcher.schema.SuggestVariableDefinition(
        schema_pb2.SuggestVariableDefinitionRequest(
            project_id=project_id, description="whether the speaker attacks the opposition"
        ),
        metadata=researcher.metadata,
    )
    assert defined.suggestion.variable.name == "attacks_opposition"
    assert "DESCRIPTION" in stack.llm.requests[-1]["messages"][1]["content"]


async def test_another_researchers_project_is_not_found(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_channel: grpc.aio.Channel,
) -> None:
    project_id = await project_with_minutes(researcher, count=1)
    other = await signed_in(stack_channel, f"copilot-{uuid.uuid4().hex[:8]}@example.org")
    error = await rpc_error(suggest(other, project_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    empty = await other.create_project()
    refused = await rpc_error(suggest(other, empty.id))
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_many_documents_are_read_in_batches_with_progress_and_each_call_in_budget(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_channel: grpc.aio.Channel,
) -> None:
    project_id = await project_with_minutes(researcher, count=12)
    stack.llm.answer_schema(SUGGESTIONS_SCHEMA_NAME, ANSWER)
    asked_before = len(stack.llm.requests)

    steps = [
        step
        async for step in researcher.schema.SuggestVariablesStream(
            schema_pb2.SuggestVariablesStreamRequest(project_id=project_id, documents=12),
            metadata=researcher.metadata,
        )
    ]

    progress = [step.progress for step in steps if step.HasField("progress")]
    assert [(p.documents_read, p.documents) for p in progress] == [(5, 12), (10, 12), (12, 12)]
    result = steps[-1].result
    assert [s.variable.name for s in result.suggestions] == [
        "association_stance",
        "plan_budget_eur",
    ]
    again = [d for d in result.dropped if d.reason.startswith("suggested already")]
    assert sorted(d.name for d in again) == ["association_stance"] * 2 + ["plan_budget_eur"] * 2
    assert result.usage.documents_read == 12
    calls = stack.llm.requests[asked_before:]
    assert len(calls) == 3
    # Each call within the budget (and the fixed instructions), however many documents.
    assert result.usage.input_tokens <= 3 * (stack.settings.copilot_max_input_tokens + 1500)
    # The earlier batches' names are passed on, so that the model adds rather than repeats.
    assert "association_stance" in calls[1]["messages"][1]["content"]

    one_call = await rpc_error(suggest(researcher, project_id, documents=6))
    assert one_call.code() == grpc.StatusCode.INVALID_ARGUMENT
    other = await signed_in(stack_channel, f"copilot-{uuid.uuid4().hex[:8]}@example.org")
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        async for _ in other.schema.SuggestVariablesStream(
            schema_pb2.SuggestVariablesStreamRequest(project_id=project_id),
            metadata=other.metadata,
        ):
            pass
    assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
