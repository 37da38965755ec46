"""One call from a :class:`~unfolding.response.Response` and a measured spectrum to a result."""

from __future__ import annotations

import hist
import numpy as np

from unfolding.backends import get_backend
from unfolding.bayes import bayes_unfold
from unfolding.errors import UnfoldingError
from unfolding.response import Response
from unfolding.result import UnfoldResult
from unfolding.tunfold import TikhonovProblem
from unfolding.validation import as_covariance, check_non_negative

ALGORITHMS = ("svd", "tunfold", "bayes")

PARAMETERS = {"svd": "k", "tunfold": "tau", "bayes": "iterations"}
"""The keyword of :func:`unfold` that sets each algorithm's regularisation."""


def measured_inputs(response: Response, measured, covariance=None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened measured counts and covariance.

    ``measured`` is a :class:`hist.Hist` on the response's axes (its variances
    are used unless ``covariance`` is given) or an array; with neither
    variances nor ``covariance``, Poisson variances (the counts) are assumed.
    """
    if covariance is None and isinstance(measured, hist.Hist) and measured.variances() is not None:
        covariance = measured.variances(flow=False).reshape(-1)
    values = response.check_compatible(measured)
    check_non_negative(values, "measured spectrum")
    covariance = as_covariance(values if covariance is None else covariance, response.n_bins)
    return values, covariance


def subtract_fakes(response: Response, measured: np.ndarray) -> np.ndarray:
    """The measured spectrum minus the MC fakes scaled to its normalisation (as RooUnfold does)."""
    total_mc = response.reco.sum()
    scale = measured.sum() / total_mc if total_mc > 0 else 0.0
    return measured - scale * response.fakes


def unfold(
    response: Response,
    measured,
    covariance=None,
    *,
    algorithm: str = "svd",
    k: int | None = None,
    iterations: int = 4,
    tau: float | None = None,
    backend: str = "numpy",
) -> UnfoldResult:
    """Unfold ``measured`` with ``response``; fakes are subtracted first.

    ``algorithm="svd"`` needs ``k``; ``backend`` is ``auto``, ``roounfold``,
    ``root`` or ``numpy``, each given the same fake-subtracted spectrum
    (:mod:`unfolding.svd_backend`). ``algorithm="bayes"`` (D'Agostini) runs in numpy for
    ``iterations`` iterations. ``algorithm="tunfold"`` needs ``tau``
    (:func:`tikhonov_problem`). The MC response, truth and the measured
    spectrum must be non-negative; the truth bins non-empty.
    """
    if algorithm not in ALGORITHMS:
        raise UnfoldingError(
            f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}"
        )
    values, covariance = measured_inputs(response, measured, covariance)
    for name, array in (("MC reco spectrum", response.reco), ("MC truth spectrum", response.truth)):
        check_non_negative(array, name)
    signal = subtract_fakes(response, values)
    if algorithm == "bayes":
        return bayes_unfold(signal, covariance, response.matrix, response.truth, iterations)
    if algorithm == "tunfold":
        if tau is None:
            raise UnfoldingError("TUnfold needs a regularisation strength τ (unfolding.tunfold)")
        return tikhonov_problem(response, signal, covariance).solve(tau)
    if k is None:
        raise UnfoldingError(
            "SVD unfolding needs a regularisation k (see unfolding.regularisation)"
        )
    return get_backend(backend).svd_unfold(
        signal, covariance, response.matrix, response.truth, k, response.shape
    )


def tikhonov_problem(response: Response, signal: np.ndarray, covariance) -> TikhonovProblem:
    """TUnfold's problem for ``response`` and the fake-subtracted ``signal``
    (:mod:`unfolding.tunfold`): the curvature along each axis of the response's grid, of the
    density (counts over the bin's width or area, TUnfoldDensity's bin-width mode), relative
    to the MC truth scaled to the signal's normalisation (``SetBias``), with the area
    constraint."""
    grids = np.meshgrid(*(np.diff(axis.edges) for axis in response.axes), indexing="ij")
    widths = np.prod(grids, axis=0).reshape(-1)
    matched = response.matrix.sum()
    bias = response.truth * (signal.sum() / matched if matched > 0 else 1.0)
    return TikhonovProblem.build(
        signal, covariance, response.matrix, response.truth, response.shape, widths, bias
    )
