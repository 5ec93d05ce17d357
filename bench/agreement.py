"""Agreement measures benchmark: the time to compute every coefficient of a nominal variable
(percent agreement, Cohen's kappa, Krippendorff's alpha, Gwet's AC1, per-category scores) and
of a numeric one (exact and normalised match, interval and ratio alpha) with their percentile
bootstrap intervals, for a few sample sizes. GetAgreement, ComparePromptVersions and the
codebook's quality section compute these per variable and prompt version, so they must stay
well under a request's budget.

The data are synthetic: two coders who agree on about 80 % of units over four categories
(nominal), and counts from 0 to 50 that a second coder shifts by -1, 0 or +1 (numeric).

    .venv/bin/python -m bench.agreement [--units 50 200 2000] [--samples 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from server.quality import agreement

CATEGORIES = ["economy", "health", "environment", "security"]


def nominal_data(units: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    first = [CATEGORIES[k] for k in rng.integers(0, len(CATEGORIES), units)]
    second = [
        code if rng.random() < 0.8 else CATEGORIES[rng.integers(0, len(CATEGORIES))]
        for code in first
    ]
    return first, second


def numeric_data(units: int, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    first = [float(v) for v in rng.integers(0, 51, units)]
    return first, [v + float(rng.integers(-1, 2)) for v in first]


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and worst wall time of `repeat` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[50, 200, 2000])
    parser.add_argument("--samples", type=int, default=agreement.BOOTSTRAP_SAMPLES)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"bootstrap resamples: {options.samples}; median and worst of {options.repeat} runs")
    print(f"{'units':>6}  {'nominal (ms)':>18}  {'numeric (ms)':>18}")
    for units in options.units:
        first, second = nominal_data(units, rng)
        low, high = numeric_data(units, rng)
        nominal = timed(
            partial(agreement.nominal, first, second, CATEGORIES, samples=options.samples),
            options.repeat,
        )
        numeric = timed(
            partial(
                agreement.matches, low, high, normalise=float, numeric=True, samples=options.samples
            ),
            options.repeat,
        )
        print(
            f"{units:>6}  {nominal[0]:>8.1f} / {nominal[1]:>7.1f}  "
            f"{numeric[0]:>8.1f} / {numeric[1]:>7.1f}"
        )


if __name__ == "__main__":
    main()
