"""The web page end to end in headless Chromium: a researcher signs in, picks their project,
starts a sample job and watches its events arrive live through the grpc-web gateway, from the
snapshot to job_completed, while real workers run the job."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.proxy import RunningGateway
from server.llm.local_server import Fault
from tests.factories import PASSWORD, Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_SCRIPT = Path(__file__).with_name("browser.mjs")
NODE = shutil.which("node")
BROWSER_TIMEOUT_SECONDS = 90

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or NODE is None,
    reason="needs Debian's chromium at /usr/bin/chromium and node (scripts/setup installs "
    "chromium where it runs as root with apt-get)",
)


@pytest.mark.timeout(180)
async def test_a_researcher_watches_a_sample_job_live_in_the_browser(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    web_gateway: RunningGateway,
    tmp_path: Path,
) -> None:
    project = await project_with_schema(researcher, VARIABLES[:1], name="Harbour minutes")
    await ready_documents(researcher, project.id, reports(2))
    # Slow answers, so the page is watching before the first document is done.
    stack.llm.set_default(Fault.parse("latency=0.3"))
    screenshot = tmp_path / "sample-job.png"
    assert NODE is not None

    browser = await asyncio.create_subprocess_exec(
        NODE,
        str(BROWSER_SCRIPT),
        "--url",
        f"http://127.0.0.1:{web_gateway.port}/",
        "--email",
        researcher.email,
        "--password",
        PASSWORD,
        "--project",
        project.name,
        "--documents",
        "2",
        "--screenshot",
        str(screenshot),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(browser.communicate(), BROWSER_TIMEOUT_SECONDS)
    except TimeoutError:
        browser.kill()
        output, _ = await browser.communicate()
        pytest.fail(f"browser.mjs ran over {BROWSER_TIMEOUT_SECONDS}s:\n{output.decode()}")

    print(output.decode())
    print(f"screenshot: {screenshot}")
    assert browser.returncode == 0, output.decode()
    assert screenshot.is_file()
