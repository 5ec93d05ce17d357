"""The one path every model call takes.

A call is: circuit breaker check → shared rate limit → the LangChain chat model with the
answer's JSON Schema as structured output → the answer parsed and validated against that
schema. Each request is recorded in the usage ledger before it is sent (at its estimated
prompt tokens) and settled with the tokens and cost the provider reported once the answer or
the failure is back. Failures become an `LLMError` of a defined kind; the retryable kinds
(timeout, connection, 429, 5xx) are retried with tenacity after 1, 2, 4, 8, 16 s (plus
jitter, or the provider's Retry-After when longer), never the others. The SDK's own retries are off
(server.llm.factory), so the numbers of requests and of retries are this module's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import httpx
import openai
from jsonschema import Draft202012Validator, FormatChecker
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelPermissionDeniedError,
    ModelRateLimitError,
    ModelRefusalError,
    ModelTimeoutError,
)
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from redis.asyncio import Redis
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from server.core.config import Settings
from server.llm.admission import Admission
from server.llm.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from server.llm.errors import PROVIDER_FAILURES, FailureKind, LLMError
from server.llm.factory import OFFLINE, ChatModels, ModelChoice, describe
from server.llm.ledger import LLMCall
from server.llm.pricing import cost_usd
from server.llm.ratelimit import RateLimiter, RateLimitTimeout, Reservation
from server.llm.tokens import (
    count_message_tokens,
    count_schema_tokens,
    count_tokens,
    estimate_message_tokens,
    schema_text,
)

log = logging.getLogger(__name__)

# A provider's Retry-After is honoured up to this long; beyond it the schedule applies.
_MAX_RETRY_AFTER_SECONDS = 60.0
# A backstop over the client's own timeout, for providers whose client has none.
_TIMEOUT_MARGIN_SECONDS = 5.0
_ERROR_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class ModelCall:
    """One structured call: the messages, the answer's schema, the model settings, and the
    tenant (and project, job) it is done for, which the ledger records."""

    system: str
    user: str
    response_schema: dict[str, Any]
    model: ModelChoice
    temperature: float
    max_tokens: int
    purpose: str
    user_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    schema_name: str = "answer"
    # The schema the answer must match, when stricter than the one sent (a schema shared by
    # several variables' requests); None: the one sent.
    expected_schema: dict[str, Any] | None = None
    # How many leading characters of `user` every call reading the same document shares (the
    # document): where a provider that caches only at marked points gets its mark.
    cache_point: int = 0

    @property
    def answer_schema(self) -> dict[str, Any]:
        return self.response_schema if self.expected_schema is None else self.expected_schema


@dataclass(frozen=True)
class CallResult:
    data: dict[str, Any]
    raw_text: str
    # Totals over every request the call made (retries included).
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    attempts: int
    latency_seconds: float
    # Of the prompt tokens, those the provider served from its prompt cache.
    cached_prompt_tokens: int = 0


class UsageLedger(Protocol):
    async def record_request(self, call: LLMCall) -> None: ...
    async def settle(self, call: LLMCall) -> None: ...


@dataclass
class _Attempt:
    """What one request produced, for the ledger."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Of the prompt tokens, read from and written to the provider's prompt cache.
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)


@dataclass
class _Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = 0.0
    attempts: int = 0

    def add(self, attempt: _Attempt, cost: float | None) -> None:
        self.prompt_tokens += attempt.prompt_tokens
        self.completion_tokens += attempt.completion_tokens
        self.cached_tokens += attempt.cached_tokens
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost


class LLMGateway:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        *,
        models: ChatModels | None = None,
        ledger: UsageLedger | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float], float] = lambda limit: random.uniform(0, limit),  # noqa: S311
        max_in_flight: int | None = None,
    ) -> None:
        """max_in_flight: requests this gateway has open at once (None: no bound)."""
        self._settings = settings
        self._in_flight: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Semaphore(max_in_flight) if max_in_flight else contextlib.nullcontext()
        )
        self._redis = redis
        self._models = models or ChatModels(settings)
        self._ledger = ledger
        self._sleep = sleep
        self._jitter = jitter
        # Each provider endpoint's circuit breaker and rate limiter, asked together.
        self._admissions: dict[str, Admission] = {}
        log.info(describe(settings))

    async def call(self, request: ModelCall) -> CallResult:
        """The validated answer, or an LLMError carrying what the failed call cost."""
        totals = _Totals()
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.llm_max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda error: isinstance(error, LLMError) and error.retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    data, raw_text = await self._attempt(request, totals)
        except LLMError as error:
            error.prompt_tokens = totals.prompt_tokens
            error.completion_tokens = totals.completion_tokens
            error.cost_usd = totals.cost_usd
            error.attempts = totals.attempts
            raise
        return CallResult(
            data=data,
            raw_text=raw_text,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            cost_usd=totals.cost_usd,
            attempts=totals.attempts,
            latency_seconds=time.perf_counter() - started,
            cached_prompt_tokens=totals.cached_tokens,
        )

    # --- one request ------------------------------------------------------------------------

    async def _attempt(self, request: ModelCall, totals: _Totals) -> tuple[dict[str, Any], str]:
        remote = request.model.provider != OFFLINE
        breaker = self._breaker(request.model) if remote else None
        attempt = _Attempt()
        outcome: LLMError | None = None
        reservation = generation = None
        # The schema counts: providers bill it as prompt.
        estimate = estimate_message_tokens(
            [request.system, request.user, schema_text(request.response_schema)]
        )
        # A slot is held for the request and its ledger row only: what is recorded after it
        # (the settlement, the breaker, the limiter) and the waits between retries leave it
        # to others.
        async with self._in_flight:
            if remote:
                generation, reservation = await self._admit(request, estimate)
            totals.attempts += 1
            entry = await self._record_request(request, totals.attempts, estimate)
            attempt.started = time.perf_counter()
            try:
                data, raw_text = await self._request(request, attempt)
            except LLMError as error:
                outcome = error
        await self._account(request, attempt, totals, outcome, entry)
        if reservation is not None:
            limiter = self._limiter(request.model)
            await limiter.settle(reservation, attempt.prompt_tokens + attempt.completion_tokens)
        if breaker is not None:
            if outcome is not None and outcome.kind in PROVIDER_FAILURES:
                await breaker.record_failure(generation)
            elif outcome is None or outcome.kind is not FailureKind.CONFIGURATION:
                await breaker.record_success(generation)
        if outcome is not None:
            raise outcome
        return data, raw_text

    async def _admit(self, request: ModelCall, estimate: int) -> tuple[int, Reservation]:
        """The breaker's generation and the rate limit's booking, in one round trip."""
        try:
            return await self._admission(request.model).admit(estimate + request.max_tokens)
        except CircuitOpenError as error:
            raise LLMError(
                FailureKind.CIRCUIT_OPEN, str(error), retry_after_seconds=error.retry_after_seconds
            ) from error
        except RateLimitTimeout as error:
            raise LLMError(FailureKind.RATE_LIMIT_WAIT, str(error)) from error

    async def _request(self, request: ModelCall, attempt: _Attempt) -> tuple[dict[str, Any], str]:
        model = self._models.get(request.model)
        messages = chat_messages(request)
        timeout = self._settings.llm_timeout_seconds + _TIMEOUT_MARGIN_SECONDS
        try:
            async with asyncio.timeout(timeout):
                message = await self._invoke(model, messages, request)
        except openai.LengthFinishReasonError as error:
            reported = error.completion.usage
            if reported is not None:
                attempt.prompt_tokens = reported.prompt_tokens
                attempt.completion_tokens = reported.completion_tokens
            raise LLMError(
                FailureKind.TRUNCATED,
                f"the answer was cut off at max_tokens ({request.max_tokens})",
            ) from error
        except openai.ContentFilterFinishReasonError as error:
            raise LLMError(
                FailureKind.REFUSED, "the provider's content filter stopped the answer"
            ) from error
        except (ModelError, openai.APIError, httpx.HTTPError, TimeoutError) as error:
            raise classify(error) from error

        usage = message.usage_metadata
        text = _text_of(message)
        if usage is not None:
            attempt.prompt_tokens = usage["input_tokens"]
            attempt.completion_tokens = usage["output_tokens"]
            # LangChain reports OpenAI's prompt_tokens_details.cached_tokens and Anthropic's
            # cache reads and writes alike, as parts of input_tokens.
            details = usage.get("input_token_details") or {}
            attempt.cached_tokens = details.get("cache_read") or 0
            attempt.cache_write_tokens = details.get("cache_creation") or 0
        else:
            # Some providers report no usage: count it ourselves rather than record zero.
            attempt.prompt_tokens = count_message_tokens(
                [request.system, request.user]
            ) + count_schema_tokens(request.response_schema)
            attempt.completion_tokens = count_tokens(text)
        return parse_answer(message, text, request), text

    async def _invoke(
        self, model: BaseChatModel, messages: list[BaseMessage], request: ModelCall
    ) -> AIMessage:
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "schema": request.response_schema,
                "strict": True,
            },
        }
        reply: object
        if isinstance(model, ChatOpenAI):
            # The same request body as response_format=..., but sent as is: given as
            # response_format, LangChain takes the SDK's parse() path, whose client-side
            # type walk over the schema costs a quarter of the call's CPU, for a parsed
            # object the gateway does not use (it validates the text itself).
            reply = await model.ainvoke(
                messages,
                extra_body={"response_format": response_format},
                temperature=request.temperature,
                max_tokens=request.max_tokens,
            )
        elif request.model.provider == OFFLINE:
            reply = await model.ainvoke(
                messages,
                response_format=response_format,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
            )
        else:
            # Other providers: LangChain's structured output, whichever way the provider
            # implements it; the raw message is validated like any other. The copy shares
            # the client and carries this call's settings.
            configured = model.model_copy(
                update={"temperature": request.temperature, "max_tokens": request.max_tokens}
            )
            structured = configured.with_structured_output(
                request.response_schema, include_raw=True
            )
            output = await structured.ainvoke(messages)
            reply = output.get("raw") if isinstance(output, dict) else output
        if not isinstance(reply, AIMessage):
            raise LLMError(FailureKind.MALFORMED, f"unexpected reply type {type(reply).__name__}")
        return reply

    async def _record_request(
        self, request: ModelCall, attempt_number: int, estimated_prompt_tokens: int
    ) -> LLMCall | None:
        """The request's ledger row, committed before the request is sent: a worker that dies
        while the provider works leaves it unsettled, at the estimate, where it would
        otherwise leave nothing. None when no ledger (or no tenant) records the call."""
        if self._ledger is None or request.user_id is None:
            return None
        entry = LLMCall(
            id=uuid.uuid4(),
            user_id=request.user_id,
            project_id=request.project_id,
            job_id=request.job_id,
            purpose=request.purpose,
            provider=request.model.provider,
            model=request.model.model,
            attempt=attempt_number,
            outcome=None,
            prompt_tokens=estimated_prompt_tokens,
            completion_tokens=0,
            cost_usd=_decimal(
                cost_usd(self._settings.llm_prices, request.model.model, estimated_prompt_tokens, 0)
            ),
            latency_ms=0,
        )
        await self._ledger.record_request(entry)
        return entry

    async def _account(
        self,
        request: ModelCall,
        attempt: _Attempt,
        totals: _Totals,
        outcome: LLMError | None,
        entry: LLMCall | None,
    ) -> None:
        """Adds the request's usage to the call's totals and settles its ledger row."""
        cost = cost_usd(
            self._settings.llm_prices,
            request.model.model,
            attempt.prompt_tokens,
            attempt.completion_tokens,
            attempt.cached_tokens,
            attempt.cache_write_tokens,
        )
        totals.add(attempt, cost)
        if self._ledger is None or entry is None:
            return
        entry.outcome = "ok" if outcome is None else outcome.kind.value
        entry.prompt_tokens = attempt.prompt_tokens
        entry.completion_tokens = attempt.completion_tokens
        entry.cached_prompt_tokens = attempt.cached_tokens
        entry.cache_write_tokens = attempt.cache_write_tokens
        entry.cost_usd = _decimal(cost)
        entry.latency_ms = round((time.perf_counter() - attempt.started) * 1000)
        entry.error_message = None if outcome is None else outcome.message[:_ERROR_TEXT_LIMIT]
        await self._ledger.settle(entry)

    # --- shared state, per provider endpoint --------------------------------------------------

    async def provider_answers(self, model: ModelChoice) -> bool:
        """Whether calls to the model's provider go through (its breaker is not open)."""
        if model.provider == OFFLINE:
            return True
        status = await self._breaker(model).status()
        return status.state is not BreakerState.OPEN

    def _endpoint(self, model: ModelChoice) -> str:
        return f"{model.provider}|{self._settings.llm_base_url or 'default'}"

    def _breaker(self, model: ModelChoice) -> CircuitBreaker:
        return self._admission(model).breaker

    def _limiter(self, model: ModelChoice) -> RateLimiter:
        return self._admission(model).limiter

    def _admission(self, model: ModelChoice) -> Admission:
        name = self._endpoint(model)
        admission = self._admissions.get(name)
        if admission is None:
            settings = self._settings
            breaker = CircuitBreaker(
                self._redis,
                name,
                failure_threshold=settings.llm_breaker_failure_threshold,
                recovery_seconds=settings.llm_breaker_recovery_seconds,
                success_threshold=settings.llm_breaker_success_threshold,
            )
            limiter = RateLimiter(
                self._redis,
                name,
                requests_per_minute=settings.llm_requests_per_minute or None,
                tokens_per_minute=settings.llm_tokens_per_minute or None,
                sleep=self._sleep,
            )
            admission = self._admissions[name] = Admission(self._redis, breaker, limiter)
        return admission

    # --- retry schedule ---------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        """1, 2, 4, 8, 16 s after the 1st..5th failure, plus jitter; a longer Retry-After from
        the provider wins (up to a minute)."""
        settings = self._settings
        wait: float = min(
            settings.llm_retry_initial_wait_seconds * 2.0 ** (state.attempt_number - 1),
            settings.llm_retry_max_wait_seconds,
        ) + self._jitter(settings.llm_retry_jitter_seconds)
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, LLMError) and error.retry_after_seconds is not None:
            wait = max(wait, min(error.retry_after_seconds, _MAX_RETRY_AFTER_SECONDS))
        return wait

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("LLM call failed (%s); retry %d in %.1f s", error, state.attempt_number, wait)


def classify(error: BaseException) -> LLMError:
    """The failure kind of an exception from a chat model. LangChain's provider-neutral
    exceptions (langchain_core.exceptions.Model*Error, which provider integrations raise
    alongside their SDK's own) come first; HTTP status codes and transport errors cover
    clients that do not raise them yet."""
    status = getattr(error, "status_code", None)
    message = _short(str(error))
    if isinstance(error, ModelTimeoutError | openai.APITimeoutError | httpx.TimeoutException):
        return LLMError(FailureKind.TIMEOUT, "the provider did not answer in time")
    if isinstance(error, TimeoutError):
        return LLMError(FailureKind.TIMEOUT, "the provider did not answer in time")
    if isinstance(error, ModelConnectionError | openai.APIConnectionError | httpx.TransportError):
        return LLMError(FailureKind.CONNECTION, f"cannot reach the provider: {message}")
    if isinstance(error, ModelRateLimitError) or status == 429:
        return LLMError(
            FailureKind.RATE_LIMITED,
            f"the provider is rate limiting (429): {message}",
            retry_after_seconds=_retry_after(error),
        )
    if isinstance(error, ModelAuthenticationError | ModelPermissionDeniedError) or status in (
        401,
        403,
    ):
        return LLMError(
            FailureKind.UNAUTHORIZED, f"the provider refused the credentials ({status}): {message}"
        )
    if isinstance(error, ModelRefusalError):
        return LLMError(FailureKind.REFUSED, f"the model refused: {message}")
    if isinstance(error, ContextOverflowError):
        return LLMError(
            FailureKind.BAD_REQUEST, f"the request is longer than the model's context: {message}"
        )
    if isinstance(error, ModelAPIError) or (isinstance(status, int) and status >= 500):
        return LLMError(FailureKind.SERVER_ERROR, f"the provider failed ({status}): {message}")
    return LLMError(
        FailureKind.BAD_REQUEST, f"the provider rejected the request ({status}): {message}"
    )


# Providers that cache a prompt only up to a point the request marks (LangChain's content
# block `cache_control`); the others cache every prefix they have seen.
_MARKED_CACHE_PROVIDERS = frozenset({"anthropic"})


def chat_messages(request: ModelCall) -> list[BaseMessage]:
    """The request as chat messages: the user message carries a cache mark at the end of the
    shared document for providers that need one."""
    user: str | list[str | dict[str, Any]] = request.user
    if request.model.provider in _MARKED_CACHE_PROVIDERS and request.cache_point > 0:
        user = [
            {
                "type": "text",
                "text": request.user[: request.cache_point],
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": request.user[request.cache_point :]},
        ]
    return [SystemMessage(content=request.system), HumanMessage(content=user)]


def parse_answer(message: AIMessage, text: str, request: ModelCall) -> dict[str, Any]:
    """The answer as a dict valid against the request's schema, or MALFORMED, REFUSED or
    TRUNCATED."""
    refusal = message.additional_kwargs.get("refusal")
    if refusal:
        raise LLMError(FailureKind.REFUSED, f"the model refused: {_short(str(refusal))}")
    if message.response_metadata.get("finish_reason") == "content_filter":
        raise LLMError(FailureKind.REFUSED, "the provider's content filter stopped the answer")
    if message.response_metadata.get("finish_reason") == "length":
        raise LLMError(
            FailureKind.TRUNCATED,
            f"the answer was cut off at max_tokens ({request.max_tokens})",
            raw_text=text,
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LLMError(
            FailureKind.MALFORMED, f"the answer is not valid JSON: {error}", raw_text=text
        ) from None
    if not isinstance(data, dict):
        raise LLMError(FailureKind.MALFORMED, "the answer is not a JSON object", raw_text=text)
    problems = schema_problems(data, request.answer_schema)
    if problems:
        raise LLMError(
            FailureKind.MALFORMED,
            f"the answer does not match its schema: {_short(problems)}",
            raw_text=text,
        )
    return data


def schema_problems(data: Any, schema: dict[str, Any]) -> str | None:
    """What in `data` does not match `schema` (the first five problems), None if it does."""
    problems = sorted(_validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if not problems:
        return None
    return "; ".join(
        f"{'/'.join(map(str, problem.path)) or 'answer'}: {problem.message}"
        for problem in problems[:5]
    )


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _text_of(message: AIMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(
        block if isinstance(block, str) else str(block.get("text", "")) for block in message.content
    )


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _decimal(cost: float | None) -> Decimal | None:
    """A cost as the ledger stores it, to the millionth of a dollar."""
    return None if cost is None else Decimal(str(round(cost, 6)))


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[: _ERROR_TEXT_LIMIT - 1] + "…"
