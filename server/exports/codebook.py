"""The codebook as a document: headings, paragraphs and tables, rendered as Markdown
(formats/codebook.py) and as a formatted sheet of the workbook (formats/xlsx.py). It is the
methods appendix of the dataset: what each variable means and how it was extracted, the run,
the quality of every variable, and how each file writes names, missing values and text."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.exports.columns import (
    FORMULA_GUARD,
    FORMULA_TRIGGERS,
    METADATA_PREFIXES,
    MISSING_MEANING,
    MISSING_TEXT,
    SPSS_METADATA_PREFIX,
    SPSS_MISSING,
    STATA_MISSING,
    Column,
    ColumnKind,
    NameRule,
    plain_text,
    typed,
    wide_columns,
)
from server.exports.dataset import (
    CellStatus,
    DatasetHeader,
    FeedbackAgreement,
    MissingKind,
    RunSummary,
    VariableSpec,
)
from server.exports.quality import Quality, VariableQuality
from server.jobs.models import EvidenceMatch
from server.jobs.postprocess import CONCATENATE_SEPARATOR
from server.llm.factory import OFFLINE, OFFLINE_MODEL
from server.projects.models import ExtractionMode
from server.quality.codings import Report
from server.quality.models import MODEL
from server.schema.models import IfMultipleValues, IfUncertain, VariableType


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    # 1 for the title, 2 for sections, 3 for variables.
    level: int


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    # Cells are str, int, float, bool or None.
    rows: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Preformatted:
    """Text shown as it is (a prompt)."""

    text: str


Block = Heading | Paragraph | Table | Preformatted


# Shown where a measure does not apply (no confidence yet, no feedback).
NOT_APPLICABLE = "—"
_MEASURE = ("Measure", "Value")
_AGREEMENT = ("Compared", "Reference", "Measure", "Value", "95 % interval", "Units")
_PROPERTY = ("Property", "Value")

_KEPT = {
    IfMultipleValues.FIRST: "one value: the first the document gives",
    IfMultipleValues.MOST_CONFIDENT: "one value: the one the text supports most clearly",
    IfMultipleValues.ALL: "every distinct value, up to {n}, in order of appearance, one per column",
    IfMultipleValues.CONCATENATE: (
        "every distinct value, up to {n}, in order of appearance, joined with "
        f'"{CONCATENATE_SEPARATOR}" in one cell'
    ),
}
_FLAGGED = "; the status is LOW_CONFIDENCE (flagged for review)"
_UNCERTAIN = {
    IfUncertain.FLAG_FOR_REVIEW: "the value is kept and flagged for review" + _FLAGGED,
    IfUncertain.LEAVE_EMPTY: "the cell is left empty (coded uncertain)" + _FLAGGED,
    IfUncertain.USE_DEFAULT: "the default value is recorded instead" + _FLAGGED,
    IfUncertain.BEST_GUESS: (
        "the value is kept as the answer, as the model's best guess (the model is asked for "
        "its best inference where the text supports one, rather than no value); the status "
        "stays SUCCESS, not flagged for review, and the long data mark the value best_guess "
        "true"
    ),
}
# Validation rules in words; {} is the rule's value.
_RULES = {
    "min_length": "at least {} characters",
    "max_length": "at most {} characters",
    "pattern": "matches the regular expression {}",
    "min_value": "at least {}",
    "max_value": "at most {}",
    "min_date": "on or after {}",
    "max_date": "on or before {}",
}
_EVIDENCE = {
    EvidenceMatch.EXACT: "exact",
    EvidenceMatch.FUZZY: "fuzzy",
    EvidenceMatch.AMBIGUOUS: "ambiguous (found at several places)",
    EvidenceMatch.NOT_FOUND: "quote not found",
    EvidenceMatch.NO_QUOTE: "no quote",
}
# What each metadata column holds (also the data package's field descriptions).
METADATA_MEANING = {
    ColumnKind.CONFIDENCE: "the model's confidence in the value, from 0 to 1",
    ColumnKind.SOURCE: "the passage of the document quoted as evidence for the value",
    ColumnKind.PROMPT_VERSION: "the version of the variable's prompt that produced the value",
}
_TRIGGER_WORDS = {"\t": "a tab", "\r": "a carriage return"}


def codebook(header: DatasetHeader, quality: Quality, rule: NameRule) -> list[Block]:
    """The codebook of a dataset whose rows were tallied in `quality`, for a file whose
    column names follow `rule`."""
    columns = wide_columns(header, rule)
    by_variable: list[list[Column]] = [[] for _ in header.variables]
    for column in columns:
        if column.variable_index is not None:
            by_variable[column.variable_index].append(column)
    return [
        *_introduction(header, quality),
        *(_run(header.run) if header.run is not None else []),
        *_variables(header, by_variable),
        *_quality(header, quality),
        *_reading(header, columns),
    ]


def _introduction(header: DatasetHeader, quality: Quality) -> list[Block]:
    blocks: list[Block] = [Heading(header.project_name, 1)]
    if quality.rows == 0:
        blocks.append(
            Paragraph(
                "Nothing has been processed yet: the files of this export hold the column "
                "headers only, with no rows. Run a job on the project's documents, then "
                "export again."
            )
        )
    if header.project_description:
        blocks.append(Paragraph(header.project_description))
    unit = (
        f"one row per entity found in a document (entities: {header.entity_pattern})"
        if header.entity_level
        else "one row per document"
    )
    blocks.append(
        Paragraph(
            f"Domain: {header.domain or NOT_APPLICABLE}. Language: {header.language}. "
            f"Unit of observation: {unit}. Generated at {_utc(header.generated_at)}. "
            f"Rows: {quality.rows}. Documents: {quality.documents}."
        )
    )
    return blocks


_MODES = {
    ExtractionMode.PER_VARIABLE: "one request per variable (per document, entity and chunk)",
    ExtractionMode.GROUPED: (
        "grouped: the variables of a document (per entity and chunk) in one request, those "
        "that depend on others in a later one"
    ),
}


def _run(run: RunSummary) -> list[Block]:
    baseline = (
        [
            Paragraph(
                f"Values answered by {OFFLINE}/{OFFLINE_MODEL} come from the offline baseline: "
                "rules and keywords, not a language model. They are a floor to compare models "
                "against, not a model's coding; the long data's model column says which "
                "values they are."
            )
        ]
        if run.offline_baseline
        else []
    )
    return [
        Heading("Run", 2),
        *baseline,
        Table(
            _MEASURE,
            [
                ("Jobs", run.jobs),
                ("Documents", run.documents_total),
                ("Documents processed", run.documents_processed),
                ("Documents failed (by their last job)", run.documents_failed),
                ("Documents not processed", run.documents_not_processed),
                ("Documents unreadable (not in the dataset)", run.documents_unreadable),
                ("Input tokens", run.input_tokens),
                ("Output tokens", run.output_tokens),
                ("Cost (USD)", f"{run.cost_usd:f}"),
                # The models that answered, as provider/model.
                ("Models", ", ".join(run.models) or NOT_APPLICABLE),
                (
                    "Extraction mode",
                    "; ".join(_MODES[mode] for mode in run.extraction_modes) or NOT_APPLICABLE,
                ),
                ("First job", _utc(run.first_job_at)),
                ("Last job", _utc(run.last_job_at)),
            ],
        ),
    ]


def _variables(header: DatasetHeader, by_variable: Sequence[Sequence[Column]]) -> list[Block]:
    blocks: list[Block] = [
        Heading("Variables", 2),
        Table(
            ("Variable", "Columns in this file", "Label", "Type", "Values kept"),
            [
                (
                    variable.name,
                    _names(c for c in columns if c.kind is ColumnKind.VALUE),
                    variable.label,
                    variable.type.value.lower(),
                    _KEPT[variable.if_multiple_values].format(n=variable.max_values),
                )
                for variable, columns in zip(header.variables, by_variable, strict=True)
            ],
        ),
    ]
    for variable, columns in zip(header.variables, by_variable, strict=True):
        blocks += _variable(variable, columns)
    return blocks


def _variable(variable: VariableSpec, columns: Sequence[Column]) -> list[Block]:
    properties: list[tuple[Any, ...]] = [
        ("Label", variable.label),
        ("Type", variable.type.value.lower()),
        ("Instructions", variable.instructions),
    ]
    if variable.type is VariableType.CATEGORY or variable.selection_logic:
        properties.append(("Selection logic", variable.selection_logic or NOT_APPLICABLE))
    properties += [
        ("Validation rules", _validation(variable.validation_rules)),
        ("Confidence threshold", f"{variable.confidence_threshold:.2f}"),
        (
            "If uncertain",
            f"Below a confidence of {variable.confidence_threshold:.2f} "
            f"{_UNCERTAIN[variable.if_uncertain]}.",
        ),
        (
            "If multiple values",
            _KEPT[variable.if_multiple_values].format(n=variable.max_values).capitalize() + ".",
        ),
        ("Default value", _default(variable)),
        ("Depends on", ", ".join(variable.depends_on) or NOT_APPLICABLE),
        ("Columns in this file", _names(columns)),
    ]
    blocks: list[Block] = [Heading(variable.name, 3), Table(_PROPERTY, properties)]
    if variable.categories:
        blocks += [
            Paragraph(
                "Categories (Stata and SPSS files store the code, labelled with the category):"
            ),
            Table(
                ("Code", "Category", "Definition"),
                [
                    (code, category.label, category.definition)
                    for code, category in enumerate(variable.categories, start=1)
                ],
            ),
        ]
    prompt = variable.prompt
    if prompt is None:
        return [*blocks, Paragraph("No prompt version is active for this variable.")]
    return [
        *blocks,
        Table(
            ("Prompt", "Value"),
            [
                ("Version", prompt.version),
                ("Model", f"{prompt.provider}/{prompt.model}"),
                ("Temperature", prompt.temperature),
                ("Max tokens", prompt.max_tokens),
                ("SHA-256 (system prompt, a blank line, user template)", prompt.sha256),
            ],
        ),
        Paragraph("System prompt:"),
        Preformatted(prompt.system_prompt),
        Paragraph("User prompt template (filled in with the document for each call):"),
        Preformatted(prompt.user_prompt_template),
    ]


def _validation(rules: dict[str, Any]) -> str:
    words = [
        text.format(json.dumps(rules[name]) if name == "pattern" else rules[name])
        for name, text in _RULES.items()
        if rules.get(name) is not None
    ]
    if rules.get("integer_only"):
        words.append("a whole number")
    if not words:
        return NOT_APPLICABLE
    # A value that breaks a rule is flagged, never changed (server.jobs.postprocess).
    return (
        "The value is expected to be "
        + ", ".join(words)
        + "; a value that is not is kept and flagged LOW_CONFIDENCE."
    )


def _default(variable: VariableSpec) -> str:
    if variable.default_value is None:
        return NOT_APPLICABLE
    value = plain_text(typed(variable.default_value, variable))
    when = "the text states no value"
    if variable.if_uncertain is IfUncertain.USE_DEFAULT:
        when += " or the model is uncertain"
    return f"{value} (recorded when {when})"


def _quality(header: DatasetHeader, quality: Quality) -> list[Block]:
    tallies = quality.variables or [VariableQuality() for _ in header.variables]
    blocks: list[Block] = [
        Heading("Quality", 2),
        Paragraph(
            "Counted over the rows of this file. The fill rate is the share of processed cells "
            "that hold a value (a default value counts). The mean confidence and the share "
            "below the variable's threshold are over processed cells with a confidence, "
            "failed extractions excluded. Best guesses are values kept below the threshold as "
            "the answer, because the variable's rule is best guess (status SUCCESS). Evidence "
            "is counted per value (a cell with several values has a quote for each): exact "
            "when the quote occurs verbatim, fuzzy when it does up to case, spacing, line-break "
            "hyphens and typographic marks, ambiguous when it occurs at several places of the "
            "passage the model read (check which one supports the value), not found when it "
            "is not in the document (it may be invented), no quote when the model gave none. "
            "A one-word quote is weak evidence whatever its match: it shows where a word "
            "occurs, not a passage that supports the value. Feedback counts the researcher's "
            "verdicts on the values; accuracy is the share judged correct."
        ),
        Paragraph(
            "Agreement compares the model's values (the prompt version in use) with each human "
            "coding of the same units, and the human codings with each other: codes given "
            "blind by named coders, and \"review\", the researcher's verdicts on the model's "
            "values read as codes (judging a value after seeing it tends to agree with it, so "
            'agreement with review is an upper bound). "Not stated" is a code of its own: a '
            "value recorded where the reference has none, or none where it has one, is a "
            "disagreement. CATEGORY and BOOLEAN variables: percent agreement, Cohen's kappa, "
            "Krippendorff's alpha (nominal) and Gwet's AC1; NUMBER, DATE and TEXT: exact and "
            "normalised match (case, spacing, number spelling and the order of several values "
            "aside), and for NUMBER Krippendorff's alpha at the interval and ratio levels. "
            "Intervals are percentile bootstrap 95 % intervals over the units (1,000 "
            "resamples); units is the number of units both codings coded. A measure that is "
            "undefined on the units (e.g. one category used throughout) says why instead."
        ),
    ]
    for variable, tally in zip(header.variables, tallies, strict=True):
        blocks += [
            Heading(variable.name, 3),
            Table(_MEASURE, _variable_quality(tally, header.agreement.get(variable.id))),
        ]
        reports = header.reliability.get(variable.id, [])
        blocks.append(
            Table(_AGREEMENT, [row for report in reports for row in _agreement_rows(report)])
            if reports
            else Paragraph(
                "Agreement: no human coding of this variable yet (code a blind sample, or "
                "review the model's values, with the Quality service)."
            )
        )
    return blocks


def _agreement_rows(report: Report) -> list[tuple[Any, ...]]:
    """One row per measure of a comparison."""
    compared = (
        f"{report.compared} (prompt version {report.prompt_version})"
        if report.compared == MODEL
        else report.compared
    )
    return [
        (
            compared,
            report.reference,
            measure.name,
            NOT_APPLICABLE if measure.value is None else f"{measure.value:.3f}",
            measure.undefined
            or (
                NOT_APPLICABLE
                if measure.low is None or measure.high is None
                else f"{measure.low:.3f} to {measure.high:.3f}"
            ),
            measure.units,
        )
        for measure in report.measures
    ]


def _variable_quality(
    tally: VariableQuality, agreement: FeedbackAgreement | None
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = [
        ("Rows (units)", tally.units),
        ("Processed", tally.processed),
        ("Fill rate", _percent(tally.fill_rate)),
        (
            "Mean confidence",
            NOT_APPLICABLE if tally.mean_confidence is None else f"{tally.mean_confidence:.2f}",
        ),
        ("Below the confidence threshold", _percent(tally.share_below_threshold)),
        ("Best guesses (kept below the threshold)", tally.best_guesses),
    ]
    rows += [(f"Status {status.value}", tally.statuses[status]) for status in CellStatus]
    rows += [(f"Empty: {kind.value}", tally.missing[kind]) for kind in MissingKind]
    rows += [(f"Evidence: {words}", tally.evidence[match]) for match, words in _EVIDENCE.items()]
    rows.append(("Evidence: weak (a one-word quote)", tally.weak_evidence))
    feedback: list[Any] = (
        [NOT_APPLICABLE] * 5
        if agreement is None
        else [
            agreement.judged,
            agreement.correct,
            agreement.partially_correct,
            agreement.incorrect,
            _percent(agreement.accuracy),
        ]
    )
    measures = ("judged", "correct", "partially correct", "incorrect", "accuracy")
    return rows + [(f"Feedback: {m}", v) for m, v in zip(measures, feedback, strict=True)]


def _reading(header: DatasetHeader, columns: Sequence[Column]) -> list[Block]:
    return [
        Heading("Reading the files", 2),
        *_empty_cells(),
        *_column_names(columns),
        *_metadata(header),
        Heading("Text that looks like a formula", 3),
        Paragraph(
            "In CSV and Excel files a text cell that begins with "
            + _or(_TRIGGER_WORDS.get(t, t) for t in FORMULA_TRIGGERS)
            + f" gets an apostrophe ({FORMULA_GUARD}) in front, so that a spreadsheet "
            "shows it as text instead of running it as a formula (OWASP's rule "
            "against CSV injection). Remove that first apostrophe to recover the text; "
            "numbers, dates and booleans are never changed."
        ),
        Heading("Encoding", 3),
        Paragraph(
            "CSV files are UTF-8 with a byte order mark, so that Excel shows accented letters "
            'as they are: read them with encoding "utf-8-sig" in Python or "UTF-8-BOM" in R '
            "(readr and frictionless skip the mark themselves). The codebook is UTF-8."
        ),
        *_snippets(),
    ]


def _empty_cells() -> list[Block]:
    return [
        Heading("Empty cells", 3),
        Paragraph("A cell without a value says why. The four kinds are kept apart in every file:"),
        Table(
            ("Kind", "Meaning", "CSV and Excel", "Stata", "SPSS"),
            [
                (
                    kind.value,
                    MISSING_MEANING[kind],
                    MISSING_TEXT[kind],
                    f".{STATA_MISSING[kind]}",
                    SPSS_MISSING[kind],
                )
                for kind in MissingKind
            ],
        ),
        Paragraph(
            "Stata's extended missing values and SPSS's user-missing codes apply to number, "
            "date, boolean and category variables; text variables in Stata and SPSS files hold "
            "the text codes, as in CSV. A multi-value variable fills its columns (name_1 .. "
            "name_N) in order: the columns past a unit's last value are empty (system-missing "
            "in Stata and SPSS), and a unit without any value has the code of the reason in "
            "each of them. A NOT_FOUND cell of a variable with a default value holds the "
            "default value (the long data keep the status NOT_FOUND)."
        ),
        Paragraph(
            "In Stata and SPSS files a category variable holds the codes 1 to K in the order "
            "of its categories (the Code column above), with the category labels as value "
            "labels; a boolean variable holds 0 and 1, labelled false and true."
        ),
    ]


def _column_names(columns: Sequence[Column]) -> list[Block]:
    example = METADATA_PREFIXES[ColumnKind.CONFIDENCE] + "x"
    spss_example = f"{example} becomes {SPSS_METADATA_PREFIX}{example}"
    blocks: list[Block] = [
        Heading("Column names", 3),
        Paragraph(
            "A column's natural name is the variable's name (name_1 .. name_N for the values of "
            "a multi-value variable, and the metadata columns below). CSV, Excel and the data "
            "package keep natural names as they are; Stata allows 32 characters, SPSS 64 bytes "
            "and no leading underscore. Where a format needs it, names change by three rules, "
            "the same in every export: (1) in SPSS, a name that begins with an underscore gets "
            f'"{SPSS_METADATA_PREFIX}" in front ({spss_example}); (2) a name longer than '
            "the format allows keeps its first (limit - 5) characters, then an underscore and "
            "the first four hexadecimal digits of the SHA-1 hash of the whole name; (3) a name "
            'equal, ignoring case, to an earlier one gets "_2", "_3", ... (shortened by rule 2 '
            "first when needed)."
        ),
    ]
    renamed = [(c.natural_name, c.name) for c in columns if c.name != c.natural_name]
    if not renamed:
        return [*blocks, Paragraph("Every column of this file has its natural name.")]
    return [
        *blocks,
        Paragraph("Names in this file that differ from their natural name:"),
        Table(("Natural name", "Name in this file"), list(renamed)),
    ]


def _metadata(header: DatasetHeader) -> list[Block]:
    described = "; ".join(
        f"{prefix}{{name}}, {METADATA_MEANING[kind]}" for kind, prefix in METADATA_PREFIXES.items()
    )
    spss = ", ".join(
        f"{SPSS_METADATA_PREFIX}{prefix}{{name}}" for prefix in METADATA_PREFIXES.values()
    )
    present = (
        "This file has them."
        if header.include_metadata
        else "This export was made without them; the long data hold the same information."
    )
    return [
        Heading("Metadata columns", 3),
        Paragraph(
            f"With metadata, each variable's columns are followed by three more: {described}. "
            f"In SPSS files they are named {spss}, because an SPSS name cannot begin with an "
            f"underscore. {present}"
        ),
    ]


def _snippets() -> list[Block]:
    codes = ", ".join(json.dumps(code, ensure_ascii=False) for code in MISSING_TEXT.values())
    return [
        Heading("Reading the data", 3),
        Paragraph(
            "dataset.csv is the wide CSV's name in the data package (extractions.csv the long "
            "one's); use your file's name. The empty string and the four codes are read as "
            "missing, and nothing else: a text value such as NA or None stays the text it is."
        ),
        Paragraph("R:"),
        Preformatted(
            f"codes <- c({codes})\n"
            'data <- read.csv("dataset.csv", na.strings = c("", codes),\n'
            '                 fileEncoding = "UTF-8-BOM", check.names = FALSE)\n'
            "# or with readr\n"
            'data <- readr::read_csv("dataset.csv", na = c("", codes))\n'
            "# or from the data package, typed as its datapackage.json says\n"
            'package <- frictionless::read_package("datapackage.json")\n'
            'data <- frictionless::read_resource(package, "dataset")\n'
        ),
        Paragraph("Python:"),
        Preformatted(
            "import pandas as pd\n\n"
            f"codes = [{codes}]\n"
            'data = pd.read_csv("dataset.csv", na_values=["", *codes], keep_default_na=False,\n'
            '                   encoding="utf-8-sig")\n\n'
            "# or from the data package, typed as its datapackage.json says\n"
            "from frictionless import Package\n\n"
            'rows = Package("datapackage.json").get_resource("dataset").read_rows()\n'
        ),
    ]


def _names(columns: Iterable[Column]) -> str:
    return ", ".join(column.name for column in columns)


def _or(words: Iterable[str]) -> str:
    *first, last = list(words)
    return f"{', '.join(first)} or {last}"


def _percent(share: float | None) -> str:
    return NOT_APPLICABLE if share is None else f"{share * 100:.1f}%"


def _utc(moment: datetime | None) -> str:
    return NOT_APPLICABLE if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
