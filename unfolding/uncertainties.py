"""Statistical uncertainties of an unfolded spectrum.

- analytic: the covariance each algorithm propagates linearly
  (:attr:`UnfoldResult.covariance`; SVD eq. 47 / TSVDUnfold ``GetXtau``);
- toys of the measured spectrum (Gaussian with its covariance, as
  TSVDUnfold's ``GetUnfoldCovMatrix``): :func:`measured_toys_covariance`;
- toys of the response (each matrix, truth and reco bin fluctuated with its
  own statistics, as ``GetAdetCovMatrix``) for the response's statistical
  uncertainty, to be added to the analytic one: :func:`response_toys_covariance`;
- the bootstrap over events (Poisson(1) event weights, replicas re-filled and
  re-unfolded by a user function): :func:`bootstrap_covariance`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.response import Response


def relative_uncertainty(values: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """sqrt(diag(cov)) / |values| per bin; inf where the value is 0."""
    values = np.asarray(values, dtype=np.float64)
    sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    return np.divide(sigma, np.abs(values), out=np.full(values.shape, np.inf), where=values != 0)


def correlation_matrix(covariance: np.ndarray) -> np.ndarray:
    sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    norm = np.outer(sigma, sigma)
    return np.divide(covariance, norm, out=np.zeros_like(covariance), where=norm > 0)


def global_correlation(covariance: np.ndarray) -> np.ndarray:
    """ρ_j = sqrt(1 − 1/(V_jj (V⁻¹)_jj)) per bin (the quantity minimised to choose k)."""
    inverse = np.linalg.pinv(covariance, hermitian=True)
    product = np.diag(covariance) * np.diag(inverse)
    return np.sqrt(
        np.clip(
            1.0 - np.divide(1.0, product, out=np.ones_like(product), where=product > 0), 0.0, 1.0
        )
    )


def _sample_covariance(samples: np.ndarray) -> np.ndarray:
    if len(samples) < 2:
        raise UnfoldingError("toy covariance needs at least 2 toys")
    return np.cov(np.asarray(samples), rowvar=False, ddof=1).reshape(
        samples.shape[1], samples.shape[1]
    )


def measured_toys_covariance(
    unfold_values: Callable[[np.ndarray], np.ndarray],
    measured: np.ndarray,
    covariance: np.ndarray,
    n_toys: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Covariance of ``unfold_values(toy)`` over Gaussian toys of the measured spectrum."""
    toys = rng.multivariate_normal(measured, covariance, size=n_toys, method="eigh")
    return _sample_covariance(np.array([unfold_values(toy) for toy in toys]))


def fluctuate(values: np.ndarray, w2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One Poisson replica of weighted bin contents, through the effective entries ``v²/w2``."""
    positive = (values > 0) & (w2 > 0)
    scale = np.divide(w2, values, out=np.ones_like(values), where=positive)
    entries = np.divide(values, scale, out=np.zeros_like(values), where=positive)
    return np.where(positive, rng.poisson(entries) * scale, values)


def response_toys_covariance(
    response: Response,
    unfold_values: Callable[[Response], np.ndarray],
    n_toys: int,
    rng: np.random.Generator,
    max_failed_fraction: float = 0.1,
) -> np.ndarray:
    """Covariance of ``unfold_values(replica)`` over statistical replicas of the response.

    Each replica fluctuates the migration matrix, the fakes and the misses
    independently (they are disjoint event sets) and rebuilds the reco and
    truth spectra from them, so the bookkeeping stays consistent. With few
    simulated events a replica can empty a truth bin; such replicas are
    skipped, and more than ``max_failed_fraction`` of them is an error.
    """
    fakes_w2 = response.reco_w2 - response.matrix_w2.sum(axis=1)
    misses_w2 = response.truth_w2 - response.matrix_w2.sum(axis=0)
    results, failures = [], []
    for _ in range(n_toys):
        replica = copy.copy(response)
        replica.matrix = fluctuate(response.matrix, response.matrix_w2, rng)
        replica.reco = replica.matrix.sum(axis=1) + fluctuate(response.fakes, fakes_w2, rng)
        replica.truth = replica.matrix.sum(axis=0) + fluctuate(response.misses, misses_w2, rng)
        try:
            results.append(unfold_values(replica))
        except UnfoldingError as error:
            failures.append(str(error))
    if len(failures) > max_failed_fraction * n_toys:
        raise UnfoldingError(
            f"{len(failures)} of {n_toys} response replicas cannot be unfolded "
            f"(first: {failures[0]}); the response has too few simulated events per bin"
        )
    return _sample_covariance(np.array(results))


def bootstrap_covariance(
    statistic: Callable[[np.ndarray], np.ndarray],
    n_events: int,
    n_replicas: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Covariance of ``statistic(weights)`` over Poisson(1) event-weight replicas (bootstrap)."""
    return _sample_covariance(
        np.array(
            [statistic(rng.poisson(1.0, n_events).astype(np.float64)) for _ in range(n_replicas)]
        )
    )
