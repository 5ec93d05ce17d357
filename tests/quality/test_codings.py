"""Logic above the database: review verdicts read as codes, how values of each type are
compared, calibration and the threshold proposal, the sample size suggestion, the held-out
split and the deterministic refinement proposal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from server.jobs.models import ExtractionFeedback, FeedbackType
from server.quality.assessment import VariableCodings, paired_change
from server.quality.calibration import calibrate
from server.quality.coding import sample_size
from server.quality.codings import (
    NOT_STATED,
    Coded,
    Coding,
    Report,
    Scale,
    compare,
    review_coding,
)
from server.quality.refinement import JudgedUnits, rules_proposal, split_units
from server.schema.guidance import MAX_EXAMPLES, MAX_RULES, Example, Guidance
from server.schema.models import Variable, VariableType

DOCUMENTS = [uuid.uuid4() for _ in range(12)]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def verdict(
    document: uuid.UUID,
    feedback_type: FeedbackType,
    judged: Any,
    corrected: Any = None,
    *,
    age: int = 0,
    note: str = "",
) -> ExtractionFeedback:
    return ExtractionFeedback(
        document_id=document,
        entity_key="",
        feedback_type=feedback_type,
        judged_value=judged,
        corrected_value=corrected,
        user_note=note,
        updated_at=NOW - timedelta(minutes=age),
    )


def test_verdicts_become_codes_and_the_newest_verdict_on_a_unit_decides() -> None:
    a, b, c, d, e = DOCUMENTS[:5]
    review = review_coding(
        [
            verdict(a, FeedbackType.CORRECT, "yes"),
            verdict(b, FeedbackType.INCORRECT, "yes", "no", note="it says no"),
            # Wrong, and nothing is right: the document does not state it.
            verdict(c, FeedbackType.INCORRECT, "yes"),
            # Wrong about a value not found, or partly right: no code.
            verdict(d, FeedbackType.INCORRECT, None),
            verdict(e, FeedbackType.PARTIALLY_CORRECT, "yes"),
            # An older verdict on a yields to the newer one.
            verdict(a, FeedbackType.INCORRECT, "yes", "no", age=5),
        ]
    )
    assert review.coding == {
        (a, ""): Coded("yes"),
        (b, ""): Coded("no"),
        (c, ""): Coded(None),
    }
    assert review.unusable == 2
    assert review.notes == {(b, ""): "it says no"}


def test_nominal_codes_count_not_stated_and_combine_several_values() -> None:
    scale = Scale(VariableType.CATEGORY, ("a", "b"))
    assert scale.code(None) == scale.code([]) == NOT_STATED
    assert scale.code(["b", "a"]) == scale.code(["a", "b"]) == "a + b"
    assert Scale(VariableType.BOOLEAN).code(True) == "true"
    assert scale.codes_in_use([{(DOCUMENTS[0], ""): Coded(["a", "b"])}]) == [
        "a",
        "b",
        "a + b",
        NOT_STATED,
    ]


def test_text_and_numbers_match_once_normalised() -> None:
    text = Scale(VariableType.TEXT)
    assert text.matches("City  of Ghent", "city of ghent")
    assert not text.matches("Ghent", None)
    number = Scale(VariableType.NUMBER)
    assert number.matches(2, 2.0)
    assert not number.matches(2, 3)


def test_a_model_that_finds_nothing_disagrees_rather_than_drops_out() -> None:
    scale = Scale(VariableType.CATEGORY, ("a", "b"))
    units = [(document, "") for document in DOCUMENTS[:4]]
    reference: Coding = {unit: Coded("a") for unit in units}
    compared: Coding = {units[0]: Coded("a"), units[1]: Coded(None), units[2]: Coded("a")}
    report = compare(scale, reference, compared, reference_name="r", compared_name="m")
    # The unit the model has no code for at all is left out; "not stated" is a disagreement.
    assert (report.units, report.missing) == (3, 1)
    assert report.measures[0].value == pytest.approx(2 / 3)
    assert report.confusion["a"][NOT_STATED] == 1


def test_numbers_get_exact_match_and_interval_alpha() -> None:
    scale = Scale(VariableType.NUMBER)
    units = [(document, "") for document in DOCUMENTS[:6]]
    reference: Coding = {u: Coded(v) for u, v in zip(units, [1, 2, 3, 4, 5, None], strict=True)}
    compared: Coding = {u: Coded(v) for u, v in zip(units, [1, 2, 3, 4, 6, None], strict=True)}
    report = compare(scale, reference, compared, reference_name="r", compared_name="m")
    names = [measure.name for measure in report.measures]
    assert names == [
        "exact match",
        "normalised match",
        "Krippendorff's alpha (interval)",
        "Krippendorff's alpha (ratio)",
    ]
    assert report.measures[0].value == pytest.approx(5 / 6)
    # Alpha is over the five units with a number in both codings.
    assert report.measures[2].units == 5


def test_calibration_bins_the_error_and_proposes_the_lowest_threshold_reaching_precision() -> None:
    # 10 values at 0.95, all right; 10 at 0.55, half right.
    judged = [(0.95, True)] * 10 + [(0.55, index % 2 == 0) for index in range(10)]
    calibration = calibrate(judged, target_precision=0.9, current_threshold=0.7)
    assert [(b.low, b.units, b.accuracy) for b in calibration.bins] == [
        (0.5, 10, 0.5),
        (0.9, 10, 1.0),
    ]
    assert calibration.expected_calibration_error == pytest.approx((10 * 0.05 + 10 * 0.05) / 20)
    assert calibration.proposed_threshold == 0.95
    assert calibration.precision_at_threshold == 1.0
    assert calibration.coverage_at_threshold == 0.5
    assert calibration.to_review == 10
    # At 0.75 precision the 0.55 values may come along: 15 right of 20.
    assert (
        calibrate(judged, target_precision=0.75, current_threshold=0.7).proposed_threshold == 0.55
    )


def test_no_threshold_is_proposed_on_too_few_values() -> None:
    calibration = calibrate([(0.9, True)] * 5, target_precision=0.9, current_threshold=0.7)
    assert calibration.proposed_threshold is None
    assert (
        calibrate([], target_precision=0.9, current_threshold=0.7).expected_calibration_error
        is None
    )


def category_variable(labels: list[str]) -> Variable:
    return Variable(
        id=uuid.uuid4(),
        type=VariableType.CATEGORY,
        classification_rules={"categories": [{"label": label} for label in labels]},
    )


def test_the_sample_size_follows_the_precision_and_the_number_of_codes() -> None:
    size = sample_size(category_variable(["a", "b", "c"]), 0.05, 0.8, available=1000)
    assert (size.for_precision, size.for_categories, size.suggested) == (246, 40, 246)
    wide = sample_size(category_variable(["a", "b", "c"]), 0.2, 0.8, available=1000)
    assert (wide.for_precision, wide.suggested) == (16, 40)
    short = sample_size(category_variable(["a", "b"]), 0.05, 0.8, available=50)
    assert short.suggested == 50
    assert "falls short" in short.explanation


def test_the_held_out_split_is_reproducible_disjoint_never_empty_and_stable() -> None:
    units = [(document, "") for document in DOCUMENTS[:10]]
    training, held = split_units(units, 0.3, salt="v")
    assert len(training) + len(held) == 10
    assert training
    assert held
    assert not set(training) & set(held)
    assert split_units(list(reversed(units)), 0.3, salt="v") == (training, held)
    assert split_units(units, 0.3, salt="w") != (training, held)
    assert [len(part) for part in split_units(units[:2], 0.5, salt="v")] == [1, 1]
    # A unit held out stays held out when more units are judged later.
    more = [(document, "") for document in DOCUMENTS]
    assert set(held) <= set(split_units(more, 0.3, salt="v")[1])


def test_the_rules_proposal_learns_from_training_units_only() -> None:
    variable = category_variable(["support", "oppose"])
    units = [(document, "") for document in DOCUMENTS[:10]]
    truth = {unit: "support" if i % 2 == 0 else "oppose" for i, unit in enumerate(units)}
    training, held = units[:7], units[7:]
    codings = VariableCodings(
        variable=variable,
        scale=Scale(VariableType.CATEGORY, ("support", "oppose")),
        review=review_coding([]),
        coders={"alice": {unit: Coded(value) for unit, value in truth.items()}},
        model={1: {unit: Coded("support") for unit in units}},
        quotes={(1, unit): f"quote {index}" for index, unit in enumerate(units)},
        coder_notes={"alice": {units[1]: "opposes means against", units[9]: "held-out note"}},
        models={1: "openai/gpt-4o-mini"},
    )
    guidance, rationale = rules_proposal(codings, "alice", JudgedUnits(1, training, held))
    assert guidance.rules[0].startswith('3 passages coded "support" belong in "oppose"')
    assert "opposes means against" in guidance.rules
    assert "held-out note" not in guidance.rules
    assert [example.excerpt for example in guidance.examples] == ["quote 1", "quote 3", "quote 5"]
    assert rationale.startswith("3 of the 7 training units disagree")


def test_guidance_stays_bounded_however_often_it_is_refined() -> None:
    guidance = Guidance()
    for round_ in range(30):
        new = Guidance(
            rules=(f"rule {round_}", f"RULE {round_}", "x" * 1000),
            examples=(Example(excerpt="y" * 2000, value=round_),),
        )
        guidance = new.before(guidance)
    assert len(guidance.rules) == MAX_RULES
    assert len(guidance.examples) == MAX_EXAMPLES
    assert guidance.rules[0] == "rule 29"
    assert all(len(rule) <= 300 for rule in guidance.rules)
    assert all(len(example.excerpt) <= 500 for example in guidance.examples)
    assert Guidance.of(guidance.as_json()) == guidance
    assert Guidance().as_json() == {}


def test_the_paired_change_has_an_interval_around_it() -> None:
    base = np.array([0, 0, 1, 1, 1, 0, 1, 1], float)
    new = np.array([1, 0, 1, 1, 1, 1, 1, 1], float)
    change, low, high = paired_change(base, new)
    assert change == pytest.approx(0.25)
    assert low <= change <= high
    assert paired_change(np.array([]), np.array([])) == (0.0, 0.0, 0.0)


def test_a_report_kept_as_json_reads_back_the_same() -> None:
    scale = Scale(VariableType.CATEGORY, ("a", "b"))
    units = [(document, "") for document in DOCUMENTS[:6]]
    reference: Coding = {u: Coded("a" if i % 2 else "b") for i, u in enumerate(units)}
    compared: Coding = {u: Coded("a", 0.9 - i / 10) for i, u in enumerate(units)}
    report = compare(
        scale,
        reference,
        compared,
        reference_name="r",
        compared_name="model",
        target_precision=0.9,
        llm_model="openai/gpt-4o-mini",
    )
    assert Report.from_json(report.as_json()) == report
