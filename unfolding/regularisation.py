"""Choosing the SVD regularisation ``k`` (Höcker & Kartvelishvili §8).

Two documented rules:

- :func:`k_from_d` — the rotated coefficients ``|d_i|`` of the measurement
  (eq. 38) fall with i while the response resolves structure and then scatter
  as N(0, 1) noise; ``k`` is the number of leading ``|d_i|`` above the noise
  level (``threshold`` = 1 by default), i.e. the last i before the first
  ``|d_i| < threshold``, at least 2 (``d_1`` carries the normalisation, and
  k = 1 would damp even that by 1/2);
- :func:`k_minimum_global_correlation` — the ``k`` minimising the mean global
  correlation of the unfolded bins (ρ_j = sqrt(1 − 1/(V_jj V⁻¹_jj))).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from unfolding.result import UnfoldResult
from unfolding.uncertainties import global_correlation


def k_from_d(d: np.ndarray, threshold: float = 1.0) -> int:
    """Number of leading ``|d_i|`` that stand above ``threshold`` (at least 2, at most n)."""
    below = np.flatnonzero(np.abs(np.asarray(d)) < threshold)
    k = int(below[0]) if len(below) else len(d)
    return min(max(k, 2), len(d))


def k_minimum_global_correlation(
    unfold_with_k: Callable[[int], UnfoldResult], ks: Iterable[int]
) -> int:
    """The ``k`` among ``ks`` whose unfolded covariance has the smallest mean global correlation."""
    ks = list(ks)
    means = [float(np.mean(global_correlation(unfold_with_k(k).covariance))) for k in ks]
    return ks[int(np.argmin(means))]
