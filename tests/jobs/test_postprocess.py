"""Post-processing (FR-022): the model's answers for one variable — one per chunk of a long
document — become the stored value, its status, confidence and evidence: type coercion,
multiple values, the confidence threshold and if_uncertain, validation rules, default values,
and the check that the quoted passage is in the document."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from server.jobs.models import EvidenceMatch, ExtractionStatus
from server.jobs.postprocess import (
    QUOTE_MISSING,
    QUOTE_NOT_FOUND,
    Answer,
    Outcome,
    VariableRules,
    decide,
)
from server.schema.models import IfMultipleValues, IfUncertain, Variable, VariableType
from server.schema.prompts import response_schema

PAGE_ONE = (
    "MINUTES OF THE MUNICIPAL COUNCIL OF OOSTKERKE\n"
    "Meeting of 12 March 2019, opened at 19:30 by Mayor Jan Peeters.\n\n"
    "1. Coastal protection\n"
    "Alderman De Smet presented the \u201cShoreline Resilience Plan\u201d. The Council voted "
    "7\u20132 to adopt the plan, committing \u20ac2,500,000 to dune restoration.\n"
    "Mrs Peeters (Greens) supports the plan but asked for a yearly report.\n"
)
PAGE_TWO = (
    "2. Budget\n"
    "The Council voted 7\u20132 to adopt the budget amendment. Councillor Maes opposes "
    "further borrowing: \u201cthe debt has grown by 12 % since 2015\u201d.\n"
    "The next meeting is planned for April 2019.\n"
)
MINUTES = PAGE_ONE + "\f" + PAGE_TWO
CHUNKS = [(0, len(PAGE_ONE)), (len(PAGE_ONE) + 1, len(MINUTES))]
STANCES = {
    "categories": [
        {"label": "support", "definition": "The speaker argues for the plan."},
        {"label": "oppose", "definition": "The speaker argues against the plan."},
    ],
    "selection_logic": "",
}


def variable(type_: VariableType = VariableType.TEXT, **overrides: Any) -> Variable:
    fields: dict[str, Any] = {
        "name": "votes_for",
        "display_name": "",
        "type": type_,
        "instructions": "Code the variable as the minutes state it.",
        "classification_rules": STANCES if type_ is VariableType.CATEGORY else None,
        "confidence_threshold": 0.7,
        "if_uncertain": IfUncertain.FLAG_FOR_REVIEW,
        "if_multiple_values": IfMultipleValues.FIRST,
        "max_values": 1,
        "default_value": None,
        "validation_rules": {},
        "depends_on": [],
    }
    fields.update(overrides)
    return Variable(**fields)


def answer(
    var: Variable,
    value: Any,
    source_text: Any,
    confidence: float = 0.9,
    *,
    found: bool = True,
    chunk: int = 0,
    schema_valid: bool = True,
) -> Answer:
    """A model answer as the gateway returns it: valid against the variable's schema."""
    data = {"found": found, "value": value, "confidence": confidence, "source_text": source_text}
    if schema_valid:
        Draft202012Validator(response_schema(var)).validate(data)
    rules = VariableRules.of(var)
    return Answer.parse(data, multi_valued=rules.multi_valued, chunk_index=chunk)


def not_found(var: Variable, confidence: float = 0.95, *, chunk: int = 0) -> Answer:
    empty: Any = [] if VariableRules.of(var).multi_valued else None
    return answer(var, empty, empty, confidence, found=False, chunk=chunk)


def coded(var: Variable, *answers: Answer, spans: list[tuple[int, int]] | None = None) -> Outcome:
    return decide(answers, VariableRules.of(var), MINUTES, spans)


VOTE = "The Council voted 7\u20132 to adopt the plan"


# --- coercion to the variable's type ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (7, 7),
        (7.0, 7),
        (2.5, 2.5),
        ("2,500,000", 2500000),
        ("1,234.5", 1234.5),
        ("12 %", 12),
        ("\u22123", -3),
        ("\u20ac2,500,000", 2500000),
        (" 0.75 ", 0.75),
    ],
)
def test_given_a_number_variable_numbers_written_as_text_become_numbers(
    value: Any, stored: Any
) -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, value, VOTE, schema_valid=False))
    assert outcome.status is ExtractionStatus.SUCCESS
    assert outcome.value == stored
    assert type(outcome.value) is type(stored)
    assert outcome.error is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, "true is not a number"),
        ("seven", "'seven' is not a number"),
        ("2.5 million", "'2.5 million' is not a number"),
        ("7-2", "'7-2' is not a number"),
    ],
)
def test_given_a_number_variable_a_value_that_is_no_number_fails(value: Any, error: str) -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, value, VOTE, schema_valid=False))
    assert outcome.status is ExtractionStatus.FAILED
    assert outcome.value is None
    assert outcome.error == error
    assert outcome.source_text == VOTE
    assert outcome.evidence.match is EvidenceMatch.EXACT


@pytest.mark.parametrize(
    ("value", "stored", "confidence"),
    [
        ("2019-03-12", "2019-03-12", 0.9),
        ("2019-03-12T19:30:00+01:00", "2019-03-12", 0.9),
        ("2019-03-12 19:30", "2019-03-12", 0.9),
        ("2019-04", "2019-04-01", 0.5),
        ("2019", "2019-01-01", 0.5),
    ],
)
def test_given_a_date_variable_iso_dates_are_stored_and_a_month_or_year_is_uncertain(
    value: str, stored: str, confidence: float
) -> None:
    var = variable(VariableType.DATE, confidence_threshold=0.4)
    outcome = coded(var, answer(var, value, "Meeting of 12 March 2019"))
    assert outcome.value == stored
    assert outcome.confidence == confidence
    assert outcome.status is ExtractionStatus.SUCCESS


def test_given_a_date_variable_a_month_alone_falls_below_the_usual_threshold() -> None:
    var = variable(VariableType.DATE)
    outcome = coded(var, answer(var, "2019-04", "planned for April 2019", 0.95))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == "2019-04-01"
    assert outcome.error == "confidence 0.5 is below the threshold 0.7"


@pytest.mark.parametrize("value", ["12 March 2019", "2019-02-30", "12/03/2019"])
def test_given_a_date_variable_a_value_that_is_no_iso_date_fails(value: str) -> None:
    var = variable(VariableType.DATE)
    outcome = coded(var, answer(var, value, "Meeting of 12 March 2019"))
    assert outcome.status is ExtractionStatus.FAILED
    assert outcome.error == f"'{value}' is not a date written YYYY-MM-DD"


@pytest.mark.parametrize(
    ("value", "stored"), [(True, True), (False, False), ("Yes", True), (" FALSE ", False)]
)
def test_given_a_boolean_variable_yes_no_true_false_are_booleans(value: Any, stored: bool) -> None:
    var = variable(VariableType.BOOLEAN)
    outcome = coded(var, answer(var, value, VOTE, schema_valid=False))
    assert outcome.value is stored
    assert outcome.status is ExtractionStatus.SUCCESS


def test_given_a_boolean_variable_another_word_fails() -> None:
    var = variable(VariableType.BOOLEAN)
    outcome = coded(var, answer(var, "partly", VOTE, schema_valid=False))
    assert outcome.status is ExtractionStatus.FAILED
    assert outcome.error == "'partly' is not true or false"


@pytest.mark.parametrize("value", ["support", "Support", "  SUPPORT "])
def test_given_a_category_variable_a_label_in_any_case_is_stored_as_the_label(value: str) -> None:
    var = variable(VariableType.CATEGORY)
    quote = "Mrs Peeters (Greens) supports the plan"
    outcome = coded(var, answer(var, value, quote, schema_valid=value == "support"))
    assert outcome.value == "support"
    assert outcome.status is ExtractionStatus.SUCCESS


def test_given_a_category_variable_an_unknown_category_fails() -> None:
    var = variable(VariableType.CATEGORY)
    quote = "Mrs Peeters (Greens) supports the plan"
    outcome = coded(var, answer(var, "maybe", quote, 0.8, schema_valid=False))
    assert outcome.status is ExtractionStatus.FAILED
    assert outcome.value is None
    assert outcome.confidence == 0.8
    assert outcome.error == "'maybe' is not one of the categories: support, oppose"


@pytest.mark.parametrize(
    ("value", "stored"),
    [(" Jan Peeters\n", "Jan Peeters"), (42, "42"), (2.5, "2.5"), (True, "true")],
)
def test_given_a_text_variable_text_is_stripped_and_numbers_become_text(
    value: Any, stored: str
) -> None:
    var = variable(VariableType.TEXT)
    outcome = coded(
        var, answer(var, value, "opened at 19:30 by Mayor Jan Peeters", schema_valid=False)
    )
    assert outcome.value == stored
    assert outcome.status is ExtractionStatus.SUCCESS


# --- not found, uncertain, default values -------------------------------------------------


def test_a_value_not_stated_anywhere_is_not_found_with_the_highest_confidence() -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, not_found(var, 0.6, chunk=0), not_found(var, 0.95, chunk=1))
    assert outcome == Outcome(
        value=None,
        status=ExtractionStatus.NOT_FOUND,
        confidence=0.95,
        source_text=None,
        evidence=outcome.evidence,
        error=None,
    )
    assert outcome.evidence.match is EvidenceMatch.NO_QUOTE


def test_not_stated_is_never_low_confidence_but_a_doubtful_value_is() -> None:
    var = variable(VariableType.BOOLEAN, confidence_threshold=0.8)
    unstated = coded(var, not_found(var, 0.3))
    assert unstated.status is ExtractionStatus.NOT_FOUND
    assert unstated.error is None

    doubtful = coded(var, answer(var, True, VOTE, 0.3))
    assert doubtful.status is ExtractionStatus.LOW_CONFIDENCE
    assert doubtful.value is True
    assert doubtful.error == "confidence 0.3 is below the threshold 0.8"


def test_a_value_not_found_takes_the_default_value() -> None:
    var = variable(VariableType.CATEGORY, default_value="oppose")
    outcome = coded(var, not_found(var))
    assert outcome.status is ExtractionStatus.NOT_FOUND
    assert outcome.value == "oppose"


def test_found_without_a_value_counts_as_not_found() -> None:
    var = variable(VariableType.TEXT, default_value="unknown")
    outcome = coded(var, answer(var, None, None, 0.5), answer(var, "  ", None, 0.4, chunk=1))
    assert outcome.status is ExtractionStatus.NOT_FOUND
    assert outcome.value == "unknown"
    assert outcome.confidence == 0.5


def test_an_answer_that_says_not_found_is_not_read_for_its_value() -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, 7, VOTE, 0.9, found=False))
    assert outcome.status is ExtractionStatus.NOT_FOUND
    assert outcome.value is None


@pytest.mark.parametrize(
    ("if_uncertain", "stored"),
    [
        (IfUncertain.FLAG_FOR_REVIEW, 7),
        (IfUncertain.LEAVE_EMPTY, None),
        (IfUncertain.USE_DEFAULT, 0),
    ],
)
def test_below_the_threshold_if_uncertain_decides_the_value_and_flags_it(
    if_uncertain: IfUncertain, stored: Any
) -> None:
    var = variable(VariableType.NUMBER, if_uncertain=if_uncertain, default_value=0)
    outcome = coded(var, answer(var, 7, VOTE, 0.42))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == stored
    assert outcome.confidence == 0.42
    assert outcome.error == "confidence 0.42 is below the threshold 0.7"
    assert outcome.best_guess is False
    # What the model proposed stays visible to the reviewer.
    assert outcome.source_text == VOTE
    assert outcome.evidence.match is EvidenceMatch.EXACT


def test_below_the_threshold_a_best_guess_is_the_answer_marked_as_a_guess() -> None:
    var = variable(VariableType.NUMBER, if_uncertain=IfUncertain.BEST_GUESS)
    outcome = coded(var, answer(var, 7, VOTE, 0.42))
    # Not flagged for review, unlike FLAG_FOR_REVIEW: the researcher asked for the guess.
    assert outcome.status is ExtractionStatus.SUCCESS
    assert outcome.value == 7
    assert outcome.confidence == 0.42
    assert outcome.error is None
    assert outcome.best_guess is True
    assert outcome.source_text == VOTE


def test_a_best_guess_is_still_flagged_for_what_else_is_wrong_with_it() -> None:
    var = variable(
        VariableType.NUMBER,
        if_uncertain=IfUncertain.BEST_GUESS,
        validation_rules={"max_value": 5},
    )
    outcome = coded(var, answer(var, 7, "The Council voted 9 to 0", 0.42))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.error == f"{QUOTE_NOT_FOUND}; 7 is above the maximum of 5"
    assert outcome.value == 7
    assert outcome.best_guess is True


def test_at_the_threshold_a_best_guess_rule_marks_no_guess() -> None:
    var = variable(VariableType.NUMBER, if_uncertain=IfUncertain.BEST_GUESS)
    outcome = coded(var, answer(var, 7, VOTE, 0.7))
    assert outcome.status is ExtractionStatus.SUCCESS
    assert outcome.best_guess is False


def test_a_best_guess_rule_leaves_a_value_not_found_a_non_guess() -> None:
    var = variable(VariableType.NUMBER, if_uncertain=IfUncertain.BEST_GUESS)
    outcome = coded(var, not_found(var, 0.3))
    assert outcome.status is ExtractionStatus.NOT_FOUND
    assert outcome.best_guess is False


def test_at_the_threshold_a_value_is_a_success() -> None:
    var = variable(VariableType.NUMBER)
    assert coded(var, answer(var, 7, VOTE, 0.7)).status is ExtractionStatus.SUCCESS


# --- validation rules: flagged, never changed ---------------------------------------------


@pytest.mark.parametrize(
    ("type_", "rules", "value", "quote", "error"),
    [
        (VariableType.NUMBER, {"max_value": 100}, 150, VOTE, "150 is above the maximum of 100"),
        (VariableType.NUMBER, {"min_value": 10}, 7, VOTE, "7 is below the minimum of 10"),
        (VariableType.NUMBER, {"integer_only": True}, 2.5, VOTE, "2.5 is not a whole number"),
        (
            VariableType.DATE,
            {"min_date": "2020-01-01"},
            "2019-03-12",
            "Meeting of 12 March 2019",
            "2019-03-12 is before the earliest date 2020-01-01",
        ),
        (
            VariableType.DATE,
            {"max_date": "2018-12-31"},
            "2019-03-12",
            "Meeting of 12 March 2019",
            "2019-03-12 is after the latest date 2018-12-31",
        ),
        (
            VariableType.TEXT,
            {"max_length": 5},
            "Jan Peeters",
            "Mayor Jan Peeters",
            "'Jan Peeters' has 11 characters, more than the maximum of 5",
        ),
        (
            VariableType.TEXT,
            {"min_length": 20},
            "Jan Peeters",
            "Mayor Jan Peeters",
            "'Jan Peeters' has 11 characters, fewer than the minimum of 20",
        ),
        (
            VariableType.TEXT,
            {"pattern": r"[A-Z][a-z]+"},
            "Jan Peeters",
            "Mayor Jan Peeters",
            "'Jan Peeters' does not match the pattern [A-Z][a-z]+",
        ),
    ],
)
def test_a_value_that_breaks_a_validation_rule_is_flagged_not_changed(
    type_: VariableType, rules: dict[str, Any], value: Any, quote: str, error: str
) -> None:
    var = variable(type_, validation_rules=rules)
    # integer_only makes the schema's type integer: a model not held to the schema breaks it.
    outcome = coded(var, answer(var, value, quote, schema_valid="integer_only" not in rules))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == value
    assert outcome.error == error


def test_a_value_within_the_validation_rules_is_a_success() -> None:
    var = variable(VariableType.TEXT, validation_rules={"pattern": r"\p{Lu}\p{Ll}+ \p{Lu}\p{Ll}+"})
    outcome = coded(var, answer(var, "Jan Peeters", "Mayor Jan Peeters"))
    assert outcome.status is ExtractionStatus.SUCCESS


def test_a_pattern_re2_cannot_run_flags_the_value_with_the_reason() -> None:
    var = variable(VariableType.TEXT, validation_rules={"pattern": r"(?<!Mayor )Jan \w+"})
    outcome = coded(var, answer(var, "Jan Peeters", "Mayor Jan Peeters"))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == "Jan Peeters"
    assert outcome.error is not None
    assert outcome.error.startswith("the value cannot be checked against validation_rules.pattern")
    assert "lookbehind" in outcome.error


# --- the quoted passage -------------------------------------------------------------------


def test_a_hallucinated_quote_is_flagged_and_the_value_kept() -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, 9, "The Council voted unanimously, 9 to 0."))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == 9
    assert outcome.error == QUOTE_NOT_FOUND == "the quoted passage is not in the document"
    assert outcome.evidence.match is EvidenceMatch.NOT_FOUND
    assert outcome.source_text == "The Council voted unanimously, 9 to 0."


def test_a_hallucinated_quote_is_named_first_among_several_reasons() -> None:
    var = variable(VariableType.NUMBER, validation_rules={"max_value": 5})
    outcome = coded(var, answer(var, 9, "The Council voted unanimously, 9 to 0.", 0.5))
    assert outcome.error == (
        "the quoted passage is not in the document; confidence 0.5 is below the threshold "
        "0.7; 9 is above the maximum of 5"
    )


def test_a_fuzzy_quote_is_good_evidence() -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, 7, "the council voted 7-2 to adopt the plan, committing"))
    assert outcome.status is ExtractionStatus.SUCCESS
    assert outcome.evidence.match is EvidenceMatch.FUZZY
    assert outcome.evidence.start is not None
    assert MINUTES[outcome.evidence.start :].startswith("The Council voted 7\u20132")


def test_a_value_without_a_quote_is_flagged() -> None:
    var = variable(VariableType.NUMBER)
    outcome = coded(var, answer(var, 7, None))
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.value == 7
    assert outcome.error == QUOTE_MISSING
    assert outcome.evidence.match is EvidenceMatch.NO_QUOTE


def test_a_quote_is_looked_for_in_its_chunk_first() -> None:
    # "The Council voted 7-2 to adopt the" is on both pages; chunk 1's answer points at page 2.
    var = variable(VariableType.NUMBER)
    outcome = coded(
        var,
        not_found(var, chunk=0),
        answer(var, 7, "The Council voted 7\u20132 to adopt the", chunk=1),
        spans=CHUNKS,
    )
    assert outcome.evidence.match is EvidenceMatch.EXACT
    assert outcome.evidence.start == MINUTES.index("The Council voted", CHUNKS[1][0])


# --- several values: FIRST, MOST_CONFIDENT, ALL, CONCATENATE ------------------------------


def test_first_prefers_the_earlier_chunk() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.FIRST)
    outcome = coded(
        var,
        answer(var, "Councillor Maes", "Councillor Maes opposes", 0.95, chunk=1),
        answer(var, "Alderman De Smet", "Alderman De Smet presented", 0.8, chunk=0),
        spans=CHUNKS,
    )
    assert outcome.value == "Alderman De Smet"
    assert outcome.confidence == 0.8
    assert outcome.source_text == "Alderman De Smet presented"


def test_most_confident_prefers_the_higher_confidence_and_else_the_earlier() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.MOST_CONFIDENT)
    first = answer(var, "Alderman De Smet", "Alderman De Smet presented", 0.8, chunk=0)
    surer = answer(var, "Councillor Maes", "Councillor Maes opposes", 0.95, chunk=1)
    assert coded(var, first, surer, spans=CHUNKS).value == "Councillor Maes"

    as_sure = answer(var, "Councillor Maes", "Councillor Maes opposes", 0.8, chunk=1)
    assert coded(var, as_sure, first, spans=CHUNKS).value == "Alderman De Smet"


def test_all_keeps_distinct_values_across_chunks_in_order_of_appearance() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.ALL, max_values=3)
    outcome = coded(
        var,
        answer(
            var,
            ["Jan Peeters", "De Smet"],
            ["Mayor Jan Peeters", "Alderman De Smet presented"],
            0.8,
            chunk=0,
        ),
        answer(
            var,
            ["de  smet", "Maes", "Peeters"],
            ["Alderman De Smet", "Councillor Maes", "Mrs Peeters"],
            0.9,
            chunk=1,
        ),
        spans=CHUNKS,
    )
    assert outcome.value == ["Jan Peeters", "De Smet", "Maes"]  # capped at max_values 3
    # The lowest confidence kept: "Jan Peeters" was seen once, at 0.8.
    assert outcome.confidence == 0.8
    assert outcome.source_text == "Mayor Jan Peeters"
    assert outcome.status is ExtractionStatus.SUCCESS


def test_all_takes_the_higher_confidence_of_a_value_seen_twice() -> None:
    var = variable(VariableType.NUMBER, if_multiple_values=IfMultipleValues.ALL, max_values=5)
    outcome = coded(
        var,
        answer(var, [7], [VOTE], 0.6, chunk=0),
        answer(var, [7.0, 12], ["The Council voted 7\u20132", "grown by 12 %"], 0.9, chunk=1),
        spans=CHUNKS,
    )
    assert outcome.value == [7, 12]
    assert outcome.confidence == 0.9
    assert outcome.status is ExtractionStatus.SUCCESS


def test_all_drops_a_value_that_cannot_be_coerced_and_keeps_the_rest() -> None:
    var = variable(VariableType.CATEGORY, if_multiple_values=IfMultipleValues.ALL, max_values=2)
    outcome = coded(
        var,
        answer(
            var,
            ["undecided", "oppose"],
            ["asked for a yearly report", "Councillor Maes opposes further borrowing"],
            schema_valid=False,
        ),
    )
    assert outcome.value == ["oppose"]
    assert outcome.status is ExtractionStatus.SUCCESS


def test_all_flags_a_value_whose_quote_is_missing() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.ALL, max_values=3)
    outcome = coded(var, answer(var, ["Jan Peeters", "Maes"], ["Mayor Jan Peeters"]))
    assert outcome.value == ["Jan Peeters", "Maes"]
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE
    assert outcome.error == QUOTE_MISSING
    assert outcome.evidence.match is EvidenceMatch.EXACT  # the primary quote's
    # Each value keeps its own: the second has none, which is the extraction's evidence.
    assert [item.evidence.match for item in outcome.value_evidence] == [
        EvidenceMatch.EXACT,
        EvidenceMatch.NO_QUOTE,
    ]
    assert outcome.evidence_match is EvidenceMatch.NO_QUOTE


def test_every_value_of_a_list_keeps_its_own_quote_and_place() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.ALL, max_values=3)
    quotes = [
        "opened at 19:30 by Mayor Jan Peeters",
        "Alderman De Smet presented the \u201cShoreline Resilience Plan\u201d",
        "Councillor Maes opposes further borrowing",
    ]
    outcome = coded(var, answer(var, ["Jan Peeters", "De Smet", "Maes"], quotes))
    assert outcome.status is ExtractionStatus.SUCCESS
    assert [item.source_text for item in outcome.value_evidence] == quotes
    for item, quote in zip(outcome.value_evidence, quotes, strict=True):
        assert (item.evidence.match, item.evidence.candidates) == (EvidenceMatch.EXACT, 1)
        assert MINUTES[item.evidence.start : item.evidence.end] == quote
    assert outcome.evidence_match is EvidenceMatch.EXACT


def test_a_value_quoted_by_one_word_found_twice_is_ambiguous_and_weak() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.ALL, max_values=2)
    outcome = coded(var, answer(var, ["Peeters", "Maes"], ["Peeters", "Councillor Maes"]))
    first, second = outcome.value_evidence
    assert (first.evidence.match, first.evidence.candidates, first.evidence.weak) == (
        EvidenceMatch.AMBIGUOUS,
        2,
        True,
    )
    assert (second.evidence.match, second.evidence.weak) == (EvidenceMatch.EXACT, False)
    assert outcome.evidence_match is EvidenceMatch.AMBIGUOUS
    # Recorded, not flagged: the value stands; the evidence says how far it is shown.
    assert outcome.status is ExtractionStatus.SUCCESS


def test_concatenate_joins_the_distinct_values() -> None:
    var = variable(VariableType.TEXT, if_multiple_values=IfMultipleValues.CONCATENATE, max_values=4)
    outcome = coded(
        var,
        answer(var, ["dune restoration"], ["committing \u20ac2,500,000 to dune restoration"]),
        answer(
            var,
            ["budget amendment", "Dune restoration"],
            ["to adopt the budget amendment", "dune restoration"],
            chunk=1,
        ),
        spans=CHUNKS,
    )
    assert outcome.value == "dune restoration; budget amendment"
    assert outcome.status is ExtractionStatus.SUCCESS


def test_all_below_the_threshold_left_empty_stores_nothing() -> None:
    var = variable(
        VariableType.TEXT,
        if_multiple_values=IfMultipleValues.ALL,
        max_values=2,
        if_uncertain=IfUncertain.LEAVE_EMPTY,
    )
    outcome = coded(var, answer(var, ["Maes"], ["Councillor Maes"], 0.5))
    assert outcome.value is None
    assert outcome.status is ExtractionStatus.LOW_CONFIDENCE


def test_multi_valued_follows_the_answer_schema_rule() -> None:
    assert VariableRules.of(
        variable(if_multiple_values=IfMultipleValues.ALL, max_values=3)
    ).multi_valued
    assert not VariableRules.of(
        variable(if_multiple_values=IfMultipleValues.CONCATENATE, max_values=1)
    ).multi_valued
    assert not VariableRules.of(variable(if_multiple_values=IfMultipleValues.FIRST)).multi_valued
    rules = VariableRules.of(variable(VariableType.CATEGORY))
    assert rules.categories == ("support", "oppose")
