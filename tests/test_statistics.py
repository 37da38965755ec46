"""Statistical errors of the figures of merit (nuanalysis.statistics): the quoted errors must
match the spread of the figures over independent samples, and the Wilson interval its formula."""

from __future__ import annotations

import numpy as np
import pytest

from nuanalysis.metrics import summarize
from nuanalysis.statistics import binomial_fraction


@pytest.mark.parametrize("draw", ["normal", "cauchy"])
def test_quantile_errors_match_the_spread_over_samples(draw):
    """Over 400 independent samples of 800 events, the standard deviation of the medians and
    width68 agrees with the mean quoted error within 15 %, for a Gaussian and for the
    heavy-tailed Cauchy, where σ/√n would be meaningless."""
    rng = np.random.default_rng(7)
    samples = getattr(rng, f"standard_{draw}")((400, 800)) * 20.0
    figures = [summarize(sample) for sample in samples]
    for key in ("median", "width68"):
        spread = np.std([f[key] for f in figures])
        quoted = np.mean([f[f"{key}_err"] for f in figures])
        assert quoted == pytest.approx(spread, rel=0.15), (draw, key)
    if draw == "normal":  # the textbook values: √(π/2) σ/√n for the median
        assert np.mean([f["median_err"] for f in figures]) == pytest.approx(
            np.sqrt(np.pi / 2) * 20.0 / np.sqrt(800), rel=0.05
        )


def test_exact_and_empty_samples():
    exact = summarize(np.zeros(50))
    assert exact == {"median": 0.0, "median_err": 0.0, "width68": 0.0, "width68_err": 0.0, "n": 50}
    empty = summarize(np.array([np.nan, np.inf]))
    assert empty["n"] == 0 and all(np.isnan(empty[k]) for k in ("median", "median_err"))


def test_wilson_interval():
    """The 68 % Wilson score interval, checked against its closed form, stays in [0, 1] and
    gives one failing event a width (0 of 1: [0, 0.5]) instead of 0 ± 0."""
    one = binomial_fraction(0, 1)
    assert (one["value"], one["low"], one["high"], one["err"]) == (0.0, 0.0, 0.5, 0.25)
    half = binomial_fraction(5, 10)  # centre 0.5, half-width √(0.025 + 0.0025) / 1.1
    assert half["low"] == pytest.approx(0.5 - np.sqrt(0.0275) / 1.1)
    assert half["high"] == pytest.approx(0.5 + np.sqrt(0.0275) / 1.1)
    large = binomial_fraction(300, 1000)  # close to the normal approximation
    assert large["err"] == pytest.approx(np.sqrt(0.3 * 0.7 / 1000), rel=0.01)
    all_pass = binomial_fraction(20, 20)
    assert all_pass["high"] == pytest.approx(1.0) and 0.9 < all_pass["low"] < 1.0
    assert np.isnan(binomial_fraction(0, 0)["value"]) and binomial_fraction(0, 0)["n"] == 0


def test_wilson_interval_covers_68_percent():
    """Exact coverage for n = 50, averaged over p in 0.05–0.95: 68 % within 3 points (Wilson's
    coverage oscillates with p around the nominal value; it never collapses as p → 0)."""
    from math import comb

    n = 50
    intervals = [binomial_fraction(k, n) for k in range(n + 1)]
    coverages = []
    for p in np.linspace(0.05, 0.95, 91):
        probability = [comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
        coverages.append(
            sum(
                w for w, c in zip(probability, intervals, strict=True) if c["low"] <= p <= c["high"]
            )
        )
    assert np.mean(coverages) == pytest.approx(0.6827, abs=0.03)
    assert min(coverages) > 0.45
