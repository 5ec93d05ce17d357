"""Evidence for every value, at the right place, through the real server and workers: a model
that reads correctly (the local server's scripted answers) quotes real documents, and what is
stored, listed and exported points at the passage it read. The pipeline is scored, not the
model: every value is right, so any evidence lost or misplaced is the pipeline's.

Real text: the demo's council minutes (in the repository) and, where the shared corpus is
beside it, a two-column PDF paper and a Word document."""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from coderai.v1 import common_pb2, document_pb2, schema_pb2

from server.llm.local_server import ScriptedAnswer
from tests.factories import Caller
from tests.jobs.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
MINUTES = ROOT / "server" / "demo" / "samples" / "hollin_bay_council.txt"
DOCUMENTS = [
    pytest.param(
        path,
        id=path.name,
        marks=pytest.mark.skipif(not path.exists(), reason=f"no {path} (no shared corpus)"),
    )
    for path in (
        MINUTES,
        CORPUS / "pdf" / "multi-column-2p.pdf",
        CORPUS / "docx" / "word_sample.docx",
    )
]
TEXT = common_pb2.VARIABLE_TYPE_TEXT
EXACT = common_pb2.EVIDENCE_MATCH_EXACT
FUZZY = common_pb2.EVIDENCE_MATCH_FUZZY
AMBIGUOUS = common_pb2.EVIDENCE_MATCH_AMBIGUOUS
# Variables whose answers the test scripts.
VARIABLES = [
    {"name": "second_mention", "type": TEXT, "instructions": "The sentence of the 2nd mention."},
    {"name": "keyword", "type": TEXT, "instructions": "The keyword, quoted alone."},
    {
        "name": "passages",
        "type": TEXT,
        "instructions": "Three passages of the document.",
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_ALL,
        "max_values": 3,
    },
    {"name": "company", "type": TEXT, "instructions": "The company, quoted at its name."},
]


@dataclass(frozen=True)
class Plan:
    """What a careful reader of the text would quote, and where it is."""

    word: str
    word_places: int
    second_line: str
    lines: list[str]


def lines_of(text: str) -> list[str]:
    """Lines of prose that occur once in the text."""
    return [
        line
        for line in (raw.strip() for raw in text.splitlines())
        if 40 <= len(line) <= 240 and text.count(line) == 1 and re.search(r"[a-z]{4}", line)
    ]


def plan(text: str, chunks: list[tuple[int, int]]) -> Plan:
    """A word met on two unique lines (the quote of its second mention is that line), the
    number of places the word alone has in the first chunk a reader finds it in, and three
    unique lines."""
    lines = lines_of(text)
    for line in lines:
        for word in sorted(set(re.findall(r"[A-Za-z]{5,}", line)), key=len, reverse=True):
            whole = re.compile(rf"(?<!\w){word}(?!\w)", re.IGNORECASE)
            mentions = [m.start() for m in whole.finditer(text)]
            first_line = next((other for other in lines if whole.search(other)), None)
            if len(mentions) < 2 or first_line is line or text.index(line) < mentions[0]:
                continue
            first_chunk = next(span for span in chunks if span[0] <= mentions[0] < span[1])
            in_chunk = sum(first_chunk[0] <= at < first_chunk[1] - len(word) for at in mentions)
            if in_chunk < 2:
                continue  # the chunk the value comes from would choose the place
            distinct = [other for other in lines if other != line][:3]
            return Plan(word, min(in_chunk, 20), line, distinct)
    raise AssertionError("no word is mentioned twice on lines of prose")


async def ready(caller: Caller, project_id: str, path: Path) -> document_pb2.GetDocumentResponse:
    data = await asyncio.to_thread(path.read_bytes)
    [result] = await caller.upload(project_id, path.name, data)
    parsed = await caller.parsed(result.document.id, within=60)
    assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY, parsed.document
    return parsed


@pytest.mark.timeout(180)
@pytest.mark.parametrize("path", DOCUMENTS)
async def test_every_value_has_evidence_at_the_place_the_model_read(
    path: Path, researcher: Caller, worker: subprocess.Popen[bytes], stack: Stack
) -> None:
    project = await researcher.create_project(name=f"Evidence in {path.name}")
    for fields in VARIABLES:
        await researcher.create_variable(project.id, **fields)
    # A company name broken across a line by a hyphen, the way PDFs print it, in a document
    # of the real text's words: the model quotes it short, with the break as a space.
    line = lines_of(await asyncio.to_thread(MINUTES.read_text))[0]
    memo = f"{line}\nThe agreement binds Archer-Daniels-\nMidland Company from today.\n"
    parsed = await ready(researcher, project.id, path)
    [memo_result] = await researcher.upload(project.id, "memo.txt", memo.encode())
    await researcher.parsed(memo_result.document.id)
    text = parsed.text
    chunks = [(chunk.start_offset, chunk.end_offset) for chunk in parsed.chunks] or [(0, len(text))]
    reading = plan(text, chunks)
    print(f"{path.name}: {len(text)} characters, {len(chunks)} chunks; {reading}")

    stack.llm.reset()
    stack.llm.answer_variable("second_mention", ScriptedAnswer(reading.word, reading.second_line))
    stack.llm.answer_variable("keyword", ScriptedAnswer(reading.word, reading.word))
    stack.llm.answer_variable(
        "passages", ScriptedAnswer([f"passage {n}" for n in (1, 2, 3)], reading.lines)
    )
    stack.llm.answer_variable(
        "company",
        ScriptedAnswer(
            "Archer-Daniels-Midland Company",
            "Archer-Daniels- Midland Company",
            where="The agreement binds",
        ),
    )
    created = await researcher.create_job(
        project.id, document_ids=[parsed.document.id, memo_result.document.id]
    )
    job = await researcher.job_ended(created.job.id, within=120)
    assert job.status == common_pb2.JOB_STATUS_COMPLETED, job

    names = await variable_names(researcher, project.id)
    extraction = {
        names[e.variable_id]: e
        for e in await researcher.extractions(project.id, document_id=parsed.document.id)
    }

    # The sentence of the second mention: placed there, not at the first mention.
    second = extraction["second_mention"]
    [evidence] = second.value_evidence
    assert (evidence.evidence_match, evidence.candidates, evidence.weak) == (EXACT, 1, False)
    assert evidence.source_start_offset == text.index(reading.second_line)
    assert text[evidence.source_start_offset : evidence.source_end_offset] == reading.second_line

    # The word alone: every place it has in the chunk it was read from, none chosen silently.
    [word] = extraction["keyword"].value_evidence
    assert (word.evidence_match, word.candidates, word.weak) == (
        AMBIGUOUS,
        reading.word_places,
        True,
    )
    assert extraction["keyword"].evidence_match == AMBIGUOUS
    assert extraction["keyword"].status == common_pb2.EXTRACTION_STATUS_SUCCESS

    # Several values: each with its own quote, located at its own line.
    passages = extraction["passages"]
    assert [e.source_text for e in passages.value_evidence] == reading.lines
    for item, quoted in zip(passages.value_evidence, reading.lines, strict=True):
        assert (item.evidence_match, item.candidates) == (EXACT, 1)
        assert text[item.source_start_offset : item.source_end_offset] == quoted

    # The short quote across the hyphenated line break is found, not flagged as invented.
    company = next(
        e
        for e in await researcher.extractions(project.id, document_id=memo_result.document.id)
        if names[e.variable_id] == "company"
    )
    [placed] = company.value_evidence
    assert placed.evidence_match == FUZZY
    assert company.status == common_pb2.EXTRACTION_STATUS_SUCCESS
    memo_text = (await researcher.get_document(memo_result.document.id, True)).text
    assert memo_text[placed.source_start_offset : placed.source_end_offset] == (
        "Archer-Daniels-\nMidland Company"
    )


async def variable_names(caller: Caller, project_id: str) -> dict[str, str]:
    response = await caller.schema.ListVariables(
        schema_pb2.ListVariablesRequest(project_id=project_id), metadata=caller.metadata
    )
    return {variable.id: variable.name for variable in response.variables}
