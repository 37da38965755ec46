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

import math

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


ERROR_DIGITS = 2
"""Significant digits an error is printed with; its value is rounded to the same decimal."""

SYMMETRIC_RATIO = 1.25
"""An interval whose two sides differ by less than this factor is printed as ± half-width."""


def decimals(error: float, digits: int = ERROR_DIGITS) -> int:
    """Decimal places that show ``error`` to ``digits`` significant digits (none for an error
    of 10 or more): the place a value is rounded to (PDG, Rev. Part. Phys., Introduction
    §5.3, simplified to two digits)."""
    return max(digits - 1 - math.floor(math.log10(error)), 0)


def format_value_error(value: float | None, error: float | None) -> str:
    """``value ± error``, the value rounded to the error's last digit: 0.00664 ± 1.23 →
    ``0.0 ± 1.2``, 91.38 ± 13.2 → ``91 ± 13``; ``—`` for a value that is not finite, and
    three significant digits where the error is zero or unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    if error is None or not math.isfinite(error) or error <= 0:
        shown = "0" if value == 0 else f"{value:.3g}"
        return f"{shown} ± 0" if error == 0 else shown
    places = decimals(error)
    return f"{value:.{places}f} ± {error:.{places}f}"


def format_interval(value: float | None, low: float | None, high: float | None) -> str:
    """A value with its interval [low, high], rounded to the smaller non-zero side: ``± half
    width`` where the sides are within :data:`SYMMETRIC_RATIO`, else ``+up −down`` — at a
    physical boundary one side is 0 (every event passed: ``1.0000 +0 −0.0017``, one event
    failing out of one: ``0.00 +0.50 −0``), which a symmetric ± would hide."""
    if value is None or not math.isfinite(value):
        return "—"
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return format_value_error(value, None)
    up, down = max(high - value, 0.0), max(value - low, 0.0)
    sides = [side for side in (up, down) if side > 0]
    if not sides:
        return format_value_error(value, 0.0)
    places = decimals(min(sides))
    if up > 0 and down > 0 and max(up, down) / min(up, down) < SYMMETRIC_RATIO:
        return f"{value:.{places}f} ± {(up + down) / 2:.{places}f}"

    def side(size: float) -> str:
        return f"{size:.{places}f}" if size > 0 else "0"

    return f"{value:.{places}f} +{side(up)} −{side(down)}"
