"""The researcher's command line end to end through the real `coderai` entry point, in
subprocesses, against the real server, workers and the local OpenAI-compatible server: from
register to an exported dataset, the sign-in kept between commands in a private file."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.jobs.conftest import Stack
from tests.processes import ROOT
from tests.sdk.documents import CODEBOOK, research_folder

PASSWORD = "a long enough passphrase"


async def coderai(config: Path, stack: Stack, *args: str) -> tuple[int, str]:
    """`coderai ARGS` as a researcher types it: exit status and what it printed."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CODERAI_")},
        "XDG_CONFIG_HOME": str(config),
        "CODERAI_SERVER": stack.target,
        "CODERAI_PASSWORD": PASSWORD,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    print(f"$ coderai {' '.join(args)}\n{text}")
    assert process.returncode is not None
    return process.returncode, text


@pytest.mark.timeout(300)
async def test_the_command_line_workflow_from_register_to_export(
    stack: Stack, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    config = tmp_path / "config"
    email = f"shell-{uuid.uuid4().hex[:8]}@example.org"

    async def ok(*args: str) -> str:
        status, output = await coderai(config, stack, *args)
        assert status == 0, output
        return output

    assert "not signed in" in (await coderai(config, stack, "project", "list"))[1]
    assert f"as {email}" in await ok("register", "--email", email)
    credentials = config / "coderai" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert PASSWORD not in credentials.read_text()

    assert "working in it" in await ok("project", "create", "Harbour minutes", "--domain", "towns")
    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(CODEBOOK)
    assert "created: approval_date, budget, sector, works" in await ok(
        "codebook", "apply", str(codebook)
    )
    assert "sector" in await ok("variable", "list")
    status, refused = await coderai(config, stack, "codebook", "apply", str(write_bad(tmp_path)))
    assert status == 1
    assert "INVALID_ARGUMENT" in refused
    assert "variable.name" in refused

    uploaded = await ok("upload", str(research_folder(tmp_path)))
    assert "4 ready, 1 failed" in uploaded
    assert "broken.pdf: failed: " in uploaded
    listing = await ok("documents")
    assert listing.count("READY") == 4
    assert "FAILED" in listing

    estimate = await ok("estimate", "--sample", "2")
    assert "2 documents" in estimate
    assert "one request per variable (this project): 8 calls" in estimate, estimate
    assert "all variables in one request: 2 calls" in estimate, estimate
    # The sample asks for all variables in one request, the full job for one at a time.
    assert "asks the model all variables in one request" in await ok("project", "mode", "grouped")
    assert "mode: all variables in one request" in await ok("project", "show")
    sample = await ok("run", "--sample", "2")
    assert ": COMPLETED, 2 of 2 documents done" in sample
    assert "one request per variable" in await ok("project", "mode", "per-variable")
    # A cost budget the first document would pass: the job pauses before spending anything,
    # and the command returns with it paused (not waiting for a resume) and says what next.
    status, paused = await coderai(config, stack, "run", "--full", "--cost-budget", "0.000001")
    assert status == 1
    assert ": PAUSED, 0 of 4 documents done, 0 failed, 0 tokens, $0.0000" in paused
    assert "cost budget reached" in paused
    assert "resume it with: coderai resume" in paused
    paused_id = paused.split("job ", 1)[1].split(":", 1)[0]
    assert ": CANCELLED" in (await coderai(config, stack, "cancel", paused_id))[1]
    full = await ok("run", "--full")
    assert ": COMPLETED, 4 of 4 documents done" in full
    assert len((await ok("jobs")).splitlines()) == 3

    dataset = tmp_path / "dataset.csv"
    assert "4 rows written" in await ok("results", "--output", str(dataset))
    rows = list(csv.DictReader(io.StringIO(dataset.read_text(encoding="utf-8-sig"))))
    assert sorted(row["filename"] for row in rows) == [
        "emden.html",
        "husum.docx",
        "kiel.pdf",
        "leer.txt",
    ]
    assert {row["filename"]: row["budget"] for row in rows}["leer.txt"] == "2000003"
    workbook = tmp_path / "dataset.xlsx"
    assert "written" in await ok("export", "xlsx", "--output", str(workbook))
    assert workbook.read_bytes().startswith(b"PK")

    # Blind coding from a coder's spreadsheet, and the agreement it measures.
    assert "4 documents drawn at random from 4" in await ok("sample", "reliability", "--size", "4")
    codes = tmp_path / "ada.csv"
    names = "\n".join(f"{row['filename']},infrastructure" for row in rows)
    codes.write_text(f"filename,sector\n{names}\n")
    assert "4 codes of Ada stored" in await ok(
        "codes", "import", str(codes), "--coder", "Ada", "--sample", "reliability"
    )
    measured = await ok("agreement", "sector", "--reference", "Ada")
    assert "percent agreement" in measured
    assert "Ada" in measured
    status, refused = await coderai(config, stack, "refine", "sector", "--reference", "Ada")
    assert status == 1
    assert "FAILED_PRECONDITION" in refused
    assert "at least 5" in refused

    # The sign-in survives between commands (its refresh token changes with each), until
    # the researcher signs out.
    assert "signed out" in await ok("logout")
    assert (await coderai(config, stack, "project", "list"))[0] == 1


def write_bad(folder: Path) -> Path:
    bad = folder / "bad.yaml"
    bad.write_text("variables:\n  - name: 2nd budget\n    type: text\n    instructions: x\n")
    return bad
