"""`./scripts/run` stops as a terminal's Ctrl-C asks: SIGINT to its process group stops the
server, the gateway and every worker process within seconds, idle or in the middle of a job,
and a document in flight is handed back, not left claimed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select

from server.core.db import Database
from server.jobs.models import JobDocument, JobDocumentStatus
from server.llm.local_server import Fault, LocalLLMServer
from tests.conftest import TEST_REDIS_URL
from tests.e2e.test_server_process import ServerProcess, wait_until_serving
from tests.factories import Caller, signed_in
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports
from tests.processes import PROCESS_LOG_DIR, ROOT, free_port

# Ctrl-C must stop everything within this (the launcher's STOP_SECONDS, plus slack).
STOPPED_WITHIN_SECONDS = 10.0


@dataclass
class RunScript:
    process: subprocess.Popen[bytes]
    server: ServerProcess
    gateway_port: int

    def descendants(self) -> set[int]:
        """Every process started from the script, however deep (from /proc)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # The parent's pid is the second field after the parenthesised command.
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
        found: set[int] = set()
        frontier = [self.process.pid]
        while frontier:
            pid = frontier.pop()
            for child in children.get(pid, []):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


@pytest.fixture
async def llm() -> AsyncIterator[LocalLLMServer]:
    server = LocalLLMServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def run_script(app_url: str, llm: LocalLLMServer) -> AsyncIterator[RunScript]:
    """`./scripts/run` on the test database, in a process group of its own as a terminal's
    foreground job is, serving once it is up."""
    port, gateway_port = free_port(), free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "GATEWAY_"))},
        "CODERAI_SKIP_SETUP": "1",
        "APP_DATABASE_URL": app_url,
        "REDIS_URL": TEST_REDIS_URL,
        "TASK_QUEUE_NAME": f"coderai:test:run:{uuid.uuid4().hex[:8]}",
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": llm.base_url,
        "LOG_LEVEL": "WARNING",
    }
    process = start_run_script(environment, port, gateway_port)
    script = RunScript(process, ServerProcess(process, port), gateway_port)
    try:
        await wait_until_serving(script.server, within=60)
        await asyncio.to_thread(page_served, gateway_port)
        yield script
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in script.descendants():
            os.kill(pid, signal.SIGKILL)


def start_run_script(
    environment: dict[str, str], port: int, gateway_port: int
) -> subprocess.Popen[bytes]:
    log = PROCESS_LOG_DIR / f"scripts-run-{uuid.uuid4().hex[:8]}.log"
    command = [str(ROOT / "scripts" / "run"), "--port", str(port)]
    with log.open("ab") as output:
        return subprocess.Popen(
            [*command, "--gateway-port", str(gateway_port)],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def page_served(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                assert page.status == 200
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def ctrl_c(script: RunScript) -> tuple[set[int], float]:
    """SIGINT to the script's process group, as Ctrl-C sends it; the processes that were
    running and the seconds until none is left."""
    running = script.descendants() | {script.process.pid}
    assert len(running) >= 4, "the launcher, a worker (and its process), the gateway, the server"
    started = time.monotonic()
    os.killpg(script.process.pid, signal.SIGINT)
    while any(alive(pid) for pid in running):
        elapsed = time.monotonic() - started
        if elapsed > STOPPED_WITHIN_SECONDS:
            left = sorted(pid for pid in running if alive(pid))
            raise AssertionError(f"still running {elapsed:.1f}s after Ctrl-C: {left}")
        await asyncio.sleep(0.1)
    await asyncio.to_thread(script.process.wait, 5)
    return running, time.monotonic() - started


async def test_ctrl_c_stops_an_idle_run_whole(run_script: RunScript) -> None:
    running, seconds = await ctrl_c(run_script)

    print(f"{len(running)} processes stopped in {seconds:.1f} s")
    assert run_script.process.returncode == 0


async def test_ctrl_c_in_the_middle_of_a_job_hands_its_documents_back(
    run_script: RunScript, llm: LocalLLMServer, database: Database
) -> None:
    async with grpc.aio.insecure_channel(run_script.server.target) as channel:
        caller: Caller = await signed_in(channel, f"run-{uuid.uuid4().hex[:8]}@example.org")
        project = await project_with_schema(caller, VARIABLES[:1])
        documents = await ready_documents(caller, project.id, reports(4))
        # Slow answers: the worker is waiting on the model when Ctrl-C comes.
        llm.set_default(Fault.parse("latency=30"))
        created = await caller.create_job(project.id, document_ids=documents)
        await until_claimed(database, caller, created.job.id)

    running, seconds = await ctrl_c(run_script)

    print(f"{len(running)} processes stopped in {seconds:.1f} s, a document in flight")
    work = await work_list(database, caller, created.job.id)
    assert {item.status for item in work} == {JobDocumentStatus.PENDING}, work
    assert any(item.attempts == 1 for item in work), "a document was started, then handed back"


async def work_list(database: Database, caller: Caller, job_id: str) -> list[JobDocument]:
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        statement = select(JobDocument).where(JobDocument.job_id == uuid.UUID(job_id))
        return list((await session.scalars(statement)).all())


async def until_claimed(database: Database, caller: Caller, job_id: str) -> None:
    for _ in range(300):
        work = await work_list(database, caller, job_id)
        if any(item.status is JobDocumentStatus.RUNNING for item in work):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no document of the job was started")
