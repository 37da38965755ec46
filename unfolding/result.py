"""The one result type every unfolding algorithm and backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class UnfoldResult:
    """An unfolded spectrum and its statistical covariance.

    ``unfolded`` and ``covariance`` are over the flattened truth bins (see
    :class:`unfolding.response.Response` for the flattening order).
    ``covariance`` is the propagation of the measured spectrum's covariance
    (for SVD: Höcker & Kartvelishvili eq. 47, TSVDUnfold's ``GetXtau``).
    ``algorithm`` is ``"svd"``, ``"tunfold"`` or ``"bayes"``; ``regularisation`` the SVD
    ``k``, TUnfold's τ or the number of Bayesian iterations. ``diagnostics`` holds algorithm
    specifics: for SVD the rotated coefficients ``d`` (``|d_i|``, eq. 38) and
    the ``singular_values`` of the rescaled response, ``tau`` = s_k², and
    ``inverse_covariance`` (``GetXinv``).
    """

    unfolded: np.ndarray
    covariance: np.ndarray
    algorithm: str
    regularisation: int | float
    backend: str
    diagnostics: dict[str, np.ndarray | float] = field(default_factory=dict)

    @property
    def uncertainty(self) -> np.ndarray:
        """Per-bin standard deviation."""
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))

    @property
    def relative_uncertainty(self) -> np.ndarray:
        """Per-bin standard deviation over the unfolded value (inf where the value is 0)."""
        from unfolding.uncertainties import relative_uncertainty

        return relative_uncertainty(self.unfolded, self.covariance)

    @property
    def correlation(self) -> np.ndarray:
        from unfolding.uncertainties import correlation_matrix

        return correlation_matrix(self.covariance)
