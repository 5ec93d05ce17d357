"""The LLM gateway over real HTTP: LangChain's OpenAI client against the local
OpenAI-compatible server, the circuit breaker and rate limit in the real Redis, the usage
ledger in the real PostgreSQL. Every failure mode has a defined outcome (FR-024, FR-025,
NFR-011); retries wait 1, 2, 4, 8, 16 s (recorded, not slept)."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import select

from server.core.config import Settings
from server.core.db import Database
from server.llm.breaker import BreakerState, CircuitBreaker
from server.llm.errors import FailureKind, LLMError
from server.llm.factory import ModelChoice, describe
from server.llm.fencing import section_template, slot_template
from server.llm.gateway import LLMGateway, ModelCall, chat_messages
from server.llm.ledger import DatabaseLedger, LLMCall
from server.llm.local_server import Fault, LocalLLMServer
from server.llm.tokens import estimate_message_tokens, schema_text
from tests.conftest import TEST_REDIS_URL
from tests.factories import user_row

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "found": {"type": "boolean"},
        "value": {"type": ["string", "null"], "format": "date"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "source_text": {"type": ["string", "null"]},
    },
    "required": ["found", "value", "confidence", "source_text"],
    "additionalProperties": False,
}
SYSTEM = "Code the document.\n" + section_template(
    "VARIABLE", '{"name": "signed_on", "label": "Signing date", "type": "DATE"}'
)
DOCUMENT = "The agreement was signed on 12 March 2024 in Geneva."
MODEL = ModelChoice(provider="openai", model="gpt-4o-mini")


class Sleeps:
    """Records the waits the gateway asks for instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def llm_server() -> AsyncIterator[LocalLLMServer]:
    server = LocalLLMServer()
    await server.start()
    yield server
    await server.stop()


def gateway_settings(settings: Settings, base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "llm_base_url": base_url,
        "llm_api_key": None,
        "llm_timeout_seconds": 2.0,
        "llm_retry_jitter_seconds": 0.0,
        "llm_requests_per_minute": 0,
        "llm_tokens_per_minute": 0,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


async def fresh_breaker(redis: Redis, settings: Settings) -> CircuitBreaker:
    """The gateway's breaker for this endpoint, reset (ports, hence names, get reused)."""
    breaker = CircuitBreaker(
        redis,
        f"openai|{settings.llm_base_url}",
        recovery_seconds=settings.llm_breaker_recovery_seconds,
    )
    await breaker.reset()
    return breaker


def request(user_id: uuid.UUID | None = None, **overrides: Any) -> ModelCall:
    (system, user), _ = _render(DOCUMENT)
    fields: dict[str, Any] = {
        "system": system,
        "user": user,
        "response_schema": SCHEMA,
        "model": MODEL,
        "temperature": 0.15,
        "max_tokens": 300,
        "purpose": "extraction",
        "user_id": user_id,
    }
    fields.update(overrides)
    return ModelCall(**fields)


def _render(document: str) -> tuple[tuple[str, str], str]:
    from server.llm.fencing import render

    texts, boundary = render(
        [SYSTEM, slot_template("DOCUMENT", "document")], {"document": document}
    )
    return (texts[0], texts[1]), boundary


async def make_gateway(
    settings: Settings, redis: Redis, sleeps: Sleeps | None = None, db: Database | None = None
) -> LLMGateway:
    await fresh_breaker(redis, settings)
    return LLMGateway(
        settings,
        redis,
        sleep=sleeps or Sleeps(),
        ledger=DatabaseLedger(db) if db is not None else None,
    )


async def ledger_rows(db: Database, user_id: uuid.UUID) -> list[LLMCall]:
    async with db.transaction(user_id) as session:
        statement = select(LLMCall).where(LLMCall.user_id == user_id).order_by(LLMCall.attempt)
        return list((await session.scalars(statement)).all())


async def failure(gateway: LLMGateway, call: ModelCall) -> LLMError:
    with pytest.raises(LLMError) as raised:
        await gateway.call(call)
    return raised.value


async def test_an_answer_is_parsed_validated_and_its_usage_and_cost_recorded(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer, database: Database
) -> None:
    user_id = await user_row(database)
    config = gateway_settings(settings, llm_server.base_url)
    gateway = await make_gateway(config, redis, db=database)

    result = await gateway.call(request(user_id))

    assert result.data["value"] == "2024-03-12"
    assert result.data["source_text"] in DOCUMENT
    assert result.attempts == 1
    assert len(llm_server.requests) == 1
    sent = llm_server.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["temperature"] == 0.15
    [row] = await ledger_rows(database, user_id)
    assert (row.outcome, row.attempt, row.provider, row.model) == ("ok", 1, "openai", MODEL.model)
    assert (row.prompt_tokens, row.completion_tokens) == (
        result.prompt_tokens,
        result.completion_tokens,
    )
    assert row.prompt_tokens > 50
    # gpt-4o-mini: $0.15 / $0.60 per million tokens.
    expected = (result.prompt_tokens * 0.15 + result.completion_tokens * 0.60) / 1e6
    assert result.cost_usd == pytest.approx(expected)
    assert float(row.cost_usd or 0) == pytest.approx(expected, abs=1e-6)


async def held_by_the_provider(llm_server: LocalLLMServer) -> None:
    """Returns once the provider has the request and is working on it."""
    for _ in range(500):
        if llm_server.open_requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the provider never got the request")


async def test_a_request_is_in_the_ledger_before_it_is_sent_and_settled_when_answered(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer, database: Database
) -> None:
    user_id = await user_row(database)
    gateway = await make_gateway(
        gateway_settings(settings, llm_server.base_url), redis, db=database
    )
    llm_server.set_default(Fault.parse("latency=0.5"))

    call = request(user_id)
    calling = asyncio.create_task(gateway.call(call))
    await held_by_the_provider(llm_server)
    [sent] = await ledger_rows(database, user_id)
    result = await calling
    [answered] = await ledger_rows(database, user_id)

    # While the provider works: unsettled, at the estimated prompt and its cost, so that
    # totals over the ledger already count it.
    assert (sent.outcome, sent.attempt, sent.completion_tokens) == (None, 1, 0)
    assert sent.prompt_tokens == estimate_message_tokens(
        [call.system, call.user, schema_text(call.response_schema)]
    )
    assert float(sent.cost_usd or 0) == pytest.approx(sent.prompt_tokens * 0.15 / 1e6, abs=1e-6)
    # Settled in place with the provider's counts.
    assert answered.id == sent.id
    assert (answered.outcome, answered.prompt_tokens, answered.completion_tokens) == (
        "ok",
        result.prompt_tokens,
        result.completion_tokens,
    )


async def test_a_call_abandoned_while_the_provider_works_leaves_its_request_unsettled(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer, database: Database
) -> None:
    """The in-process face of a worker killed mid-request: the provider has the request (and
    bills it); the ledger keeps it at its estimate."""
    user_id = await user_row(database)
    gateway = await make_gateway(
        gateway_settings(settings, llm_server.base_url), redis, db=database
    )
    llm_server.set_default(Fault.parse("latency=5"))

    calling = asyncio.create_task(gateway.call(request(user_id)))
    await held_by_the_provider(llm_server)
    calling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await calling

    [row] = await ledger_rows(database, user_id)
    assert len(llm_server.requests) == 1
    assert row.outcome is None
    assert row.prompt_tokens > 50


@pytest.mark.parametrize(
    ("fault", "kind", "detail"),
    [
        ("malformed", FailureKind.MALFORMED, "not valid JSON"),
        ("missing_fields", FailureKind.MALFORMED, "confidence"),
        ("wrong_types", FailureKind.MALFORMED, "does not match its schema"),
        ("refusal", FailureKind.REFUSED, "refused"),
        ("length", FailureKind.TRUNCATED, "cut off at max_tokens (300)"),
        ("content_filter", FailureKind.REFUSED, "content filter"),
        ("400", FailureKind.BAD_REQUEST, "400"),
        ("401", FailureKind.UNAUTHORIZED, "401"),
    ],
)
async def test_an_answer_or_rejection_that_a_retry_cannot_change_fails_at_once(
    settings: Settings,
    redis: Redis,
    llm_server: LocalLLMServer,
    database: Database,
    fault: str,
    kind: FailureKind,
    detail: str,
) -> None:
    user_id = await user_row(database)
    sleeps = Sleeps()
    gateway = await make_gateway(
        gateway_settings(settings, llm_server.base_url), redis, sleeps, database
    )
    llm_server.set_default(Fault.parse(fault))

    error = await failure(gateway, request(user_id))

    assert error.kind is kind
    assert detail in error.message
    assert not error.retryable
    assert error.attempts == 1
    assert len(llm_server.requests) == 1
    assert sleeps.waits == []
    [row] = await ledger_rows(database, user_id)
    assert row.outcome == kind.value
    assert detail in (row.error_message or "")
    if fault in ("malformed", "missing_fields", "wrong_types", "length", "refusal"):
        # The provider answered: those tokens are billed, and recorded.
        assert row.prompt_tokens > 0
        assert row.completion_tokens > 0
        assert error.prompt_tokens == row.prompt_tokens
    else:
        assert row.completion_tokens == 0


async def test_server_errors_are_retried_five_times_after_1_2_4_8_16_seconds(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer, database: Database
) -> None:
    user_id = await user_row(database)
    sleeps = Sleeps()
    gateway = await make_gateway(
        gateway_settings(settings, llm_server.base_url), redis, sleeps, database
    )
    llm_server.script(*[Fault.parse("500")] * 3, Fault.parse("503"), Fault.parse("502"))

    result = await gateway.call(request(user_id))

    assert result.attempts == 6
    assert len(llm_server.requests) == 6
    assert sleeps.waits == [1, 2, 4, 8, 16]
    rows = await ledger_rows(database, user_id)
    assert [row.outcome for row in rows] == ["server_error"] * 5 + ["ok"]
    assert [row.attempt for row in rows] == [1, 2, 3, 4, 5, 6]


async def test_after_five_retries_the_last_error_is_raised_with_what_the_call_cost(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    sleeps = Sleeps()
    gateway = await make_gateway(gateway_settings(settings, llm_server.base_url), redis, sleeps)
    llm_server.set_default(Fault.parse("500"))

    error = await failure(gateway, request())

    assert error.kind is FailureKind.SERVER_ERROR
    assert error.attempts == 6
    assert len(llm_server.requests) == 6
    assert sleeps.waits == [1, 2, 4, 8, 16]


async def test_under_the_default_settings_a_call_gets_its_five_retries_before_the_breaker(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    """The breaker counts requests, retries included, and opens only past one call's six
    attempts: a failing call makes all of them; the next call's failures open it, and its
    last attempt fails fast instead of reaching a provider that is down."""
    sleeps = Sleeps()
    gateway = await make_gateway(gateway_settings(settings, llm_server.base_url), redis, sleeps)
    llm_server.set_default(Fault.parse("500"))

    first = await failure(gateway, request())
    second = await failure(gateway, request())

    assert (first.kind, first.attempts) == (FailureKind.SERVER_ERROR, 6)
    assert second.kind is FailureKind.CIRCUIT_OPEN
    assert len(llm_server.requests) == settings.llm_breaker_failure_threshold == 10


def test_a_breaker_that_would_cut_a_calls_retries_short_is_refused(settings: Settings) -> None:
    with pytest.raises(ValidationError, match="LLM_BREAKER_FAILURE_THRESHOLD"):
        Settings(**{**settings.model_dump(), "llm_breaker_failure_threshold": 6})


async def test_requests_in_flight_are_bounded_and_a_retry_wait_holds_no_slot(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    config = gateway_settings(settings, llm_server.base_url)
    await fresh_breaker(redis, config)

    async def short_wait(seconds: float) -> None:
        await asyncio.sleep(0.3)

    two = LLMGateway(config, redis, sleep=short_wait, max_in_flight=2)
    llm_server.set_default(Fault.parse("latency=0.1"))
    results = await asyncio.gather(*(two.call(request()) for _ in range(6)))
    assert all(result.data["value"] == "2024-03-12" for result in results)
    assert llm_server.peak_open_requests == 2

    # One slot: the first call's 500 sends it to wait before its retry, and the second call
    # goes meanwhile.
    one = LLMGateway(config, redis, sleep=short_wait, max_in_flight=1)
    llm_server.reset()
    llm_server.set_default(Fault.parse("latency=0.1"))
    llm_server.script(Fault.parse("500"))
    finished: list[str] = []

    async def call(name: str) -> None:
        await one.call(request())
        finished.append(name)

    await asyncio.gather(call("retried"), call("other"))
    assert finished == ["other", "retried"]
    assert llm_server.peak_open_requests == 1


async def test_rate_limited_requests_wait_for_the_providers_retry_after(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    sleeps = Sleeps()
    gateway = await make_gateway(gateway_settings(settings, llm_server.base_url), redis, sleeps)
    llm_server.script(Fault.parse("429,retry_after=3"), Fault.parse("429"))

    result = await gateway.call(request())

    assert result.attempts == 3
    assert sleeps.waits == [3, 2]


async def test_jitter_is_added_to_the_schedule(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    sleeps = Sleeps()
    config = gateway_settings(settings, llm_server.base_url, llm_retry_jitter_seconds=0.5)
    await fresh_breaker(redis, config)
    gateway = LLMGateway(config, redis, sleep=sleeps, jitter=lambda limit: limit)
    llm_server.script(Fault.parse("500"), Fault.parse("500"))

    await gateway.call(request())

    assert sleeps.waits == [1.5, 2.5]


async def test_a_timeout_is_retried(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    sleeps = Sleeps()
    config = gateway_settings(settings, llm_server.base_url, llm_timeout_seconds=0.3)
    gateway = await make_gateway(config, redis, sleeps)
    llm_server.script(Fault.parse("timeout"), Fault.parse("timeout"))

    result = await gateway.call(request())

    assert result.attempts == 3
    assert sleeps.waits == [1, 2]
    assert result.data["value"] == "2024-03-12"


async def test_a_refused_connection_is_retried_then_reported(
    settings: Settings, redis: Redis, unused_tcp_port: int
) -> None:
    sleeps = Sleeps()
    config = gateway_settings(settings, f"http://127.0.0.1:{unused_tcp_port}/v1", llm_max_retries=2)
    gateway = await make_gateway(config, redis, sleeps)

    error = await failure(gateway, request())

    assert error.kind is FailureKind.CONNECTION
    assert error.attempts == 3
    assert sleeps.waits == [1, 2]


async def test_five_failures_open_the_breaker_and_then_calls_fail_fast_without_a_request(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    config = gateway_settings(
        settings,
        llm_server.base_url,
        llm_max_retries=0,
        llm_breaker_failure_threshold=5,
        llm_breaker_recovery_seconds=0.5,
    )
    gateway = await make_gateway(config, redis)
    breaker = CircuitBreaker(redis, f"openai|{llm_server.base_url}")
    llm_server.script(*[Fault.parse("500")] * 5)

    for _ in range(4):
        assert (await failure(gateway, request())).kind is FailureKind.SERVER_ERROR
    assert (await breaker.status()).state is BreakerState.CLOSED
    await failure(gateway, request())
    assert (await breaker.status()).state is BreakerState.OPEN

    fast = await failure(gateway, request())
    assert fast.kind is FailureKind.CIRCUIT_OPEN
    assert len(llm_server.requests) == 5

    # Half-open after the recovery time: three successes close it.
    await asyncio.sleep(0.6)
    for _ in range(3):
        await gateway.call(request())
    assert (await breaker.status()).state is BreakerState.CLOSED
    assert len(llm_server.requests) == 8


async def test_a_failure_while_half_open_reopens_the_breaker(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    config = gateway_settings(
        settings,
        llm_server.base_url,
        llm_max_retries=0,
        llm_breaker_failure_threshold=5,
        llm_breaker_recovery_seconds=0.3,
    )
    gateway = await make_gateway(config, redis)
    breaker = CircuitBreaker(redis, f"openai|{llm_server.base_url}")
    llm_server.script(*[Fault.parse("503")] * 5)
    for _ in range(5):
        await failure(gateway, request())
    await asyncio.sleep(0.4)

    await gateway.call(request())
    llm_server.script(Fault.parse("500"))
    await failure(gateway, request())

    status = await breaker.status()
    assert status.state is BreakerState.OPEN
    assert (await failure(gateway, request())).kind is FailureKind.CIRCUIT_OPEN


async def test_answers_the_provider_gave_do_not_count_against_it(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    config = gateway_settings(settings, llm_server.base_url, llm_max_retries=0)
    gateway = await make_gateway(config, redis)
    llm_server.set_default(Fault.parse("malformed"))

    for _ in range(6):
        assert (await failure(gateway, request())).kind is FailureKind.MALFORMED

    status = await CircuitBreaker(redis, f"openai|{llm_server.base_url}").status()
    assert status.state is BreakerState.CLOSED


async def test_the_breaker_is_shared_with_another_process(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    """Another worker process meets five failures; this one then fails fast, without a
    request."""
    config = gateway_settings(
        settings, llm_server.base_url, llm_max_retries=0, llm_breaker_failure_threshold=5
    )
    await fresh_breaker(redis, config)
    llm_server.set_default(Fault.parse("500"))
    script = textwrap.dedent(
        f"""
        import asyncio
        from redis.asyncio import Redis
        from server.core.config import Settings
        from server.llm.errors import LLMError
        from server.llm.factory import ModelChoice
        from server.llm.gateway import LLMGateway, ModelCall

        async def main():
            settings = Settings(
                _env_file=None, llm_provider="openai", llm_base_url={llm_server.base_url!r},
                llm_max_retries=0, llm_breaker_failure_threshold=5,
                llm_requests_per_minute=0, llm_tokens_per_minute=0,
            )
            redis = Redis.from_url({TEST_REDIS_URL!r})
            gateway = LLMGateway(settings, redis)
            call = ModelCall(
                system="s", user="u", response_schema={{"type": "object"}},
                model=ModelChoice("openai", "gpt-4o-mini"), temperature=0.1, max_tokens=50,
                purpose="test",
            )
            kinds = []
            for _ in range(5):
                try:
                    await gateway.call(call)
                except LLMError as error:
                    kinds.append(error.kind.value)
            print(",".join(kinds))
            await redis.aclose()

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()

    assert process.returncode == 0
    assert stdout.decode().strip() == ",".join(["server_error"] * 5)
    gateway = LLMGateway(config, redis, sleep=Sleeps())
    assert (await failure(gateway, request())).kind is FailureKind.CIRCUIT_OPEN
    assert len(llm_server.requests) == 5


async def test_the_offline_baseline_goes_through_the_same_path(
    settings: Settings, redis: Redis, database: Database
) -> None:
    user_id = await user_row(database)
    gateway = LLMGateway(settings, redis, ledger=DatabaseLedger(database))

    result = await gateway.call(request(user_id, model=ModelChoice("offline", "baseline")))

    assert result.data["value"] == "2024-03-12"
    assert result.data["confidence"] <= 0.6
    assert result.cost_usd == 0
    [row] = await ledger_rows(database, user_id)
    assert (row.provider, row.outcome, float(row.cost_usd or 0)) == ("offline", "ok", 0.0)


async def test_an_unknown_provider_is_a_configuration_error(
    settings: Settings, redis: Redis
) -> None:
    gateway = LLMGateway(settings, redis, sleep=Sleeps())

    error = await failure(gateway, request(model=ModelChoice("no_such_provider", "m")))

    assert error.kind is FailureKind.CONFIGURATION
    assert "no_such_provider" in error.message


def test_the_logged_model_line_never_shows_a_key_in_the_base_url() -> None:
    settings = Settings(
        llm_base_url="http://gateway-user:sk-live-secret@127.0.0.1:8001/v1",
        llm_api_key="sk-live-secret",
    )
    line = describe(settings)
    assert "sk-live-secret" not in line
    assert "gateway-user" not in line
    assert "127.0.0.1:8001/v1" in line


async def test_prompt_tokens_the_provider_served_from_its_cache_are_recorded_and_priced_as_such(
    settings: Settings, redis: Redis, database: Database
) -> None:
    server = LocalLLMServer(prefix_cache=True)
    await server.start()
    try:
        user_id = await user_row(database)
        gateway = await make_gateway(
            gateway_settings(settings, server.base_url), redis, db=database
        )
        (system, user), _ = _render("The council met on 3 May 2024. " * 300)
        first = await gateway.call(request(user_id, system=system, user=user))
        again = await gateway.call(request(user_id, system=system, user=user + "\nAgain."))
    finally:
        await server.stop()

    assert first.cached_prompt_tokens == 0
    # Everything up to the last whole step of 128 tokens before the new text.
    assert again.prompt_tokens - 128 - 10 < again.cached_prompt_tokens < again.prompt_tokens
    rows = await ledger_rows(database, user_id)
    assert [row.cached_prompt_tokens for row in rows] == [0, again.cached_prompt_tokens]
    # gpt-4o-mini: $0.15 per million prompt tokens, $0.075 cached, $0.60 completion.
    uncached = again.prompt_tokens - again.cached_prompt_tokens
    expected = (
        uncached * 0.15 + again.cached_prompt_tokens * 0.075 + again.completion_tokens * 0.60
    ) / 1e6
    assert again.cost_usd == pytest.approx(expected)
    assert float(rows[1].cost_usd or 0) == pytest.approx(expected, abs=1e-6)


async def test_an_answer_is_checked_against_the_expected_schema_when_a_looser_one_is_sent(
    settings: Settings, redis: Redis, llm_server: LocalLLMServer
) -> None:
    gateway = await make_gateway(gateway_settings(settings, llm_server.base_url), redis)
    loose = {**SCHEMA, "properties": {**SCHEMA["properties"], "value": {"type": "string"}}}
    strict = {
        **SCHEMA,
        "properties": {**SCHEMA["properties"], "value": {"type": ["number", "null"]}},
    }

    error = await failure(gateway, request(response_schema=loose, expected_schema=strict))

    assert error.kind is FailureKind.MALFORMED
    assert "value" in error.message
    assert llm_server.requests[0]["response_format"]["json_schema"]["schema"] == loose


def test_a_provider_that_caches_at_marks_gets_one_at_the_end_of_the_document() -> None:
    (system, user), boundary = _render(DOCUMENT)
    point = user.index(f"<<<END DOCUMENT {boundary}>>>") + 34
    marked = chat_messages(
        request(system=system, user=user, cache_point=point, model=ModelChoice("anthropic", "m"))
    )
    plain = chat_messages(request(system=system, user=user, cache_point=point))

    blocks = marked[1].content
    assert isinstance(blocks, list)
    assert blocks[0] == {
        "type": "text",
        "text": user[:point],
        "cache_control": {"type": "ephemeral"},
    }
    assert blocks[1] == {"type": "text", "text": user[point:]}
    assert plain[1].content == user
