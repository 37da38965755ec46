"""Response matrices and SVD, TUnfold-like and D'Agostini unfolding, free of :mod:`nuanalysis`.

Hist objects or arrays in, arrays out.

>>> response = Response([300, 450, 600, 800, 1200], [0, 100, 200, 400])
>>> response.fill((mtt_reco, ptt_reco), (mtt_true, ptt_true), reco_valid=ok)   # doctest: +SKIP
>>> result = unfold(response, measured_hist, k=6, backend="auto")              # doctest: +SKIP
>>> result.unfolded, result.covariance, result.relative_uncertainty             # doctest: +SKIP
"""

from unfolding.api import ALGORITHMS, measured_inputs, subtract_fakes, tikhonov_problem, unfold
from unfolding.backends import BACKENDS, SVD_BACKENDS, get_backend, resolve_backend
from unfolding.bayes import bayes_unfold
from unfolding.errors import UnfoldingError
from unfolding.regularisation import k_from_d, k_minimum_global_correlation
from unfolding.response import Response
from unfolding.result import UnfoldResult
from unfolding.svd import svd_unfold
from unfolding.svd_backend import SvdBackend
from unfolding.tunfold import (
    TikhonovProblem,
    tau_from_l_curve,
    tau_minimum_global_correlation,
    tunfold,
)
from unfolding.uncertainties import (
    bootstrap_covariance,
    correlation_matrix,
    global_correlation,
    measured_toys_covariance,
    relative_uncertainty,
    response_toys_covariance,
)

__all__ = [
    "ALGORITHMS",
    "BACKENDS",
    "SVD_BACKENDS",
    "Response",
    "SvdBackend",
    "TikhonovProblem",
    "UnfoldResult",
    "UnfoldingError",
    "bayes_unfold",
    "bootstrap_covariance",
    "correlation_matrix",
    "get_backend",
    "global_correlation",
    "k_from_d",
    "k_minimum_global_correlation",
    "measured_inputs",
    "measured_toys_covariance",
    "relative_uncertainty",
    "resolve_backend",
    "response_toys_covariance",
    "subtract_fakes",
    "svd_unfold",
    "tau_from_l_curve",
    "tau_minimum_global_correlation",
    "tikhonov_problem",
    "tunfold",
    "unfold",
]
