"""Checks shared by every unfolding algorithm: each failure names the bin at fault."""

from __future__ import annotations

import numpy as np

from unfolding.errors import UnfoldingError


def as_vector(values, n: int | None, what: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1 or (n is not None and vector.shape != (n,)):
        expected = "a 1-D array" if n is None else f"{n} bins"
        raise UnfoldingError(f"{what} has shape {vector.shape}, expected {expected}")
    if not np.isfinite(vector).all():
        raise UnfoldingError(
            f"{what} bin {int(np.flatnonzero(~np.isfinite(vector))[0])} is not finite"
        )
    return vector


def as_covariance(covariance, n: int, what: str = "measured covariance") -> np.ndarray:
    """An ``(n, n)`` symmetric matrix from a matrix or a vector of variances."""
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.ndim == 1:
        cov = np.diag(as_vector(cov, n, what))
    if cov.shape != (n, n):
        raise UnfoldingError(f"{what} has shape {cov.shape}, expected ({n}, {n})")
    if not np.isfinite(cov).all():
        raise UnfoldingError(f"{what} has non-finite entries")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=0.0):
        raise UnfoldingError(f"{what} is not symmetric")
    if (np.diag(cov) < 0).any():
        raise UnfoldingError(
            f"{what} has a negative variance in bin {int(np.flatnonzero(np.diag(cov) < 0)[0])}"
        )
    return cov


def check_non_negative(values: np.ndarray, what: str) -> None:
    if (values < 0).any():
        where = np.argwhere(values < 0)[0]
        raise UnfoldingError(f"{what} has negative counts at bin {tuple(int(i) for i in where)}")


def check_response(matrix, truth) -> tuple[np.ndarray, np.ndarray]:
    """The response ``A[reco, truth]`` and MC truth, or an error if they cannot be unfolded."""
    truth = as_vector(truth, None, "MC truth spectrum")
    n = len(truth)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (n, n):
        raise UnfoldingError(
            f"response matrix has shape {matrix.shape} but the truth spectrum {n} bins; "
            "reco and truth binnings must match and the matrix be (reco, truth)"
        )
    if not np.isfinite(matrix).all():
        raise UnfoldingError("response matrix has non-finite entries")
    check_non_negative(matrix, "response matrix")
    check_non_negative(truth, "MC truth spectrum")
    if (truth == 0).any():
        raise UnfoldingError(
            f"MC truth bin {int(np.flatnonzero(truth == 0)[0])} is empty: the unfolding rescales "
            "by the MC truth, so every truth bin needs entries (merge bins or use more simulation)"
        )
    never = matrix.sum(axis=0) == 0
    if never.any():
        raise UnfoldingError(
            f"singular response: truth bin {int(np.flatnonzero(never)[0])} is never reconstructed "
            "(efficiency 0)"
        )
    rank = np.linalg.matrix_rank(matrix / truth[None, :])
    if rank < n:
        raise UnfoldingError(f"singular response: the migration matrix has rank {rank} < {n} bins")
    return matrix, truth


def check_regularisation(k, n: int) -> int:
    """The SVD ``k`` as an int, or an error unless it is an integer in ``[1, n]``."""
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= n:
        raise UnfoldingError(f"regularisation k must be an integer in [1, {n}], got {k!r}")
    return int(k)


def check_svd_inputs(
    signal, covariance, matrix, truth, k
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The inputs of every SVD backend, checked and converted (:mod:`unfolding.svd_backend`)."""
    matrix, truth = check_response(matrix, truth)
    n = len(truth)
    signal = as_vector(signal, n, "measured spectrum")
    covariance = as_covariance(covariance, n)
    return signal, covariance, matrix, truth, check_regularisation(k, n)
