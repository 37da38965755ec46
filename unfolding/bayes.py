"""Iterative Bayesian unfolding (G. D'Agostini, NIM A362 (1995) 487), the cross-check of SVD.

With migration probabilities ``P_ij = A_ij / xini_j`` (columns summing to the
efficiency ``ε_j``) and a prior ``x⁰`` (the MC truth), each iteration applies
Bayes' theorem (D'Agostini eq. 4) and re-estimates the truth (eq. 6):

    M_ji = P_ij x_j / Σ_l P_il x_l,        x_j ← (1/ε_j) Σ_i M_ji b_i.

The covariance is propagated through the iterations with the full Jacobian
``J = ∂x/∂b`` (the prior does not depend on b, so ``J⁰ = 0``), as in
Adye's RooUnfoldBayes: ``J ← M/ε + (∂x_new/∂x_old) J``, and ``cov = J V_b Jᵀ``.
The response's own statistical uncertainty is not included here (see
:func:`unfolding.uncertainties.response_toys_covariance`).
"""

from __future__ import annotations

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.result import UnfoldResult
from unfolding.validation import as_covariance, as_vector, check_response


def bayes_unfold(measured, covariance, matrix, truth, iterations: int = 4) -> UnfoldResult:
    """``iterations`` D'Agostini iterations from the MC truth prior, with propagated covariance."""
    matrix, truth = check_response(matrix, truth)
    n = len(truth)
    measured = as_vector(measured, n, "measured spectrum")
    covariance = as_covariance(covariance, n)
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 1:
        raise UnfoldingError(
            f"the number of iterations must be a positive integer, got {iterations!r}"
        )

    probability = matrix / truth[None, :]
    efficiency = probability.sum(axis=0)
    x = truth.copy()
    jacobian = np.zeros((n, n))
    for _ in range(int(iterations)):
        expected = probability @ x
        populated = expected > 0
        inverse_expected = np.divide(1.0, expected, out=np.zeros(n), where=populated)
        unfolding_matrix = (probability * x[None, :] * inverse_expected[:, None]).T / efficiency[
            :, None
        ]
        x_new = unfolding_matrix @ measured
        # ∂x_new_j / ∂x_m = δ_jm x_new_j / x_j − (1/ε_j) Σ_i b_i P_ij x_j P_im / u_i²
        weighted = measured * inverse_expected**2
        cross = (
            (probability * x[None, :]).T @ (weighted[:, None] * probability) / efficiency[:, None]
        )
        d_new_d_old = np.diag(np.divide(x_new, x, out=np.zeros(n), where=x != 0)) - cross
        jacobian = unfolding_matrix + d_new_d_old @ jacobian
        x = x_new
    return UnfoldResult(
        unfolded=x,
        covariance=jacobian @ covariance @ jacobian.T,
        algorithm="bayes",
        regularisation=int(iterations),
        backend="numpy",
        diagnostics={"jacobian": jacobian},
    )
