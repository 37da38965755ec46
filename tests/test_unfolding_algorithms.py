"""TUnfold-like Tikhonov unfolding and D'Agostini iterations against independent references.

TUnfold's own code (libUnfold) is not in the PyPI ROOT, so :mod:`unfolding.tunfold` is checked
against ``scipy.linalg.lstsq`` solving the same Tikhonov problem as one stacked least-squares
system (the area constraint by the null-space method): a different algorithm for the same
minimum. The iterative Bayesian unfolding is checked against ``pyunfold``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import unfolding as U
from unfolding.tunfold import TikhonovProblem, curvature_rows

SHAPE = (4, 3)


def toy(seed: int = 2, n: int = 12):
    """A migration matrix with efficiencies 0.5–0.9, MC truth counts and Poisson data."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(300.0, 3000.0, n)
    probability = np.eye(n) * 0.6 + 0.05 * rng.uniform(size=(n, n))
    probability *= rng.uniform(0.5, 0.9, n) / probability.sum(axis=0)
    matrix = probability * truth[None, :]
    data = rng.poisson(1.1 * matrix.sum(axis=1)).astype(float)
    return probability, matrix, truth, data, rng


def lstsq_tikhonov(problem: TikhonovProblem, measured: np.ndarray, tau: float) -> np.ndarray:
    """min |V^-½ (y − A x)|² + τ² |L (x − x_b)|² [Σ A x = Σ y] by scipy's least squares."""
    whiten = np.diag(1.0 / np.sqrt(np.diag(problem.covariance)))
    system = np.vstack([whiten @ problem.probability, tau * problem.regularisation])
    target = np.concatenate([whiten @ measured, tau * problem.regularisation @ problem.bias])
    if not problem.area_constraint:
        return scipy.linalg.lstsq(system, target)[0]
    constraint = problem.probability.sum(axis=0)[None, :]
    free = scipy.linalg.null_space(constraint)
    particular = scipy.linalg.lstsq(constraint, [measured.sum()])[0]
    return particular + free @ scipy.linalg.lstsq(system @ free, target - system @ particular)[0]


@pytest.mark.parametrize("area_constraint", [False, True])
def test_tunfold_is_the_least_squares_minimum_and_its_linear_covariance(area_constraint):
    _, matrix, truth, data, rng = toy()
    widths = rng.uniform(1.0, 3.0, len(truth))
    problem = TikhonovProblem.build(
        data, data, matrix, truth, SHAPE, widths, 0.9 * truth, area_constraint
    )
    for tau in problem.tau_scale * np.array([0.01, 0.3, 3.0]):
        result = problem.solve(tau)
        np.testing.assert_allclose(result.unfolded, lstsq_tikhonov(problem, data, tau), rtol=1e-6)
        # x is affine in y: the covariance is J V Jᵀ with J from unit shifts of y
        base = lstsq_tikhonov(problem, data, tau)
        jacobian = np.array(
            [lstsq_tikhonov(problem, data + e, tau) - base for e in np.eye(len(data))]
        ).T
        np.testing.assert_allclose(
            result.covariance, jacobian @ np.diag(data) @ jacobian.T, rtol=1e-6, atol=1e-6
        )
        folded = problem.probability @ result.unfolded
        if area_constraint:
            assert folded.sum() == pytest.approx(data.sum(), rel=1e-12)


def test_curvature_rows_follow_each_axis_of_the_grid():
    rows = curvature_rows(SHAPE)
    assert rows.shape == (2 * 3 + 4 * 1, 12)  # interior bins along m_tt, then along pT_t
    i, j = np.indices(SHAPE)
    plane = (2.0 + 0.5 * i - 0.25 * j).ravel()  # linear along each axis: no curvature
    np.testing.assert_allclose(rows @ plane, 0.0, atol=1e-12)
    bowl = (i**2).ravel().astype(float)  # curved along m_tt only
    np.testing.assert_allclose(rows @ bowl, [2.0] * 6 + [0.0] * 4)
    assert curvature_rows((2, 2)).shape == (0, 4)


def test_tunfold_limits_and_tau_rules():
    probability, matrix, truth, data, _ = toy(5)
    free = TikhonovProblem.build(data, data, matrix, truth, SHAPE, area_constraint=False)
    np.testing.assert_allclose(
        free.solve(0.0).unfolded, np.linalg.solve(probability, data), rtol=1e-8
    )  # τ = 0: the inverse
    problem = TikhonovProblem.build(data, data, matrix, truth, SHAPE)
    taus = problem.tau_grid()
    for rule in (U.tau_from_l_curve, U.tau_minimum_global_correlation):
        tau = rule(problem, taus)
        assert taus[1] < tau < taus[-2]
    weak, strong = problem.solve(taus[0]), problem.solve(taus[-1])
    assert np.mean(strong.uncertainty) < np.mean(weak.uncertainty)
    assert strong.diagnostics["chi2_l"] < weak.diagnostics["chi2_l"]
    with pytest.raises(U.UnfoldingError, match="τ must be"):
        problem.solve(-1.0)


def test_unfold_api_runs_tunfold_on_a_response_grid():
    _, matrix, truth, data, _ = toy(9)
    response = U.Response((0, 1, 2, 4, 8), (0, 1, 3, 6))
    response.matrix, response.truth = matrix, truth
    response.reco = matrix.sum(axis=1)
    result = U.unfold(response, data, algorithm="tunfold", tau=1e-3)
    problem = U.tikhonov_problem(response, data, data)
    np.testing.assert_allclose(result.unfolded, lstsq_tikhonov(problem, data, 1e-3), rtol=1e-6)
    assert result.algorithm == "tunfold" and result.regularisation == 1e-3
    with pytest.raises(U.UnfoldingError, match="τ"):
        U.unfold(response, data, algorithm="tunfold")


@pytest.mark.parametrize("iterations", [1, 3, 8])
def test_bayes_agrees_with_pyunfold(iterations):
    """D'Agostini's iterations give pyunfold's spectrum to 1e-6; the covariance is the exact
    linear propagation (finite differences to 1e-6). pyunfold's own stat_err differs at the
    1e-3 level after more than one iteration (its propagation is not the full Jacobian)."""
    pyunfold = pytest.importorskip("pyunfold")
    probability, matrix, truth, data, _ = toy(11)
    ours = U.bayes_unfold(data, data, matrix, truth, iterations)
    theirs = pyunfold.iterative_unfold(
        data=data,
        data_err=np.sqrt(data),
        response=probability,
        response_err=np.zeros_like(probability),
        efficiencies=probability.sum(axis=0),
        efficiencies_err=np.zeros(len(truth)),
        prior=truth / truth.sum(),
        ts_stopping=-1.0,  # never stop early: exactly max_iter iterations
        max_iter=iterations,
        cov_type="poisson",
    )
    assert theirs["num_iterations"] == iterations
    np.testing.assert_allclose(ours.unfolded, theirs["unfolded"], rtol=1e-6)
    step = 1e-3

    def unfolded(shift):
        return U.bayes_unfold(data + shift, data, matrix, truth, iterations).unfolded

    jacobian = np.array(
        [(unfolded(step * e) - unfolded(-step * e)) / (2 * step) for e in np.eye(12)]
    )
    np.testing.assert_allclose(
        ours.covariance, jacobian.T @ np.diag(data) @ jacobian, rtol=1e-6, atol=1e-6
    )
