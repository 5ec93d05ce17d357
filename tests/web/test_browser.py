"""The web page end to end in headless Chromium: a researcher signs in, picks their project,
starts a sample job and watches its events arrive live through the grpc-web gateway, from the
snapshot to job_completed, while real workers run the job; then reads the results table and
downloads the dataset as CSV through the same gateway."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

from gateway.proxy import RunningGateway
from server.llm.local_server import Fault
from tests.factories import PASSWORD, Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports
from tests.web.scenarios import needs_chromium, run_scenario, saved_download

UTF8_BOM = b"\xef\xbb\xbf"

pytestmark = needs_chromium


@pytest.mark.timeout(240)
async def test_a_researcher_watches_a_sample_job_live_and_downloads_its_dataset_in_the_browser(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    web_gateway: RunningGateway,
    tmp_path: Path,
) -> None:
    # Every variable type, so the results table has a column of each.
    project = await project_with_schema(researcher, VARIABLES, name="Harbour minutes")
    documents = await ready_documents(researcher, project.id, reports(2))
    # Slow answers, so the page is watching before the first document is done.
    stack.llm.set_default(Fault.parse("latency=0.3"))
    screenshot = tmp_path / "sample-job.png"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    print(f"screenshot: {screenshot}")

    output = await run_scenario(
        "browser.mjs",
        url=f"http://127.0.0.1:{web_gateway.port}/",
        email=researcher.email,
        password=PASSWORD,
        project=project.name,
        documents="2",
        screenshot=screenshot,
        download_dir=downloads,
    )

    assert screenshot.is_file()
    data = saved_download(output, downloads).read_bytes()
    assert data.startswith(UTF8_BOM), "UTF-8 with a byte order mark, for Excel"
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert header[:2] == ["document_id", "filename"], header
    assert sorted(row[0] for row in rows) == sorted(documents), "one row per document"
