"""The workbench end to end in headless Chromium, from an empty account through the grpc-web
gateway against a real worker: register, projects, variables, uploads, a sample job and a full
job paused and resumed (tests/web/workbench.mjs). A screenshot of each step is kept in
test-artifacts/workbench/ (TEST_ARTIFACTS_DIR elsewhere; printed "screenshot: PATH")."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import docx
import pymupdf
import pytest

from gateway.proxy import RunningGateway
from server.llm.local_server import Fault
from tests.documents.files import docx_bytes
from tests.jobs.conftest import Stack
from tests.processes import ROOT
from tests.sdk.documents import report
from tests.web.scenarios import needs_chromium, run_scenario

pytestmark = needs_chromium

# PyMuPDF has no type hints.
mupdf: Any = pymupdf
PASSWORD = "a long enough passphrase"
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
# Over the upload's 4 MiB part: a file sent in several parts.
LARGE_PDF_BYTES = 5 * 1024 * 1024


def large_pdf(text: str) -> bytes:
    """A one-page report with a large scanned image on it, as big PDFs usually are."""
    document = mupdf.open()
    page = document.new_page()
    page.insert_text((72, 72), text[:90], fontsize=11)
    for line, part in enumerate(text.split(". ")):
        page.insert_text((72, 100 + 14 * line), part, fontsize=9)
    noise = random.Random(7).randbytes(1400 * 1300 * 3)
    image = mupdf.Pixmap(mupdf.csRGB, 1400, 1300, noise, False)
    page.insert_image(mupdf.Rect(72, 300, 540, 740), pixmap=image)
    data = bytes(document.tobytes())
    assert len(data) > LARGE_PDF_BYTES, len(data)
    return data


def documents(folder: Path) -> tuple[list[Path], Path]:
    """A large PDF, a Word file, a web page and plain text files; and a corrupt PDF."""
    folder.mkdir()
    files = [folder / "kiel.pdf", folder / "husum.docx", folder / "emden.html"]
    files[0].write_bytes(large_pdf(report(0)))
    word = docx.Document()
    word.add_paragraph(report(1))
    files[1].write_bytes(docx_bytes(word))
    files[2].write_text(f"<html><body><h1>Minutes</h1><p>{report(2)}</p></body></html>")
    for index in range(5):
        text = folder / f"minutes-{index + 1}.txt"
        text.write_text(report(3).replace("Leer", f"Town {index + 1}"))
        files.append(text)
    broken = folder / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj <<\nnot a PDF any more")
    return files, broken


@pytest.mark.timeout(300)
async def test_a_researchers_first_hour_in_the_browser(
    stack: Stack, web_gateway: RunningGateway, tmp_path: Path
) -> None:
    # One document at a time, slowly: the full job runs long enough to be paused.
    worker: subprocess.Popen[bytes] = stack.start_worker(WORKER_CONCURRENCY="1")
    stack.llm.set_default(Fault.parse("latency=0.3"))
    files, broken = documents(tmp_path / "files")
    shots = ARTIFACTS / "workbench"
    shutil.rmtree(shots, ignore_errors=True)  # this run's screenshots only
    shots.mkdir(parents=True)
    downloads = tmp_path / "downloads"
    downloads.mkdir()

    output = await run_scenario(
        "workbench.mjs",
        url=f"http://127.0.0.1:{web_gateway.port}/",
        email=f"workbench-{uuid.uuid4().hex[:8]}@example.org",
        password=PASSWORD,
        project="Harbour minutes",
        files=",".join(str(path) for path in files),
        broken=broken,
        screenshot=shots / "last.png",
        screenshot_dir=shots,
        download_dir=downloads,
        sign_in="no",
    )

    assert worker.poll() is None
    taken = sorted(shots.glob("*.png"))
    assert len(taken) >= 8, taken
    assert "full job documents: SKIPPED" in output or "SKIPPED" in output
