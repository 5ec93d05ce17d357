"""Export benchmark: the time and peak memory of building every export format.

A fresh migrated database (bench/crud_latency.py's fresh_database) is seeded directly, not
through the API: one user with one DOCUMENT project per size (--small, --mid, --large, each
DOCUMENTSxVARIABLES), its variables of every type (text, number, date, boolean, category with
3 categories, and one multi-value ALL text variable of up to 3 values), one active prompt per
variable, READY documents, one COMPLETED job with every document DONE, and an extraction for
every document x variable: typed values, a confidence, a 60-character quote with its offsets
and EXACT evidence, mostly SUCCESS with some LOW_CONFIDENCE, NOT_FOUND and FAILED. Rows go in
with COPY (asyncpg's copy_records_to_table) as the PostgreSQL superuser, since COPY FROM is
refused under row-level security and every tenant table forces it, and with
session_replication_role = replica, which skips the foreign-key triggers (half the time); then
ANALYZE. The seeding time is printed apart and is not part of the figures.

Each measurement runs in a fresh subprocess (this script with --measure) that does what a
worker does with a queued export: ExportService.build (mark it RUNNING; in one transaction as
the application role under RLS, the dataset's header, its rows streamed from a server-side
cursor through the format's writer into a spooled file, its SHA-256; then the file stored in
parts and the export marked COMPLETED). It prints the wall time of that call and, of it, the
time in repository.header and in builder.build (timed by wrapping the two functions in the
subprocess), the file's size and rows, and the subprocess's peak resident memory (VmHWM,
reset through /proc/self/clear_refs once the imports, the engine and a first query are done)
over its resident memory at that point. The small size is built --repeat + 1 times in its
subprocess (the first run pays for lazy imports and cold caches: printed apart, best and
median of the rest); the larger ones once each, with include_metadata false and true. A
format whose build fails is printed with its traceback and the others go on.

Last, the small size end to end over real gRPC: `coderai serve` (bench/ingestion.py's
api_server), a user registered through the API, CreateExport (a small export is built in the
call) and DownloadExport for CSV_WIDE and XLSX, timed by the client, --repeat + 1 times (the
first call apart). Afterwards the server is stopped and the database dropped, also on errors.
It writes nothing to the repository.

    .venv/bin/python -m bench.export [--small 100x10] [--mid 2500x50] [--large 10000x50]
        [--skip-large] [--repeat 5] [--formats CSV_WIDE,XLSX] [--no-metadata] [--no-grpc]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from coderai.v1 import auth_pb2, auth_pb2_grpc, export_pb2, export_pb2_grpc
from sqlalchemy.engine import make_url

from bench.crud_latency import (
    CALL_TIMEOUT_SECONDS,
    PASSWORD,
    POSTGRES_ADMIN_URL,
    REPOSITORY,
    free_port,
    fresh_database,
    machine_facts,
    server_environment,
    wait_until_serving,
)
from bench.ingestion import api_server, memory_kib, print_table, reset_peak
from server.documents.models import text_hash

MB = 1_000_000
MEASURE_TIMEOUT_SECONDS = 1800.0
COPY_DOCUMENTS = 1000  # documents whose extractions go to PostgreSQL in one COPY
QUOTE_CHARS = 60
FORMAT_NAMES = ("CSV_WIDE", "CSV_LONG", "XLSX", "CODEBOOK", "STATA", "SPSS", "DATA_PACKAGE")
GRPC_FORMATS = ("CSV_WIDE", "XLSX")
DOWNLOAD_CHUNK_LIMIT = 64 * 1024 * 1024
# (status, share): the rest of the extractions are SUCCESS.
STATUS_SHARES = (("LOW_CONFIDENCE", 0.06), ("NOT_FOUND", 0.05), ("FAILED", 0.02))
CATEGORIES = ("government", "opposition", "other")
PARTIES = ("Labour", "Greens", "Liberals", "Conservatives", "Socialists", "Independents")
TOPICS = (
    "coastal protection",
    "harbour renewal",
    "school meals",
    "bus lanes",
    "flood defences",
    "library hours",
    "housing grants",
    "street lighting",
    "cycle paths",
    "waste collection",
)
SENTENCES = (
    "The council met on {day} {month} {year} to discuss the {topic} plan for ward {number}.",
    "The mayor said the budget of {amount} euros covers the first phase of the works.",
    "Members of the {category} group asked for a second reading before any vote was held.",
    "The {party} and the {party2} supported the amendment after a short debate.",
    "The motion on {topic} was carried by {votes} votes to {against}, with two abstentions.",
    "Officers will report back on the costs and the timetable at the next meeting.",
    "Residents of ward {number} presented a petition signed by {votes}0 people.",
    "The chair closed the meeting at {hour}:{minute:02d} and thanked the officers.",
)
MONTHS = ("January", "March", "May", "June", "September", "November")
ERRORS = (
    "the model's answer was not valid JSON",
    "timed out after 60 s",
    "the provider refused the request (content filter)",
)
SERVICE_LOGGER = "server.exports.service"


# --- sizes and the seeded dataset --------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    documents: int
    variables: int

    @property
    def label(self) -> str:
        return f"{self.documents:,} x {self.variables}"

    @classmethod
    def parse(cls, text: str) -> Size:
        documents, _, variables = text.lower().partition("x")
        size = cls(int(documents.replace("_", "").replace(",", "")), int(variables))
        if size.documents < 1 or size.variables < 1:
            raise ValueError(f"{text}: DOCUMENTSxVARIABLES, each at least 1")
        return size


@dataclass(frozen=True)
class VariableRow:
    id: uuid.UUID
    prompt_id: uuid.UUID
    name: str
    type: str  # TEXT, NUMBER, DATE, BOOLEAN, CATEGORY
    multi: bool  # IF_MULTIPLE_VALUES ALL, up to 3 values


@dataclass(frozen=True)
class Seeded:
    size: Size
    project_id: uuid.UUID
    extractions: int
    seconds: float


def variable_plan(count: int) -> list[tuple[str, bool]]:
    """(type, multi) per variable: the five types in turn, and the middle one a multi-value
    text variable."""
    kinds = ("TEXT", "NUMBER", "DATE", "BOOLEAN", "CATEGORY")
    plan = [(kinds[index % len(kinds)], False) for index in range(count)]
    plan[count // 2] = ("TEXT", True)
    return plan


def value_pools(rng: random.Random) -> dict[tuple[str, bool], list[str]]:
    """JSON values to pick from, per (type, multi)."""
    start = date(2015, 1, 1)
    return {
        ("TEXT", False): [json.dumps(f"{topic} plan") for topic in TOPICS]
        + [json.dumps(f"{topic} in ward {n}") for topic in TOPICS for n in range(1, 9)],
        ("TEXT", True): [json.dumps(rng.sample(PARTIES, rng.randint(1, 3))) for _ in range(200)],
        ("NUMBER", False): [json.dumps(round(rng.uniform(0, 2_000_000), 2)) for _ in range(500)]
        + [json.dumps(rng.randint(1, 400)) for _ in range(200)],
        ("DATE", False): [
            json.dumps((start + timedelta(days=rng.randrange(3650))).isoformat())
            for _ in range(500)
        ],
        ("BOOLEAN", False): ["true", "false"],
        ("CATEGORY", False): [json.dumps(label) for label in CATEGORIES],
    }


def document_text(rng: random.Random, number: int) -> str:
    sentences = []
    for template in rng.sample(SENTENCES, 6):
        topic = rng.choice(TOPICS)
        party, party2 = rng.sample(PARTIES, 2)
        sentences.append(
            template.format(
                day=rng.randint(1, 28),
                month=rng.choice(MONTHS),
                year=rng.randint(2015, 2024),
                topic=topic,
                number=number % 97 + 1,
                amount=rng.randint(10, 2000) * 1000,
                category=rng.choice(CATEGORIES),
                party=party,
                party2=party2,
                votes=rng.randint(10, 40),
                against=rng.randint(0, 9),
                hour=rng.randint(17, 22),
                minute=rng.randint(0, 59),
            )
        )
    return f"Minutes of council meeting {number}.\n\n" + " ".join(sentences)


def admin_url_of(owner_url: str) -> str:
    """The superuser's URL for the benchmark's database (seeding with COPY)."""
    database = make_url(owner_url).database
    url = make_url(POSTGRES_ADMIN_URL).set(database=database)
    return url.render_as_string(hide_password=False)


async def insert_user(connection: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await connection.execute(
        "INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4)",
        user_id,
        f"bench-export-{user_id.hex[:12]}@example.org",
        f"$argon2id$placeholder${uuid.uuid4().hex}",  # no login: the subprocesses set the tenant
        "Export benchmark",
    )


async def seed(connection: asyncpg.Connection, user_id: uuid.UUID, size: Size) -> Seeded:
    """A DOCUMENT project of `size` for the user, written with COPY in one transaction."""
    started = time.perf_counter()
    rng = random.Random(size.documents * 1000 + size.variables)
    project_id, job_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    async with connection.transaction():
        # No foreign-key triggers (a superuser's setting): they would double the seeding time,
        # and the rows are consistent by construction (the first version of this script seeded
        # them with the checks on).
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            """
            INSERT INTO projects (id, user_id, name, description, domain, language,
                                  unit_of_observation, entity_identification_pattern, status)
            VALUES ($1, $2, $3, $4, 'local government', 'en', 'DOCUMENT', '', 'COMPLETE')
            """,
            project_id,
            user_id,
            f"Council minutes {size.documents}x{size.variables}",
            "Budget decisions of the city council, one row per meeting's minutes.",
        )
        variables = await _seed_variables(connection, user_id, project_id, size.variables)
        documents = await seed_documents(connection, user_id, project_id, size.documents, rng)
        await connection.execute(
            """
            INSERT INTO processing_jobs (id, user_id, project_id, job_type, status, document_ids,
                documents_total, documents_processed, documents_failed, consecutive_failures,
                automatic_resumes, retry_failed, progress, input_tokens, output_tokens, cost_usd,
                started_at, finished_at)
            VALUES ($1, $2, $3, 'FULL', 'COMPLETED', $4, $5, $5, 0, 0, 0, false, 100, $6, $7, $8,
                    $9, $10)
            """,
            job_id,
            user_id,
            project_id,
            [document_id for document_id, _ in documents],
            len(documents),
            1200 * len(documents) * len(variables),
            40 * len(documents) * len(variables),
            Decimal("0.000210") * len(documents) * len(variables),
            now - timedelta(hours=1),
            now - timedelta(minutes=5),
        )
        await connection.copy_records_to_table(
            "job_documents",
            columns=[
                "job_id",
                "document_id",
                "user_id",
                "position",
                "status",
                "attempts",
                "reserved_tokens",
            ],
            records=[
                (job_id, document_id, user_id, position, "DONE", 1, 0)
                for position, (document_id, _) in enumerate(documents)
            ],
        )
        pools = value_pools(rng)
        for first in range(0, len(documents), COPY_DOCUMENTS):
            records = extraction_records(
                rng,
                user_id,
                project_id,
                job_id,
                variables,
                documents[first : first + COPY_DOCUMENTS],
                pools,
            )
            await connection.copy_records_to_table(
                "extractions", columns=EXTRACTION_COLUMNS, records=records
            )
    tables = ("projects", "variables", "prompts", "documents", "processing_jobs")
    for table in (*tables, "job_documents", "extractions"):
        await connection.execute(f"ANALYZE {table}")
    return Seeded(
        size=size,
        project_id=project_id,
        extractions=len(documents) * len(variables),
        seconds=time.perf_counter() - started,
    )


async def _seed_variables(
    connection: asyncpg.Connection, user_id: uuid.UUID, project_id: uuid.UUID, count: int
) -> list[VariableRow]:
    variables = [
        VariableRow(uuid.uuid4(), uuid.uuid4(), f"variable_{index + 1:02d}", kind, multi)
        for index, (kind, multi) in enumerate(variable_plan(count))
    ]
    categories = {
        "categories": [
            {"label": label, "definition": f"The speaker belongs to the {label}."}
            for label in CATEGORIES
        ],
        "selection_logic": "The group the motion's sponsor belongs to.",
    }
    await connection.copy_records_to_table(
        "variables",
        columns=[
            "id",
            "user_id",
            "project_id",
            "name",
            "display_name",
            "type",
            "instructions",
            "classification_rules",
            "confidence_threshold",
            "if_uncertain",
            "if_multiple_values",
            "max_values",
            "validation_rules",
            "depends_on",
            "order",
        ],
        records=[
            (
                v.id,
                user_id,
                project_id,
                v.name,
                f"Variable {index + 1} ({v.type.lower()}{', several' if v.multi else ''})",
                v.type,
                f"Find the {v.type.lower()} value the minutes state for variable {index + 1}.",
                json.dumps(categories) if v.type == "CATEGORY" else None,
                0.7,
                "FLAG_FOR_REVIEW",
                "ALL" if v.multi else "FIRST",
                3 if v.multi else 1,
                json.dumps({"max_length": 500} if v.type == "TEXT" else {}),
                [],
                index,
            )
            for index, v in enumerate(variables)
        ],
    )
    await connection.copy_records_to_table(
        "prompts",
        columns=[
            "id",
            "user_id",
            "variable_id",
            "version",
            "is_active",
            "system_prompt",
            "user_prompt_template",
            "response_schema",
            "provider",
            "model",
            "temperature",
            "max_tokens",
            "source_fingerprint",
            "reason",
        ],
        records=[
            (
                v.prompt_id,
                user_id,
                v.id,
                1,
                True,
                "You extract one variable from council minutes. Answer in JSON only.",
                f"Variable: {v.name}\nType: {v.type}\n\nDocument:\n$document",
                json.dumps({"type": "object", "properties": {"value": {}}}),
                "openai",
                "gpt-4o-mini",
                0.0,
                400,
                hashlib.sha256(v.name.encode()).hexdigest(),
                "created",
            )
            for v in variables
        ],
    )
    return variables


async def seed_documents(
    connection: asyncpg.Connection,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    count: int,
    rng: random.Random,
) -> list[tuple[uuid.UUID, str]]:
    """`count` READY council minutes for the project, with COPY (the caller's transaction)."""
    documents = [(uuid.uuid4(), document_text(rng, number)) for number in range(count)]
    await connection.copy_records_to_table(
        "documents",
        columns=[
            "id",
            "user_id",
            "project_id",
            "filename",
            "mime_type",
            "size_bytes",
            "content_hash",
            "status",
            "text",
            "text_hash",
            "word_count",
            "page_count",
            "chunk_count",
            "parse_metadata",
        ],
        records=[
            (
                document_id,
                user_id,
                project_id,
                f"minutes-{number:05d}.txt",
                "text/plain",
                len(text.encode()),
                hashlib.sha256(f"{project_id} {number} {text}".encode()).hexdigest(),
                "READY",
                text,
                text_hash(text),
                len(text.split()),
                1,
                1,
                json.dumps({"encoding": "utf-8"}),
            )
            for number, (document_id, text) in enumerate(documents)
        ],
    )
    return documents


EXTRACTION_COLUMNS = [
    "id",
    "user_id",
    "project_id",
    "document_id",
    "variable_id",
    "job_id",
    "prompt_id",
    "entity_key",
    "entity_name",
    "value",
    "confidence",
    "source_text",
    "source_start",
    "source_end",
    "evidence_match",
    "value_evidence",
    "prompt_version",
    "status",
    "error",
    "input_tokens",
    "output_tokens",
    "cost_usd",
]


def extraction_records(
    rng: random.Random,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    job_id: uuid.UUID,
    variables: Sequence[VariableRow],
    documents: Sequence[tuple[uuid.UUID, str]],
    pools: dict[tuple[str, bool], list[str]],
) -> list[tuple[Any, ...]]:
    cost = Decimal("0.000210")
    thresholds = []
    share = 0.0
    for status, part in STATUS_SHARES:
        share += part
        thresholds.append((share, status))
    records = []
    for document_id, text in documents:
        last_start = max(len(text) - QUOTE_CHARS, 0)
        for variable in variables:
            draw = rng.random()
            status = next((s for limit, s in thresholds if draw < limit), "SUCCESS")
            value: str | None
            start: int | None
            if status in ("SUCCESS", "LOW_CONFIDENCE"):
                value = rng.choice(pools[variable.type, variable.multi])
                start = rng.randint(0, last_start)
                excerpt = text[start : start + QUOTE_CHARS]
                quote: str | None = excerpt
                end: int | None = start + len(excerpt)
                evidence = "EXACT"
                # A quote per value, as the pipeline stores them (the first value's above).
                count = len(json.loads(value)) if variable.multi else 1
                per_value = json.dumps(
                    [
                        {
                            "source_text": quote,
                            "start": start,
                            "end": end,
                            "match": evidence,
                            "candidates": 1,
                            "weak": False,
                        }
                    ]
                    * count
                )
                if status == "SUCCESS":
                    confidence: float | None = round(rng.uniform(0.7, 1.0), 3)
                else:
                    confidence = round(rng.uniform(0.3, 0.7), 3)
                error = None
            else:
                value, quote, start, end = None, None, None, None
                evidence, per_value = "NO_QUOTE", "[]"
                confidence = round(rng.uniform(0.5, 0.9), 3) if status == "NOT_FOUND" else None
                error = rng.choice(ERRORS) if status == "FAILED" else None
            records.append(
                (
                    uuid.uuid4(),
                    user_id,
                    project_id,
                    document_id,
                    variable.id,
                    job_id,
                    variable.prompt_id,
                    "",
                    "",
                    value,
                    confidence,
                    quote,
                    start,
                    end,
                    evidence,
                    per_value,
                    1,
                    status,
                    error,
                    1200,
                    40,
                    cost,
                )
            )
    return records


# --- one measurement, in a subprocess of its own ------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What a --measure subprocess builds."""

    user_id: str
    project_id: str
    format: str
    include_metadata: bool
    runs: int


@dataclass
class Measurement:
    spec: Spec
    size: Size
    seconds: list[float] = field(default_factory=list)  # ExportService.build, per run
    header_seconds: list[float] = field(default_factory=list)  # in repository.header, per run
    build_seconds: list[float] = field(default_factory=list)  # inside builder.build, per run
    size_bytes: int = 0
    rows: int = 0
    baseline_kib: int = 0  # resident after imports, engine and a first query
    peak_kib: int = 0  # VmHWM over the runs
    peak_reset: bool = True
    error: str | None = None


class _Unused:
    """The export queue: never called, since every export here is built by the caller."""

    async def build_export(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None:
        return None


class _Failures(logging.Handler):
    """Keeps the tracebacks ExportService.build logs (it records a failure, not raises it)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.tracebacks.append("".join(traceback.format_exception(*record.exc_info)))
        else:
            self.tracebacks.append(record.getMessage())


async def measure_in_process(spec: Spec) -> dict[str, Any]:
    """Builds the export `spec.runs` times as a worker would; the figures as a dict."""
    from server.core.config import Settings
    from server.core.db import Database, create_engine
    from server.core.migrate import application_url
    from server.exports import builder, repository
    from server.exports.dataset import DatasetHeader
    from server.exports.models import ExportFormat, ExportStatus
    from server.exports.service import ExportService

    failures = _Failures()
    service_log = logging.getLogger(SERVICE_LOGGER)
    service_log.addHandler(failures)
    service_log.propagate = False
    # Every export is queued (to nobody) and then built here, as a worker builds one.
    settings = Settings(_env_file=None, export_inline_max_cells=0)
    assert settings.database_url is not None
    database = Database(create_engine(application_url(settings, settings.database_url)))
    service = ExportService(database, settings, _Unused())
    # Timing probes: the service calls both through their modules.
    header_seconds: list[float] = []
    build_seconds: list[float] = []
    original_header, original_build = repository.header, builder.build

    async def timed_header(*args: Any, **kwargs: Any) -> DatasetHeader:
        started = time.perf_counter()
        try:
            return await original_header(*args, **kwargs)
        finally:
            header_seconds.append(time.perf_counter() - started)

    async def timed_build(*args: Any, **kwargs: Any) -> builder.BuiltFile:
        started = time.perf_counter()
        try:
            return await original_build(*args, **kwargs)
        finally:
            build_seconds.append(time.perf_counter() - started)

    repository.header = timed_header
    builder.build = timed_build
    user_id, project_id = uuid.UUID(spec.user_id), uuid.UUID(spec.project_id)
    export_format = ExportFormat(spec.format)
    result: dict[str, Any] = {
        "seconds": [],
        "header_seconds": header_seconds,
        "build_seconds": build_seconds,
    }
    try:
        await database.ping()
        result["baseline_kib"] = memory_kib(os.getpid(), "VmRSS")
        result["peak_reset"] = reset_peak(os.getpid())
        for _ in range(spec.runs):
            export = await service.create(user_id, project_id, export_format, spec.include_metadata)
            started = time.perf_counter()
            await service.build(user_id, export.id)
            seconds = time.perf_counter() - started
            export = await service.get(user_id, export.id)
            if export.status is not ExportStatus.COMPLETED:
                result["error"] = (
                    "\n".join(failures.tracebacks)
                    or f"the export ended {export.status.value}: {export.error}"
                )
                break
            result["seconds"].append(seconds)
            result["size_bytes"] = export.size_bytes
            result["rows"] = export.row_count
        result["peak_kib"] = memory_kib(os.getpid(), "VmHWM")
    finally:
        await database.dispose()
    return result


def measure_main(argument: str) -> int:
    spec = Spec(**json.loads(argument))
    result = asyncio.run(measure_in_process(spec))  # a crash: its traceback on stderr
    print(json.dumps(result))
    return 0


def measure(spec: Spec, size: Size, environment: dict[str, str]) -> Measurement:
    """Runs one measurement in a fresh `python -m bench.export --measure` subprocess."""
    measurement = Measurement(spec, size)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.export", "--measure", json.dumps(asdict(spec))],
            env=environment,
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=MEASURE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        measurement.error = f"the subprocess took longer than {MEASURE_TIMEOUT_SECONDS:.0f} s"
        return measurement
    lines = completed.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        measurement.error = (
            f"the subprocess exited with status {completed.returncode}:\n"
            f"{completed.stdout[-4000:]}{completed.stderr[-4000:]}"
        )
        return measurement
    measurement.seconds = result.get("seconds", [])
    measurement.header_seconds = result.get("header_seconds", [])
    measurement.build_seconds = result.get("build_seconds", [])
    measurement.size_bytes = result.get("size_bytes", 0)
    measurement.rows = result.get("rows", 0)
    measurement.baseline_kib = result.get("baseline_kib", 0)
    measurement.peak_kib = result.get("peak_kib", 0)
    measurement.peak_reset = result.get("peak_reset", True)
    measurement.error = result.get("error")
    return measurement


def measurement_environment(owner_url: str) -> dict[str, str]:
    environment = server_environment(owner_url)
    environment["PYTHONPATH"] = str(REPOSITORY)
    return environment


# --- end to end over gRPC ------------------------------------------------------------------------


@dataclass
class GrpcRun:
    format: str
    create_ms: list[float] = field(default_factory=list)
    download_ms: list[float] = field(default_factory=list)
    size_bytes: int = 0
    rows: int = 0
    error: str | None = None

    @property
    def total_ms(self) -> list[float]:
        return [a + b for a, b in zip(self.create_ms, self.download_ms, strict=True)]


async def grpc_round(
    owner_url: str, admin: asyncpg.Connection, size: Size, repeat: int, formats: Sequence[str]
) -> tuple[list[GrpcRun], float]:
    """CreateExport and DownloadExport over real gRPC against `coderai serve`; the runs and
    the seeding time of the project."""
    runs = [GrpcRun(name) for name in formats]
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        port = free_port()
        target = f"127.0.0.1:{port}"
        with (
            log_path.open("wb") as log,
            api_server(server_environment(owner_url), port, log, scratch) as server,
        ):
            try:
                await wait_until_serving(target, server)
                async with grpc.aio.insecure_channel(
                    target, options=[("grpc.max_receive_message_length", DOWNLOAD_CHUNK_LIMIT)]
                ) as channel:
                    auth = auth_pb2_grpc.AuthServiceStub(channel)
                    email = f"bench-export-{uuid.uuid4().hex[:8]}@example.org"
                    # Register answers alike for new and taken emails: sign in for the tokens.
                    await auth.Register(
                        auth_pb2.RegisterRequest(email=email, password=PASSWORD),
                        timeout=CALL_TIMEOUT_SECONDS,
                    )
                    signed_in = await auth.Login(
                        auth_pb2.LoginRequest(email=email, password=PASSWORD),
                        timeout=CALL_TIMEOUT_SECONDS,
                    )
                    user_id = uuid.UUID(signed_in.user.id)
                    seeded = await seed(admin, user_id, size)
                    metadata = (("authorization", f"Bearer {signed_in.tokens.access_token}"),)
                    exports = export_pb2_grpc.ExportServiceStub(channel)
                    for run in runs:
                        await _grpc_runs(exports, metadata, str(seeded.project_id), run, repeat)
            except BaseException:
                print(f"--- server output ---\n{_tail(log_path)}", file=sys.stderr)
                raise
    return runs, seeded.seconds


async def _grpc_runs(
    exports: export_pb2_grpc.ExportServiceAsyncStub,
    metadata: tuple[tuple[str, str], ...],
    project_id: str,
    run: GrpcRun,
    repeat: int,
) -> None:
    request = export_pb2.CreateExportRequest(
        project_id=project_id, format=f"EXPORT_FORMAT_{run.format}"
    )
    for _ in range(repeat + 1):  # the first, on a fresh server, is printed apart
        try:
            started = time.perf_counter()
            created = await exports.CreateExport(
                request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
            )
            created_at = time.perf_counter()
            export = created.export
            if export.status != export_pb2.EXPORT_STATUS_COMPLETED:
                run.error = f"CreateExport answered {export_pb2.ExportStatus.Name(export.status)}"
                run.error += f": {export.error}" if export.error else ""
                return
            digest = hashlib.sha256()
            received = 0
            sent_sha256 = ""
            async for message in exports.DownloadExport(
                export_pb2.DownloadExportRequest(export_id=export.id),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            ):
                if message.HasField("file"):
                    sent_sha256 = message.file.sha256
                digest.update(message.chunk)
                received += len(message.chunk)
            done = time.perf_counter()
        except grpc.aio.AioRpcError as error:
            run.error = f"{error.code().name}: {error.details()}"
            return
        if digest.hexdigest() != sent_sha256 or received != export.size_bytes:
            run.error = "the downloaded file does not match its size or SHA-256"
            return
        run.create_ms.append((created_at - started) * 1000)
        run.download_ms.append((done - created_at) * 1000)
        run.size_bytes, run.rows = received, export.row_count


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- the benchmark -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    small: Size
    mid: Size | None
    large: Size | None
    repeat: int
    formats: tuple[str, ...]
    metadata: bool  # also include_metadata true for the larger sizes
    grpc: bool


@dataclass
class Results:
    seeded: list[Seeded] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    grpc_runs: list[GrpcRun] = field(default_factory=list)
    grpc_seed_seconds: float = 0.0
    facts: dict[str, str] = field(default_factory=dict)


def plan(options: Options, projects: dict[Size, uuid.UUID], user_id: uuid.UUID) -> list[Spec]:
    def spec(size: Size, name: str, include_metadata: bool, runs: int) -> Spec:
        return Spec(str(user_id), str(projects[size]), name, include_metadata, runs)

    specs = [spec(options.small, name, False, options.repeat + 1) for name in options.formats]
    for size in (options.mid, options.large):
        if size is None:
            continue
        specs += [spec(size, name, False, 1) for name in options.formats]
        if options.metadata:
            specs += [spec(size, name, True, 1) for name in options.formats]
    return specs


async def benchmark(options: Options) -> Results:
    results = Results()
    async with fresh_database() as owner_url:
        admin = await asyncpg.connect(admin_url_of(owner_url))
        try:
            results.facts["postgresql"] = str(await admin.fetchval("SHOW server_version"))
            user_id = uuid.uuid4()
            await insert_user(admin, user_id)
            sizes = [s for s in (options.small, options.mid, options.large) if s is not None]
            projects: dict[Size, uuid.UUID] = {}
            for size in dict.fromkeys(sizes):
                seeded = await seed(admin, user_id, size)
                print(
                    f"seeded {size.label}: {seeded.extractions:,} extractions "
                    f"in {seeded.seconds:.1f} s",
                    flush=True,
                )
                results.seeded.append(seeded)
                projects[size] = seeded.project_id
            size_of = {str(project): size for size, project in projects.items()}
            environment = measurement_environment(owner_url)
            for spec in plan(options, projects, user_id):
                measurement = measure(spec, size_of[spec.project_id], environment)
                print(f"  {progress_line(measurement)}", flush=True)
                results.measurements.append(measurement)
            if options.grpc:
                results.grpc_runs, results.grpc_seed_seconds = await grpc_round(
                    owner_url, admin, options.small, options.repeat, GRPC_FORMATS
                )
        finally:
            await admin.close()
    return results


# --- output --------------------------------------------------------------------------------------


def progress_line(m: Measurement) -> str:
    what = f"{m.spec.format} {m.size.label}{' +metadata' if m.spec.include_metadata else ''}"
    if m.error:
        return f"{what}: FAILED ({m.error.strip().splitlines()[-1]})"
    return f"{what}: {min(m.seconds):.2f} s, peak +{megabytes_of(m.peak_kib - m.baseline_kib)} MB"


def megabytes_of(kib: int) -> str:
    return f"{kib * 1024 / MB:.1f}"


def seconds_cells(values: Sequence[float]) -> list[str]:
    """first, best and median of the rest (or of all, with one run)."""
    if not values:
        return ["-", "-", "-"]
    rest = values[1:] or values
    return [f"{values[0]:.3f}", f"{min(rest):.3f}", f"{statistics.median(rest):.3f}"]


def print_report(results: Results, options: Options, facts: dict[str, str]) -> None:
    for key, value in {**facts, **results.facts}.items():
        print(f"{key + ':':<14}{value}")
    for seeded in results.seeded:
        print(
            f"{'seeded:':<14}{seeded.size.label}: {seeded.extractions:,} extractions in "
            f"{seeded.seconds:.1f} s (COPY, then ANALYZE; not part of the figures)"
        )

    print(
        "\nExportService.build in a fresh subprocess per row (what a worker does with a queued "
        "export).\n"
        f"small: {options.repeat + 1} runs in one subprocess, the first apart, best and median "
        "of the rest; larger: one run."
    )
    header = ["format", "documents x variables", "metadata", "rows", "first s", "best s"]
    header += ["median s", "header s", "build s", "MB", "base MB", "peak + MB", "note"]
    rows = [header]
    for m in results.measurements:
        first, best, median = seconds_cells(m.seconds)
        many = len(m.seconds) > 1
        rows.append(
            [
                m.spec.format,
                m.size.label,
                "yes" if m.spec.include_metadata else "no",
                f"{m.rows:,}" if m.seconds else "-",
                first if many else "",
                best,
                median if many else "",
                _median_of_rest(m.header_seconds) if m.seconds else "-",
                _median_of_rest(m.build_seconds) if m.seconds else "-",
                f"{m.size_bytes / MB:.2f}" if m.seconds else "-",
                megabytes_of(m.baseline_kib) if m.peak_kib else "-",
                megabytes_of(m.peak_kib - m.baseline_kib) if m.peak_kib else "-",
                "FAILED" if m.error else "",
            ]
        )
    print_table(rows, left=(0, 1, 2, 12))
    print(
        "   s: ExportService.build's wall time (mark RUNNING; the header, the rows streamed\n"
        "   through the writer, the SHA-256; the file stored in parts, mark COMPLETED); header s\n"
        "   and build s: of it, the time in repository.header and in builder.build (medians).\n"
        "   MB: the file (10^6 bytes). base MB: the subprocess's resident memory after imports,\n"
        "   engine and a first query; peak + MB: its peak (VmHWM) over that."
    )
    if any(not m.peak_reset for m in results.measurements):
        print("   (VmHWM could not be reset: peaks include the imports)")

    flat = memory_comparison(results.measurements)
    if flat:
        print("\npeak memory over base (MB) by number of rows:")
        print_table(flat, left=(0, 1))

    for m in results.measurements:
        if m.error:
            what = f"{m.spec.format} {m.size.label}"
            what += " include_metadata" if m.spec.include_metadata else ""
            print(f"\n--- {what} failed ---\n{m.error.rstrip()}")

    if results.grpc_runs:
        print(
            f"\nend to end over gRPC, {options.small.label} (project seeded in "
            f"{results.grpc_seed_seconds:.1f} s): coderai serve in a subprocess; client-side\n"
            f"latency in ms of the first call, then best / median of {options.repeat} more"
        )
        rows = [["format", "rows", "MB", "CreateExport", "DownloadExport", "both", "note"]]
        for run in results.grpc_runs:
            rows.append(
                [
                    run.format,
                    f"{run.rows:,}",
                    f"{run.size_bytes / MB:.2f}",
                    _first_best_median(run.create_ms),
                    _first_best_median(run.download_ms),
                    _first_best_median(run.total_ms),
                    run.error or "",
                ]
            )
        print_table(rows, left=(0, 6))


def _median_of_rest(values: Sequence[float]) -> str:
    return f"{statistics.median(values[1:] or values):.3f}" if values else "-"


def _first_best_median(values: Sequence[float]) -> str:
    if not values:
        return "-"
    rest = values[1:] or values
    return f"{values[0]:.1f}, {min(rest):.1f} / {statistics.median(rest):.1f}"


def memory_comparison(measurements: Sequence[Measurement]) -> list[list[str]]:
    """Per format and include_metadata, the peak over base at each size that shares its
    number of variables with another, and the growth per 1,000 more rows."""
    done = [m for m in measurements if m.seconds]
    sizes = sorted({m.size for m in done}, key=lambda s: (s.variables, s.documents))
    compared = [s for s in sizes if sum(t.variables == s.variables for t in sizes) > 1]
    if len(compared) < 2:
        return []
    header = ["format", "metadata", *(f"{s.label} ({s.documents:,} rows)" for s in compared)]
    rows = [[*header, "MB per 1,000 more rows", "ratio"]]
    for name, metadata in dict.fromkeys((m.spec.format, m.spec.include_metadata) for m in done):
        peaks = {
            m.size: m.peak_kib - m.baseline_kib
            for m in done
            if (m.spec.format, m.spec.include_metadata) == (name, metadata)
        }
        cells = [megabytes_of(peaks[s]) if s in peaks else "-" for s in compared]
        low, high = compared[0], compared[-1]
        growth = ratio = "-"
        if low in peaks and high in peaks and high.documents > low.documents:
            per_thousand = (peaks[high] - peaks[low]) / (high.documents - low.documents) * 1000
            growth = megabytes_of(round(per_thousand))
            ratio = f"{peaks[high] / peaks[low]:.1f}x" if peaks[low] > 0 else "-"
        rows.append([name, "yes" if metadata else "no", *cells, growth, ratio])
    return rows


def code_facts() -> str:
    """The commit, and whether the export code differs from it (others may be editing it)."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    changed = git("status", "--porcelain", "--", "server/exports").splitlines()
    note = f"{len(changed)} files changed or new under server/exports" if changed else "clean"
    return f"{git('rev-parse', '--short', 'HEAD') or '?'} ({note})"


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", default="100x10", help="DOCUMENTSxVARIABLES (SC-006)")
    parser.add_argument("--mid", default="2500x50", help="a middle size, for the memory (0: none)")
    parser.add_argument("--large", default="10000x50", help="the large size")
    parser.add_argument("--skip-large", action="store_true", help="small (and gRPC) only")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs of the small size")
    parser.add_argument("--formats", default=",".join(FORMAT_NAMES), help="comma-separated")
    parser.add_argument(
        "--no-metadata", action="store_true", help="skip include_metadata true for larger sizes"
    )
    parser.add_argument("--no-grpc", action="store_true", help="skip the end-to-end gRPC part")
    args = parser.parse_args(argv)
    formats = tuple(name.strip().upper() for name in args.formats.split(",") if name.strip())
    if unknown := [name for name in formats if name not in FORMAT_NAMES]:
        parser.error(f"unknown formats {unknown}; known: {', '.join(FORMAT_NAMES)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        small = Size.parse(args.small)
        mid = None if args.skip_large or args.mid == "0" else Size.parse(args.mid)
        large = None if args.skip_large or args.large == "0" else Size.parse(args.large)
    except ValueError as error:
        parser.error(str(error))
    return Options(
        small=small,
        mid=mid,
        large=large,
        repeat=args.repeat,
        formats=formats,
        metadata=not args.no_metadata,
        grpc=not args.no_grpc,
    )


async def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    sizes = [s.label for s in (options.small, options.mid, options.large) if s is not None]
    facts["settings"] = (
        f"sizes {', '.join(sizes)}; repeat {options.repeat}; formats {', '.join(options.formats)}"
        f"; include_metadata true too: {'yes' if options.metadata else 'no'} (larger sizes)"
    )
    facts["code"] = code_facts()
    print(f"nproc {facts['nproc']}; load {facts['load before']}", flush=True)
    started = time.perf_counter()
    results = await benchmark(options)
    results.facts["total"] = f"{time.perf_counter() - started:.1f} s"
    print()
    print_report(results, options, facts)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        raise SystemExit(measure_main(sys.argv[2]))
    raise SystemExit(asyncio.run(main()))
