"""SVD unfolding in numpy (Höcker & Kartvelishvili, NIM A372 (1996) 469, hep-ph/9509307).

The implementation follows the paper with the conventions of ROOT's
``TSVDUnfold`` (so that both agree to rounding, see ``tests/test_unfolding_root.py``):

1. the unknowns are the weights ``w_j = x_j / xini_j`` relative to the MC truth
   ``xini`` and the response matrix holds event counts ``A[reco, truth]`` (§2.2,
   eq. 10), so ``b = A w``;
2. the system is rescaled by the measured covariance ``B = Q diag(r²) Qᵀ``:
   ``Ã = diag(1/r) Qᵀ A``, ``b̃ = diag(1/r) Qᵀ b`` (eqs. 32–34); components with
   zero variance are dropped;
3. regularisation by the discrete second derivative ``C`` of the weights
   (eq. 26; TSVDUnfold's ``FillCurvatureMatrix``, first and last diagonal
   elements -1, and ``1e-5`` added on the diagonal so that C is invertible);
   on a grid of several axes (m_tt × pT_t, flattened C-order) the second
   differences are taken along each axis, never across the end of a row
   (:func:`curvature_matrix`);
4. ``Ã C⁻¹ = U S Vᵀ`` (eq. 36) and the rotated measurement ``d = Uᵀ b̃`` (eq. 38);
5. Tikhonov damping with ``τ = s_k²``: ``z_i = d_i s_i / (s_i² + τ)`` (eqs. 40–44;
   singular values below ``1e-12 s_1`` are clamped to it);
6. ``w = C⁻¹ V z`` and ``x = xini · w`` (eq. 46); the covariance is
   ``X_τ = diag(xini) C⁻¹ V diag(s_i²/(s_i²+τ)²) Vᵀ C⁻¹ diag(xini)`` (eq. 47),
   TSVDUnfold's ``GetXtau``; ``GetXinv`` is ``(ÃᵀÃ)_ij / (xini_i xini_j)``.

Choosing ``k``: see :mod:`unfolding.regularisation`.
"""

from __future__ import annotations

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.result import UnfoldResult
from unfolding.validation import check_svd_inputs

CURVATURE_EPSILON = 1e-5
"""Added to the curvature matrix's diagonal to make it invertible (TSVDUnfold)."""

SINGULAR_VALUE_FLOOR = 1e-12
"""Singular values below this fraction of the largest are clamped to it (TSVDUnfold)."""


def curvature_matrix(shape: int | tuple[int, ...]) -> np.ndarray:
    """The second-derivative operator C of §2.5 (eq. 26) with TSVDUnfold's boundary rows.

    For ``shape`` an int (or one axis) this is TSVDUnfold's matrix. On a grid of several axes
    (flattened in C order) the penalty is the sum over axes of the squared second
    differences along that axis, ``|C w|² = Σ_a |C_a w|²`` with ``C_a`` the 1-D operator
    acting along axis ``a`` (a Kronecker product with identities), so the last bin of one
    m_tt row and the first of the next are not neighbours; ``C = (Σ_a C_aᵀ C_a)^½`` is its
    symmetric root (the SVD solution depends on ``CᵀC`` only). Axes with one bin have no
    second difference and add nothing.
    """
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(int(n) for n in shape)
    long_axes = [a for a, n in enumerate(shape) if n > 1]
    if len(long_axes) <= 1:
        return _curvature_1d(int(np.prod(shape)))
    squared = np.zeros((int(np.prod(shape)),) * 2)
    for axis in long_axes:
        factors = [np.eye(n) for n in shape]
        factors[axis] = _curvature_1d(shape[axis])
        along = factors[0]
        for factor in factors[1:]:
            along = np.kron(along, factor)
        squared += along.T @ along
    eigenvalues, vectors = np.linalg.eigh(squared)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def _curvature_1d(n: int) -> np.ndarray:
    """TSVDUnfold's ``FillCurvatureMatrix`` plus :data:`CURVATURE_EPSILON` on the diagonal."""
    if n == 1:
        c = np.ones((1, 1))
    else:
        c = -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
        c[0, 0] = c[-1, -1] = -1.0
    return c + CURVATURE_EPSILON * np.eye(n)


def rescale_by_covariance(
    matrix: np.ndarray, measured: np.ndarray, covariance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate and scale the system so the measured covariance becomes the identity (eqs. 32–34)."""
    variances, rotation = np.linalg.eigh(covariance)
    if variances.min(initial=0.0) < -1e-9 * max(variances.max(initial=0.0), 1e-300):
        raise UnfoldingError("measured covariance is not positive semi-definite")
    keep = variances > 0
    inverse_sigma = np.divide(
        1.0, np.sqrt(np.where(keep, variances, 1.0)), where=keep, out=np.zeros_like(variances)
    )
    rotation_t = rotation.T * inverse_sigma[:, None]
    return rotation_t @ matrix, rotation_t @ measured


def svd_unfold(
    measured, covariance, matrix, truth, k: int, shape: tuple[int, ...] | None = None
) -> UnfoldResult:
    """Unfold ``measured`` with response ``matrix[reco, truth]`` (counts) and MC ``truth``.

    ``measured`` is the fake-subtracted spectrum, ``covariance`` its covariance
    matrix or a vector of variances. ``k`` (1 ≤ k ≤ n) sets ``τ = s_k²``;
    ``k = n`` is nearly the unregularised inverse. ``shape`` is the grid the
    flattened bins come from (the curvature along each axis,
    :func:`curvature_matrix`); None: one axis. Returns the unfolded spectrum with ``X_τ``.
    """
    return solve_svd(*check_svd_inputs(measured, covariance, matrix, truth, k), shape)


def solve_svd(
    measured: np.ndarray,
    covariance: np.ndarray,
    matrix: np.ndarray,
    truth: np.ndarray,
    k: int,
    shape: tuple[int, ...] | None = None,
) -> UnfoldResult:
    """:func:`svd_unfold` on inputs already checked by :func:`check_svd_inputs`."""
    n = len(truth)
    shape = (n,) if shape is None else tuple(shape)
    if int(np.prod(shape)) != n:
        raise UnfoldingError(f"grid shape {shape} does not hold the {n} bins unfolded")
    c_inv = np.linalg.inv(curvature_matrix(shape))
    scaled_matrix, scaled_measured = rescale_by_covariance(matrix, measured, covariance)
    u, s, vt = np.linalg.svd(scaled_matrix @ c_inv)
    d = u.T @ scaled_measured
    s_reg = np.maximum(s, s[0] * SINGULAR_VALUE_FLOOR)
    tau = s[k - 1] ** 2
    damping = s_reg / (s_reg**2 + tau)
    regularised = c_inv @ vt.T
    weights = regularised @ (damping * d)
    unfolded = weights * truth

    weight_covariance = (regularised * damping**2) @ regularised.T
    covariance_unfolded = truth[:, None] * weight_covariance * truth[None, :]
    inverse = (scaled_matrix.T @ scaled_matrix) / np.outer(truth, truth)
    return UnfoldResult(
        unfolded=unfolded,
        covariance=covariance_unfolded,
        algorithm="svd",
        regularisation=k,
        backend="numpy",
        diagnostics={
            "d": np.abs(d),
            "singular_values": s,
            "tau": float(tau),
            "inverse_covariance": inverse,
        },
    )
