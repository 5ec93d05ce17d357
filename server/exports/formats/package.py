"""The Frictionless Data Package (v1, tabular): a .zip of dataset.csv (wide), extractions.csv
(long), codebook.md and a datapackage.json whose Table Schemas type every column."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, BinaryIO

from server.exports.codebook import METADATA_MEANING, codebook
from server.exports.columns import (
    IDENTIFYING_LABELS,
    MISSING_TEXT,
    Column,
    ColumnKind,
    NameRule,
    plain_text,
    slug,
    wide_columns,
)
from server.exports.dataset import DatasetHeader, Unit, VariableSpec
from server.exports.formats.codebook import markdown
from server.exports.formats.csv import LongCsvWriter, WideCsvWriter, text_cell
from server.exports.long import long_columns
from server.exports.quality import Quality
from server.jobs.models import EvidenceMatch, ExtractionStatus
from server.llm.factory import OFFLINE, OFFLINE_MODEL
from server.schema.models import VariableType

DATASET = "dataset.csv"
EXTRACTIONS = "extractions.csv"
CODEBOOK = "codebook.md"
DESCRIPTOR = "datapackage.json"
# The CSVs begin with a byte order mark. The spec asks for an IANA name, and "utf-8-sig" is
# Python's alone; frictionless reads a "utf-8" file that starts with a mark as utf-8-sig.
ENCODING = "utf-8"
# Read as missing in every column: the empty cell and the four codes.
MISSING_VALUES = ["", *MISSING_TEXT.values()]
_COPY_BYTES = 1024 * 1024

_VALUE_TYPES = {
    VariableType.TEXT: "string",
    VariableType.NUMBER: "number",
    VariableType.DATE: "date",
    VariableType.BOOLEAN: "boolean",
    VariableType.CATEGORY: "string",
}
_UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_CONFIDENCE: dict[str, Any] = {"type": "number", "constraints": {"minimum": 0, "maximum": 1}}
_OFFSET: dict[str, Any] = {"type": "integer", "constraints": {"minimum": 0}}
_IDENTIFYING_DESCRIPTIONS = {
    ColumnKind.DOCUMENT_ID: "The document's id in CoderAI.",
    ColumnKind.FILENAME: "The name of the uploaded file.",
    ColumnKind.ENTITY_KEY: "The entity's name, normalised: with document_id it names the row.",
    ColumnKind.ENTITY_NAME: "The entity's name as the document first gives it.",
}
_METADATA_TYPES: dict[ColumnKind, dict[str, Any]] = {
    ColumnKind.CONFIDENCE: _CONFIDENCE,
    ColumnKind.SOURCE: {"type": "string"},
    ColumnKind.PROMPT_VERSION: {"type": "integer"},
}
# The long data's fields beyond their name; variable and value depend on the header.
_LONG_FIELDS: dict[str, dict[str, Any]] = {
    "document_id": {"title": IDENTIFYING_LABELS[ColumnKind.DOCUMENT_ID], **_UUID},
    "filename": {"title": IDENTIFYING_LABELS[ColumnKind.FILENAME], "type": "string"},
    "entity_key": {"title": IDENTIFYING_LABELS[ColumnKind.ENTITY_KEY], "type": "string"},
    "entity_name": {"title": IDENTIFYING_LABELS[ColumnKind.ENTITY_NAME], "type": "string"},
    "status": {
        "title": "Status",
        "description": (
            "SUCCESS (best guesses too: see best_guess), LOW_CONFIDENCE (flagged for review), "
            "NOT_FOUND or FAILED (see error)."
        ),
        "type": "string",
        "constraints": {"enum": [status.value for status in ExtractionStatus]},
    },
    "best_guess": {
        "title": "Best guess",
        "description": (
            "True for a value kept below the variable's confidence threshold as the answer, "
            "because its rule if uncertain is best guess (the codebook says which rule each "
            "variable has)."
        ),
        "type": "boolean",
        "trueValues": [plain_text(True)],
        "falseValues": [plain_text(False)],
    },
    "confidence": {"title": "Confidence", "description": "From 0 to 1.", **_CONFIDENCE},
    "value_index": {
        "title": "Value number",
        "description": (
            "1 for the first (or only) value of the extraction; a variable that keeps several "
            "values has a row for each, numbered in the order they appear."
        ),
        "type": "integer",
        "constraints": {"minimum": 1},
    },
    "evidence_match": {
        "title": "Evidence",
        "description": (
            "Where the value's quoted passage was found in the document: EXACT, FUZZY (up to "
            "case, spacing, hyphens, typographic marks), AMBIGUOUS (at several places: see "
            "evidence_candidates), NOT_FOUND (maybe invented) or NO_QUOTE."
        ),
        "type": "string",
        "constraints": {"enum": [match.value for match in EvidenceMatch]},
    },
    "evidence_candidates": {
        "title": "Places the quote occurs",
        "description": (
            "In the passage the model read (else the whole document), counted up to 20; more "
            "than 1 makes the evidence AMBIGUOUS. Empty when the quote was not found."
        ),
        "type": "integer",
        "constraints": {"minimum": 0},
    },
    "evidence_weak": {
        "title": "Weak evidence",
        "description": "True for a one-word quote: it shows where a word occurs, no more.",
        "type": "boolean",
        "trueValues": [plain_text(True)],
        "falseValues": [plain_text(False)],
    },
    "source_text": {"title": "Quoted passage", "type": "string"},
    "source_start": {"title": "Passage start (character offset)", **_OFFSET},
    "source_end": {"title": "Passage end (character offset)", **_OFFSET},
    "prompt_version": {"title": "Prompt version", "type": "integer"},
    "model": {
        "title": "Model (provider/model)",
        "description": (
            f"The model that answered; {OFFLINE}/{OFFLINE_MODEL} is the offline baseline "
            "(rules and keywords, not a language model)."
        ),
        "type": "string",
    },
    "job_id": {"title": "Job id", **_UUID},
    "extraction_id": {"title": "Extraction id", **_UUID},
    "error": {"title": "Why the extraction failed or was flagged", "type": "string"},
}


@dataclass(frozen=True, slots=True)
class _Stored:
    """A file as written into the archive: datapackage.json states its size and hash."""

    size: int
    sha256: str


class DataPackageWriter:
    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._out = out
        # On disk as they grow (memory stays flat however many rows come); closed by finish().
        self._dataset = tempfile.TemporaryFile()  # noqa: SIM115
        self._extractions = tempfile.TemporaryFile()  # noqa: SIM115
        self._wide = WideCsvWriter(header, self._dataset)
        self._long = LongCsvWriter(header, self._extractions)

    def add(self, units: Sequence[Unit]) -> None:
        self._wide.add(units)
        self._long.add(units)

    def finish(self, quality: Quality) -> None:
        self._wide.finish(quality)
        self._long.finish(quality)
        at = self._header.generated_at.astimezone(UTC)
        # The export's time on every entry: the same rows give the same archive.
        moment = (at.year, at.month, at.day, at.hour, at.minute, at.second)
        try:
            with zipfile.ZipFile(self._out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                stored = {
                    name: _store(archive, _entry(name, moment), file)
                    for name, file in ((DATASET, self._dataset), (EXTRACTIONS, self._extractions))
                }
                text = markdown(codebook(self._header, quality, NameRule.PLAIN))
                archive.writestr(_entry(CODEBOOK, moment), text.encode())
                package = json.dumps(descriptor(self._header, stored), indent=2, ensure_ascii=False)
                archive.writestr(_entry(DESCRIPTOR, moment), package.encode())
        finally:
            self._dataset.close()
            self._extractions.close()


def _entry(name: str, moment: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, moment)
    info.compress_type = zipfile.ZIP_DEFLATED
    # Readable files when unzipped (without it some tools create them with no permissions).
    info.external_attr = 0o644 << 16
    return info


def _store(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: BinaryIO) -> _Stored:
    """Copies a temporary file into the archive in chunks, hashing it on the way."""
    # Known in advance, the size lets zipfile choose ZIP64 for a file over 4 GB.
    info.file_size = file.seek(0, 2)
    file.seek(0)
    digest = hashlib.sha256()
    with archive.open(info, "w") as entry:
        while data := file.read(_COPY_BYTES):
            digest.update(data)
            entry.write(data)
    return _Stored(info.file_size, digest.hexdigest())


def descriptor(header: DatasetHeader, stored: dict[str, _Stored]) -> dict[str, Any]:
    """datapackage.json, for CSVs of the header's rows stored as `stored` says."""
    unit = "entity found in a document" if header.entity_level else "document"
    about = (
        f"Coded from documents with CoderAI: {DATASET} has one row per {unit} and one column "
        f"per variable, {EXTRACTIONS} one row per extraction with its evidence; {CODEBOOK} "
        "describes every variable, how it was coded, the run and the quality of the data."
    )
    if header.run is not None and header.run.models:
        about += f" Models that answered (provider/model): {', '.join(header.run.models)}."
        if header.run.offline_baseline:
            about += (
                f" Values answered by {OFFLINE}/{OFFLINE_MODEL} come from the offline baseline: "
                "rules and keywords, not a language model."
            )
    wide_key = ["document_id", "entity_key"] if header.entity_level else ["document_id"]
    return {
        "profile": "tabular-data-package",
        "name": slug(header.project_name),
        "title": header.project_name,
        "description": "\n\n".join(filter(None, [header.project_description, about])),
        "created": f"{header.generated_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "resources": [
            _resource(
                "dataset",
                DATASET,
                f"{header.project_name}: one row per {unit}",
                {
                    "fields": [
                        _wide_field(header, c) for c in wide_columns(header, NameRule.PLAIN)
                    ],
                    "missingValues": MISSING_VALUES,
                    "primaryKey": wide_key,
                },
                stored[DATASET],
            ),
            _resource(
                "extractions",
                EXTRACTIONS,
                f"{header.project_name}: one row per extraction",
                {
                    "fields": [_long_field(header, name) for name in long_columns(header)],
                    "missingValues": MISSING_VALUES,
                    "primaryKey": ["extraction_id", "value_index"],
                    "foreignKeys": [
                        {
                            "fields": wide_key,
                            "reference": {"resource": "dataset", "fields": wide_key},
                        }
                    ],
                },
                stored[EXTRACTIONS],
            ),
        ],
    }


def _resource(
    name: str, path: str, title: str, schema: dict[str, Any], stored: _Stored
) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "profile": "tabular-data-resource",
        "title": title,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": ENCODING,
        "bytes": stored.size,
        "hash": f"sha256:{stored.sha256}",
        "schema": schema,
    }


def _wide_field(header: DatasetHeader, column: Column) -> dict[str, Any]:
    field: dict[str, Any] = {"name": column.name, "title": column.label}
    variable = column.variable(header)
    if variable is None:
        described = {"description": _IDENTIFYING_DESCRIPTIONS[column.kind]}
        return (
            field
            | described
            | (_UUID if column.kind is ColumnKind.DOCUMENT_ID else {"type": "string"})
        )
    if column.kind is not ColumnKind.VALUE:
        meaning = METADATA_MEANING[column.kind]
        return (
            field
            | {"description": meaning[0].upper() + meaning[1:] + "."}
            | _METADATA_TYPES[column.kind]
        )
    description = variable.instructions
    if column.slot is not None:
        description = (
            f"Value {column.slot + 1} of at most {variable.slots}, in order of appearance "
            f"(empty past the unit's last value). {description}"
        )
    return field | {"description": description} | _value_type(variable)


def _value_type(variable: VariableSpec) -> dict[str, Any]:
    typed: dict[str, Any] = {"type": _VALUE_TYPES[variable.type]}
    if variable.type is VariableType.BOOLEAN:
        typed |= {"trueValues": [plain_text(True)], "falseValues": [plain_text(False)]}
    if variable.type is VariableType.CATEGORY and variable.categories:
        # As the CSV holds them: a label that starts like a formula is neutralised there too.
        typed["constraints"] = {"enum": [text_cell(c.label) for c in variable.categories]}
    return typed


def _long_field(header: DatasetHeader, name: str) -> dict[str, Any]:
    match name:
        case "variable":
            names = [text_cell(variable.name) for variable in header.variables]
            field: dict[str, Any] = {"name": name, "title": "Variable", "type": "string"}
            return field | ({"constraints": {"enum": names}} if names else {})
        case "value":
            return {
                "name": name,
                "title": "Value",
                "description": (
                    "As in the variable's column of dataset.csv, whose field gives its type; "
                    "one value per row (see value_index). Empty when the extraction holds no "
                    "value (see status)."
                ),
                "type": "string",
            }
    return {"name": name, **_LONG_FIELDS[name]}
