"""The codebook, the dataset's methods appendix: what it says about the variables, the run, the
quality counted over the rows and the files, and its Markdown rendering."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import replace

from server.exports.codebook import (
    Block,
    Heading,
    Paragraph,
    Preformatted,
    Table,
    codebook,
)
from server.exports.columns import NameRule, wide_columns
from server.exports.dataset import Category, CellStatus, DatasetHeader, Unit
from server.exports.formats.codebook import CodebookWriter, markdown
from server.exports.quality import Quality, QualityTally
from server.schema.models import IfUncertain, VariableType
from tests.exports.sample import PROMPT, VARIABLES, header, units, value, variable

LONG_NAME = "number_of_councillors_voting_in_favour_of_the_amended_budget"


def tallied(dataset_header: DatasetHeader, rows: list[Unit]) -> Quality:
    tally = QualityTally(dataset_header)
    tally.add(rows)
    return tally.quality


def written(dataset_header: DatasetHeader, rows: list[Unit]) -> bytes:
    out = io.BytesIO()
    writer = CodebookWriter(dataset_header, out)
    writer.add(rows)
    writer.finish(tallied(dataset_header, rows))
    return out.getvalue()


def section(text: str, heading: str) -> str:
    """The Markdown from `heading` to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    end = re.search(rf"\n#{{1,{len(level)}}} ", text[start + 1 :])
    return text[start : start + 1 + end.start()] if end else text[start:]


def measures(text: str) -> dict[str, str]:
    """A two-column pipe table's rows, first cell to second."""
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[1].strip() for cells in rows if len(cells) == 2}


def quality_of(text: str, name: str) -> dict[str, str]:
    return measures(section(section(text, "## Quality"), f"### {name}"))


def test_the_markdown_codebook_describes_each_variable_and_its_prompt() -> None:
    text = written(header(), units()).decode("utf-8")

    assert text.startswith("# Council minutes\n")
    for spec in VARIABLES:
        described = measures(section(section(text, "## Variables"), f"### {spec.name}"))
        assert described["Instructions"] == spec.instructions
        assert described["Label"] == spec.label
        assert described["Type"] == spec.type.value.lower()
    stance = section(text, "### stance")
    assert "| 1 | Support | In favour |" in stance
    assert "| 2 | Oppose | Against |" in stance
    assert "| 3 | Neutral | Neither |" in stance
    assert f"| SHA-256 (system prompt, a blank line, user template) | {PROMPT.sha256} |" in stance
    assert "| Model | openai/gpt-4o-mini |" in stance
    assert f"```\n{PROMPT.system_prompt}\n```" in stance
    assert f"```\n{PROMPT.user_prompt_template}\n```" in stance
    assert "| parties | parties_1, parties_2, parties_3 | Parties | text |" in text


def test_the_codebook_is_utf8_without_a_byte_order_mark() -> None:
    data = written(replace(header(), project_name="Procès-verbaux"), units())

    assert data.startswith("# Procès-verbaux\n".encode())


def test_the_run_is_reported() -> None:
    run = measures(section(written(header(), units()).decode(), "## Run"))

    assert run["Jobs"] == "2"
    assert run["Documents failed (by their last job)"] == "1"
    assert run["Input tokens"] == "1200"
    assert run["Cost (USD)"] == "0.0123"
    assert run["Models"] == "openai/gpt-4o-mini"
    assert run["First job"] == "2026-11-01 00:00:00 UTC"


def test_quality_is_counted_over_the_rows() -> None:
    text = written(header(), units()).decode()

    # budget: a value, an uncertain empty cell, a row not processed.
    budget = quality_of(text, "budget")
    assert budget["Rows (units)"] == "3"
    assert budget["Processed"] == "2"
    assert budget["Fill rate"] == "50.0%"
    assert budget["Mean confidence"] == "0.65"
    assert budget["Below the confidence threshold"] == "50.0%"
    assert budget["Status SUCCESS"] == "1"
    assert budget["Status LOW_CONFIDENCE"] == "1"
    assert budget["Status NOT_FOUND"] == "0"
    assert budget["Status FAILED"] == "0"
    assert budget["Status NOT_PROCESSED"] == "1"
    assert budget["Empty: uncertain"] == "1"
    assert budget["Evidence: exact"] == "1"
    assert budget["Evidence: no quote"] == "1"
    # approved: processed in one row only.
    approved = quality_of(text, "approved")
    assert approved["Processed"] == "1"
    assert approved["Fill rate"] == "100.0%"
    assert approved["Status NOT_PROCESSED"] == "2"


def test_feedback_agreement_is_shown_where_the_researcher_judged_values() -> None:
    text = written(header(), units()).decode()

    topic = quality_of(text, "topic")
    assert topic["Feedback: judged"] == "4"
    assert topic["Feedback: correct"] == "3"
    assert topic["Feedback: incorrect"] == "1"
    assert topic["Feedback: accuracy"] == "75.0%"
    assert quality_of(text, "budget")["Feedback: judged"] == "—"


def test_the_four_kinds_of_empty_cell_are_explained_for_every_format() -> None:
    text = section(written(header(), units()).decode(), "### Empty cells")

    assert "| not processed |" in text
    assert "| [not processed] | .a | -999999991 |" in text
    assert "| [not found] | .b | -999999992 |" in text
    assert "| [uncertain] | .c | -999999993 |" in text
    assert "| [failed] | .d | -999999994 |" in text
    assert "holds the default value" in text
    assert "codes 1 to K" in text


def test_the_files_section_states_naming_metadata_formula_and_encoding_rules() -> None:
    blocks = codebook(header(), tallied(header(), units()), NameRule.PLAIN)
    text = " ".join(block.text for block in blocks if isinstance(block, Paragraph))

    for rule in ("SHA-1", "(limit - 5)", '"_2", "_3"'):
        assert rule in text
    for name in ("_confidence_", "_source_", "_prompt_version_", "meta_confidence_"):
        assert name + "{name}" in text
    assert "=, +, -, @, a tab or a carriage return gets an apostrophe (')" in text
    assert "OWASP" in text
    assert "UTF-8 with a byte order mark" in text
    assert "Every column of this file has its natural name." in text
    snippets = "\n".join(block.text for block in blocks if isinstance(block, Preformatted))
    for argument in (
        'na.strings = c("", codes)',
        'fileEncoding = "UTF-8-BOM"',
        "keep_default_na=False",
        'encoding="utf-8-sig"',
    ):
        assert argument in snippets
    assert 'codes = ["[not processed]", "[not found]", "[uncertain]", "[failed]"]' in snippets


def test_an_empty_dataset_says_nothing_has_been_processed_yet() -> None:
    dataset_header = header()
    empty = codebook(dataset_header, tallied(dataset_header, []), NameRule.PLAIN)
    full = codebook(dataset_header, tallied(dataset_header, units()), NameRule.PLAIN)

    assert isinstance(empty[1], Paragraph)
    assert empty[1].text.startswith("Nothing has been processed yet")
    assert "headers only" in empty[1].text
    assert not any(
        isinstance(block, Paragraph) and "Nothing has been processed" in block.text
        for block in full
    )


def test_a_stata_codebook_maps_shortened_names_to_their_natural_names() -> None:
    assert len(LONG_NAME) == 60
    dataset_header = header(variables=(*VARIABLES, variable(LONG_NAME, VariableType.NUMBER)))
    stata = codebook(dataset_header, tallied(dataset_header, []), NameRule.STATA)
    plain = codebook(dataset_header, tallied(dataset_header, []), NameRule.PLAIN)

    renamed = [
        block for block in stata if isinstance(block, Table) and block.columns[0] == "Natural name"
    ]
    assert len(renamed) == 1
    names = {
        column.natural_name: column.name for column in wide_columns(dataset_header, NameRule.STATA)
    }
    assert (LONG_NAME, names[LONG_NAME]) in renamed[0].rows
    assert (f"_confidence_{LONG_NAME}", names[f"_confidence_{LONG_NAME}"]) in renamed[0].rows
    assert len(names[LONG_NAME]) == 32
    assert ("topic", "topic") not in renamed[0].rows
    assert not any(isinstance(b, Table) and b.columns[0] == "Natural name" for b in plain)


def test_a_variable_rules_are_written_in_plain_words() -> None:
    budget = variable(
        "budget",
        VariableType.NUMBER,
        validation_rules={"min_value": 0, "integer_only": True},
        if_uncertain=IfUncertain.USE_DEFAULT,
        default_value=0,
        depends_on=("topic",),
    )
    stance = variable(
        "stance",
        VariableType.CATEGORY,
        categories=(Category("For", "In favour"), Category("Against", "Opposed")),
        selection_logic="Pick the stance of the final vote.",
    )
    blocks = codebook(header(variables=(budget, stance)), Quality(), NameRule.PLAIN)
    text = markdown(blocks)

    described = measures(section(text, "### budget"))
    assert described["Validation rules"] == (
        "The value is expected to be at least 0, a whole number; a value that is not is kept "
        "and flagged LOW_CONFIDENCE."
    )
    assert described["If uncertain"].startswith("Below a confidence of 0.70 the default value")
    assert described["Default value"] == (
        "0 (recorded when the text states no value or the model is uncertain)"
    )
    assert described["Depends on"] == "topic"
    assert measures(section(text, "### stance"))["Selection logic"] == (
        "Pick the stance of the final vote."
    )


def test_flag_for_review_and_best_guess_are_told_apart_in_the_codebook() -> None:
    flagged = variable("flagged", VariableType.NUMBER, if_uncertain=IfUncertain.FLAG_FOR_REVIEW)
    guessed = variable("guessed", VariableType.NUMBER, if_uncertain=IfUncertain.BEST_GUESS)
    dataset_header = header(variables=(flagged, guessed))
    rows = [
        Unit(
            uuid.UUID(int=1),
            "a.txt",
            "",
            "",
            (
                value(7, CellStatus.LOW_CONFIDENCE, confidence=0.4),
                value(7, CellStatus.SUCCESS, confidence=0.4, best_guess=True),
            ),
        )
    ]
    text = written(dataset_header, rows).decode()

    assert measures(section(text, "### flagged"))["If uncertain"] == (
        "Below a confidence of 0.70 the value is kept and flagged for review; the status is "
        "LOW_CONFIDENCE (flagged for review)."
    )
    guess_rule = measures(section(text, "### guessed"))["If uncertain"]
    assert guess_rule.startswith("Below a confidence of 0.70 the value is kept as the answer")
    assert "the status stays SUCCESS, not flagged for review" in guess_rule
    assert "best_guess" in guess_rule
    assert quality_of(text, "flagged")["Best guesses (kept below the threshold)"] == "0"
    assert quality_of(text, "flagged")["Status LOW_CONFIDENCE"] == "1"
    assert quality_of(text, "guessed")["Best guesses (kept below the threshold)"] == "1"
    assert quality_of(text, "guessed")["Status SUCCESS"] == "1"


def test_a_run_the_offline_baseline_answered_says_it_is_no_model() -> None:
    dataset_header = header()
    assert dataset_header.run is not None
    baseline = replace(
        dataset_header,
        run=replace(dataset_header.run, models=("offline/baseline", "openai/gpt-4o-mini")),
    )

    run = section(written(baseline, units()).decode(), "## Run")
    assert "come from the offline baseline: rules and keywords, not a language model" in run
    assert measures(run)["Models"] == "offline/baseline, openai/gpt-4o-mini"
    assert "offline baseline" not in section(written(header(), units()).decode(), "## Run")


def test_an_entity_codebook_names_its_unit_of_observation() -> None:
    dataset_header = header(entity=True)
    blocks = codebook(dataset_header, tallied(dataset_header, units(entity=True)), NameRule.PLAIN)

    assert any(
        isinstance(block, Paragraph)
        and "one row per entity found in a document (entities: each councillor)" in block.text
        for block in blocks
    )


def test_markdown_keeps_cells_rows_and_fences_intact() -> None:
    blocks: list[Block] = [
        Heading("Title\nwith a break", 2),
        Paragraph("_confidence_x is a column, snake_case is a word, 2*3 < 7"),
        Table(("A|B", "C"), [("one | two", "line\nbreak"), (None, True)]),
        Preformatted("Answer like this:\n```json\n{}\n```"),
    ]

    text = markdown(blocks)

    assert "## Title with a break\n" in text
    # Only an underscore at a word's edge can start emphasis.
    assert "\\_confidence_x is a column, snake_case is a word, 2\\*3 \\< 7" in text
    assert "| A\\|B | C |\n| --- | --- |\n| one \\| two | line<br>break |\n|  | true |\n" in text
    assert "````\nAnswer like this:\n```json\n{}\n```\n````\n" in text
