"""The SVD curvature on the m_tt × pT_t grid: second differences along each axis, none across
the end of a row of the flattened bins (Höcker & Kartvelishvili eq. 26, per axis)."""

from __future__ import annotations

import numpy as np
import pytest

import unfolding as U
from unfolding.svd import CURVATURE_EPSILON, curvature_matrix

SHAPE = (4, 3)  # m_tt × pT_t, flattened m_tt-major


def second_differences(line: np.ndarray) -> np.ndarray:
    """TSVDUnfold's curvature rows written out: first differences at both ends, w_{i-1} − 2 w_i
    + w_{i+1} inside, plus ε w_i."""
    n = len(line)
    out = np.empty(n)
    out[0], out[-1] = line[1] - line[0], line[-2] - line[-1]
    out[1:-1] = line[:-2] - 2 * line[1:-1] + line[2:]
    return out + CURVATURE_EPSILON * line


def grid_penalty(weights: np.ndarray) -> float:
    """Σ over m_tt columns and pT_t rows of the squared second differences along them."""
    grid = weights.reshape(SHAPE)
    along_mtt = sum(np.sum(second_differences(grid[:, j]) ** 2) for j in range(SHAPE[1]))
    along_ptt = sum(np.sum(second_differences(grid[i, :]) ** 2) for i in range(SHAPE[0]))
    return float(along_mtt + along_ptt)


def test_the_grid_penalty_is_the_sum_of_the_penalties_along_each_axis():
    curvature = curvature_matrix(SHAPE)
    np.testing.assert_allclose(curvature, curvature.T, atol=1e-12)
    for weights in np.random.default_rng(3).normal(size=(5, 12)):
        assert np.sum((curvature @ weights) ** 2) == pytest.approx(grid_penalty(weights), 1e-9)


def test_a_step_between_mtt_rows_is_not_a_curvature_along_pt():
    """Weights constant along pT_t within each m_tt row: the grid sees only the m_tt shape; the
    flattened 1-D operator also counts the jump from the end of one row to the next."""
    rows = np.array([1.0, 1.3, 1.4, 1.2])
    weights = np.repeat(rows, SHAPE[1])
    along_ptt = sum(np.sum(second_differences(np.full(SHAPE[1], row)) ** 2) for row in rows)
    assert along_ptt < 1e-8  # only the ε on the diagonal
    expected = SHAPE[1] * np.sum(second_differences(rows) ** 2) + along_ptt
    assert np.sum((curvature_matrix(SHAPE) @ weights) ** 2) == pytest.approx(expected, 1e-9)
    flattened = np.sum((curvature_matrix(12) @ weights) ** 2)
    assert abs(flattened - expected) > 0.5 * expected


def test_one_axis_is_tsvdunfolds_matrix():
    tsvd = -2.0 * np.eye(5) + np.eye(5, k=1) + np.eye(5, k=-1)
    tsvd[0, 0] = tsvd[-1, -1] = -1.0
    np.testing.assert_array_equal(curvature_matrix(5), tsvd + CURVATURE_EPSILON * np.eye(5))
    np.testing.assert_array_equal(curvature_matrix((1, 5)), curvature_matrix(5))


def test_unfold_regularises_a_2d_response_along_its_axes():
    rng = np.random.default_rng(7)

    def sample(n: int):
        true = (300.0 + rng.exponential(250.0, n), rng.exponential(100.0, n))
        return tuple(t * (1.0 + 0.15 * rng.normal(size=n)) for t in true), true

    response = U.Response((300, 450, 600, 800, 1200), (0, 100, 200, 400)).fill(*sample(40000))
    reco, true = sample(10000)
    measured, w2 = response.spectrum(reco, weight=true[0] / 600.0)  # a harder m_tt spectrum
    grid = U.unfold(response, measured, w2, k=4, backend="numpy")
    signal = U.subtract_fakes(response, measured)
    by_grid = U.svd_unfold(signal, w2, response.matrix, response.truth, 4, SHAPE)
    flattened = U.svd_unfold(signal, w2, response.matrix, response.truth, 4)
    np.testing.assert_allclose(grid.unfolded, by_grid.unfolded, rtol=1e-12)
    assert np.max(np.abs(grid.unfolded - flattened.unfolded) / grid.uncertainty) > 0.01
    assert U.SVD_BACKENDS["numpy"].grid_curvature
    assert not U.SVD_BACKENDS["root"].grid_curvature
    with pytest.raises(U.UnfoldingError, match="grid shape"):
        U.svd_unfold(signal, w2, response.matrix, response.truth, 4, (5, 3))
