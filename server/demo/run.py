"""`coderai demo`: on this machine, from nothing to a dataset.

Prepares PostgreSQL and Redis (embedded unless configured), runs the gRPC server in this
process and one worker beside it, then acts as a researcher would through the API: a project
and its schema, the sample documents, a SAMPLE job, a FULL job, and the dataset as CSV files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coderai import Client, CoderAIError, dollars
from coderai.client import JOB_ENDED
from coderai.v1 import common_pb2, document_pb2, export_pb2, job_pb2, project_pb2, schema_pb2

from server.core.config import Settings
from server.core.embedded import EmbeddedServerError
from server.core.infrastructure import Infrastructure, connect_database, connect_redis, prepare
from server.core.migrate import RoleError
from server.demo.dataset import EXPORT_FILES, extracted_cells, shorten, table, wide_rows
from server.demo.project import demo_project, demo_variables, sample_documents
from server.llm.factory import OFFLINE, describe
from server.main import start_server

LOG_FILE = "coderai-demo.log"
SAMPLE_SIZE = 3
POLL_SECONDS = 0.3
PARSE_TIMEOUT_SECONDS = 180.0
# Generous: a real model may take seconds per call.
JOB_TIMEOUT_SECONDS = 30 * 60.0
# An idle worker hands back in well under a second; taskiq 0.13's process manager may then
# linger (taskiq-python/taskiq#646), and the demo's work is done by then: no reason to wait.
WORKER_STOP_SECONDS = 3.0


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why in a researcher's words."""


def say(line: str = "") -> None:
    """Progress for the researcher watching: plain lines on stdout, shown at once."""
    print(line, flush=True)


def run(settings: Settings, output: Path, port: int) -> int:
    """The `coderai demo` command: its exit status."""
    output = output.expanduser().resolve()
    output.mkdir(parents=True, exist_ok=True)
    log_file = output / LOG_FILE
    _log_to(log_file, settings.log_level)
    started = time.monotonic()
    try:
        return asyncio.run(demo(settings, output, port, log_file, started))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("Stopped. The worker and the server were shut down.")
        return 130


async def demo(settings: Settings, output: Path, port: int, log_file: Path, started: float) -> int:
    main = asyncio.current_task()
    if main is not None:
        # SIGTERM stops the demo like Ctrl-C does: through the same clean-up.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    say("CoderAI demo: from sample council minutes to a research dataset")
    say(describe(settings))
    try:
        async with local_stack(settings, port, log_file) as stack:
            # The client blocks: in a thread, while this loop serves the API.
            outcome = await asyncio.to_thread(research, stack, output)
    except CoderAIError as error:
        say(f"The demo stopped: the API answered {error}")
        say(f"Details are in {log_file}")
        return 1
    except (DemoError, EmbeddedServerError, RoleError) as error:
        say(f"The demo stopped: {error}")
        say(f"Details are in {log_file}")
        return 1
    report(outcome, output, started)
    return 0 if outcome.completed else 1


# --- the server and the worker --------------------------------------------------------------


@dataclass(frozen=True)
class LocalStack:
    target: str
    worker: asyncio.subprocess.Process
    log_file: Path

    def check_worker(self) -> None:
        """Raises DemoError when the worker has exited: nothing would ever finish."""
        if self.worker.returncode is not None:
            raise DemoError(
                f"the worker exited with status {self.worker.returncode}; read {self.log_file}"
            )


@contextlib.asynccontextmanager
async def local_stack(settings: Settings, port: int, log_file: Path) -> AsyncIterator[LocalStack]:
    """PostgreSQL and Redis prepared, the gRPC server on loopback, one worker; everything
    started here is stopped on the way out, on errors and interrupts too."""
    say(_where_data_lives(settings))
    infrastructure = await prepare(settings)
    database = await connect_database(settings, infrastructure)
    redis = connect_redis(infrastructure.redis_url)
    try:
        server = await start_server(
            settings.model_copy(update={"grpc_listen_addr": "127.0.0.1"}),
            database,
            redis,
            infrastructure.redis_url,
            port,
        )
    except BaseException as error:
        await database.dispose()
        await redis.aclose()
        if isinstance(error, RuntimeError) and "bind" in str(error).lower():
            raise DemoError(f"cannot listen on 127.0.0.1:{port}; choose another --port") from error
        raise
    try:
        say(f"API server listening on 127.0.0.1:{server.port} while the demo runs")
        worker = await start_worker(settings, infrastructure, log_file)
        try:
            say(f"Worker started (process {worker.pid}); its log goes to {log_file}")
            yield LocalStack(f"127.0.0.1:{server.port}", worker, log_file)
        finally:
            say("Stopping the worker and the API server...")
            await stop_worker(worker)
    finally:
        await server.stop(grace=1)
        if settings.embedded_postgres or settings.embedded_redis:
            say(
                f"The embedded PostgreSQL and Redis in {settings.data_dir} keep running (the "
                "next start is quick); `.venv/bin/coderai embedded stop` stops them."
            )


def _where_data_lives(settings: Settings) -> str:
    postgres = (
        f"embedded PostgreSQL in {settings.data_dir / 'postgres'}"
        if settings.embedded_postgres
        else "PostgreSQL at DATABASE_URL/APP_DATABASE_URL"
    )
    redis = (
        f"embedded Redis in {settings.data_dir / 'redis'}"
        if settings.embedded_redis
        else "Redis at REDIS_URL"
    )
    return f"Preparing the database ({postgres}) and the queue ({redis})..."


async def start_worker(
    settings: Settings, infrastructure: Infrastructure, log_file: Path
) -> asyncio.subprocess.Process:
    """`coderai worker --processes 1` on the prepared servers and the server's task queue, in
    a process group of its own (so that it and its children can be stopped together)."""
    environment = dict(os.environ)
    environment.update(
        APP_DATABASE_URL=infrastructure.app_database_url,
        REDIS_URL=infrastructure.redis_url,
        TASK_QUEUE_NAME=settings.task_queue_name,
    )
    with log_file.open("ab") as log_output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "server.cli", "worker", "--processes", "1"),
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_output,
            stderr=log_output,
            start_new_session=True,
        )


async def stop_worker(worker: asyncio.subprocess.Process) -> None:
    """SIGTERM, a few seconds to finish, then SIGKILL to its whole process group."""
    try:
        if worker.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.wait(), WORKER_STOP_SECONDS)
    finally:
        # Always: taskiq's worker children may outlive their parent.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    if worker.returncode is None:
        await worker.wait()


def _log_to(log_file: Path, level: str) -> None:
    """The server's and the worker's logs go to the log file; only problems to the screen."""
    log_file.write_text("")
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setLevel(logging.ERROR)
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[to_file, to_screen],
        force=True,
    )


# --- the research, through the API ----------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the research produced, for the closing report."""

    email: str
    password: str
    results: export_pb2.ListResultsResponse
    documents: Sequence[document_pb2.Document]
    jobs: Sequence[job_pb2.ProcessingJob]
    prompt: schema_pb2.PromptVersion

    @property
    def completed(self) -> bool:
        return all(job.status == common_pb2.JOB_STATUS_COMPLETED for job in self.jobs)


def research(stack: LocalStack, output: Path) -> Outcome:
    """The researcher's steps through coderai.Client, from an account to the dataset's files."""
    email = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}@example.org"
    password = secrets.token_urlsafe(18)
    with Client(stack.target, progress=False, timeout=JOB_TIMEOUT_SECONDS) as client:
        client.register(email, password, display_name="Demo Researcher")
        say(f"Registered the demo researcher {email}")
        project = client.call(
            client.projects.CreateProject,
            project_pb2.CreateProjectRequest(project=demo_project()),
        ).project
        say(f'Created the project "{project.name}" (one row per document)')
        variables = [
            client.call(
                client.schema.CreateVariable, schema_pb2.CreateVariableRequest(variable=variable)
            ).variable
            for variable in demo_variables(project.id)
        ]
        say("Defined its schema:")
        for variable in variables:
            kind = common_pb2.VariableType.Name(variable.type).removeprefix("VARIABLE_TYPE_")
            instructions = shorten(variable.instructions.split(". ")[0], 60)
            say(f"  {variable.name:<14} {kind:<9} {instructions}")

        uploaded = upload_samples(client, project.id)
        wait_until_parsed(client, project.id, uploaded, stack)

        sample = run_sample(client, project.id, stack)
        say("Values found in the sample:")
        for line in table(wide_rows(client.results_table(project.id), sample.document_ids)):
            say(f"  {line}")
        if sample.status != common_pb2.JOB_STATUS_COMPLETED:
            raise DemoError(f"the sample job ended {_status(sample)}: {sample.status_reason}")

        full = run_full(client, project.id, stack)
        if full.status != common_pb2.JOB_STATUS_COMPLETED:
            say(f"The full job ended {_status(full)}: {full.status_reason}; writing what was done")
        say("Exporting the dataset:")
        for export_format, name in EXPORT_FILES.items():
            written = client.export(
                project.id, export_format, output / name, timeout=JOB_TIMEOUT_SECONDS
            )
            say(f"  {name:<16} {written.stat().st_size:>9,} bytes")
        return Outcome(
            email,
            password,
            client.results_table(project.id),
            client.list_documents(project.id),
            [sample, full],
            client.prompt(variables[0]),
        )


def report(outcome: Outcome, output: Path, started: float) -> None:
    """Where the dataset is, what it holds, what it cost, and how to look further."""
    results = outcome.results
    say()
    say(f"Dataset written to {output}")
    say(
        f"  dataset.csv / .xlsx / .dta / .sav: {len(results.rows)} rows (one per document), "
        f"columns {', '.join(column.name for column in results.columns)}"
    )
    say(
        f"  extractions.csv: {sum(1 for _ in extracted_cells(results))} rows (one per value), "
        "with status, confidence and the quoted evidence"
    )
    say("  codebook.md: the variables, their prompts, the run and quality per variable")
    say("  datapackage.zip: the CSVs typed for R, pandas and frictionless (datapackage.json)")
    say()
    for line in summary(outcome, started):
        say(line)
    say()
    say(
        "To explore the project through the API, run ./scripts/run (same DATA_DIR) and sign "
        f"in as {outcome.email} with password {outcome.password}"
    )


def upload_samples(client: Client, project_id: str) -> int:
    """Uploads the sample documents; how many were stored."""
    samples = sample_documents()
    say(f"Uploading {len(samples)} sample documents (fictional council minutes):")
    for sample in samples:
        outcome = client.upload_data(project_id, sample.filename, sample.content, wait=False)
        if outcome.document is None:
            raise DemoError(f"{sample.filename} was refused: {outcome.error}")
        say(f"  {sample.filename} ({len(sample.content):,} bytes)")
    return len(samples)


def wait_until_parsed(client: Client, project_id: str, total: int, stack: LocalStack) -> None:
    """Until the worker has parsed every document (READY or FAILED); failures are named."""
    say("Waiting for the worker to read them...")
    deadline = time.monotonic() + PARSE_TIMEOUT_SECONDS
    last = -1
    while True:
        status = client.call(
            client.projects.GetProject, project_pb2.GetProjectRequest(project_id=project_id)
        ).processing_status
        done = status.documents_ready + status.documents_failed
        if done != last:
            say(f"  {status.documents_ready} of {total} ready, {status.documents_failed} failed")
            last = done
        if done >= total:
            break
        stack.check_worker()
        if time.monotonic() > deadline:
            raise DemoError(f"the documents were not parsed within {PARSE_TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)
    for document in client.list_documents(project_id):
        if document.status == common_pb2.DOCUMENT_STATUS_FAILED:
            say(f"  could not read {document.filename}: {document.error_message}")
    if status.documents_ready == 0:
        raise DemoError("no document could be read")


def run_sample(client: Client, project_id: str, stack: LocalStack) -> job_pb2.ProcessingJob:
    selection = job_pb2.JobSelection(
        project_id=project_id, type=common_pb2.JOB_TYPE_SAMPLE, sample_size=SAMPLE_SIZE
    )
    created = client.call(client.jobs.CreateJob, job_pb2.CreateJobRequest(selection=selection))
    say(
        f"Sample job: {created.estimate.documents} documents drawn at random, "
        f"{_estimate(created.estimate)}"
    )
    return _wait(client, created.job, "sample", stack)


def run_full(client: Client, project_id: str, stack: LocalStack) -> job_pb2.ProcessingJob:
    estimate = client.estimate(project_id)
    say(
        f"Full job: all {estimate.documents} documents; the {estimate.documents_already_done} "
        f"done in the sample are skipped (their values are current), {_estimate(estimate)}"
    )
    return _wait(client, client.run(project_id, watch=False), "full", stack)


def _wait(
    client: Client, job: job_pb2.ProcessingJob, label: str, stack: LocalStack
) -> job_pb2.ProcessingJob:
    """Polls the job until it ends, saying how far it got whenever that changes; gives up
    when the worker has died or JOB_TIMEOUT_SECONDS have passed."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    last: tuple[int, int, int] | None = None
    while True:
        job = client.get_job(job.id)
        state = (job.status, job.documents_processed, job.documents_failed)
        if state != last:
            failed = f", {job.documents_failed} failed" if job.documents_failed else ""
            say(
                f"  {label} job {_status(job)}: {job.documents_processed}/{job.documents_total} "
                f"documents done{failed} ({job.progress_percent:.0f}%), "
                f"{job.tokens_used:,} tokens"
            )
            last = state
        if job.status in JOB_ENDED:
            return job
        stack.check_worker()
        if time.monotonic() > deadline:
            raise DemoError(f"the job did not finish within {JOB_TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)


def _estimate(estimate: job_pb2.JobEstimate) -> str:
    cost = f", at most ${dollars(estimate.max_cost):.4f}" if estimate.HasField("max_cost") else ""
    return (
        f"up to {estimate.llm_calls} model calls (about {estimate.prompt_tokens:,} prompt "
        f"tokens{cost})"
    )


def _status(job: job_pb2.ProcessingJob) -> str:
    return common_pb2.JobStatus.Name(job.status).removeprefix("JOB_STATUS_").lower()


def summary(outcome: Outcome, started: float) -> list[str]:
    """The closing report: what was coded, how well it is backed, what it cost."""
    cells = list(extracted_cells(outcome.results))
    statuses = Counter(
        export_pb2.CellStatus.Name(cell.status).removeprefix("CELL_STATUS_") for cell in cells
    )
    evidence = Counter(
        common_pb2.EvidenceMatch.Name(cell.evidence_match).removeprefix("EVIDENCE_MATCH_")
        for cell in cells
    )
    ready = sum(d.status == common_pb2.DOCUMENT_STATUS_READY for d in outcome.documents)
    with_value = sum(1 for cell in cells if cell.HasField("value"))
    jobs = outcome.jobs
    tokens = sum(job.tokens_used for job in jobs)
    prompt_tokens = sum(job.input_tokens for job in jobs)
    completion_tokens = sum(job.output_tokens for job in jobs)
    cost = sum(dollars(job.cost) for job in jobs)
    used = "offline baseline (rules and keywords, not a language model)"
    if outcome.prompt.provider != OFFLINE:
        used = f"{outcome.prompt.provider}, model {outcome.prompt.model}"

    def counts(counter: Counter[str]) -> str:
        return ", ".join(f"{name} {count}" for name, count in counter.most_common())

    return [
        "Summary",
        f"  documents  {len(outcome.documents)} uploaded, {ready} read",
        f"  values     {len(cells)}: {with_value} with a value, {len(cells) - with_value} empty",
        f"  statuses   {counts(statuses)}",
        f"  evidence   {counts(evidence)}",
        f"  tokens     {tokens:,} ({prompt_tokens:,} prompt, {completion_tokens:,} completion)",
        f"  cost       ${cost:.4f}",
        f"  model      {used}",
        f"  wall time  {time.monotonic() - started:.1f} s",
    ]
