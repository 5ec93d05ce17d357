"""The results table and the exports of the web page in headless Chromium, over a project whose
rows hold every kind of cell and fill more than one page: each kind marked its own way, the
cells' details by keyboard, the pages and the status filter; then an export that a worker builds
while the page polls for it, downloaded with its metadata columns."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from coderai.v1 import common_pb2

from gateway.proxy import GatewayConfig, RunningGateway, start_gateway
from server.core.db import Database
from server.main import start_server
from tests.conftest import TEST_REDIS_URL
from tests.factories import PASSWORD, Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import REPORT, VARIABLES, project_with_schema, ready_documents
from tests.web.conftest import WEB_DIST
from tests.web.scenarios import needs_chromium, run_scenario, saved_download

pytestmark = needs_chromium

PAGE_SIZE = 25
LATE_DOCUMENTS = PAGE_SIZE - 2


@pytest.fixture
async def exports_by_workers(stack: Stack, database: Database) -> AsyncIterator[RunningGateway]:
    """The page behind a server of its own that sends every export to the workers (the stack's
    builds small ones in the call)."""
    settings = stack.settings.model_copy(update={"export_inline_max_cells": 0})
    server = await start_server(settings, database, stack.server.redis, TEST_REDIS_URL, port=0)
    config = GatewayConfig(backend=f"127.0.0.1:{server.port}", static_dir=WEB_DIST)
    gateway = await start_gateway(config, "127.0.0.1", 0, shutdown_grace=1)
    yield gateway
    await gateway.stop()
    await server.stop(grace=1)


async def every_kind_of_cell(caller: Caller) -> tuple[str, dict[str, str], int]:
    """A project whose rows hold every kind of cell, more than a page of them: a document with
    values (the budget sure, as its threshold is low; the others unsure, as the local model's
    confidence is), one the model's answers fail for, one without a date (not found), and
    documents uploaded after the job (not processed). The project's name, a file name of each
    kind, and the number of rows."""
    variables = [{**fields} for fields in VARIABLES]
    variables[1]["confidence_threshold"] = 0.1
    project = await project_with_schema(caller, variables, name="Coastal plans")
    report = REPORT.format(town="Town 0", budget=2_000_000)
    await ready_documents(
        caller,
        project.id,
        [
            report,
            report + "\n\n[[local-llm:malformed]]",
            "Harbour council minutes.\n\nThe council discussed parking near the harbour.",
        ],
    )
    job = await caller.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    ended = await caller.job_ended(job.job.id)
    assert ended.status == common_pb2.JOB_STATUS_COMPLETED, ended.status_reason
    # Uploaded one after another (a user has a few uploads in flight at most), parsed at once.
    late = [
        await caller.upload(project.id, f"late-{index:02}.txt", f"Late minutes {index}.".encode())
        for index in range(LATE_DOCUMENTS)
    ]
    await asyncio.gather(*(ready(caller, result.document.id) for [result] in late))
    kinds = {
        "values": "doc-0.txt",
        "failed": "doc-1.txt",
        "not_found": "doc-2.txt",
        "not_processed": "late-00.txt",
    }
    return project.name, kinds, 3 + LATE_DOCUMENTS


async def ready(caller: Caller, document_id: str) -> None:
    """Waits for the workers to have parsed the document, which must be READY."""
    parsed = await caller.parsed(document_id)
    assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY, parsed.document


@pytest.mark.timeout(240)
async def test_the_results_table_marks_every_kind_of_cell_and_a_worker_built_export_downloads(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    exports_by_workers: RunningGateway,
    tmp_path: Path,
) -> None:
    project, kinds, rows = await every_kind_of_cell(researcher)
    screenshot = tmp_path / "results.png"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    print(f"screenshot: {screenshot}")

    output = await run_scenario(
        "results.mjs",
        url=f"http://127.0.0.1:{exports_by_workers.port}/",
        email=researcher.email,
        password=PASSWORD,
        project=project,
        rows=str(rows),
        screenshot=screenshot,
        download_dir=downloads,
        **kinds,
    )

    assert screenshot.is_file()
    data = saved_download(output, downloads).read_text(encoding="utf-8-sig")
    header, *records = list(csv.reader(io.StringIO(data, newline="")))
    assert "_confidence_budget" in header, "the metadata columns the page asked for"
    assert len(records) == rows
