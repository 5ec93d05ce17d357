"""Agreement between two codings of the same units, as a methods section reports it.

One coding is the reference (a human coder's gold codes), the other is compared with it (the
model's values, or a second coder's). For CATEGORY and BOOLEAN variables: percent agreement,
Cohen's kappa (scikit-learn), Krippendorff's alpha (the `krippendorff` package) and Gwet's AC1
(Gwet 2008, computed here from its definition), each with a percentile bootstrap 95 %
interval over the units; the confusion table; precision and recall per category; and per
category a one-sided binomial test (scipy) of whether the compared coding finds the category
more often than a coder guessing with its own category rates would. For NUMBER variables
Krippendorff's alpha at the interval and ratio levels; for NUMBER, DATE and TEXT the share of
exact and of normalised matches.

Every figure comes with the number of units behind it. A measure that is undefined on the
data (kappa and alpha when a single category was used throughout, anything on no units) is
reported as undefined with the reason, never as a number. Units either coding left empty are
left out, and counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import krippendorff
import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score

BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
# A bootstrap interval needs most resamples to define the measure; otherwise it is not given.
_MIN_DEFINED_SHARE = 0.9


@dataclass(frozen=True)
class Measure:
    """One agreement coefficient: its value and 95 % interval, or why it is undefined."""

    name: str
    value: float | None
    low: float | None
    high: float | None
    units: int
    undefined: str | None = None


@dataclass(frozen=True)
class CategoryScore:
    """How the compared coding does on one category of the reference."""

    category: str
    # Units the reference puts in the category, and those the compared coding does.
    reference_count: int
    compared_count: int
    agreed: int
    precision: float | None
    recall: float | None
    # One-sided binomial test: are the hits more than guessing at the compared coding's own
    # rate for the category would give? None when the reference has no unit in it.
    p_value_against_chance: float | None


@dataclass(frozen=True)
class NominalAgreement:
    units: int
    # Units left out because either coding had no code for them.
    missing: int
    percent_agreement: Measure
    cohen_kappa: Measure
    krippendorff_alpha: Measure
    gwet_ac1: Measure
    categories: list[CategoryScore]
    # confusion[reference][compared]: unit counts, over the categories in order.
    confusion: dict[str, dict[str, int]]


@dataclass(frozen=True)
class MatchAgreement:
    """For NUMBER, DATE and TEXT: how often the codings match, and alpha for numbers."""

    units: int
    missing: int
    exact_match: Measure
    normalised_match: Measure
    alpha_interval: Measure | None = None
    alpha_ratio: Measure | None = None


Pairs = list[tuple[str, str]]


def nominal(
    reference: Sequence[str | None],
    compared: Sequence[str | None],
    categories: Sequence[str],
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> NominalAgreement:
    """Agreement on a nominal variable whose codes are `categories` (a BOOLEAN's are
    "true" and "false")."""
    pairs, missing = _paired(reference, compared)
    rng = np.random.default_rng(seed)
    bootstrap = _Bootstrap(pairs, samples, rng)
    return NominalAgreement(
        units=len(pairs),
        missing=missing,
        percent_agreement=bootstrap.measure("percent agreement", _percent_agreement),
        cohen_kappa=bootstrap.measure("Cohen's kappa", _cohen_kappa),
        krippendorff_alpha=bootstrap.measure(
            "Krippendorff's alpha (nominal)", lambda p: _alpha(p, "nominal", categories)
        ),
        gwet_ac1=bootstrap.measure("Gwet's AC1", lambda p: _gwet_ac1(p, categories)),
        categories=[_category_score(pairs, category) for category in categories],
        confusion={
            truth: {
                code: sum(1 for r, c in pairs if (r, c) == (truth, code)) for code in categories
            }
            for truth in categories
        },
    )


def matches(
    reference: Sequence[object | None],
    compared: Sequence[object | None],
    *,
    normalise: Callable[[object], object],
    numeric: bool = False,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> MatchAgreement:
    """Exact and normalised matches (NUMBER, DATE, TEXT); for numbers, alpha at the interval
    and ratio levels too."""
    pairs, missing = _paired(reference, compared)
    bootstrap = _Bootstrap(pairs, samples, np.random.default_rng(seed))
    return MatchAgreement(
        units=len(pairs),
        missing=missing,
        exact_match=bootstrap.measure("exact match", _percent_agreement),
        normalised_match=bootstrap.measure(
            "normalised match", lambda p: _share(p, lambda r, c: normalise(r) == normalise(c))
        ),
        alpha_interval=bootstrap.measure(
            "Krippendorff's alpha (interval)", lambda p: _alpha(p, "interval", None)
        )
        if numeric
        else None,
        alpha_ratio=bootstrap.measure(
            "Krippendorff's alpha (ratio)", lambda p: _alpha(p, "ratio", None)
        )
        if numeric
        else None,
    )


def normalised_text(value: object) -> object:
    """Text as a coder means it: case and spacing do not matter."""
    return " ".join(str(value).casefold().split())


# --- the coefficients: each a value, or a reason it is undefined ----------------------------

Value = float | str  # a coefficient, or why it is undefined


def _paired(
    reference: Sequence[object | None], compared: Sequence[object | None]
) -> tuple[Pairs, int]:
    if len(reference) != len(compared):
        raise ValueError(f"{len(reference)} reference codes for {len(compared)} compared ones")
    pairs = [
        (r, c) for r, c in zip(reference, compared, strict=True) if r is not None and c is not None
    ]
    return pairs, len(reference) - len(pairs)  # type: ignore[return-value]


def _percent_agreement(pairs: Pairs) -> Value:
    return _share(pairs, lambda r, c: r == c)


def _share(pairs: Pairs, same: Callable[[object, object], bool]) -> Value:
    if not pairs:
        return "no unit was coded by both"
    return sum(1 for r, c in pairs if same(r, c)) / len(pairs)


def _cohen_kappa(pairs: Pairs) -> Value:
    if not pairs:
        return "no unit was coded by both"
    if len({code for pair in pairs for code in pair}) < 2:
        return "a single category was used throughout: chance agreement is total"
    reference, compared = zip(*pairs, strict=True)
    return float(cohen_kappa_score(reference, compared))


Level = Literal["nominal", "interval", "ratio"]


def _alpha(pairs: Pairs, level: Level, categories: Sequence[str] | None) -> Value:
    if not pairs:
        return "no unit was coded by both"
    if len({code for pair in pairs for code in pair}) < 2:
        return "a single value was used throughout: there is no disagreement to expect"
    if categories is not None:
        index = {category: number for number, category in enumerate(categories)}
        data = [[float(index[code]) for code in coding] for coding in zip(*pairs, strict=True)]
        domain = list(range(len(categories)))
        return float(
            krippendorff.alpha(
                reliability_data=data, level_of_measurement=level, value_domain=domain
            )
        )
    data = [[float(code) for code in coding] for coding in zip(*pairs, strict=True)]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def _gwet_ac1(pairs: Pairs, categories: Sequence[str]) -> Value:
    """AC1 = (pa - pe) / (1 - pe), pe = sum_k pi_k (1 - pi_k) / (q - 1), pi_k the share of
    the two codings' codes that are k, q the number of categories (Gwet 2008)."""
    if not pairs:
        return "no unit was coded by both"
    if len(categories) < 2:
        return "a variable of one category"
    agreement = sum(1 for r, c in pairs if r == c) / len(pairs)
    codes = [code for pair in pairs for code in pair]
    shares = [codes.count(category) / len(codes) for category in categories]
    chance = sum(share * (1 - share) for share in shares) / (len(categories) - 1)
    return (agreement - chance) / (1 - chance)


def _category_score(pairs: Pairs, category: str) -> CategoryScore:
    reference = sum(1 for r, _ in pairs if r == category)
    compared = sum(1 for _, c in pairs if c == category)
    agreed = sum(1 for r, c in pairs if r == c == category)
    p_value = None
    if reference:
        # Guessing with the compared coding's own rate for the category would hit it in that
        # share of the reference's units.
        rate = compared / len(pairs)
        p_value = (
            0.0 if rate == 0 and agreed else binomtest(agreed, reference, rate, "greater").pvalue
        )
    return CategoryScore(
        category=category,
        reference_count=reference,
        compared_count=compared,
        agreed=agreed,
        precision=agreed / compared if compared else None,
        recall=agreed / reference if reference else None,
        p_value_against_chance=None if p_value is None else float(p_value),
    )


class _Bootstrap:
    """Percentile bootstrap intervals over the units, one resampling shared by the measures."""

    def __init__(self, pairs: Pairs, samples: int, rng: np.random.Generator) -> None:
        self._pairs = pairs
        count = len(pairs)
        self._resamples = [rng.integers(0, count, count) for _ in range(samples)] if count else []

    def measure(self, name: str, compute: Callable[[Pairs], Value]) -> Measure:
        value = compute(self._pairs)
        units = len(self._pairs)
        if isinstance(value, str):
            return Measure(name, None, None, None, units, undefined=value)
        estimates = [
            estimate
            for resample in self._resamples
            if not isinstance(estimate := compute([self._pairs[i] for i in resample]), str)
            and math.isfinite(estimate)
        ]
        if not self._resamples or len(estimates) < _MIN_DEFINED_SHARE * len(self._resamples):
            return Measure(name, value, None, None, units)
        tail = (1 - CONFIDENCE) / 2 * 100
        low, high = np.percentile(estimates, [tail, 100 - tail])
        return Measure(name, value, float(low), float(high), units)
