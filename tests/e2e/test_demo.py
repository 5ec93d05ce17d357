"""`coderai demo` as a newcomer runs it: no settings at all, so the embedded PostgreSQL and
Redis and the offline baseline; a real process from the sample documents to the CSV files."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pyreadstat
import pytest

from server.core.embedded import stop_embedded
from server.demo.project import demo_variables, sample_documents
from tests.processes import coderai, stop

LLM_SETTINGS = (
    "LLM_PROVIDER",
    "LLM_MODEL",
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "LLM_BASE_URL",
    "OPENAI_BASE_URL",
)


@pytest.fixture
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("coderai-data")
    yield data_dir
    stop_embedded(data_dir)


@pytest.fixture
def no_llm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LLM_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def workers_of(data_dir: Path) -> list[int]:
    """Pids of `coderai worker` processes started for this data directory (Linux /proc)."""
    pids = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            command = (process / "cmdline").read_bytes().split(b"\0")
            environment = (process / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # exited meanwhile, or not ours to read
        is_worker = b"server.cli" in command and b"worker" in command
        if is_worker and f"DATA_DIR={data_dir}".encode() in environment:
            pids.append(int(process.name))
    return pids


def test_the_demo_turns_the_sample_documents_into_a_dataset(
    embedded_data_dir: Path, tmp_path: Path, no_llm_settings: None
) -> None:
    output = tmp_path / "out"
    process = coderai("demo", "--output", str(output), DATA_DIR=str(embedded_data_dir))
    try:
        assert process.wait(timeout=90) == 0
    finally:
        stop(process, timeout=10)

    samples = sample_documents()
    variables = [variable.name for variable in demo_variables("")]
    dataset = read_csv(output / "dataset.csv")
    assert [row["filename"] for row in dataset] == sorted(sample.filename for sample in samples)
    assert list(dataset[0]) == ["document_id", "filename", *variables]
    extractions = read_csv(output / "extractions.csv")
    assert len(extractions) == len(samples) * len(variables)
    assert {(row["filename"], row["variable"]) for row in extractions} == {
        (sample.filename, variable) for sample in samples for variable in variables
    }
    assert {row["status"] for row in extractions} <= {"SUCCESS", "LOW_CONFIDENCE", "NOT_FOUND"}

    rows = {row["filename"]: row for row in dataset}
    saltmere = rows["saltmere_town_council.txt"]
    assert saltmere["approval_date"] == "2024-03-12"
    assert saltmere["budget_eur"] == "4200000"
    assert saltmere["approved"] == "true"
    assert saltmere["measure_type"] == "hard defence"
    assert saltmere["purpose"].startswith("The purpose of the scheme is to protect the homes")
    assert rows["kittlewick_town_council.txt"]["approved"] == "false"
    assert rows["port_elvery_borough_council.html"]["measure_type"] == "managed retreat"
    # Every format came through ExportService.
    workbook = openpyxl.load_workbook(output / "dataset.xlsx")
    assert [sheet.title for sheet in workbook.worksheets][:2] == ["Data", "Long"]
    frame, meta = pyreadstat.read_dta(str(output / "dataset.dta"))
    assert len(frame) == len(samples)
    assert {0: "false", 1: "true"}.items() <= meta.variable_value_labels["approved"].items()
    assert len(pyreadstat.read_sav(str(output / "dataset.sav"))[0]) == len(samples)
    assert "approval_date" in (output / "codebook.md").read_text(encoding="utf-8")
    with zipfile.ZipFile(output / "datapackage.zip") as package:
        assert {"dataset.csv", "extractions.csv", "datapackage.json", "codebook.md"} <= set(
            package.namelist()
        )
    assert workers_of(embedded_data_dir) == [], "the demo stops its worker"


def test_interrupting_the_demo_stops_its_worker(
    embedded_data_dir: Path, tmp_path: Path, no_llm_settings: None
) -> None:
    """Ctrl-C halfway: the demo shuts its worker and server down and exits 130."""
    process = coderai("demo", "--output", str(tmp_path / "out"), DATA_DIR=str(embedded_data_dir))
    try:
        deadline = time.monotonic() + 60
        while not workers_of(embedded_data_dir):
            assert process.poll() is None, "the demo exited before starting its worker"
            assert time.monotonic() < deadline, "no worker within 60 s"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
    except subprocess.TimeoutExpired:
        pytest.fail("the demo did not stop within 30 s of Ctrl-C")
    finally:
        stop(process, timeout=10)
    assert workers_of(embedded_data_dir) == []
