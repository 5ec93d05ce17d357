"""The local OpenAI-compatible server, driven over loopback HTTP by the real LangChain/OpenAI
client: normal answers come from the baseline, and each injected fault surfaces the way the
client reports a real provider's failure."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from server.llm import tokens
from server.llm.local_server import FAULT_HEADER, PLAIN_ANSWER, REFUSAL, Fault, LocalLLMServer
from tests.llm.test_offline_baseline import (
    DATE,
    SIGNING_DATE,
    SIGNING_INSTRUCTIONS,
    TREATY,
    entity_prompt,
    entity_schema,
    extraction_prompt,
    schema_errors,
    value_schema,
)

SCHEMA = value_schema(DATE)
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
}


@pytest.fixture
async def server() -> AsyncIterator[LocalLLMServer]:
    local = LocalLLMServer()
    await local.start()
    yield local
    await local.stop()


def chat_model(server: LocalLLMServer, timeout: float = 10.0) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="test-key",
        model="gpt-4o-mini",
        max_retries=0,
        timeout=timeout,
    )


def signing_date_messages(document: str = TREATY) -> list[BaseMessage]:
    system, user = extraction_prompt(SIGNING_DATE, SIGNING_INSTRUCTIONS, document)
    return [SystemMessage(system), HumanMessage(user)]


async def ask(
    server: LocalLLMServer, messages: list[BaseMessage] | None = None, **kwargs: Any
) -> AIMessage:
    return await chat_model(server).ainvoke(
        messages or signing_date_messages(), response_format=RESPONSE_FORMAT, **kwargs
    )


def content_of(message: AIMessage) -> str:
    assert isinstance(message.content, str)
    return message.content


async def test_a_normal_answer_is_the_baseline_value_with_the_servers_token_counts(
    server: LocalLLMServer,
) -> None:
    messages = signing_date_messages()

    message = await ask(server, messages)

    answer = json.loads(content_of(message))
    assert schema_errors(answer, SCHEMA) == []
    assert answer["value"] == "2024-03-12"
    # As OpenAI counts them, the answer's schema included.
    prompt_tokens = tokens.count_message_tokens(
        [str(m.content) for m in messages]
    ) + tokens.count_schema_tokens(SCHEMA)
    completion_tokens = tokens.count_tokens(content_of(message))
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == prompt_tokens
    assert message.usage_metadata["output_tokens"] == completion_tokens
    assert message.usage_metadata["total_tokens"] == prompt_tokens + completion_tokens
    assert message.response_metadata["model_name"] == "gpt-4o-mini"
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.additional_kwargs["refusal"] is None
    (body,) = server.requests
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == RESPONSE_FORMAT
    assert [m["content"] for m in body["messages"]] == [m.content for m in messages]


async def test_entity_identification_is_answered_too(server: LocalLLMServer) -> None:
    document = (
        "The ministers met in Vienna and Prague for the talks. The signatory countries were "
        "Austria and Chile."
    )
    system, user = entity_prompt("each signatory country", document)
    schema = entity_schema(max_items=2)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "entities", "schema": schema, "strict": True},
    }

    message = await chat_model(server).ainvoke(
        [SystemMessage(system), HumanMessage(user)], response_format=response_format
    )

    answer = json.loads(content_of(message))
    assert schema_errors(answer, schema) == []
    assert [entity["name"] for entity in answer["entities"]] == ["Austria", "Chile"]


async def test_a_plain_request_gets_a_short_text(server: LocalLLMServer) -> None:
    message = await chat_model(server).ainvoke([HumanMessage("Hello?")])

    assert message.content == PLAIN_ANSWER


@pytest.mark.parametrize(
    ("directive", "error", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("400", openai.BadRequestError, 400),
        ("401", openai.AuthenticationError, 401),
    ],
)
async def test_an_error_status_raises_the_matching_openai_error(
    server: LocalLLMServer, directive: str, error: type[openai.APIStatusError], status: int
) -> None:
    server.script(Fault.parse(directive))

    with pytest.raises(error) as raised:
        await ask(server)

    assert raised.value.status_code == status
    assert isinstance(raised.value.body, dict)
    assert set(raised.value.body) >= {"message", "type", "code"}


async def test_a_rate_limit_carries_retry_after(server: LocalLLMServer) -> None:
    server.script(Fault.parse("429,retry_after=2"))

    with pytest.raises(openai.RateLimitError) as raised:
        await ask(server)

    assert raised.value.response.headers["retry-after"] == "2"
    assert raised.value.code == "rate_limit_exceeded"


async def test_a_hanging_server_times_out_on_the_client(server: LocalLLMServer) -> None:
    server.script(Fault.parse("timeout"))
    model = chat_model(server, timeout=0.3)
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        await model.ainvoke(signing_date_messages(), response_format=RESPONSE_FORMAT)

    assert 0.3 <= time.monotonic() - started < 3
    assert len(server.requests) == 1


async def test_stopping_the_server_ends_a_hanging_request(server: LocalLLMServer) -> None:
    server.set_default(Fault.parse("timeout"))
    model = chat_model(server, timeout=30)
    pending = asyncio.ensure_future(
        model.ainvoke(signing_date_messages(), response_format=RESPONSE_FORMAT)
    )
    for _ in range(500):  # bounded: the request reaches the server within milliseconds
        if server.requests:
            break
        await asyncio.sleep(0.01)
    assert len(server.requests) == 1
    started = time.monotonic()

    await server.stop()

    with pytest.raises(openai.InternalServerError, match="shutting down"):
        await pending
    assert time.monotonic() - started < 2


async def test_malformed_json_arrives_as_content_that_does_not_parse(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("malformed"))

    message = await ask(server)

    with pytest.raises(json.JSONDecodeError):
        json.loads(content_of(message))
    assert content_of(message).startswith('{"found": true')
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == tokens.count_tokens(content_of(message))


async def test_missing_fields_and_wrong_types_parse_but_fail_the_schema(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("missing_fields"), Fault.parse("wrong_types"))

    missing = json.loads(content_of(await ask(server)))
    wrong = json.loads(content_of(await ask(server)))

    assert set(missing) == {"found", "value"}
    assert "'confidence' is a required property" in schema_errors(missing, SCHEMA)
    assert wrong["confidence"] == "high"
    assert "'high' is not of type 'number'" in schema_errors(wrong, SCHEMA)


async def test_a_refusal_lands_in_additional_kwargs_with_empty_content(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("refusal"))

    message = await ask(server)

    assert message.content == ""
    assert message.additional_kwargs["refusal"] == REFUSAL
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == tokens.count_tokens(REFUSAL)


async def test_a_truncated_answer_raises_length_finish_reason_error(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("length"))

    with pytest.raises(openai.LengthFinishReasonError) as raised:
        await ask(server)

    usage = raised.value.completion.usage
    assert usage is not None
    assert usage.completion_tokens > 0
    assert raised.value.completion.choices[0].finish_reason == "length"


async def test_failed_requests_are_counted_and_the_script_runs_before_the_default(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("500"), Fault.parse("500"))
    server.set_default(Fault.parse("429"))

    outcomes = []
    for _ in range(4):
        try:
            await ask(server)
            outcomes.append("ok")
        except openai.APIStatusError as error:
            outcomes.append(str(error.status_code))
    server.set_default(None)
    await ask(server)

    assert outcomes == ["500", "500", "429", "429"]
    assert len(server.requests) == 5


async def test_a_marker_in_the_messages_overrides_the_script_without_consuming_it(
    server: LocalLLMServer,
) -> None:
    server.script(Fault.parse("503"))
    marked = signing_date_messages(TREATY + "\n[[local-llm:400]]")

    with pytest.raises(openai.BadRequestError):
        await ask(server, marked)
    with pytest.raises(openai.InternalServerError):
        await ask(server)
    assert json.loads(content_of(await ask(server)))["value"] == "2024-03-12"


async def test_a_header_directive_overrides_the_default(server: LocalLLMServer) -> None:
    server.set_default(Fault.parse("500"))

    with pytest.raises(openai.RateLimitError):
        await ask(server, extra_headers={FAULT_HEADER: "429"})
    message = await ask(server, extra_headers={FAULT_HEADER: "ok"})

    assert json.loads(content_of(message))["found"] is True


async def test_a_latency_directive_delays_a_normal_answer(server: LocalLLMServer) -> None:
    marked = signing_date_messages(TREATY + "\n[[local-llm:latency=0.3]]")
    started = time.monotonic()

    message = await ask(server, marked)

    assert time.monotonic() - started >= 0.3
    assert json.loads(content_of(message))["value"] == "2024-03-12"


async def test_a_bad_directive_is_a_bad_request(server: LocalLLMServer) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown fault"):
        await ask(server, extra_headers={FAULT_HEADER: "explode"})


async def test_another_process_can_drive_faults_through_the_control_endpoints(
    server: LocalLLMServer,
) -> None:
    control = server.base_url.removesuffix("/v1") + "/_control"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{control}/faults", json={"script": ["500", "timeout=0.1"], "default": "429"}
        ) as response:
            assert response.status == 200
            assert await response.json() == {
                "requests": 0,
                "peak_open_requests": 0,
                "script": ["500", "timeout,delay=0.1"],
                "default": "429",
            }

        with pytest.raises(openai.InternalServerError):
            await ask(server)
        await ask(server)  # the scripted short "timeout" answers after 0.1 s
        with pytest.raises(openai.RateLimitError):
            await ask(server)

        async with http.get(f"{control}/stats") as response:
            stats = await response.json()
            assert (stats["requests"], stats["peak_open_requests"]) == (3, 1)
        async with http.post(f"{control}/faults", json={"script": ["nonsense"]}) as response:
            assert response.status == 400
        async with http.post(f"{control}/reset") as response:
            assert await response.json() == {
                "requests": 0,
                "peak_open_requests": 0,
                "script": [],
                "default": None,
            }

    assert json.loads(content_of(await ask(server)))["found"] is True


async def test_the_models_endpoint_lists_models(server: LocalLLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    try:
        models = [model.id async for model in client.models.list()]
    finally:
        await client.close()

    assert "gpt-4o-mini" in models


async def test_a_closed_port_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = ChatOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="test-key",
        model="gpt-4o-mini",
        max_retries=0,
        timeout=5,
    )

    with pytest.raises(openai.APIConnectionError) as raised:
        await model.ainvoke(signing_date_messages(), response_format=RESPONSE_FORMAT)

    assert not isinstance(raised.value, openai.APITimeoutError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500", Fault(kind="status", status=500)),
        ("429,retry_after=1.5", Fault(kind="status", status=429, retry_after=1.5)),
        ("timeout", Fault(kind="timeout")),
        ("timeout=2", Fault(kind="timeout", delay=2.0)),
        ("latency=0.2", Fault(kind="ok", delay=0.2)),
        ("malformed; latency=0.1", Fault(kind="malformed", delay=0.1)),
        ("missing-fields", Fault(kind="missing_fields")),
        ("status=503", Fault(kind="status", status=503)),
    ],
)
def test_fault_directives_parse(text: str, expected: Fault) -> None:
    assert Fault.parse(text) == expected


@pytest.mark.parametrize("text", ["", "200", "explode", "latency=-1", "500,refusal", "x=1"])
def test_bad_fault_directives_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        Fault.parse(text)


def test_a_timeout_fault_without_a_delay_sleeps_for_an_hour() -> None:
    assert Fault.parse("timeout").sleep_seconds == 3600
    assert Fault.parse("latency=0.5").sleep_seconds == 0.5
