"""What one document's extraction sends, and what a provider with a prompt cache bills for it.

The product's own extraction pipeline and LLM gateway extract one realistic document (the demo's
seven council minutes and two HTML pages, parsed by the product: about 2,300 tokens) for ten
variables of every type, talking HTTP to `coderai llm-server --prefix-cache`, which counts
prompt tokens as OpenAI does (the answer's schema included) and reports cached tokens by
OpenAI's rule (a repeated start of 1,024 tokens or more, in steps of 128). For each extraction
mode it prints the requests, the prompt tokens and their ratio to the document's, the start
every request of the document shares (schema, system prompt and messages, in OpenAI's order),
the cached tokens, and the billed token-equivalents at a 50 % and a 90 % discount on cached
tokens, with the aims of the cost issue checked against them.

`--before PATH` first measures another checkout's pipeline (prompts, gateway, pipeline), an
earlier version, in a process of its own, and prints its rows above this checkout's, the billed
figures compared with its per-variable mode; the model server is always this checkout's. Run it
with `.venv/bin/python -m bench.tokens [--before PATH]`. It needs Redis (127.0.0.1:6379, or
BENCH_REDIS_URL) for the gateway's breaker, takes a few seconds and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

REPOSITORY = Path(__file__).resolve().parent.parent
CODERAI_BIN = Path(sys.executable).with_name("coderai")
SAMPLES = REPOSITORY / "server" / "demo" / "samples"
STARTUP_SECONDS = 30.0
DISCOUNTS = (0.5, 0.9)


@dataclass(frozen=True)
class Request:
    start: str
    prompt_tokens: int
    cached_tokens: int


@dataclass(frozen=True)
class ModeFigures:
    mode: str
    requests: list[Request]
    document_tokens: int
    shared_tokens: int | None
    variables_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return sum(request.prompt_tokens for request in self.requests)

    @property
    def cached_tokens(self) -> int:
        return sum(request.cached_tokens for request in self.requests)

    def billed(self, discount: float) -> float:
        """Prompt token-equivalents billed when cached tokens cost (1 - discount)."""
        return self.prompt_tokens - discount * self.cached_tokens


class ModelServer:
    """This checkout's `coderai llm-server --prefix-cache` in a process of its own."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [str(CODERAI_BIN), "llm-server", "--prefix-cache", "--port", str(self.port)],
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._http = aiohttp.ClientSession(f"http://127.0.0.1:{self.port}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                await self.recorded()
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local LLM server did not start")
            await asyncio.sleep(0.1)

    async def recorded(self) -> dict[str, Any]:
        async with self._http.get("/_control/requests") as response:
            response.raise_for_status()
            record: dict[str, Any] = await response.json()
        return record

    async def reset(self) -> None:
        async with self._http.post("/_control/reset") as response:
            response.raise_for_status()

    async def close(self) -> None:
        await self._http.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def document_text() -> str:
    """The demo's minutes, as the product parses them, one after another."""
    from server.documents.parsing import parse_document

    parts = [
        parse_document(path.read_bytes(), path.name).text
        for path in sorted(SAMPLES.iterdir())
        if path.suffix in (".txt", ".html")
    ]
    return "\n\n".join(parts)


def variables() -> list[Any]:
    """Ten variables of every type, as a researcher of the demo's project would write them."""
    from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType

    def one(name: str, kind: VariableType, instructions: str, **overrides: Any) -> Variable:
        fields: dict[str, Any] = {
            "id": uuid.uuid4(),
            "name": name,
            "display_name": name.replace("_", " ").capitalize(),
            "type": kind,
            "instructions": instructions,
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

    measure = {
        "categories": [
            {"label": "hard defence", "definition": "Sea walls, dikes, groynes, revetments."},
            {"label": "nature-based", "definition": "Dunes, beach nourishment, salt marshes."},
            {"label": "managed retreat", "definition": "Moving homes or roads inland."},
        ],
        "selection_logic": "When a scheme combines kinds, the one that takes most of the budget.",
    }
    funding = {
        "categories": [
            {"label": "council", "definition": "The council's own budget."},
            {"label": "national", "definition": "A national government programme."},
            {"label": "european", "definition": "A European Union fund."},
            {"label": "mixed", "definition": "Two or more of the above."},
        ],
        "selection_logic": "",
    }
    return [
        one("approval_date", VariableType.DATE, "The date the council approved the measure."),
        one(
            "budget_eur",
            VariableType.NUMBER,
            "The total budget of the measure in euros, millions written out in full.",
            validation_rules={"min_value": 0},
        ),
        one("approved", VariableType.BOOLEAN, "Whether the council approved the measure."),
        one(
            "measure_type",
            VariableType.CATEGORY,
            "The kind of measure.",
            classification_rules=measure,
        ),
        one("purpose", VariableType.TEXT, "The purpose of the measure in one sentence."),
        one("council_name", VariableType.TEXT, "The name of the council that met."),
        one("meeting_date", VariableType.DATE, "The date of the meeting."),
        one(
            "funding_source",
            VariableType.CATEGORY,
            "Who pays for the measure.",
            classification_rules=funding,
        ),
        one(
            "households_protected",
            VariableType.NUMBER,
            "How many households the measure protects.",
            validation_rules={"integer_only": True},
        ),
        one(
            "consultation_held",
            VariableType.BOOLEAN,
            "Whether the public was consulted before the decision.",
        ),
    ]


async def extract(server: ModelServer, text: str, grouped: bool) -> ModeFigures | None:
    """One document through the pipeline in one mode; None where the checkout has no such
    mode."""
    from redis.asyncio import Redis

    from server.core.config import Settings
    from server.jobs.pipeline import DocumentWork, ExtractionPipeline, VariableWork, segments_of
    from server.jobs.postprocess import VariableRules
    from server.llm.factory import ModelChoice
    from server.llm.gateway import LLMGateway
    from server.llm.tokens import count_tokens
    from server.projects.models import Project, UnitOfObservation
    from server.schema.prompts import generate_prompt

    work_fields = {field.name for field in dataclasses.fields(DocumentWork)}
    if grouped and "grouped" not in work_fields:
        return None
    project = Project(
        name="Coastal protection plans",
        domain="municipal council minutes on coastal protection",
        language="en",
        unit_of_observation=UnitOfObservation.DOCUMENT,
        entity_identification_pattern="",
        llm_config={},
    )
    model = ModelChoice("openai", "gpt-4o-mini")
    schema = variables()
    prompts = {v.id: generate_prompt(v, project, model) for v in schema}
    extra: dict[str, Any] = {"grouped": grouped} if "grouped" in work_fields else {}
    work = DocumentWork(
        user_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        text=text,
        segments=segments_of(text, []),
        variables=tuple(
            VariableWork(
                id=v.id,
                name=v.name,
                rules=VariableRules.of(v),
                depends_on=(),
                prompt_id=uuid.uuid4(),
                prompt_version=1,
                prompt=prompts[v.id],
            )
            for v in schema
        ),
        entity_prompt=None,
        **extra,
    )
    settings = Settings(
        _env_file=None,
        database_url="postgresql://unused@127.0.0.1/unused",
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        llm_provider="openai",
        llm_base_url=server.base_url,
        llm_api_key=None,
        llm_requests_per_minute=0,
        llm_tokens_per_minute=0,
    )
    redis = Redis.from_url(str(settings.redis_url))
    try:
        await server.reset()
        await ExtractionPipeline(LLMGateway(settings, redis)).extract(work)
    finally:
        await redis.aclose()
    record = await server.recorded()
    requests = [
        Request(
            start=_start_of(body),
            prompt_tokens=int(usage["prompt_tokens"]),
            cached_tokens=int(usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)),
        )
        for body, usage in zip(record["requests"], record["usage"], strict=True)
    ]
    shared = _shared_start([request.start for request in requests])
    return ModeFigures(
        mode="grouped" if grouped else "per variable",
        requests=requests,
        document_tokens=count_tokens(text),
        shared_tokens=count_tokens(shared) if len(requests) > 1 else None,
        variables_tokens=sum(count_tokens(_own_text(v)) for v in schema),
    )


def _own_text(variable: Any) -> str:
    """What the researcher wrote about a variable: its name, label, instructions, categories
    and rules."""
    return json.dumps(
        [
            variable.name,
            variable.display_name,
            variable.instructions,
            variable.classification_rules,
            variable.validation_rules,
        ]
    )


def _start_of(body: dict[str, Any]) -> str:
    """A request as OpenAI lays it out for its cache: the answer's schema, then the messages."""
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    text = json.dumps(schema, separators=(",", ":"))
    return text + "".join(str(m.get("content", "")) for m in body["messages"])


def _shared_start(texts: Sequence[str]) -> str:
    first, shortest = texts[0], min(len(text) for text in texts)
    end = next((i for i in range(shortest) if any(t[i] != first[i] for t in texts)), shortest)
    return first[:end]


def print_figures(rows: Sequence[tuple[str, ModeFigures]], baseline: ModeFigures) -> None:
    """One row per version and mode; the last column compares with `baseline`'s billed
    tokens at the same discount."""
    print(
        "| version | mode | requests | prompt tokens | ÷ document | shared start | cached | "
        "billed at 50 % (of baseline) | billed at 90 % (of baseline) |"
    )
    print("|---" * 9 + "|")
    for version, figures in rows:
        ratio = figures.prompt_tokens / figures.document_tokens
        shared = f"{figures.shared_tokens:,}" if figures.shared_tokens is not None else "-"
        billed = [
            f"{figures.billed(d):,.0f} ({figures.billed(d) / baseline.billed(d):.2f})"
            for d in DISCOUNTS
        ]
        print(
            f"| {version} | {figures.mode} | {len(figures.requests)} | "
            f"{figures.prompt_tokens:,} | {ratio:.1f}x | {shared} | {figures.cached_tokens:,} | "
            f"{billed[0]} | {billed[1]} |"
        )


async def measure() -> list[ModeFigures]:
    text = document_text()
    server = ModelServer()
    try:
        await server.wait_until_up()
        return [
            figures
            for grouped in (False, True)
            if (figures := await extract(server, text, grouped)) is not None
        ]
    finally:
        await server.close()


def _as_json(results: Sequence[ModeFigures]) -> str:
    return json.dumps(
        [
            {
                **dataclasses.asdict(figures),
                "requests": [
                    {"prompt_tokens": r.prompt_tokens, "cached_tokens": r.cached_tokens}
                    for r in figures.requests
                ],
            }
            for figures in results
        ]
    )


def _from_json(text: str) -> list[ModeFigures]:
    return [
        ModeFigures(
            **{
                **item,
                "requests": [Request(start="", **request) for request in item["requests"]],
            }
        )
        for item in json.loads(text)
    ]


def report(before: list[ModeFigures] | None, after: list[ModeFigures], label: str) -> None:
    document = after[0]
    print(
        f"document: {document.document_tokens:,} tokens; 10 variables, their own text "
        f"{document.variables_tokens:,} tokens; load average {_load()}"
    )
    rows = [("before", figures) for figures in before or []]
    rows += [(label, figures) for figures in after]
    print_figures(rows, (before or after)[0])
    for figures in after:
        if figures.mode == "grouped":
            aim = 1.5 * figures.document_tokens + figures.variables_tokens
            print(
                f"grouped: {figures.prompt_tokens:,} prompt tokens; the aim is at most 1.5 x the "
                f"document plus the variables' own text, {aim:,.0f}"
            )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="take the pipeline from this checkout")
    parser.add_argument(
        "--before", help="another checkout (an earlier version) to measure first and compare with"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    before = None
    if options.before:
        # A process of its own: one process holds one version of the code.
        output = subprocess.run(
            [sys.executable, "-m", "bench.tokens", "--root", options.before, "--json"],
            cwd=REPOSITORY,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        before = _from_json(output)
    if options.root is not None:
        sys.path.insert(0, str(Path(options.root).resolve()))
    after = asyncio.run(measure())
    if options.json:
        print(_as_json(after))
    else:
        report(before, after, "after" if before else "this checkout")
    return 0


if __name__ == "__main__":
    sys.exit(main())
