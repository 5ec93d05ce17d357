"""The agreement measures against worked examples from the literature and by hand, and their
edge cases: perfect agreement, a single category, missing codes, no units."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest

from server.quality import agreement
from server.quality.agreement import normalised_text

# Few resamples where the intervals are not what a test is about: the suite stays quick.
QUICK = 100


def nominal(*args: Any, **options: Any) -> agreement.NominalAgreement:
    return agreement.nominal(*args, **{"samples": QUICK, **options})


def matches(*args: Any, **options: Any) -> agreement.MatchAgreement:
    return agreement.matches(*args, **{"samples": QUICK, **options})


YES, NO = "yes", "no"


def table(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> tuple[list[str], list[str]]:
    """Two raters' codes from a 2x2 table (first rater's code, then the second's)."""
    cells = [(YES, YES, yes_yes), (YES, NO, yes_no), (NO, YES, no_yes), (NO, NO, no_no)]
    first = [a for a, _, count in cells for _ in range(count)]
    second = [b for _, b, count in cells for _ in range(count)]
    return first, second


def test_cohens_kappa_of_the_textbook_two_by_two_example() -> None:
    # 50 grant proposals read by two readers (the example of Wikipedia's "Cohen's kappa"):
    # both yes 20, A yes B no 5, A no B yes 10, both no 15: po 0.70, pe 0.50, kappa 0.40.
    first, second = table(20, 5, 10, 15)
    result = nominal(first, second, [YES, NO])
    assert result.units == 50
    assert result.percent_agreement.value == pytest.approx(0.70)
    assert result.cohen_kappa.value == pytest.approx(0.40)
    # AC1 by hand: pi_yes = (25 + 30) / 100 = 0.55, pe = 2 * 0.55 * 0.45 = 0.495,
    # AC1 = (0.70 - 0.495) / (1 - 0.495) = 0.40594.
    assert result.gwet_ac1.value == pytest.approx(0.205 / 0.505)
    # confusion[first rater's code][second rater's code]
    assert result.confusion == {YES: {YES: 20, NO: 5}, NO: {YES: 10, NO: 15}}


def test_krippendorffs_alpha_of_his_two_observer_binary_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section A: two
    # observers, ten units, binary data, no missing values: alpha = 0.095.
    first = ["0", "1", "0", "0", "0", "0", "0", "0", "1", "0"]
    second = ["1", "1", "1", "0", "0", "1", "0", "0", "0", "0"]
    result = nominal(first, second, ["0", "1"])
    assert result.krippendorff_alpha.value == pytest.approx(0.095, abs=0.0005)


def test_high_agreement_on_a_rare_code_keeps_ac1_high_where_kappa_collapses() -> None:
    # The kappa paradox: 94.4 % agreement on a code both raters nearly always give.
    # By hand: kappa = (0.944 - 0.94528) / (1 - 0.94528) = -0.0234; pi = 243 / 250 = 0.972,
    # pe(AC1) = 2 * 0.972 * 0.028 = 0.054432, AC1 = (0.944 - 0.054432) / 0.945568 = 0.9408.
    first, second = table(118, 5, 2, 0)
    result = nominal(first, second, [YES, NO])
    assert result.cohen_kappa.value == pytest.approx(-0.0234, abs=0.0001)
    assert result.gwet_ac1.value == pytest.approx(0.9408, abs=0.0001)


def test_every_figure_has_an_interval_around_it_and_its_units() -> None:
    first, second = table(20, 5, 10, 15)
    result = nominal(first, second, [YES, NO], samples=500, seed=3)
    for measure in (
        result.percent_agreement,
        result.cohen_kappa,
        result.krippendorff_alpha,
        result.gwet_ac1,
    ):
        assert measure.units == 50
        assert measure.low is not None
        assert measure.high is not None
        assert measure.low < measure.value < measure.high  # type: ignore[operator]
        assert measure.high - measure.low < 0.6
    # The same seed gives the same interval: a report can be reproduced.
    again = nominal(first, second, [YES, NO], samples=500, seed=3)
    assert again.cohen_kappa == result.cohen_kappa


def test_perfect_agreement_is_one_everywhere() -> None:
    codes = ["a", "b", "c", "a", "b", "c", "a"]
    result = nominal(codes, list(codes), ["a", "b", "c"])
    for measure in (result.cohen_kappa, result.krippendorff_alpha, result.gwet_ac1):
        assert measure.value == pytest.approx(1.0)
    assert [score.precision for score in result.categories] == [1.0, 1.0, 1.0]


def test_a_single_category_used_throughout_leaves_kappa_and_alpha_undefined() -> None:
    result = nominal([YES] * 8, [YES] * 8, [YES, NO])
    assert result.percent_agreement.value == 1.0
    assert result.cohen_kappa.value is None
    assert "single category" in (result.cohen_kappa.undefined or "")
    assert result.krippendorff_alpha.value is None
    assert result.krippendorff_alpha.undefined
    # AC1 stays defined: that is the point of it.
    assert result.gwet_ac1.value == pytest.approx(1.0)


def test_units_either_coding_left_empty_are_left_out_and_counted() -> None:
    first = ["a", "b", None, "a", "b", "a"]
    second = ["a", "b", "a", None, "a", "a"]
    result = nominal(first, second, ["a", "b"])
    assert (result.units, result.missing) == (4, 2)
    assert result.percent_agreement.value == pytest.approx(3 / 4)
    assert result.percent_agreement.units == 4


def test_no_unit_coded_by_both_reports_nothing_as_a_number() -> None:
    result = nominal([None, "a"], ["b", None], ["a", "b"])
    assert result.units == 0
    for measure in (result.percent_agreement, result.cohen_kappa, result.gwet_ac1):
        assert measure.value is None
        assert measure.undefined == "no unit was coded by both"


def test_precision_recall_and_the_test_against_guessing_per_category() -> None:
    # The model finds "oppose" in 9 of 10 units the coder put there, and says "oppose" for 10
    # of 40 units: guessing at that rate would hit 2.5 of 10.
    reference = ["oppose"] * 10 + ["support"] * 30
    compared = ["oppose"] * 9 + ["support"] + ["oppose"] + ["support"] * 29
    result = nominal(reference, compared, ["oppose", "support", "neutral"])
    oppose, support, neutral = result.categories
    assert (oppose.agreed, oppose.reference_count, oppose.compared_count) == (9, 10, 10)
    assert oppose.recall == pytest.approx(0.9)
    assert oppose.precision == pytest.approx(0.9)
    assert oppose.p_value_against_chance is not None
    assert oppose.p_value_against_chance < 0.001
    assert support.recall == pytest.approx(29 / 30)
    # No unit in the reference: nothing to test, nothing to divide by.
    assert neutral.recall is None
    assert neutral.p_value_against_chance is None


def test_a_coder_no_better_than_guessing_is_not_called_better() -> None:
    reference = ["a", "b"] * 20
    compared = ["a", "a", "b", "b"] * 10  # right half the time, as a coin would be
    [a, _] = nominal(reference, compared, ["a", "b"]).categories
    assert a.p_value_against_chance is not None
    assert a.p_value_against_chance > 0.3


def test_numbers_match_exactly_or_up_to_normalisation_and_have_interval_alpha() -> None:
    reference = [1200.0, 1500.0, 300.0, 80.0, 99.0, None]
    compared = [1200.0, 1500.0, 310.0, 80.0, 99.0, 5.0]
    result = matches(reference, compared, normalise=lambda v: round(float(v), -1), numeric=True)
    assert (result.units, result.missing) == (5, 1)
    assert result.exact_match.value == pytest.approx(4 / 5)
    assert result.normalised_match.value == pytest.approx(4 / 5)  # 300 and 310 differ at tens
    assert result.alpha_interval is not None
    assert result.alpha_interval.value is not None
    assert result.alpha_interval.value > 0.99
    assert result.alpha_ratio is not None
    assert result.alpha_ratio.value is not None


def test_text_matches_up_to_case_and_spacing() -> None:
    result = matches(
        ["Sea walls", "dunes", "harbour  works"],
        ["sea walls", "Dunes", "harbour works"],
        normalise=normalised_text,
    )
    assert result.exact_match.value == 0.0
    assert result.normalised_match.value == 1.0
    assert result.alpha_interval is None


def same_estimate(vectorised: float, library: float | str) -> bool:
    """A resample's vectorised estimate against the library's: equal to 1e-9, or NaN where
    the library calls the measure undefined (a reason, or a non-finite number)."""
    if isinstance(library, str) or not np.isfinite(library):
        return bool(np.isnan(vectorised))
    return bool(abs(vectorised - library) <= 1e-9)


def nominal_data(categories: int, units: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    codes = [f"c{k}" for k in range(categories)]
    reference = [codes[k] for k in rng.integers(0, categories, units)]
    # Mostly agreeing, so that the coefficients are far from 0.
    compared = [r if rng.random() < 0.7 else codes[rng.integers(0, categories)] for r in reference]
    return reference, compared


@pytest.mark.parametrize(
    ("categories", "units"),
    # Six units of two categories: some resamples hold a single category, where kappa and
    # alpha are undefined and must come out NaN.
    [(2, 60), (3, 60), (5, 60), (5, 9), (2, 6)],
)
def test_every_resamples_nominal_coefficients_equal_the_libraries(
    categories: int, units: int
) -> None:
    codes = [f"c{k}" for k in range(categories)]
    reference, compared = nominal_data(categories, units, seed=categories * units)
    pairs = list(zip(reference, compared, strict=True))
    bootstrap = agreement._Bootstrap(len(pairs), 12, np.random.default_rng(units))
    resamples = agreement._NominalResamples(pairs, codes, bootstrap)
    vectorised = {
        "percent": resamples.percent_agreement(),
        "kappa": resamples.kappa(),
        "alpha": resamples.alpha(),
        "ac1": resamples.ac1(),
    }
    for row, indices in enumerate(bootstrap.indices):
        drawn = [pairs[i] for i in indices]
        one_by_one = {
            "percent": agreement._percent_agreement(drawn),
            "kappa": agreement._cohen_kappa(drawn),
            "alpha": agreement._alpha(drawn, "nominal", codes),
            "ac1": agreement._gwet_ac1(drawn, codes),
        }
        for name, value in one_by_one.items():
            assert same_estimate(vectorised[name][row], value), (name, row)


def numeric_data(kind: str, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    if kind == "counts":
        # Ties and zeros, as real counts have: fewer distinct values than units.
        first = [float(v) for v in rng.integers(0, 6, 40)]
        return first, [v + float(rng.integers(-1, 2)) if v else 0.0 for v in first]
    if kind == "amounts":
        # Large values with a small spread (cancellation in n sum v^2 - (sum v)^2), nearly
        # all distinct: more distinct values than units.
        first = [round(float(v), 1) for v in rng.normal(1e6, 3.0, 40)]
        return first, [round(v + float(rng.normal(0, 1)), 1) for v in first]
    if kind == "signed":
        # Negative values, and c with -c, whose ratio delta is 0 by the library's convention.
        first = [float(v) for v in rng.integers(-3, 4, 30)]
        return first, [-v if rng.random() < 0.3 else v + float(rng.integers(-1, 2)) for v in first]
    # Nearly one value, not a binary fraction: some resamples hold that value alone, where
    # rounding must not pass for disagreement.
    first = [0.1] * 6
    return first, [0.1] * 5 + [1.1]


@pytest.mark.parametrize("kind", ["counts", "amounts", "signed", "nearly constant"])
def test_every_resamples_numeric_alphas_equal_the_library(kind: str) -> None:
    rng = np.random.default_rng(7)
    first, second = numeric_data(kind, rng)
    pairs = list(zip(first, second, strict=True))
    bootstrap = agreement._Bootstrap(len(pairs), 12, rng)
    resamples = agreement._NumericResamples(pairs, bootstrap)  # type: ignore[arg-type]
    interval, ratio = resamples.alpha_interval(), resamples.alpha_ratio()
    for row, indices in enumerate(bootstrap.indices):
        drawn: Any = [pairs[i] for i in indices]
        assert same_estimate(interval[row], agreement._alpha(drawn, "interval", None)), row
        assert same_estimate(ratio[row], agreement._alpha(drawn, "ratio", None)), row
    if kind == "nearly constant":
        assert np.isnan(interval).any()  # the case is exercised, not drawn around


def library_interval(
    pairs: list[tuple[Any, Any]], compute: Any, samples: int, seed: int
) -> tuple[float | None, float | None]:
    """The interval computed resample by resample with the libraries, dropping the resamples
    that leave the measure undefined: the vectorised bootstrap must give the same."""
    indices = agreement._Bootstrap(len(pairs), samples, np.random.default_rng(seed)).indices
    estimates = [compute([pairs[i] for i in row]) for row in indices]
    defined = [e for e in estimates if not isinstance(e, str) and np.isfinite(e)]
    if len(defined) < agreement._MIN_DEFINED_SHARE * samples:
        return None, None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


@pytest.mark.parametrize(("categories", "units"), [(3, 40), (2, 7)])
def test_nominal_intervals_equal_those_from_the_libraries_resample_by_resample(
    categories: int, units: int
) -> None:
    codes = [f"c{k}" for k in range(categories)]
    reference, compared = nominal_data(categories, units, seed=units)
    pairs = list(zip(reference, compared, strict=True))
    result = nominal(reference, compared, codes, samples=60, seed=5)
    for measure, compute in (
        (result.percent_agreement, agreement._percent_agreement),
        (result.cohen_kappa, agreement._cohen_kappa),
        (result.krippendorff_alpha, lambda p: agreement._alpha(p, "nominal", codes)),
        (result.gwet_ac1, lambda p: agreement._gwet_ac1(p, codes)),
    ):
        low, high = library_interval(pairs, compute, 60, 5)
        assert (measure.low is None) == (low is None), measure.name
        assert measure.low == pytest.approx(low, abs=1e-9), measure.name
        assert measure.high == pytest.approx(high, abs=1e-9), measure.name


@pytest.mark.parametrize("kind", ["counts", "amounts", "nearly constant"])
def test_numeric_intervals_equal_those_from_the_library_resample_by_resample(kind: str) -> None:
    first, second = numeric_data(kind, np.random.default_rng(11))
    pairs: list[tuple[Any, Any]] = list(zip(first, second, strict=True))
    result = matches(first, second, normalise=round, numeric=True, samples=60, seed=5)
    assert result.alpha_interval is not None
    assert result.alpha_ratio is not None
    levels: list[tuple[agreement.Measure, agreement.Level]] = [
        (result.alpha_interval, "interval"),
        (result.alpha_ratio, "ratio"),
    ]
    for measure, level in levels:
        compute = partial(agreement._alpha, level=level, categories=None)
        low, high = library_interval(pairs, compute, 60, 5)
        assert (measure.low is None) == (low is None), measure.name
        assert measure.low == pytest.approx(low, abs=1e-9), measure.name
        assert measure.high == pytest.approx(high, abs=1e-9), measure.name


def test_numeric_alpha_of_continuous_values_equals_the_library_and_scales() -> None:
    rng = np.random.default_rng(11)
    # Continuous amounts: nearly every value distinct, where the library's own computation
    # holds a matrix of all pairs of distinct values.
    first = [round(float(v), 2) for v in rng.normal(500.0, 80.0, 150)]
    second = [round(v + float(rng.normal(0, 20)), 2) for v in first]
    result = matches(first, second, normalise=float, numeric=True)
    pairs: Any = list(zip(first, second, strict=True))
    assert result.alpha_interval is not None
    assert result.alpha_ratio is not None
    assert result.alpha_interval.value == pytest.approx(
        agreement._alpha(pairs, "interval", None), abs=1e-9
    )
    assert result.alpha_ratio.value == pytest.approx(
        agreement._alpha(pairs, "ratio", None), abs=1e-9
    )
    # Ten times as many units: the library would need hundreds of GiB; this takes moments.
    many_first = [round(float(v), 2) for v in rng.normal(500.0, 80.0, 3000)]
    many_second = [round(v + float(rng.normal(0, 20)), 2) for v in many_first]
    large = matches(many_first, many_second, normalise=float, numeric=True)
    assert large.alpha_interval is not None
    assert large.alpha_interval.value is not None
    assert 0.8 < large.alpha_interval.value < 1
