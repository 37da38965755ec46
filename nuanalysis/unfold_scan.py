"""Unfolding methods compared at equal bias: uncertainty and closure bias for every
regularisation (SVD k, TUnfold τ or the number of D'Agostini iterations).

A per-bin uncertainty means little without the bias that comes with it: a
stronger regularisation (smaller SVD k, larger τ, fewer iterations) lowers the one and
raises the other. For each method and each value (:func:`scan_values`) the study unfolds
the independent (odd) half x
with the response of the even half (:mod:`nuanalysis.unfold_study`) and
compares it with the odd half's own truth t:

- mean relative uncertainty: the mean over bins of σ_b / x_b (the unfolded
  covariance);
- bias: the root-mean-square over bins of the relative bias, estimated as
  √max(0, mean_b [(x_b − t_b)² − V_b] / t_b²), where V_b is the variance of
  x_b − t_b over Poisson bootstrap replicas of the odd events (each event
  weighted by a Poisson(1) count, its reco and truth together). x − t
  fluctuates even without bias — the regularised x follows the Monte Carlo's
  shape while t carries the pseudo-data's own statistical fluctuations — and
  subtracting V_b leaves an unbiased estimate of the squared bias, averaged
  over the bins before the root so that noise alone gives about 0;
- the closure χ² = (x − t)ᵀ V⁻¹ (x − t) with the bootstrap covariance V: about
  the number of bins when the closure is consistent with zero bias.

Plotted as uncertainty against bias, one curve per method parametrised by k
(:func:`nuanalysis.plotting.plot_bias_uncertainty`), the method whose curve
lies lower gives the smaller uncertainty at equal bias. The value with the
smallest total √(uncertainty² + bias²) is reported for each method (the equal-bias rule).

In a closure split the pseudo-data share the Monte Carlo's truth shape, so the
regularisation bias towards that shape is small by construction; ``stress``
(:func:`stress_weights`) reweights the pseudo-data by (m_tt / ⟨m_tt⟩)^stress at
truth level to expose it (Höcker & Kartvelishvili, NIM A 372 (1996) 469;
https://arxiv.org/abs/hep-ph/9509307). The scan runs in numpy (for SVD: the curvature on
the grid), whatever backend unfolds the reported result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nuanalysis.oversampling import fill_oversampled, oversampled_template
from nuanalysis.variations import pair_shift
from unfolding import Response, UnfoldingError, relative_uncertainty, tikhonov_problem, unfold
from unfolding.api import PARAMETERS


@dataclass(frozen=True)
class KScan:
    """Per regularisation value (``parameter``: ``k``, ``tau`` or ``iterations``): mean
    relative uncertainty, RMS relative bias and the closure χ² (module docstring)."""

    values: tuple[float, ...]
    mean_rel_uncertainty: tuple[float, ...]
    rms_bias: tuple[float, ...]
    closure_chi2: tuple[float, ...]
    mean_rel_uncertainty_total: tuple[float, ...]  # ⊕ the response's MC stat ⊕ the systematics
    rms_bias_error: tuple[float, ...]
    mean_rel_systematic: tuple[float, ...]  # the detector variations' shifts, added in quadrature
    parameter: str = "k"

    @property
    def best(self) -> float:
        """The value with the smallest √(uncertainty² + bias²) (the equal-bias rule), the
        uncertainty including the response's MC statistics."""
        total = np.hypot(self.mean_rel_uncertainty_total, self.rms_bias)
        return self.values[int(np.argmin(total))]

    def nearest(self, value: float) -> float:
        """The scanned value closest to ``value`` (in log for τ)."""
        values = np.asarray(self.values, dtype=np.float64)
        distance = (
            np.abs(np.log(values / value)) if self.parameter == "tau" else abs(values - value)
        )
        return self.values[int(np.argmin(distance))]

    def at(self, value: float) -> dict[str, float]:
        i = self.values.index(value)
        return {
            "mean_rel_uncertainty": self.mean_rel_uncertainty[i],
            "mean_rel_uncertainty_total": self.mean_rel_uncertainty_total[i],
            "rms_bias": self.rms_bias[i],
            "rms_bias_error": self.rms_bias_error[i],
            "mean_rel_systematic": self.mean_rel_systematic[i],
            "closure_chi2": self.closure_chi2[i],
        }

    def to_dict(self) -> dict:
        return {
            **{
                key: value if isinstance(value, str) else list(value)
                for key, value in asdict(self).items()
            },
            "best": self.best,
        }


BAYES_ITERATION_SCAN = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32, 40, 50)
"""The D'Agostini iterations scanned."""

TAU_SCAN_POINTS = 12
"""τ values scanned, log-spaced over :meth:`unfolding.TikhonovProblem.tau_grid`."""


def scan_values(algorithm: str, response: Response) -> tuple[float, ...]:
    """The regularisation values scanned: SVD k = 1 … number of bins; D'Agostini
    :data:`BAYES_ITERATION_SCAN`; TUnfold τ on a log grid around where the data and the
    curvature weigh alike for ``response`` (with its own reco spectrum as the measurement)."""
    if algorithm == "svd":
        return tuple(range(1, response.n_bins + 1))
    if algorithm == "bayes":
        return BAYES_ITERATION_SCAN
    signal = response.matrix.sum(axis=1)
    problem = tikhonov_problem(response, signal, np.maximum(signal, 1.0))
    return tuple(float(t) for t in problem.tau_grid(TAU_SCAN_POINTS))


BOOTSTRAP_REPLICAS = 100


@dataclass
class ClosureSplit:
    """One method's closure split: the even entries that fill the response and the odd
    entries (the pseudo-data) it unfolds.

    Even entries: ``reco`` (n_even, S) per axis (one column for a point, the draws of a
    posterior, :mod:`nuanalysis.oversampling`), ``truth`` (n_even,) per axis, ``weight``,
    ``valid``. Odd entries: ``fractions`` (n_odd, n_bins), each event's weight over the reco
    bins, and ``truth_fractions`` over the truth bins.
    """

    axes: tuple
    reco: tuple[np.ndarray, ...]
    truth_values: tuple[np.ndarray, ...]
    weight: np.ndarray
    valid: np.ndarray
    fractions: np.ndarray
    truth_fractions: np.ndarray
    valid_fraction: float

    def response(self, multiplier: np.ndarray | None = None) -> Response:
        """The response of the even entries, their weights times ``multiplier`` (a replica)."""
        weight = self.weight if multiplier is None else self.weight * multiplier
        return fill_oversampled(
            Response(*self.axes), self.reco, self.truth_values, weight, self.valid
        )

    @property
    def measured(self) -> tuple[np.ndarray, np.ndarray]:
        """The pseudo-data's reco spectrum and its covariance."""
        return oversampled_template(self.fractions)

    @property
    def truth(self) -> np.ndarray:
        return self.truth_fractions.sum(axis=0)


def scan_regularisation(
    split: ClosureSplit,
    algorithm: str = "svd",
    values: tuple[float, ...] | None = None,
    replicas: int = BOOTSTRAP_REPLICAS,
    rng: np.random.Generator | None = None,
    varied: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> KScan:
    """:class:`KScan` of the unfoldings of the split's pseudo-data with its response by
    ``algorithm`` at each of ``values`` (default :func:`scan_values`). The bootstrap replicas
    reweight the events of both halves by Poisson(1) counts: the response's statistics enter V
    as much as the pseudo-data's. ``varied`` maps detector variations
    (:mod:`nuanalysis.variations`) to their pseudo-data spectrum and covariance: each is
    unfolded with the nominal response and its shift added to the total."""
    rng = np.random.default_rng(0) if rng is None else rng
    response = split.response()
    values = scan_values(algorithm, response) if values is None else tuple(values)
    parameter = PARAMETERS[algorithm]
    truth = split.truth
    filled = truth > 0
    if not filled.any():
        raise UnfoldingError("the pseudo-data truth is empty: no closure to measure")
    measured, covariance = split.measured
    counts = rng.poisson(1.0, (replicas, len(split.fractions))).astype(np.float64)
    replica_measured, replica_truth = counts @ split.fractions, counts @ split.truth_fractions
    replica_responses = [
        split.response(rng.poisson(1.0, len(split.weight)).astype(np.float64))
        for _ in range(replicas)
    ]
    rows = []
    for value in values:
        setting = {"algorithm": algorithm, parameter: value}
        result = unfold(response, measured, covariance, **setting)
        difference = result.unfolded - truth
        spread, response_spread = [], []
        for r, m, t in zip(replica_responses, replica_measured, replica_truth, strict=True):
            try:
                spread.append(unfold(r, m, covariance, **setting).unfolded - t)
                response_spread.append(unfold(r, measured, covariance, **setting).unfolded)
            except UnfoldingError:  # a replica whose response lost a bin: leave it out
                continue
        if len(spread) < replicas // 2:
            raise UnfoldingError(
                f"{parameter} = {value:g}: {replicas - len(spread)} of {replicas} bootstrap "
                "replicas could not be unfolded; too few events per bin for the bias estimate"
            )
        variance = np.atleast_2d(np.cov(np.array(spread), rowvar=False))  # (1, 1) for one bin
        response_variance = np.atleast_2d(np.cov(np.array(response_spread), rowvar=False))
        uncertainty = relative_uncertainty(result.unfolded, result.covariance)
        shifts = {
            variation: unfold(response, *spectrum, **setting).unfolded - result.unfolded
            for variation, spectrum in (varied or {}).items()
        }
        systematic = sum((s**2 for s in pair_shift(shifts).values()), np.zeros(len(truth)))
        total = relative_uncertainty(
            result.unfolded, result.covariance + response_variance + np.diag(systematic)
        )
        relative_systematic = relative_uncertainty(result.unfolded, np.diag(systematic))
        bias, bias_error = rms_bias(difference[filled], np.diag(variance)[filled], truth[filled])
        rows.append(
            (
                value,
                float(np.mean(uncertainty)),
                bias,
                float(difference @ np.linalg.pinv(variance) @ difference),
                float(np.mean(total)),
                bias_error,
                float(np.mean(relative_systematic)),
            )
        )
    return KScan(*(tuple(column) for column in zip(*rows, strict=True)), parameter=parameter)


def rms_bias(
    difference: np.ndarray, variance: np.ndarray, truth: np.ndarray
) -> tuple[float, float]:
    """The RMS relative bias b = √max(0, mean_b (d_b² − V_b) / t_b²) and its uncertainty.

    For a Gaussian d_b of mean μ_b and variance V_b, Var(d_b²) = 2 V_b² + 4 μ_b² V_b (μ_b²
    estimated by max(d_b² − V_b, 0)); bins are taken as independent, so
    σ(b²) = √(Σ_b Var(d_b²) / t_b⁴) / n and σ(b) = σ(b²) / 2b, or √σ(b²) where b is 0
    (the bias that noise alone could hide).
    """
    squared_bias = np.maximum(difference**2 - variance, 0.0)
    b2 = max(float(np.mean((difference**2 - variance) / truth**2)), 0.0)
    spread = np.sqrt(np.sum((2 * variance**2 + 4 * squared_bias * variance) / truth**4))
    spread /= len(difference)
    b = np.sqrt(b2)
    return float(b), float(spread / (2 * b) if b > np.sqrt(spread) else np.sqrt(spread))


def stress_weights(mtt_true: np.ndarray, stress: float) -> np.ndarray:
    """(m_tt / ⟨m_tt⟩)^stress: pseudo-data with a harder (> 0) or softer (< 0) m_tt spectrum."""
    if stress == 0:
        return np.ones_like(mtt_true)
    return (mtt_true / np.mean(mtt_true)) ** stress


def format_scan(scans: dict[str, KScan], reference: str) -> str:
    """Per method and regularisation value: mean σ/x and RMS bias (%), closure χ², and at each
    method's equal-bias choice the ratio of σ/x to the reference's."""
    names = list(scans)
    first = scans[names[0]]
    lines = [
        "equal-bias comparison (in numpy whatever the backend; SVD with the curvature on the "
        "grid): mean per-bin σ/x (stat ⊕ response MC stat ⊕ syst) | RMS bias ± error (%) | "
        "closure χ²",
        f"{first.parameter:>10} " + "".join(f"{name:>30}" for name in names),
    ]
    for i, value in enumerate(first.values):
        cells = [
            f"{100 * s.mean_rel_uncertainty_total[i]:>6.1f} | {100 * s.rms_bias[i]:>5.1f} ± "
            f"{100 * s.rms_bias_error[i]:<4.1f}| {s.closure_chi2[i]:>6.1f}"
            for s in scans.values()
        ]
        lines.append(f"{value:>10.3g} " + "".join(f"{cell:>30}" for cell in cells))
    for name, scan in scans.items():
        best = scan.best
        line = f"{name}: smallest √(σ² + bias²) at {scan.parameter} = {best:.3g}: " + ", ".join(
            f"{key} {value:.3f}" for key, value in scan.at(best).items()
        )
        if reference in scans and name != reference:
            ratio = scan.at(best)["mean_rel_uncertainty_total"]
            ratio /= scans[reference].at(best)["mean_rel_uncertainty_total"]
            line += f", σ/x over {reference}'s at that {scan.parameter} {ratio:.2f}"
        lines.append(line)
    return "\n".join(lines)
