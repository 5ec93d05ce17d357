"""Prompt generation and LLM gateway benchmark.

  1. Prompt generation: time to generate one variable's prompt (SC-002 asks < 1 s) over a
     schema of 50 variables of every type, and to render the messages of one call for a
     5,000-word document.
  2. Gateway overhead: the same structured call made --calls times, one after another, with
     LangChain's bare ChatOpenAI client and through the gateway (breaker, rate limit with
     limits set high, schema validation, accounting), both against the local
     OpenAI-compatible server running as its own process; with and without the usage ledger
     (one INSERT per request into a fresh PostgreSQL database).
  3. Shared rate limit: --processes processes, each with --concurrency calls in flight, call
     through the gateway for --seconds under LLM_REQUESTS_PER_MINUTE=--rpm; the server counts
     what arrives. Prints configured vs achieved calls per minute.

Needs the local PostgreSQL and Redis (BENCH_POSTGRES_ADMIN_URL, BENCH_REDIS_URL); writes
nothing to the repository.

    .venv/bin/python -m bench.llm_gateway [--calls 300] [--rpm 600] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from redis.asyncio import Redis

from bench.crud_latency import REDIS_URL, REPOSITORY, free_port, fresh_database
from server.core.config import Settings
from server.core.db import Database, create_engine
from server.core.migrate import application_url, migrate
from server.llm.factory import ModelChoice
from server.llm.gateway import LLMGateway, ModelCall
from server.llm.ledger import DatabaseLedger
from server.projects.models import Project, UnitOfObservation
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.prompts import CallContext, generate_prompt, render_messages

CODERAI_BIN = os.path.join(os.path.dirname(sys.executable), "coderai")
MODEL = ModelChoice("openai", "gpt-4o-mini")
SENTENCE = (
    "The committee met on 12 March 2024 and approved a budget of 2.5 million euros for the "
    "coastal protection programme, which the minister described as overdue. "
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(values: list[float], unit: float = 1000.0, label: str = "ms") -> str:
    return (
        f"mean {statistics.fmean(values) * unit:.3f} {label}, "
        f"p50 {percentile(values, 0.5) * unit:.3f}, p95 {percentile(values, 0.95) * unit:.3f}"
    )


# --- 1. prompt generation -------------------------------------------------------------------


def schema_of_50() -> tuple[Project, list[Variable]]:
    project = Project(
        name="Bench",
        domain="parliamentary debates on climate policy",
        language="en",
        unit_of_observation=UnitOfObservation.ENTITY,
        entity_identification_pattern="each member of parliament who speaks",
        llm_config={},
    )
    categories = {
        "categories": [
            {"label": f"category_{i}", "definition": f"Definition of category {i}. " * 5}
            for i in range(8)
        ],
        "selection_logic": "Prefer the most specific category.",
    }
    types = list(VariableType)
    variables = [
        Variable(
            id=uuid.uuid4(),
            name=f"variable_{index}",
            display_name=f"Variable {index}",
            type=types[index % len(types)],
            instructions="What the speaker says about the budget, in detail. " * 8,
            classification_rules=categories
            if types[index % len(types)] is VariableType.CATEGORY
            else None,
            confidence_threshold=0.7,
            if_uncertain=IfUncertain.FLAG_FOR_REVIEW,
            if_multiple_values=IfMultipleValues.ALL if index % 3 == 0 else IfMultipleValues.FIRST,
            max_values=5 if index % 3 == 0 else 1,
            validation_rules={},
            depends_on=[],
        )
        for index in range(50)
    ]
    return project, variables


def bench_prompt_generation(rounds: int) -> None:
    project, variables = schema_of_50()
    timings: list[float] = []
    for _ in range(rounds):
        for variable in variables:
            started = time.perf_counter()
            generate_prompt(variable, project, MODEL, dependency_names=["party"])
            timings.append(time.perf_counter() - started)
    print(f"prompt generation, {len(timings)} variables: {summary(timings)}")

    prompt = generate_prompt(variables[0], project, MODEL)
    document = SENTENCE * 160  # about 5,000 words
    renders: list[float] = []
    for _ in range(200):
        started = time.perf_counter()
        render_messages(
            prompt.system_prompt, prompt.user_prompt_template, document, CallContext(entity="x")
        )
        renders.append(time.perf_counter() - started)
    print(f"render one call's messages (5,000-word document): {summary(renders)}")


# --- 2. gateway overhead --------------------------------------------------------------------


def start_llm_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [CODERAI_BIN, "llm-server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the local LLM server did not start")


def bench_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "redis_url": REDIS_URL,
        "llm_provider": "openai",
        "llm_base_url": base_url,
        "llm_requests_per_minute": 1_000_000,
        "llm_tokens_per_minute": 1_000_000_000,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


def the_call(user_id: uuid.UUID | None = None) -> ModelCall:
    project, variables = schema_of_50()
    prompt = generate_prompt(variables[2], project, MODEL)  # a DATE variable
    messages = render_messages(
        prompt.system_prompt, prompt.user_prompt_template, SENTENCE * 20, CallContext()
    )
    return ModelCall(
        system=messages.system,
        user=messages.user,
        response_schema=prompt.response_schema,
        model=MODEL,
        temperature=prompt.temperature,
        max_tokens=prompt.max_tokens,
        purpose="benchmark",
        user_id=user_id,
    )


async def timed_calls(calls: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    for _ in range(10):  # warm-up: connections, caches
        await call()
    timings: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return timings


async def bench_gateway_overhead(base_url: str, calls: int) -> None:
    request = the_call()
    bare = ChatOpenAI(model=MODEL.model, base_url=base_url, api_key="bench", max_retries=0)
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": request.response_schema, "strict": True},
    }
    messages = [SystemMessage(content=request.system), HumanMessage(content=request.user)]

    async def bare_call() -> object:
        return await bare.ainvoke(
            messages,
            response_format=response_format,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        )

    settings = bench_settings(base_url)
    redis = Redis.from_url(REDIS_URL)
    gateway = LLMGateway(settings, redis)
    bare_timings = await timed_calls(calls, bare_call)
    gateway_timings = await timed_calls(calls, lambda: gateway.call(request))

    async with fresh_database() as owner_url:
        await migrate(settings, owner_url)
        database = Database(create_engine(application_url(settings, owner_url)))
        ledger_gateway = LLMGateway(settings, redis, ledger=DatabaseLedger(database))
        with_ledger = the_call(uuid.uuid4())
        ledger_timings = await timed_calls(calls, lambda: ledger_gateway.call(with_ledger))
        await database.dispose()
    await redis.aclose()

    print(f"bare ChatOpenAI call ({calls} sequential):   {summary(bare_timings)}")
    print(f"gateway call, no ledger:                 {summary(gateway_timings)}")
    print(f"gateway call, with the usage ledger:     {summary(ledger_timings)}")
    for label, timings in (("no ledger", gateway_timings), ("ledger", ledger_timings)):
        mean = statistics.fmean(timings) - statistics.fmean(bare_timings)
        p50 = percentile(timings, 0.5) - percentile(bare_timings, 0.5)
        print(f"gateway overhead ({label}): mean {mean * 1000:.2f} ms, p50 {p50 * 1000:.2f} ms")


# --- 3. shared rate limit -------------------------------------------------------------------


async def rate_limited_worker(base_url: str, rpm: int, seconds: float, concurrency: int) -> None:
    """One process of part 3: calls in a loop until the time is up; prints its count."""
    settings = bench_settings(
        base_url, llm_requests_per_minute=rpm, llm_tokens_per_minute=0, llm_max_retries=0
    )
    redis = Redis.from_url(REDIS_URL)
    gateway = LLMGateway(settings, redis)
    request = the_call()
    started = time.time()
    deadline = time.monotonic() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await gateway.call(request)
            done += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    await redis.aclose()
    print(json.dumps({"calls": done, "started": started, "finished": time.time()}))


async def bench_shared_rate_limit(
    base_url: str, rpm: int, seconds: float, processes: int, concurrency: int
) -> None:
    stats = f"{base_url.removesuffix('/v1')}/_control/stats"
    async with httpx.AsyncClient() as client:
        before = (await client.get(stats)).json()["requests"]
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.llm_gateway",
                "--worker",
                base_url,
                "--rpm",
                str(rpm),
                "--seconds",
                str(seconds),
                "--concurrency",
                str(concurrency),
                stdout=asyncio.subprocess.PIPE,
                cwd=REPOSITORY,
            )
            for _ in range(processes)
        ]
        outputs = [await worker.communicate() for worker in workers]
        received = (await client.get(stats)).json()["requests"] - before
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    counts = [report["calls"] for report in reports]
    # From the first process starting to call until the last one stops (process start-up,
    # the imports, is not part of it).
    window = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    achieved = received / window * 60
    print(
        f"shared rate limit: configured {rpm} calls/min (burst 1 s); {processes} processes x "
        f"{concurrency} in flight for {seconds:.0f} s made {counts} calls; the server received "
        f"{received} in {window:.1f} s = {achieved:.0f} calls/min "
        f"({achieved / rpm * 100:.1f}% of the limit)"
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--worker", metavar="BASE_URL", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.worker:
        await rate_limited_worker(options.worker, options.rpm, options.seconds, options.concurrency)
        return 0

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    bench_prompt_generation(options.rounds)
    port = free_port()
    server = start_llm_server(port)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        await bench_gateway_overhead(base_url, options.calls)
        await bench_shared_rate_limit(
            base_url, options.rpm, options.seconds, options.processes, options.concurrency
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
