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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import krippendorff
import numpy as np

# scikit-learn and scipy are imported where a measure needs them: they take about a second to
# import, which every server and worker process would otherwise pay at its start.

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
    bootstrap = _Bootstrap(len(pairs), samples, np.random.default_rng(seed))
    codes = _NominalResamples(pairs, categories, bootstrap)
    return NominalAgreement(
        units=len(pairs),
        missing=missing,
        percent_agreement=bootstrap.measure(
            "percent agreement", _percent_agreement(pairs), codes.percent_agreement()
        ),
        cohen_kappa=bootstrap.measure("Cohen's kappa", _cohen_kappa(pairs), codes.kappa()),
        krippendorff_alpha=bootstrap.measure(
            "Krippendorff's alpha (nominal)",
            _alpha(pairs, "nominal", categories),
            codes.alpha(),
        ),
        gwet_ac1=bootstrap.measure("Gwet's AC1", _gwet_ac1(pairs, categories), codes.ac1()),
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
    normalise: Callable[[Any], object],
    numeric: bool = False,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> MatchAgreement:
    """Exact and normalised matches (NUMBER, DATE, TEXT); for numbers, alpha at the interval
    and ratio levels too."""
    pairs, missing = _paired(reference, compared)
    bootstrap = _Bootstrap(len(pairs), samples, np.random.default_rng(seed))
    exact = np.array([r == c for r, c in pairs], dtype=float)
    same = np.array([normalise(r) == normalise(c) for r, c in pairs], dtype=float)
    alpha_interval = alpha_ratio = None
    if numeric:
        values = _NumericResamples(pairs, bootstrap)
        # The point estimates by the same formulas on the units as they are: the library's
        # own holds a matrix of every pair of distinct values, which for continuous numbers
        # takes seconds at 200 units and more memory than there is at 2,000 (the tests check
        # the formulas against the library to 1e-9).
        observed = _NumericResamples(pairs, _Bootstrap.identity(len(pairs)))
        alpha_interval = bootstrap.measure(
            "Krippendorff's alpha (interval)",
            _numeric_alpha(pairs, observed.alpha_interval()),
            values.alpha_interval(),
        )
        alpha_ratio = bootstrap.measure(
            "Krippendorff's alpha (ratio)",
            _numeric_alpha(pairs, observed.alpha_ratio()),
            values.alpha_ratio(),
        )
    return MatchAgreement(
        units=len(pairs),
        missing=missing,
        exact_match=bootstrap.measure(
            "exact match", _percent_agreement(pairs), bootstrap.means(exact)
        ),
        normalised_match=bootstrap.measure(
            "normalised match",
            _share(pairs, lambda r, c: normalise(r) == normalise(c)),
            bootstrap.means(same),
        ),
        alpha_interval=alpha_interval,
        alpha_ratio=alpha_ratio,
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
    from sklearn.metrics import cohen_kappa_score

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


def _numeric_alpha(pairs: Pairs, observed: np.ndarray) -> Value:
    """Interval or ratio alpha from its vectorised value on the units, or why undefined."""
    if not pairs:
        return "no unit was coded by both"
    if not len(observed) or not np.isfinite(observed[0]):
        return "a single value was used throughout: there is no disagreement to expect"
    return float(observed[0])


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
        from scipy.stats import binomtest

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
    """Percentile bootstrap intervals over the units: one matrix of resampled unit indices
    (resamples x units) shared by the measures, each computed for every resample at once."""

    def __init__(self, units: int, samples: int, rng: np.random.Generator | None) -> None:
        self.units = units
        self.indices = (
            rng.integers(0, units, (samples, units))
            if units and rng is not None
            else np.zeros((0, 0), dtype=int)
        )

    @classmethod
    def identity(cls, units: int) -> _Bootstrap:
        """The units once each, as they are: a measure's own value."""
        observed = cls(units, 0, None)
        if units:
            observed.indices = np.arange(units)[None, :]
        return observed

    def means(self, per_unit: np.ndarray) -> np.ndarray:
        """Each resample's mean of a per-unit figure (a match: 1 or 0)."""
        if not self.units:
            return np.zeros(0)
        return np.asarray(per_unit[self.indices].mean(axis=1))

    def counts(self, per_unit_code: np.ndarray, codes: int) -> np.ndarray:
        """How often each code occurs in each resample (resamples x codes)."""
        samples = self.indices.shape[0]
        offsets = np.arange(samples)[:, None] * codes
        flat = (per_unit_code[self.indices] + offsets).ravel()
        return np.bincount(flat, minlength=samples * codes).reshape(samples, codes)

    def measure(self, name: str, value: Value, estimates: np.ndarray) -> Measure:
        """The measure with the interval of its resample `estimates` (NaN: undefined on that
        resample); no interval when too many resamples leave it undefined."""
        if isinstance(value, str):
            return Measure(name, None, None, None, self.units, undefined=value)
        defined = estimates[np.isfinite(estimates)]
        if not len(estimates) or len(defined) < _MIN_DEFINED_SHARE * len(estimates):
            return Measure(name, value, None, None, self.units)
        tail = (1 - CONFIDENCE) / 2 * 100
        low, high = np.percentile(defined, [tail, 100 - tail])
        return Measure(name, value, float(low), float(high), self.units)


class _NominalResamples:
    """The nominal coefficients of every resample, from its confusion table (two coders, no
    missing codes; checked against scikit-learn and `krippendorff` in the tests)."""

    def __init__(self, pairs: Pairs, categories: Sequence[str], bootstrap: _Bootstrap) -> None:
        index = {category: number for number, category in enumerate(categories)}
        q = len(categories)
        self._q = q
        self._n = bootstrap.units
        if not self._n:
            self._confusion = np.zeros((0, q, q))
            return
        reference = np.array([index[r] for r, _ in pairs])
        compared = np.array([index[c] for _, c in pairs])
        cells = bootstrap.counts(reference * q + compared, q * q)
        self._confusion = cells.reshape(-1, q, q).astype(float)

    def percent_agreement(self) -> np.ndarray:
        return np.asarray(np.trace(self._confusion, axis1=1, axis2=2) / max(self._n, 1))

    def _margins(self) -> tuple[np.ndarray, np.ndarray]:
        return self._confusion.sum(axis=2), self._confusion.sum(axis=1)

    def _single_code(self) -> np.ndarray:
        rows, columns = self._margins()
        return np.asarray(((rows + columns) > 0).sum(axis=1) < 2)

    def kappa(self) -> np.ndarray:
        rows, columns = self._margins()
        n = max(self._n, 1)
        chance = (rows * columns).sum(axis=1) / n**2
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = (self.percent_agreement() - chance) / (1 - chance)
        return np.where(self._single_code(), np.nan, kappa)

    def alpha(self) -> np.ndarray:
        # Two coders: the coincidence matrix is the confusion table plus its transpose, over
        # N = 2n pooled values; alpha = 1 - (N - 1) * sum_{c!=k} o_ck / (N^2 - sum_c n_c^2).
        rows, columns = self._margins()
        pooled = rows + columns
        total = 2 * self._n
        disagreeing = 2 * (self._n - np.trace(self._confusion, axis1=1, axis2=2))
        expected = total**2 - (pooled**2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1 - (total - 1) * disagreeing / expected
        return np.where(self._single_code(), np.nan, alpha)

    def ac1(self) -> np.ndarray:
        if self._q < 2:
            return np.full(len(self._confusion), np.nan)
        rows, columns = self._margins()
        shares = (rows + columns) / max(2 * self._n, 1)
        chance = (shares * (1 - shares)).sum(axis=1) / (self._q - 1)
        return np.asarray((self.percent_agreement() - chance) / (1 - chance))


class _NumericResamples:
    """Krippendorff's alpha at the interval and ratio levels for every resample (two coders,
    no missing values): D_o from the units' pairs, D_e from all pairs of pooled values."""

    def __init__(self, pairs: Pairs, bootstrap: _Bootstrap) -> None:
        self._bootstrap = bootstrap
        self._first = np.array([float(r) for r, _ in pairs])
        self._second = np.array([float(c) for _, c in pairs])

    def alpha_interval(self) -> np.ndarray:
        if not self._bootstrap.units:
            return np.zeros(0)
        indices = self._bootstrap.indices
        first, second = self._first[indices], self._second[indices]
        # Rounding can leave a residue of D_e where a resample holds a single value, and the
        # library calls those undefined: decide it from the values, not from D_e.
        varied = np.maximum(first.max(axis=1), second.max(axis=1)) > np.minimum(
            first.min(axis=1), second.min(axis=1)
        )
        total = 2 * indices.shape[1]
        observed = 2 * ((self._first - self._second) ** 2)[indices].sum(axis=1) / total
        # D_e is shift invariant, and n * sum v^2 - (sum v)^2 cancels badly for large values
        # with a small spread (amounts near 1e6, years): centre on the mean first.
        shift = (self._first.mean() + self._second.mean()) / 2
        first -= shift
        second -= shift
        pooled_sum = first.sum(axis=1) + second.sum(axis=1)
        pooled_squares = (first**2).sum(axis=1) + (second**2).sum(axis=1)
        expected = 2 * (total * pooled_squares - pooled_sum**2) / (total * (total - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1 - observed / expected
        return np.where(varied, alpha, np.nan)

    def alpha_ratio(self) -> np.ndarray:
        if not self._bootstrap.units:
            return np.zeros(0)
        total = 2 * self._bootstrap.units
        pair_delta = _ratio_delta(self._first, self._second)
        observed = 2 * pair_delta[self._bootstrap.indices].sum(axis=1) / total
        expected = self._pooled_ratio_delta() / (total * (total - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1 - observed / expected
        # Sums of non-negative deltas: exactly 0 when the resample has no two values that
        # differ (or only c and -c, whose ratio delta is 0), as the library finds.
        return np.where(expected > 0, alpha, np.nan)

    def _pooled_ratio_delta(self) -> np.ndarray:
        """Each resample's sum of delta over all ordered pairs of its pooled values: the
        quadratic form w^T K w, w counting per resample whichever is fewer, the distinct
        values (K: delta between them) or the distinct units (K: delta summed over both
        units' two values). One matrix product for all resamples; continuous data have up
        to twice as many distinct values as units, so units keep it 4x cheaper there."""
        n = self._bootstrap.units
        values, codes = np.unique(np.concatenate([self._first, self._second]), return_inverse=True)
        first_codes, second_codes = codes[:n], codes[n:]
        units, unit_codes = np.unique(
            np.stack([first_codes, second_codes], axis=1), axis=0, return_inverse=True
        )
        unit_codes = unit_codes.reshape(-1)
        if len(values) <= len(units):
            weights = self._bootstrap.counts(first_codes, len(values)) + self._bootstrap.counts(
                second_codes, len(values)
            )
            kernel = _ratio_delta(values[:, None], values[None, :])
        else:
            weights = self._bootstrap.counts(unit_codes, len(units))
            first, second = values[units[:, 0]], values[units[:, 1]]
            kernel = np.zeros((len(units), len(units)))
            for c in (first, second):
                for k in (first, second):
                    kernel += _ratio_delta(c[:, None], k[None, :])
        counts = weights.astype(float)
        return np.asarray(((counts @ kernel) * counts).sum(axis=1))


def _ratio_delta(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """((c - k) / (c + k))^2, 0 where both are 0."""
    total = first + second
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = ((first - second) / total) ** 2
    return np.where(total == 0, 0.0, delta)
