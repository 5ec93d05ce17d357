"""A local OpenAI-compatible Chat Completions server for tests and demos.

It answers structured requests with the offline baseline (values drawn from the document) and
injects the failures a real provider produces (error statuses, slowness, malformed, truncated
or incomplete output, refusals) on demand, so the gateway's error handling is exercised over
real HTTP with the real client instead of a mocked one.

Which fault a request gets, first match wins: a directive in the request (the header
`X-Local-LLM-Fault: 500` or a marker `[[local-llm:500]]` anywhere in the messages), then the
next scripted fault, then the default, then a normal answer. A directive does not consume the
script. Another process can drive the server through `/_control/*`.

A test that needs a model reading correctly (to score the pipeline, not the model) gives a
variable its answer (`answer_variable`): the value and quotes a careful reader would give,
stated in the chunk that holds them and not found in the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from array import array
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from aiohttp import web

from server.llm import fencing, tokens
from server.llm.offline import baseline_answer, described_variables, response_schema

logger = logging.getLogger(__name__)

FaultKind = Literal[
    "ok",
    "status",
    "timeout",
    "malformed",
    "missing_fields",
    "wrong_types",
    "refusal",
    "length",
    "content_filter",
]
_KINDS: dict[str, FaultKind] = {kind: kind for kind in get_args(FaultKind) if kind != "status"}
FAULT_HEADER = "X-Local-LLM-Fault"
TIMEOUT_SLEEP = 3600.0
REFUSAL = "I can't help with that."
MODELS = ("gpt-4o-mini", "coderai-baseline")
PLAIN_ANSWER = (
    "Local CoderAI test server: send a json_schema response_format to get an extraction "
    "answer drawn from the document by the offline baseline."
)
_MARKER = re.compile(r"\[\[local-llm:([^\]]*)\]\]")
# Documents travel in the request body; aiohttp's default cap (1 MiB) is too small for them.
_MAX_BODY = 64 * 1024 * 1024
# OpenAI's error `type` and `code` for the statuses a fault may return.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (injected by the local LLM server)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", "overloaded", "The engine is currently overloaded."),
}


@dataclass(frozen=True)
class ScriptedAnswer:
    """A variable's answer, given where the text the model is shown contains `where` (every
    quote when it is empty: a list of them for several values); elsewhere the answer is
    that the value is not stated."""

    value: Any
    source_text: Any
    confidence: float = 0.95
    where: str = ""

    def for_text(self, shown: str) -> dict[str, Any]:
        quotes = self.source_text if isinstance(self.source_text, list) else [self.source_text]
        anchors = [self.where] if self.where else [q for q in quotes if q]
        if all(anchor in shown for anchor in anchors):
            return {
                "found": True,
                "value": self.value,
                "confidence": self.confidence,
                "source_text": self.source_text,
            }
        empty: list[Any] | None = [] if isinstance(self.value, list) else None
        return {"found": False, "value": empty, "confidence": self.confidence, "source_text": empty}


def _first_stated(answers: Sequence[ScriptedAnswer], shown: str) -> dict[str, Any]:
    answer = answers[0].for_text(shown)
    for scripted in answers:
        answer = scripted.for_text(shown)
        if answer["found"]:
            return answer
    return answer


class PrefixCache:
    """A provider's prompt cache as OpenAI bills it: a request whose start (its answer schema,
    then its messages) repeats an earlier request's is served that part from the cache, from
    1,024 tokens on, in steps of 128. It holds the starts of recent requests, as hashes."""

    MINIMUM = 1024
    STEP = 128

    def __init__(self, capacity: int = 100_000) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity

    def cached_tokens(self, prompt: Sequence[int]) -> int:
        """The tokens of `prompt` served from the cache; remembers its starts."""
        # The key of each start is the hash of all of it, so a start seen implies every
        # shorter one seen: the cached part ends where the first unseen start begins.
        digest = hashlib.sha256()
        cached = 0
        for end in range(self.STEP, len(prompt) + 1, self.STEP):
            digest.update(array("l", prompt[end - self.STEP : end]).tobytes())
            key = digest.digest()
            if cached == end - self.STEP and key in self._seen:
                self._seen.move_to_end(key)
                cached = end
            else:
                self._seen[key] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return cached if cached >= self.MINIMUM else 0


@dataclass(frozen=True)
class Fault:
    """How the server answers one request.

    `status` is the HTTP status for kind "status"; `delay` is latency added before answering
    (for "timeout" with no delay, an hour that `stop()` cuts short); `retry_after` is sent as a
    Retry-After header with an error status.
    """

    kind: FaultKind = "ok"
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None

    @property
    def sleep_seconds(self) -> float:
        if self.kind == "timeout" and not self.delay:
            return TIMEOUT_SLEEP
        return self.delay

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Reads a directive: comma-separated items, each a kind ("timeout", "malformed",
        "missing_fields", "wrong_types", "refusal", "length", "content_filter", "ok"), an
        HTTP error status ("429"), or a setting ("latency=0.2", "delay=0.2", "retry_after=1",
        "status=503", "timeout=5"). Example: "429,retry_after=2" or "latency=0.3"."""
        kind: FaultKind | None = None
        status = 500
        delay = 0.0
        retry_after: float | None = None
        items = [item for item in re.split(r"[,;\s]+", text.strip()) if item]
        if not items:
            raise ValueError("an empty fault directive")
        for item in items:
            key, _, setting = item.partition("=")
            key = key.strip().lower().replace("-", "_")
            new_kind: FaultKind | None = None
            try:
                if not setting:
                    if key.isdigit():
                        new_kind, status = "status", _error_status(int(key))
                    elif key in _KINDS:
                        new_kind = _KINDS[key]
                    else:
                        raise ValueError(f"unknown fault {item!r}")
                elif key in ("latency", "delay"):
                    delay = _seconds(setting)
                elif key == "timeout":
                    new_kind, delay = "timeout", _seconds(setting)
                elif key == "retry_after":
                    retry_after = _seconds(setting)
                elif key == "status":
                    new_kind, status = "status", _error_status(int(setting))
                else:
                    raise ValueError(f"unknown fault setting {item!r}")
            except ValueError as error:
                raise ValueError(f"bad fault directive {text!r}: {error}") from error
            if new_kind is not None:
                if kind is not None and kind != new_kind:
                    raise ValueError(f"bad fault directive {text!r}: two kinds of fault")
                kind = new_kind
        return cls(kind=kind or "ok", status=status, delay=delay, retry_after=retry_after)

    def __str__(self) -> str:
        parts = [str(self.status) if self.kind == "status" else self.kind]
        if self.delay:
            parts.append(f"delay={self.delay:g}")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}")
        return ",".join(parts)


def _error_status(status: int) -> int:
    if not 400 <= status <= 599:
        raise ValueError(f"an error status is 4xx or 5xx, not {status}")
    return status


def _seconds(text: str) -> float:
    seconds = float(text)
    if not 0 <= seconds <= TIMEOUT_SLEEP:
        raise ValueError(f"{text} seconds is out of range")
    return seconds


def _message_texts(messages: Sequence[Any]) -> list[str]:
    """The text of each message: a string content or the text parts of a list content."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.append(
                "".join(
                    part["text"]
                    for part in content
                    if isinstance(part, dict) and isinstance(part.get("text"), str)
                )
            )
        else:
            texts.append("")
    return texts


def _error(
    status: int, message: str | None = None, retry_after: float | None = None
) -> web.Response:
    error_type, code, default_message = _ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
    return web.json_response(
        {
            "error": {
                "message": message or default_message,
                "type": error_type,
                "param": None,
                "code": code,
            }
        },
        status=status,
        headers=headers,
    )


class LocalLLMServer:
    """The server, started and stopped inside the caller's event loop."""

    def __init__(self, *, prefix_cache: bool = False) -> None:
        """prefix_cache: report cached prompt tokens as a provider with a prompt cache does
        (see PrefixCache)."""
        self.requests: list[dict[str, Any]] = []
        # The usage reported for each answered request, in order.
        self.usages: list[dict[str, Any]] = []
        self.prefix_cache = PrefixCache() if prefix_cache else None
        # Requests being answered now, and the most at once since the last reset.
        self.open_requests = 0
        self.peak_open_requests = 0
        self._script: deque[Fault] = deque()
        self._default: Fault | None = None
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._stopping = asyncio.Event()
        self._completions = 0
        self._answers: dict[str, tuple[ScriptedAnswer, ...]] = {}
        self._guided_answers: dict[str, tuple[ScriptedAnswer, ...]] = {}
        self._schema_answers: dict[str, dict[str, Any]] = {}

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the local LLM server is not running")
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host  # noqa: S104
        return f"http://{host}:{self._port}/v1"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=_MAX_BODY)
        app.add_routes(
            [
                web.post("/v1/chat/completions", self._chat_completions),
                web.get("/v1/models", self._models),
                web.post("/_control/faults", self._control_faults),
                web.get("/_control/stats", self._control_stats),
                web.get("/_control/requests", self._control_requests),
                web.post("/_control/reset", self._control_reset),
            ]
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self._stopping = asyncio.Event()

    async def stop(self) -> None:
        """Stops serving; requests still sleeping (latency, timeout faults) end at once with
        a 503 instead of holding the shutdown."""
        if self._runner is None:
            return
        self._stopping.set()
        runner, self._runner, self._port = self._runner, None, None
        await runner.cleanup()

    def script(self, *faults: Fault) -> None:
        """Queues faults for the next requests, one each, ahead of the default."""
        self._script.extend(faults)

    def set_default(self, fault: Fault | None) -> None:
        """The fault for requests once the script is used up (None: answer normally)."""
        self._default = fault

    def reset(self) -> None:
        self.requests.clear()
        self.usages.clear()
        self.peak_open_requests = self.open_requests
        self._script.clear()
        self._default = None
        self._answers.clear()
        self._guided_answers.clear()
        self._schema_answers.clear()

    def answer_variable(
        self,
        name: str,
        *answers: ScriptedAnswer,
        guided: Sequence[ScriptedAnswer] | None = None,
    ) -> None:
        """Requests about the variable `name` get the first of these answers whose quotes
        (or `where`) the text shown holds, instead of the baseline's; the value is not stated
        when none does. `guided`: the answers of a model that follows the variable's review
        guidance, given when the prompt has some (a refined prompt)."""
        self._answers[name] = answers
        if guided is not None:
            self._guided_answers[name] = tuple(guided)

    def answer_schema(self, name: str, answer: dict[str, Any]) -> None:
        """Requests whose json_schema is named `name` (one the baseline does not answer, such
        as a refinement proposal) get this answer."""
        self._schema_answers[name] = answer

    def _fault_for(self, texts: list[str], header: str | None) -> Fault:
        if header:
            return Fault.parse(header)
        for text in texts:
            marker = _MARKER.search(text)
            if marker:
                return Fault.parse(marker.group(1))
        if self._script:
            return self._script.popleft()
        return self._default or Fault()

    async def _sleep(self, seconds: float) -> bool:
        """Waits `seconds`; True if `stop()` cut the wait short."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _chat_completions(self, request: web.Request) -> web.Response:
        self.open_requests += 1
        self.peak_open_requests = max(self.peak_open_requests, self.open_requests)
        try:
            return await self._answer_request(request)
        finally:
            self.open_requests -= 1

    async def _answer_request(self, request: web.Request) -> web.Response:
        raw = await request.text()
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            self.requests.append({"unparsed_body": raw})
            return _error(400, "The request body is not a JSON object.")
        self.requests.append(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _error(400, "'messages' must be a non-empty array.")
        texts = _message_texts(messages)
        try:
            fault = self._fault_for(texts, request.headers.get(FAULT_HEADER))
        except ValueError as error:
            return _error(400, str(error))
        if fault.kind != "ok":
            logger.debug("local LLM server injects %s", fault)
        if fault.sleep_seconds and await self._sleep(fault.sleep_seconds):
            return _error(503, "The local LLM server is shutting down.")
        if fault.kind == "status":
            return _error(fault.status, retry_after=fault.retry_after)
        try:
            answer = self._answer(texts, body.get("response_format"))
        except ValueError as error:
            return _error(400, f"Unsupported response_format: {error}")
        return web.json_response(self._completion(body, texts, answer, fault))

    def _answer(self, texts: list[str], response_format: Any) -> dict[str, Any] | None:
        """The answer for a json_schema request (the variable's scripted one, else the
        baseline's); None for a plain chat request."""
        if response_format is None or (
            isinstance(response_format, dict) and response_format.get("type") == "text"
        ):
            return None
        schema = response_schema(response_format)
        name = response_format.get("json_schema", {}).get("name")
        if name in self._schema_answers:
            return self._schema_answers[name]
        answer = baseline_answer(texts, schema)
        if not self._answers:
            return answer
        document = ""
        for text in texts:
            document = fencing.sections(text).get("DOCUMENT", document)
        grouped = "value" not in schema.get("properties", {})
        for described in described_variables(texts):
            variable = described.get("name")
            if not isinstance(variable, str) or variable not in self._answers:
                continue
            scripted = self._answers[variable]
            if "guidance" in described and variable in self._guided_answers:
                scripted = self._guided_answers[variable]
            stated = _first_stated(scripted, document)
            if not grouped:
                return stated
            if variable in answer:
                answer[variable] = stated
        return answer

    def _completion(
        self,
        body: dict[str, Any],
        texts: list[str],
        answer: dict[str, Any] | None,
        fault: Fault,
    ) -> dict[str, Any]:
        """An OpenAI chat.completion object carrying the answer, spoiled as `fault` says."""
        text = json.dumps(answer) if answer is not None else PLAIN_ANSWER
        content: str | None = text
        refusal: str | None = None
        finish_reason = "stop"
        if fault.kind == "malformed":
            # A proper prefix of a JSON object is never valid JSON.
            content = text[: len(text) // 2] if answer is not None else '{"found": tr'
        elif fault.kind == "missing_fields":
            content = json.dumps(_without_fields(answer))
        elif fault.kind == "wrong_types":
            content = json.dumps(_with_wrong_types(answer))
        elif fault.kind == "refusal":
            content, refusal = None, REFUSAL
        elif fault.kind == "length":
            content, finish_reason = text[: len(text) // 2], "length"
        elif fault.kind == "content_filter":
            content, finish_reason = "", "content_filter"
        self._completions += 1
        # As OpenAI counts them: the answer's schema is part of the prompt, before it.
        schema = _schema_of(body.get("response_format"))
        prompt_tokens = tokens.count_message_tokens(texts)
        usage: dict[str, Any] = {}
        if schema is not None:
            prompt_tokens += tokens.count_schema_tokens(schema)
        if self.prefix_cache is not None:
            start = tokens.schema_text(schema) if schema is not None else ""
            prompt = tokens.encoding().encode(start + "".join(texts), disallowed_special=())
            usage["prompt_tokens_details"] = {
                "cached_tokens": min(prompt_tokens, self.prefix_cache.cached_tokens(prompt))
            }
        completion_tokens = tokens.count_tokens(content or refusal or "")
        usage.update(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        self.usages.append(usage)
        model = body.get("model")
        return {
            "id": f"chatcmpl-local{self._completions:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if isinstance(model, str) else MODELS[0],
            "system_fingerprint": "coderai-local",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": model, "object": "model", "created": 0, "owned_by": "coderai-local"}
                    for model in MODELS
                ],
            }
        )

    async def _control_faults(self, request: web.Request) -> web.Response:
        """{"script": ["500", "timeout"], "default": "ok" | null}: a given script replaces
        the queue; either key may be left out."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body is a JSON object")
            script = body.get("script")
            faults = None if script is None else [Fault.parse(str(item)) for item in script]
            default = body.get("default")
            new_default = None if default is None else Fault.parse(str(default))
        except (ValueError, TypeError) as error:
            return _error(400, f"Bad fault control request: {error}")
        if faults is not None:
            self._script = deque(faults)
        if "default" in body:
            self.set_default(new_default)
        return web.json_response(self._stats())

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self._stats())

    async def _control_requests(self, request: web.Request) -> web.Response:
        """Every request received and the usage of each one answered (a benchmark's record)."""
        return web.json_response({"requests": self.requests, "usage": self.usages})

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(self._stats())

    def _stats(self) -> dict[str, Any]:
        return {
            "requests": len(self.requests),
            "peak_open_requests": self.peak_open_requests,
            "script": [str(fault) for fault in self._script],
            "default": None if self._default is None else str(self._default),
        }


def _schema_of(response_format: Any) -> Mapping[str, Any] | None:
    try:
        return response_schema(response_format)
    except ValueError:
        return None


def _without_fields(answer: dict[str, Any] | None) -> dict[str, Any]:
    if answer is None or "entities" in answer:
        return {}
    return {key: value for key, value in answer.items() if key not in ("confidence", "source_text")}


def _with_wrong_types(answer: dict[str, Any] | None) -> dict[str, Any]:
    if answer is not None and "entities" in answer:
        return {"entities": ", ".join(entity["name"] for entity in answer["entities"])}
    return {**(answer or {}), "found": "yes", "confidence": "high"}


async def run(host: str, port: int, *, prefix_cache: bool = False) -> None:
    """Serves until cancelled (the `coderai llm-server` command)."""
    server = LocalLLMServer(prefix_cache=prefix_cache)
    await server.start(host, port)
    logger.info("local OpenAI-compatible LLM server listening on %s", server.base_url)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
