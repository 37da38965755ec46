"""Statistical errors of the figures of merit (docs/figures.md).

* fractions (valid fraction, assignment accuracy): :func:`binomial_fraction`,
  the 68.27 % Wilson score interval;
* medians and ``width68`` (half the 16–84 % interquantile range):
  :func:`quantile_error`, :func:`width68_error`, the asymptotic standard errors
  of sample quantiles, distribution-free.

Figures from fewer than :data:`SMALL_SAMPLE` events are marked in tables and
figures.
"""

from __future__ import annotations

import numpy as np

WIDTH68_QUANTILES = (0.16, 0.84)
SMALL_SAMPLE = 30
"""Below this many events a fraction or resolution is marked as statistically unreliable."""


def width68(values: np.ndarray) -> float:
    """Half of the 16–84 % interquantile range."""
    low, high = np.quantile(values, WIDTH68_QUANTILES)
    return float(0.5 * (high - low))


def quantile_error(values: np.ndarray, p: float) -> float:
    """Standard error of the sample ``p``-quantile of ``values``, distribution-free.

    Asymptotically the sample quantile is Gaussian with variance
    p(1 − p) / (n f(x_p)²) (van der Vaart, *Asymptotic Statistics*, 1998,
    Cor. 21.5). The unknown density is replaced by the quantiles themselves:
    half the distance between the (p ± s)-quantiles, s = √(p(1 − p)/n), which
    tends to √(p(1 − p)/n) / f(x_p) — the order statistics' binomial interval.
    """
    n = len(values)
    step = np.sqrt(p * (1.0 - p) / n)
    low, high = np.quantile(values, np.clip([p - step, p + step], 0.0, 1.0))
    return float(0.5 * (high - low))


def width68_error(values: np.ndarray) -> float:
    """Standard error of :func:`width68`: the 16 % and 84 % quantiles' errors, with their
    asymptotic correlation ρ = p₁(1 − p₂) / √(p₁(1 − p₁) p₂(1 − p₂)) (same reference)."""
    p1, p2 = WIDTH68_QUANTILES
    s1, s2 = quantile_error(values, p1), quantile_error(values, p2)
    rho = p1 * (1 - p2) / np.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    return float(0.5 * np.sqrt(max(s1**2 + s2**2 - 2 * rho * s1 * s2, 0.0)))


def binomial_fraction(passed: int, total: int) -> dict[str, float]:
    """``{"value", "err", "low", "high", "n"}`` of ``passed`` / ``total``.

    ``low``–``high`` is the 68.27 % Wilson score interval (E. B. Wilson, J. Am.
    Stat. Assoc. 22 (1927) 209), which stays inside [0, 1] and has a width even
    at 0 or 1 — one event failing is 0.0 [0.0, 0.5], not 0 ± 0; ``err`` is half
    its width. With no event every entry but ``n`` is NaN.
    """
    if total == 0:
        nan = float("nan")
        return {"value": nan, "err": nan, "low": nan, "high": nan, "n": 0}
    z = 1.0  # one standard deviation: 68.27 % of the probability
    p = passed / total
    centre = (p + z**2 / (2 * total)) / (1 + z**2 / total)
    half = z / (1 + z**2 / total) * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2))
    low, high = float(max(centre - half, 0.0)), float(min(centre + half, 1.0))
    return {"value": p, "err": 0.5 * (high - low), "low": low, "high": high, "n": int(total)}
