"""Tikhonov-regularised least squares as TUnfold does it (S. Schmitt, JINST 7 (2012) T10003).

The truth spectrum x (event counts, misses included) minimises (§3, eqs. 1–4)

    χ² = (y − A x)ᵀ V_yy⁻¹ (y − A x) + τ² (x − x_b)ᵀ Lᵀ L (x − x_b) [+ λ (Σ y − Σ A x)]

with ``A_ij = P(reco i | truth j)`` (columns summing to the efficiency), ``y`` the
fake-subtracted measurement, ``x_b`` the bias vector (TUnfold's ``SetBias``; zero unless
given) and ``L`` the regularisation: ``kRegModeCurvature`` along each axis of the binning, as
``TUnfoldBinning`` builds it — one row (1, −2, 1) per bin with a neighbour on both sides along
that axis, never across the end of a row of the flattened grid (:func:`curvature_rows`).
With ``density`` (TUnfoldDensity's bin-width mode) the curvature is that of x_j / w_j, the
counts over each bin's width (its area on a grid).

Without the area constraint, ``x = x_b + E Aᵀ V_yy⁻¹ (y − A x_b)`` with
``E = (Aᵀ V_yy⁻¹ A + τ² Lᵀ L)⁻¹`` (eq. 5); the area constraint (``kEConstraintArea``,
Σ_i (A x)_i = Σ_i y_i) adds the Lagrange term, ``x → x + E Aᵀ e (eᵀ y − eᵀ A x) / (eᵀ A E Aᵀ e)``.
x is linear in y, ``x = M y + c``, and ``V_xx = M V_yy Mᵀ`` (eq. 7).

τ (§3.4): :func:`tau_from_l_curve` — the point of largest curvature of the L-curve
(log χ²_A against log χ²_L, TUnfold's ``ScanLcurve``), or :func:`tau_minimum_global_correlation`
— the smallest mean global correlation of x (``ScanTau`` with ``kEScanTauRhoAvg``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.result import UnfoldResult
from unfolding.uncertainties import global_correlation
from unfolding.validation import as_covariance, as_vector, check_response

TAU_SCAN_POINTS = 60
"""Points of the log τ grid the L-curve and the global-correlation scans evaluate."""

TAU_SCAN_DECADES = (-4.0, 1.0)
"""The τ grid spans these powers of ten around τ₀ = √(tr(AᵀV⁻¹A) / tr(LᵀL)), where data
and regularisation weigh alike."""


def curvature_rows(shape: tuple[int, ...]) -> np.ndarray:
    """TUnfold's ``kRegModeCurvature`` on a grid (C-order flattening): for each axis and each
    bin with a neighbour on both sides along it, one row ``x_{i−1} − 2 x_i + x_{i+1}``.
    An axis with fewer than three bins adds no rows."""
    shape = tuple(int(n) for n in shape)
    n = int(np.prod(shape))
    index = np.arange(n).reshape(shape)
    rows = []
    for axis, length in enumerate(shape):
        centre = np.moveaxis(index, axis, 0)
        for i in range(1, length - 1):
            for low, mid, high in zip(
                centre[i - 1].ravel(), centre[i].ravel(), centre[i + 1].ravel(), strict=True
            ):
                row = np.zeros(n)
                row[[low, mid, high]] = (1.0, -2.0, 1.0)
                rows.append(row)
    return np.array(rows).reshape(-1, n)


@dataclass(frozen=True)
class TikhonovProblem:
    """One TUnfold problem (module docstring): the pieces every τ shares."""

    probability: np.ndarray  # A, reco × truth
    inverse_covariance: np.ndarray  # V_yy⁻¹ (pseudo-inverse)
    measured: np.ndarray  # y
    covariance: np.ndarray  # V_yy
    regularisation: np.ndarray  # L (density-scaled)
    bias: np.ndarray  # x_b
    area_constraint: bool

    @classmethod
    def build(
        cls,
        measured,
        covariance,
        matrix,
        truth,
        shape: tuple[int, ...] | None = None,
        widths=None,
        bias=None,
        area_constraint: bool = True,
    ) -> TikhonovProblem:
        """From the fake-subtracted ``measured``, its covariance, the response counts
        ``matrix[reco, truth]`` and the MC ``truth``; ``widths`` (per flattened bin) switch
        on the density mode."""
        matrix, truth = check_response(matrix, truth)
        n = len(truth)
        measured = as_vector(measured, n, "measured spectrum")
        covariance = as_covariance(covariance, n)
        shape = (n,) if shape is None else tuple(int(s) for s in shape)
        if int(np.prod(shape)) != n:
            raise UnfoldingError(f"grid shape {shape} does not hold the {n} bins unfolded")
        rows = curvature_rows(shape)
        if widths is not None:
            widths = as_vector(widths, n, "bin widths")
            if (widths <= 0).any():
                raise UnfoldingError("bin widths must be positive")
            rows = rows / widths[None, :]
        bias = np.zeros(n) if bias is None else as_vector(bias, n, "bias vector")
        return cls(
            probability=matrix / truth[None, :],
            inverse_covariance=np.linalg.pinv(covariance, hermitian=True),
            measured=measured,
            covariance=covariance,
            regularisation=rows,
            bias=bias,
            area_constraint=area_constraint,
        )

    @property
    def tau_scale(self) -> float:
        """τ₀ where the data and the regularisation terms weigh alike (:data:`TAU_SCAN_DECADES`)."""
        a, l = self.probability, self.regularisation
        data = np.trace(a.T @ self.inverse_covariance @ a)
        curvature = np.trace(l.T @ l)
        return float(np.sqrt(data / curvature)) if curvature > 0 else 1.0

    def tau_grid(self, points: int = TAU_SCAN_POINTS) -> np.ndarray:
        low, high = TAU_SCAN_DECADES
        return self.tau_scale * np.logspace(low, high, points)

    def linear_map(self, tau: float) -> tuple[np.ndarray, np.ndarray]:
        """(M, c) with x = M y + c at this τ (module docstring)."""
        if not np.isfinite(tau) or tau < 0:
            raise UnfoldingError(f"τ must be a finite non-negative number, got {tau!r}")
        a, v_inv, l = self.probability, self.inverse_covariance, self.regularisation
        lt_l = l.T @ l
        try:
            e = np.linalg.inv(a.T @ v_inv @ a + tau**2 * lt_l)
        except np.linalg.LinAlgError:
            raise UnfoldingError(
                f"τ = {tau:g}: AᵀV⁻¹A + τ²LᵀL is singular (a truth bin unconstrained)"
            ) from None
        d = e @ a.T @ v_inv
        m, c = d, self.bias - d @ a @ self.bias
        if self.area_constraint:
            folded = a.T @ np.ones(len(a))  # Aᵀ e
            scale = folded @ e @ folded
            # x ← x + E Aᵀe (eᵀy − eᵀA x) / (eᵀ A E Aᵀ e)
            m = m + np.outer(e @ folded, np.ones(len(a)) - folded @ m) / scale
            c = c - (e @ folded) * (folded @ c) / scale
        return m, c

    def solve(self, tau: float) -> UnfoldResult:
        m, c = self.linear_map(tau)
        x = m @ self.measured + c
        residual = self.measured - self.probability @ x
        curvature = self.regularisation @ (x - self.bias)
        return UnfoldResult(
            unfolded=x,
            covariance=m @ self.covariance @ m.T,
            algorithm="tunfold",
            regularisation=float(tau),
            backend="numpy",
            diagnostics={
                "tau": float(tau),
                "chi2_a": float(residual @ self.inverse_covariance @ residual),
                "chi2_l": float(curvature @ curvature),
            },
        )


def tunfold(
    measured,
    covariance,
    matrix,
    truth,
    tau: float,
    shape: tuple[int, ...] | None = None,
    widths=None,
    bias=None,
    area_constraint: bool = True,
) -> UnfoldResult:
    """Unfold the fake-subtracted ``measured`` at regularisation strength ``tau`` (module
    docstring); ``shape`` the grid of the flattened bins, ``widths`` their widths (density
    mode), ``bias`` x_b."""
    problem = TikhonovProblem.build(
        measured, covariance, matrix, truth, shape, widths, bias, area_constraint
    )
    return problem.solve(tau)


def tau_from_l_curve(problem: TikhonovProblem, taus: np.ndarray | None = None) -> float:
    """τ at the largest curvature of the L-curve (log χ²_A, log χ²_L) over log τ."""
    taus = problem.tau_grid() if taus is None else np.asarray(taus, dtype=np.float64)
    results = [problem.solve(tau) for tau in taus]
    x = np.log(np.maximum([r.diagnostics["chi2_a"] for r in results], 1e-300))
    y = np.log(np.maximum([r.diagnostics["chi2_l"] for r in results], 1e-300))
    t = np.log(taus)
    dx, dy = np.gradient(x, t), np.gradient(y, t)
    ddx, ddy = np.gradient(dx, t), np.gradient(dy, t)
    curvature = (dx * ddy - dy * ddx) / np.maximum((dx**2 + dy**2) ** 1.5, 1e-300)
    inner = slice(2, len(taus) - 2)  # the ends' differences are one-sided
    return float(taus[inner][int(np.argmax(curvature[inner]))])


def tau_minimum_global_correlation(
    problem: TikhonovProblem, taus: np.ndarray | None = None
) -> float:
    """τ with the smallest mean global correlation of the unfolded bins."""
    taus = problem.tau_grid() if taus is None else np.asarray(taus, dtype=np.float64)
    means = [float(np.mean(global_correlation(problem.solve(tau).covariance))) for tau in taus]
    return float(taus[int(np.argmin(means))])
