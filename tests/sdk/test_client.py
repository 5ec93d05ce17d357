"""coderai.Client, the notebook client, through the whole workflow against the real server,
real workers and the local OpenAI-compatible server: sign in, a project, a codebook from YAML,
a folder uploaded, a sample job then a full one watched live, the results as a DataFrame and
every export written to disk. The client blocks, so each test runs it in a thread while the
servers of the test's event loop answer."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pandas as pd
import pytest
from coderai import Client, CoderAIError
from coderai import client as client_module
from coderai.v1 import common_pb2, job_pb2, quality_pb2

from server.copilot.service import SUGGESTIONS_SCHEMA_NAME
from tests.copilot.test_copilot_rpc import ANSWER
from tests.jobs.conftest import Stack
from tests.processes import free_port
from tests.quality.test_quality_rpc import minutes, misreading_model
from tests.sdk.documents import CODEBOOK, research_folder

PASSWORD = "a long enough passphrase"


def new_client(stack: Stack) -> Client:
    client = Client(stack.target, progress=False)
    client.register(f"notebook-{uuid.uuid4().hex[:8]}@example.org", PASSWORD)
    return client


def workflow(stack: Stack, tmp_path: Path) -> None:
    client = new_client(stack)
    project = client.create_project("Harbour minutes", domain="local government", unit="document")
    assert client.project("Harbour minutes").id == project.id

    codebook = tmp_path / "codebook.yaml"
    codebook.write_text(CODEBOOK)
    changes = client.apply_codebook(project, codebook)
    assert changes.created == ["approval_date", "budget", "sector", "works"]
    # Applied again unchanged: nothing to do; with one change: that one variable updated.
    assert client.apply_codebook(project, codebook).unchanged == changes.created
    codebook.write_text(CODEBOOK.replace("The budget of the plan", "The plan's budget"))
    assert client.apply_codebook(project, codebook).updated == ["budget"]
    variables = client.list_variables(project)
    assert [v.name for v in variables] == changes.created
    sector = variables[2]
    assert [c.label for c in sector.classification_rules.categories] == ["infrastructure", "health"]
    assert "infrastructure" in client.prompt(sector).user_prompt_template

    # The server's validation reaches the researcher field by field.
    with pytest.raises(CoderAIError) as invalid:
        client.add_variable(project, "2nd budget", "category", "Another.")
    assert invalid.value.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = dict(invalid.value.violations)
    assert "variable.name" in fields
    assert "variable.name" in str(invalid.value)

    outcomes = client.upload(project, research_folder(tmp_path))
    by_name = {outcome.path.name: outcome for outcome in outcomes}
    # The hidden file and the image are not uploaded; the corrupt PDF fails, with why.
    assert set(by_name) == {"kiel.pdf", "husum.docx", "emden.html", "leer.txt", "broken.pdf"}
    ready = [
        o for o in outcomes if o.document and o.document.status == common_pb2.DOCUMENT_STATUS_READY
    ]
    assert len(ready) == 4, outcomes
    assert by_name["broken.pdf"].document is not None
    assert by_name["broken.pdf"].document.status == common_pb2.DOCUMENT_STATUS_FAILED
    assert by_name["broken.pdf"].error

    estimate = client.estimate(project, sample=2)
    assert estimate.documents == 2
    events: list[str] = []
    sample = client.run(project, sample=2, on_event=lambda event: events.append(event.event_type))
    assert sample.status == common_pb2.JOB_STATUS_COMPLETED
    assert events[0] == "snapshot"
    assert events[-1] == "job_completed"

    # The token is refreshed before it runs out, and again when the server refuses it.
    assert client._tokens is not None
    before = client.refresh_token
    client._tokens.access_token_expire_time.FromDatetime(datetime.now(UTC))
    assert client.me().email.startswith("notebook-")
    assert client.refresh_token != before
    client._tokens.access_token = "expired"
    assert client.list_projects()

    full = client.run(project)
    assert full.status == common_pb2.JOB_STATUS_COMPLETED
    outcome = {d.filename: d.status for d in client.job_documents(full.id)}
    assert sorted(outcome.values()).count(job_pb2.JOB_DOCUMENT_STATUS_SKIPPED) == 2
    assert sorted(outcome.values()).count(job_pb2.JOB_DOCUMENT_STATUS_PROCESSED) == 2

    frame = client.results(project)
    assert list(frame.columns) == ["document_id", "filename", *changes.created]
    assert sorted(frame["filename"]) == ["emden.html", "husum.docx", "kiel.pdf", "leer.txt"]
    budgets = dict(zip(frame["filename"], frame["budget"], strict=True))
    assert budgets["leer.txt"] == 2_000_003
    assert str(frame["approval_date"].dtype).startswith("datetime64")
    assert all(isinstance(works, list) for works in frame["works"])
    with_metadata = client.results(project, metadata=True)
    assert set(with_metadata["status_budget"]) <= {"SUCCESS", "LOW_CONFIDENCE"}

    for format, name in (
        ("csv_wide", "data.csv"),
        ("xlsx", "data.xlsx"),
        ("data_package", "p.zip"),
    ):
        written = client.export(project, format, tmp_path / name)
        assert written.stat().st_size > 0
    wide = list(csv.DictReader(io.StringIO((tmp_path / "data.csv").read_text("utf-8-sig"))))
    assert sorted(row["filename"] for row in wide) == sorted(frame["filename"])
    assert pd.read_excel(tmp_path / "data.xlsx").shape[0] == 4
    assert "datapackage.json" in zipfile.ZipFile(tmp_path / "p.zip").namelist()

    # Another researcher's project is NOT_FOUND from the client too.
    intruder = new_client(stack)
    with pytest.raises(CoderAIError) as foreign:
        intruder.list_variables(project)
    assert foreign.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(CoderAIError) as unnamed:
        intruder.project("Harbour minutes")
    assert unnamed.value.code == grpc.StatusCode.NOT_FOUND
    intruder.close()
    client.logout()
    client.close()


@pytest.mark.timeout(240)
async def test_the_notebook_workflow_from_sign_in_to_exports(
    stack: Stack, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    await asyncio.to_thread(workflow, stack, tmp_path)


def quality_workflow(stack: Stack, tmp_path: Path) -> None:
    client = new_client(stack)
    project = client.create_project("Harbour stances", domain="local government")
    client.add_variable(
        project,
        name="stance",
        type="category",
        instructions="The residents' association's stance on the harbour plan.",
        categories={"support": "for the plan", "oppose": "against the plan"},
    )
    folder = tmp_path / "minutes"
    folder.mkdir()
    texts, stances = minutes(8)
    for index, text in enumerate(texts):
        (folder / f"town-{index}.txt").write_text(text)
    client.upload(project, folder)
    # The co-pilot over all eight documents: read in batches, streamed; one suggestion added.
    found = client.suggest_variables(project, "Who opposes the plan?", documents=8)
    assert found.usage.documents_read == 8
    suggested = {s.variable.name: s for s in found.suggestions}
    added = client.add_suggestion(suggested["association_stance"])
    assert added.id
    assert "association_stance" in [v.name for v in client.list_variables(project)]
    client.run(project, sample=8)
    sample = client.coding_sample(project, "reliability", 8, seed=3)
    assert len(sample.document_ids) == 8

    # A coder's spreadsheet: a row per file, a column per variable; one cell left empty.
    codes = tmp_path / "ada.csv"
    rows = [f"town-{index}.txt,{stance}," for index, stance in enumerate(stances)]
    rows[7] = "town-7.txt,,the letter is unclear"
    codes.write_text("filename,stance,note_stance\n" + "\n".join(rows) + "\n")
    assert client.import_codes(project, "Ada", codes, sample=sample) == 8

    table = client.agreement(project, "stance", reference="Ada")
    model = table[(table.compared == "model") & (table.measure == "percent agreement")]
    # Three oppositions read as support, and a value where Ada found none stated.
    assert model.value.item() == pytest.approx(4 / 8)
    assert model.units.item() == 8
    assert set(table.columns) >= {"ci_low", "ci_high", "undefined"}

    refinement = client.refine(project, "stance", reference="Ada")
    assert refinement.status == quality_pb2.REFINEMENT_STATUS_READY
    assert client.accept_refinement(refinement) == 2
    client.run(project, sample=8)
    compared = client.compare_versions(project, "stance", 1, reference="Ada")
    assert compared.paired_units == 8
    assert compared.agreement_change == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="no document of the project is named"):
        client.import_codes(project, "Ada", pd.DataFrame({"filename": ["x.txt"], "stance": ["a"]}))
    client.close()


@pytest.mark.timeout(240)
async def test_the_notebook_imports_a_coders_table_measures_agreement_and_refines(
    stack: Stack, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    misreading_model(stack)
    stack.llm.answer_schema(SUGGESTIONS_SCHEMA_NAME, ANSWER)
    await asyncio.to_thread(quality_workflow, stack, tmp_path)


def test_a_watch_gives_up_on_a_server_that_stays_out_of_reach(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reconnecting goes on through a broken stream, not forever: a notebook whose server is
    gone gets the error instead of a cell that never ends."""
    monkeypatch.setattr(client_module, "WATCH_RECONNECT_SECONDS", 2.0)
    client = Client(f"127.0.0.1:{free_port()}", api_key="cak_unused", progress=False)
    started = time.monotonic()

    with pytest.raises(CoderAIError) as gone:
        client.watch(str(uuid.uuid4()))

    assert gone.value.code == grpc.StatusCode.UNAVAILABLE
    assert 2.0 <= time.monotonic() - started < 10
    client.close()
