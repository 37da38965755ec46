"""The ``nuanalysis unfold`` study: unfold m_tt × pT_t with each method's neutrinos.

For every method (docs/figures.md, "Unfolding"):

1. reconstruct m_tt and pT_t with the method's neutrinos
   (:mod:`nuanalysis.observables`); method failures and events without two
   b-jet candidates are *misses*;
2. fill the response from the even entries of the sample (truth: the
   generator's tops; reco outside the binning is a miss, truth outside a fake);
3. unfold the reco spectrum of the odd entries (fakes subtracted) with the chosen
   algorithm — SVD (Höcker & Kartvelishvili; backends numpy, ROOT's TSVDUnfold or
   RooUnfoldSvd), TUnfold's Tikhonov least squares (Schmitt, JINST 7 (2012) T10003,
   :mod:`unfolding.tunfold`) or D'Agostini's iterations — and cross-check with D'Agostini
   (4 iterations);
4. report the per-bin relative uncertainty of the unfolded spectrum (analytic; with the
   response's own statistics from Poisson replicas of its events, and the detector
   systematics when given) and its
   ratio to the truth-neutrino result, and the equal-bias scan over the algorithm's
   regularisation (:mod:`nuanalysis.unfold_scan`).

The regularisation, unless given, is chosen once on the reference (truth-neutrino)
unfolding and used for every method, so that the uncertainty ratios compare
like with like. SVD ``k`` (:data:`K_RULES`): ``half`` (default) is k = n/2, the
default of RooUnfoldSvd — moderate regularisation; ``global-correlation``
the minimum mean global correlation
(:func:`unfolding.regularisation.k_minimum_global_correlation`, k in 2…n);
``d`` the number of leading |d_i| > 1
(:func:`unfolding.regularisation.k_from_d`). In this closure-like setup (the
MC truth has the data's shape) both data-driven rules are degenerate: the
|d_i| beyond the first are pure noise, so ``d`` gives k = 2 (uncertainties
that reflect the MC prior, not the method's resolution), and the global
correlation only falls with k, so ``global-correlation`` gives k ≈ n (the
nearly unregularised inverse, whose per-bin uncertainties are dominated by
the worst-resolved bins). Hence the fixed default. TUnfold's τ (:data:`TAU_RULES`): the
L-curve's corner (default), the minimum mean global correlation or the equal-bias rule;
D'Agostini's iterations: the equal-bias rule (the smallest √(σ² + bias²) of the closure
scan).

The truth method is always unfolded as the reference when the sample has
truth neutrinos.

Binning (:data:`MTT_EDGES` × :data:`PTT_EDGES`, 4 × 3 bins): the ATLAS-like
choice of the ν²-Flows study. Bins are flattened m_tt-major:
``index = i_mtt * n_ptt + i_ptt``. A sample too small for it (every bin of
every method's response needs ``min_bin_events``, :data:`MIN_BIN_EVENTS` by
default, and an invertible response) gets adjacent bins merged, the same for
every method (:func:`unfolding.binning.coarsen_responses`), with a warning
naming the edges removed and the sample size the requested binning needs; a result the
sample cannot support is flagged (:meth:`UnfoldStudy.degenerate_reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hist
import numpy as np

from nuanalysis.methods.registry import NeutrinoResult, check_applicable, reconstruct
from nuanalysis.observables import reco_observables, truth_observables
from nuanalysis.oversampling import draw_fractions, posterior_observables
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import Posterior
from nuanalysis.progress import progress_bar
from nuanalysis.unfold_scan import (
    ClosureSplit,
    KScan,
    format_scan,
    scan_regularisation,
    scan_values,
    stress_weights,
)
from nuanalysis.variations import pair_shift
from unfolding import (
    Response,
    UnfoldingError,
    UnfoldResult,
    bootstrap_covariance,
    get_backend,
    k_from_d,
    k_minimum_global_correlation,
    relative_uncertainty,
    resolve_backend,
    svd_unfold,
    tau_from_l_curve,
    tau_minimum_global_correlation,
    tikhonov_problem,
    unfold,
)
from unfolding.api import PARAMETERS, subtract_fakes
from unfolding.binning import Coarsening, coarsen_responses

MTT_EDGES = (300.0, 450.0, 600.0, 800.0, 1200.0)
"""m_tt bin edges in GeV."""

PTT_EDGES = (0.0, 100.0, 200.0, 400.0)
"""Top pT bin edges in GeV."""

MIN_BIN_EVENTS = 10
"""Fewest events a bin of every response must hold before bins are merged."""

RESPONSE_SAMPLE_FACTOR = 4.0
"""A response sample at least this many times the pseudo-data: its fluctuations then add
at most a quarter of the pseudo-data's variance to the closure difference."""

AXIS_NAMES = ("m_tt", "pT_t")

REFERENCE = "truth"
ALGORITHM_LABELS = {"svd": "SVD", "tunfold": "TUnfold", "bayes": "D'Agostini"}
K_RULES = ("half", "global-correlation", "d")
TAU_RULES = ("l-curve", "global-correlation", "equal-bias")
POSTERIOR_ESTIMATES = ("draws", "mean")
"""How a result carrying a posterior (``flow-posterior``) enters: all draws at weight 1/S, or
the posterior mean of m_tt and pT_t per event (:func:`build_method`)."""
BAYES_ITERATIONS = 4

DEGENERATE_BIAS = 0.2
"""RMS closure bias above which a result is flagged degenerate: its shape then mostly
reflects the regularisation towards the MC truth, not the data."""


@dataclass
class MethodUnfolding:
    """One method's response, measured spectrum, unfolded results and uncertainties."""

    name: str
    response: Response
    measured: np.ndarray
    measured_w2: np.ndarray  # its covariance: a matrix (see ClosureSplit.measured)
    truth: np.ndarray  # truth spectrum of the unfolded (odd) half
    valid_fraction: float
    result: UnfoldResult  # the study's algorithm at the study's regularisation
    bayes: UnfoldResult  # the D'Agostini cross-check (BAYES_ITERATIONS)
    response_covariance: np.ndarray | None = None
    ratio_to_truth: np.ndarray | None = None
    scan: KScan | None = None  # uncertainty and closure bias per regularisation (unfold_scan)
    scan_error: str | None = None  # why there is no scan (too few events to bootstrap)
    response_toys_error: str | None = None  # why the response toys failed
    shifts: dict[str, np.ndarray] = field(default_factory=dict)  # per detector variation

    @property
    def systematics(self) -> dict[str, np.ndarray]:
        """Per variation group, the symmetrised per-bin shift
        (:func:`nuanalysis.variations.pair_shift`)."""
        return pair_shift(self.shifts)

    @property
    def covariance(self) -> np.ndarray:
        """The total covariance: the pseudo-data's statistics, the response's MC statistics
        when the response toys ran, and each variation group's shift (fully correlated over
        the bins)."""
        total = self.result.covariance.copy()
        if self.response_covariance is not None:
            total += self.response_covariance
        for shift in self.systematics.values():
            total += np.outer(shift, shift)
        return total

    @property
    def rel_uncertainty(self) -> np.ndarray:
        """Per-bin σ/x of :attr:`covariance` (the total)."""
        return relative_uncertainty(self.result.unfolded, self.covariance)

    @property
    def uncertainty_label(self) -> str:
        """What :attr:`rel_uncertainty` includes (one line)."""
        parts = ["pseudo-data stat"]
        if self.response_covariance is not None:
            parts.append("response MC stat (event bootstrap)")
        if self.shifts:
            parts.append("syst " + "+".join(self.systematics))
        label = " ⊕ ".join(parts)
        if self.response_covariance is None:
            label += f" (no response MC stat: {self.response_toys_error or 'no response toys'})"
        return label

    @property
    def rel_uncertainty_stat(self) -> np.ndarray:
        """Per-bin σ/x of the pseudo-data's statistics alone."""
        return self.result.relative_uncertainty


@dataclass
class UnfoldStudy:
    channel: str
    n_events: int
    backend: str
    algorithm: str
    regularisation: float  # SVD k, TUnfold τ or D'Agostini iterations, common to all methods
    rule: str  # how it was chosen
    mtt_edges: tuple[float, ...]
    ptt_edges: tuple[float, ...]
    methods: dict[str, MethodUnfolding] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # method -> why it was not unfolded
    binning: Coarsening | None = None  # how the requested binning was merged, if checked
    response_sample: tuple[str, int] | None = None  # (name, events) filling the responses

    @property
    def split(self) -> str:
        """Where the responses and the pseudo-data come from (one line)."""
        if self.response_sample is None:
            return "response and prior from the even entries, the odd entries unfolded"
        name, n = self.response_sample
        return f"response and prior from {name} ({n} events), all {self.n_events} events unfolded"

    def response_sample_warning(self) -> str | None:
        """A response sample under :data:`RESPONSE_SAMPLE_FACTOR` × the pseudo-data: its
        statistical fluctuations then weigh in the closure bias."""
        if self.response_sample is None:
            return None
        name, n = self.response_sample
        if n >= RESPONSE_SAMPLE_FACTOR * self.n_events:
            return None
        return (
            f"warning: the response sample {name} has {n} events, under "
            f"{RESPONSE_SAMPLE_FACTOR:g} × the {self.n_events} unfolded; its fluctuations "
            "weigh in the closure bias"
        )

    def binning_warning(self) -> str | None:
        """What was merged and why, for the printout; None if the requested binning held."""
        if self.binning is None or not self.binning.merged:
            return None
        b = self.binning

        def grid(edges) -> str:
            return " × ".join(
                f"{name} [{', '.join(f'{e:g}' for e in axis)}]"
                for name, axis in zip(AXIS_NAMES, edges, strict=True)
            )

        removed = ", ".join(f"{AXIS_NAMES[axis]} {edge:g}" for axis, edge in b.removed)
        needed = (
            f"about {round(b.sample_factor * self.n_events, -2):.0f} events"
            if b.sample_factor is not None
            else f"more than {self.n_events} events (a truth bin is empty)"
        )
        lines = [
            f"warning: bins merged for every method: with {grid(b.requested)} GeV a method's "
            f"response has a bin with {b.sparsest_requested:g} events or cannot be inverted "
            f"(each bin needs {b.min_events:g}); removed the edges at {removed} GeV, unfolding "
            f"{grid(b.edges)} GeV. The requested binning needs {needed}; or choose "
            "--mtt-edges/--ptt-edges, or --min-bin-events."
        ]
        lines += [
            f"warning: {name} did not steer the merging: {why}"
            for name, why in (b.ignored or {}).items()
        ]
        return "\n".join(lines)

    @property
    def parameter(self) -> str:
        """The name of the regularisation: ``k``, ``tau`` or ``iterations``."""
        return PARAMETERS[self.algorithm]

    def setting(self) -> str:
        """``algorithm, parameter = value`` for titles and tables."""
        return f"{ALGORITHM_LABELS[self.algorithm]}, {self.parameter} = {self.regularisation:.3g}"

    @property
    def curvature(self) -> str:
        """How the regularisation treats the m_tt × pT_t grid (one line)."""
        if self.algorithm == "bayes":
            return "none (D'Agostini iterations from the MC truth prior)"
        if self.algorithm == "tunfold":
            return "TUnfold curvature of the density along m_tt and along pT_t (on the grid)"
        if get_backend(self.backend).grid_curvature:
            return "second differences along m_tt and along pT_t (on the grid)"
        return (
            f"1-D over the flattened bins ({self.backend}'s own TSVDUnfold; it couples the "
            "last pT_t bin of one m_tt row to the first of the next, use --backend numpy "
            "for the grid)"
        )

    def degenerate_reasons(self) -> list[str]:
        """Why the result cannot be read as a measured m_tt × pT_t spectrum (empty: it can):
        an axis merged to a single bin, k = 1 (only the normalisation is taken from the data,
        the shape is the MC truth's) or a closure bias above :data:`DEGENERATE_BIAS`."""
        reasons = [
            f"every {name} edge merged: a single {name} bin, no {name} shape is measured"
            for name, edges in zip(AXIS_NAMES, (self.mtt_edges, self.ptt_edges), strict=True)
            if len(edges) == 2
        ]
        if self.algorithm == "tunfold" and max(len(self.mtt_edges), len(self.ptt_edges)) < 4:
            reasons.append(
                "TUnfold: no axis has three bins, so the curvature regularises nothing "
                "(the unregularised inverse)"
            )
        if self.algorithm == "svd" and self.regularisation == 1:
            reasons.append(
                "k = 1: only the normalisation comes from the data, the shape is the MC truth's"
            )
        for name, m in self.methods.items():
            if m.scan is None:
                continue
            value = m.scan.nearest(self.regularisation)
            bias = m.scan.at(value)["rms_bias"]
            if bias > DEGENERATE_BIAS:
                reasons.append(
                    f"{name}: RMS closure bias {bias:.0%} at {self.parameter} = {value:.3g} "
                    f"(above {DEGENERATE_BIAS:.0%})"
                )
        return reasons

    def degenerate_warning(self) -> str | None:
        """One line for the table and the figures, None when the result is not degenerate."""
        reasons = self.degenerate_reasons()
        if not reasons:
            return None
        return "DEGENERATE RESULT, not a measurement: " + "; ".join(reasons)

    def bin_labels(self) -> list[str]:
        """Flattened bin labels, m_tt-major."""
        return [
            f"mtt[{m_low:g},{m_high:g}) ptt[{p_low:g},{p_high:g})"
            for m_low, m_high in zip(self.mtt_edges[:-1], self.mtt_edges[1:], strict=True)
            for p_low, p_high in zip(self.ptt_edges[:-1], self.ptt_edges[1:], strict=True)
        ]

    def to_json(self, input_name: str | None = None) -> dict:
        """The ``unfold`` JSON (docs/outputs.md, "`unfold --json`")."""
        methods = {}
        for name, m in self.methods.items():
            entry = {
                "unfolded": m.result.unfolded.tolist(),
                "rel_uncertainty": m.rel_uncertainty.tolist(),
                "ratio_to_truth": None if m.ratio_to_truth is None else m.ratio_to_truth.tolist(),
                self.parameter: m.result.regularisation,
                "covariance": m.covariance.tolist(),
                "truth": m.truth.tolist(),
                "measured": m.measured.tolist(),
                "valid_fraction": m.valid_fraction,
                "efficiency": m.response.efficiency.tolist(),
                "purity": m.response.purity.tolist(),
                "d": np.asarray(m.result.diagnostics.get("d", [])).tolist(),
                "bayes": {
                    "unfolded": m.bayes.unfolded.tolist(),
                    "rel_uncertainty": m.bayes.relative_uncertainty.tolist(),
                    "iterations": m.bayes.regularisation,
                },
            }
            entry["rel_uncertainty_stat"] = m.rel_uncertainty_stat.tolist()
            if m.shifts:
                entry["variation_shifts"] = {v: shift.tolist() for v, shift in m.shifts.items()}
                entry["systematics"] = {g: shift.tolist() for g, shift in m.systematics.items()}
            entry["uncertainty"] = m.uncertainty_label
            if m.scan is not None:
                entry["scan"] = m.scan.to_dict()
            elif m.scan_error is not None:
                entry["scan"] = {"error": m.scan_error}
            methods[name] = entry
        methods.update({name: {"error": reason} for name, reason in self.failures.items()})
        return {
            "observable": "mtt_ptt",
            "bins": {
                "mtt": list(self.mtt_edges),
                "ptt": list(self.ptt_edges),
                "order": "mtt-major: flat index = i_mtt * n_ptt + i_ptt",
                "labels": self.bin_labels(),
                **self._binning_json(),
            },
            "algorithm": self.algorithm,
            "parameter": self.parameter,
            "backend": self.backend,
            "backend_provenance": get_backend(self.backend).provenance(),
            "curvature": self.curvature,
            "equal_bias_scan": "numpy (SVD: curvature on the grid), whatever the backend",
            "channel": self.channel,
            "n_events": self.n_events,
            "input": input_name,
            "split": self.split,
            "rule": self.rule,
            "reference": REFERENCE,
            "degenerate": self.degenerate_reasons(),
            "methods": methods,
        }

    def _binning_json(self) -> dict:
        if self.binning is None:
            return {}
        b = self.binning
        return {
            "requested": dict(zip(("mtt", "ptt"), map(list, b.requested), strict=True)),
            "removed_edges": [{"axis": ("mtt", "ptt")[a], "edge": e} for a, e in b.removed],
            "min_bin_events": b.min_events,
        }


def split_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Even entries (response) and odd entries (pseudo-data)."""
    index = np.arange(n)
    return index % 2 == 0, index % 2 == 1


@dataclass(frozen=True)
class ResponseSample:
    """An independent sample that fills every response and gives the prior (an analysis's
    MC): its events, each method's result on them and the truth m_tt, pT_t."""

    events: PaddedEvents
    results: dict[str, NeutrinoResult]
    truth_values: tuple[np.ndarray, np.ndarray]
    name: str = "response sample"

    @classmethod
    def of(
        cls, events: PaddedEvents, results: dict[str, NeutrinoResult], name: str
    ) -> ResponseSample:
        return cls(events, results, truth_observables(events), name)


def method_observables(
    events: PaddedEvents, result: NeutrinoResult, posterior_estimate: str = "draws"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, S) m_tt and pT_t (S = 1 for a point, the draws of a posterior) and the (n,) valid
    events (:func:`build_method`)."""
    posterior = Posterior.from_result(result)
    if posterior is None:
        mtt, ptt, valid = reco_observables(events, result)
        return mtt[:, None], ptt[:, None], valid
    mtt, ptt, has_two = posterior_observables(events, posterior)
    if posterior_estimate == "mean":
        mtt, ptt = mtt.mean(axis=1, keepdims=True), ptt.mean(axis=1, keepdims=True)
    elif posterior_estimate != "draws":
        raise ValueError(
            f"posterior_estimate must be one of {', '.join(POSTERIOR_ESTIMATES)}, "
            f"got {posterior_estimate!r}"
        )
    return mtt, ptt, has_two & result.valid


def build_method(
    events: PaddedEvents,
    result: NeutrinoResult,
    truth_values: tuple[np.ndarray, np.ndarray],
    mtt_edges,
    ptt_edges,
    stress: float = 0.0,
    posterior_estimate: str = "draws",
    response_sample: tuple[PaddedEvents, NeutrinoResult, tuple[np.ndarray, np.ndarray]]
    | None = None,
) -> ClosureSplit:
    """The response entries and the binned reco and truth of the pseudo-data.

    Without ``response_sample`` the even entries of ``events`` fill the response and the odd
    entries are the pseudo-data; with it (events, the method's result, truth m_tt and pT_t of
    an independent sample) that sample fills the response and all of ``events`` are the
    pseudo-data. A result carrying a posterior (``flow-posterior``) enters with all its draws
    at weight 1/S, in the response and in the measured spectrum, whose covariance is then a
    full matrix (:mod:`nuanalysis.oversampling`); a point is one draw. With
    ``posterior_estimate="mean"`` such a result enters instead as one point per event, the
    posterior mean of m_tt and of pT_t. ``stress`` reweights the pseudo-data
    (:func:`nuanalysis.unfold_scan.stress_weights`).
    """
    mtt, ptt, valid = method_observables(events, result, posterior_estimate)
    weight = np.array(events.weight, dtype=np.float64)
    if response_sample is None:
        train, test = split_halves(len(events))
        fill = (mtt[train], ptt[train], tuple(t[train] for t in truth_values), weight[train],
                valid[train])  # fmt: skip
    else:
        fill_events, fill_result, fill_truth = response_sample
        fill_mtt, fill_ptt, fill_valid = method_observables(
            fill_events, fill_result, posterior_estimate
        )
        fill_weight = np.array(fill_events.weight, dtype=np.float64)
        fill = (fill_mtt, fill_ptt, fill_truth, fill_weight, fill_valid)
        test = np.ones(len(events), dtype=bool)
    data_weight = weight[test] * stress_weights(truth_values[0][test], stress)
    response = Response(
        _axis(mtt_edges, "mtt", r"$m_{t\bar{t}}$ [GeV]"),
        _axis(ptt_edges, "ptt", r"$p_{T}^{t}$ [GeV]"),
    )
    truth_test = (truth_values[0][test][:, None], truth_values[1][test][:, None])
    fill_mtt, fill_ptt, fill_truth, fill_weight, fill_valid = fill
    return ClosureSplit(
        response.axes,
        (fill_mtt, fill_ptt),
        fill_truth,
        fill_weight,
        fill_valid,
        draw_fractions(response, (mtt[test], ptt[test]), valid[test], data_weight),
        draw_fractions(response, truth_test, np.ones(test.sum(), dtype=bool), data_weight),
        float(valid.mean()),
    )


def _axis(edges, name: str, label: str) -> hist.axis.Variable:
    return hist.axis.Variable(edges, name=name, label=label, flow=False)


def with_reference(methods: list[str], has_truth: bool = True) -> list[str]:
    """``methods`` without duplicates, the truth reference first (added if the sample has truth)."""
    names = [name for name in dict.fromkeys(methods) if name != REFERENCE]
    return [REFERENCE, *names] if has_truth or REFERENCE in methods else names


def run_study(
    events: PaddedEvents,
    methods: list[str],
    *,
    method_options: dict[str, dict] | None = None,
    progress: bool = True,
    **settings,
) -> UnfoldStudy:
    """Reconstruct with every method (and the truth reference), then :func:`unfold_methods`."""
    names = with_reference(methods, events.has_truth)
    for name in names:
        check_applicable(name, events.channel)
    bar = progress_bar(iterable=names, desc="reconstructing", unit="method", disable=not progress)
    results = {
        name: reconstruct(name, events, **(method_options or {}).get(name, {})) for name in bar
    }
    return unfold_methods(events, results, progress=progress, **settings)


def unfold_methods(
    events: PaddedEvents,
    results: dict[str, NeutrinoResult],
    *,
    algorithm: str = "svd",
    backend: str = "auto",
    k: int | None = None,
    k_rule: str = "half",
    tau: float | None = None,
    tau_rule: str = "l-curve",
    iterations: int | None = None,
    mtt_edges=MTT_EDGES,
    ptt_edges=PTT_EDGES,
    response_toys: int = 0,
    seed: int = 1,
    progress: bool = True,
    stress: float = 0.0,
    min_bin_events: float = MIN_BIN_EVENTS,
    posterior_estimate: str = "draws",
    response_sample: ResponseSample | None = None,
    variations: dict[str, tuple[PaddedEvents, dict[str, NeutrinoResult]]] | None = None,
) -> UnfoldStudy:
    """Unfold m_tt × pT_t with each method's ``results`` on ``events`` (module docstring) by
    ``algorithm`` (``svd`` with ``backend``, ``tunfold`` or ``bayes``); its regularisation is
    ``k``, ``tau`` or ``iterations`` when given, else chosen on the reference by ``k_rule``
    (:data:`K_RULES`), ``tau_rule`` (:data:`TAU_RULES`) or, for the iterations, the
    equal-bias rule; ``min_bin_events`` 0 keeps the binning as given; ``posterior_estimate``:
    see :data:`POSTERIOR_ESTIMATES`. With ``response_sample`` (an independent sample, at least
    :data:`RESPONSE_SAMPLE_FACTOR` times larger) the responses and priors come from it and
    all of ``events`` are unfolded. ``variations`` maps a detector variation
    (:mod:`nuanalysis.variations`) to the varied events and every method's result on them: its
    pseudo-data are unfolded with the nominal response, and the shifts enter the total
    uncertainty and the equal-bias scan."""
    if algorithm not in PARAMETERS:
        raise UnfoldingError(
            f"unknown algorithm {algorithm!r}; choose one of {', '.join(PARAMETERS)}"
        )
    truth_values = truth_observables(events)
    names = [name for name in with_reference(list(results), False) if name in results]
    concrete = resolve_backend(backend) if algorithm == "svd" else "numpy"
    rng = np.random.default_rng(seed)

    if response_sample is not None:
        missing = [name for name in names if name not in response_sample.results]
        if missing:
            raise UnfoldingError(f"the response sample has no result for {', '.join(missing)}")

    def build(mtt, ptt, sample=events, sample_results=results) -> dict[str, ClosureSplit]:
        return {
            name: build_method(
                sample, sample_results[name], truth_values, mtt, ptt, stress, posterior_estimate,
                None if response_sample is None else (
                    response_sample.events, response_sample.results[name],
                    response_sample.truth_values,
                ),
            )
            for name in names
        }  # fmt: skip

    built = build(mtt_edges, ptt_edges)
    binning = None
    if min_bin_events > 0:
        responses = {name: split.response() for name, split in built.items()}
        binning = coarsen_responses(responses, min_bin_events)
        if binning.merged:
            mtt_edges, ptt_edges = binning.edges
            built = build(mtt_edges, ptt_edges)
    n_bins = (len(mtt_edges) - 1) * (len(ptt_edges) - 1)
    if n_bins == 1:
        raise UnfoldingError(_single_bin_reason(len(events), binning))
    if algorithm == "svd" and k is not None and k > n_bins:
        raise UnfoldingError(f"k = {k} exceeds the {n_bins} bins unfolded; choose k ≤ {n_bins}")

    varied = {
        variation: build(mtt_edges, ptt_edges, varied_events, varied_results)
        for variation, (varied_events, varied_results) in (variations or {}).items()
    }
    parameter = PARAMETERS[algorithm]
    first = built[names[0]]
    values = scan_values(algorithm, first.response())
    scans, scan_errors = {}, {}
    for name in progress_bar(iterable=names, desc="equal-bias scan", unit="method",
                             disable=not progress):  # fmt: skip
        try:
            shifted = {variation: splits[name].measured for variation, splits in varied.items()}
            scans[name] = scan_regularisation(built[name], algorithm, values, rng=rng,
                                              varied=shifted)  # fmt: skip
        except UnfoldingError as error:  # the unfolding stands; only the comparison is lost
            scan_errors[name] = str(error)
    given = {"svd": k, "tunfold": tau, "bayes": iterations}[algorithm]
    if given is None:
        rule = {"svd": k_rule, "tunfold": tau_rule, "bayes": "equal-bias"}[algorithm]
        value = choose_regularisation(algorithm, first, rule, scans.get(names[0]))
        rule = f"{rule} rule on the {names[0]} unfolding, common to all methods"
    else:
        value, rule = given, "given"

    study = UnfoldStudy(
        events.channel, len(events), concrete, algorithm, value, rule,
        tuple(mtt_edges), tuple(ptt_edges),
    )  # fmt: skip
    study.binning = binning
    if response_sample is not None:
        study.response_sample = (response_sample.name, len(response_sample.events))
    setting = {"algorithm": algorithm, parameter: value}
    toys = progress_bar(
        total=response_toys * len(names), desc="response toys", unit="toy",
        disable=not (progress and response_toys),
    )  # fmt: skip
    for name in progress_bar(iterable=names, desc="unfolding", unit="method", disable=not progress):
        method = built[name]
        response, (measured, w2), truth_test = method.response(), method.measured, method.truth
        try:
            result = unfold(response, measured, w2, backend=concrete, **setting)
            bayes = unfold(response, measured, w2, algorithm="bayes", iterations=BAYES_ITERATIONS)
        except UnfoldingError as error:
            if name == REFERENCE:
                raise
            study.failures[name] = str(error)
            continue
        entry = MethodUnfolding(
            name, response, measured, w2, truth_test, method.valid_fraction, result, bayes,
            scan=scans.get(name), scan_error=scan_errors.get(name),
        )  # fmt: skip
        entry.shifts = {
            variation: unfold(
                response, *splits[name].measured, backend=concrete, **setting
            ).unfolded
            - result.unfolded
            for variation, splits in varied.items()
        }
        if response_toys:

            def unfold_replica(multiplier, split=method, m=measured, v=w2) -> np.ndarray:
                toys.update()
                return unfold(split.response(multiplier), m, v, **setting).unfolded

            try:  # replicas of the response's events: the draws of one event move together
                entry.response_covariance = bootstrap_covariance(
                    unfold_replica, len(method.weight), response_toys, rng
                )
            except UnfoldingError as error:  # a replica lost a bin: too few simulated events
                entry.response_toys_error = str(error)
        study.methods[name] = entry

    toys.close()
    reference = study.methods.get(REFERENCE)
    if reference is not None:
        for entry in study.methods.values():
            entry.ratio_to_truth = entry.rel_uncertainty / reference.rel_uncertainty
    return study


def choose_regularisation(
    algorithm: str, split: ClosureSplit, rule: str, scan: KScan | None
) -> float:
    """The regularisation of ``algorithm`` for ``split``'s unfolding by ``rule``: SVD
    :func:`choose_k`; TUnfold's τ from the L-curve or the minimum mean global correlation
    (:mod:`unfolding.tunfold`); or, for every algorithm, the equal-bias rule — the value of
    ``scan`` with the smallest √(σ² + bias²)."""
    if rule == "equal-bias":
        if scan is None:
            raise UnfoldingError(
                "the equal-bias rule needs the closure scan, which failed (too few events); "
                "give the regularisation (--k, --tau or --iterations)"
            )
        return scan.best
    response, (values, w2) = split.response(), split.measured
    if algorithm == "svd":
        return choose_k(response, (values, w2), rule)
    if algorithm == "tunfold":
        problem = tikhonov_problem(response, subtract_fakes(response, values), w2)
        if rule == "l-curve":
            return tau_from_l_curve(problem)
        if rule == "global-correlation":
            return tau_minimum_global_correlation(problem)
    raise ValueError(f"unknown rule {rule!r} for {algorithm}")


def _single_bin_reason(n_events: int, binning: Coarsening | None) -> str:
    """The refusal for a binning of one m_tt × pT_t bin: nothing left to unfold."""
    if binning is None or not binning.merged:
        return "the binning has a single m_tt × pT_t bin: give more --mtt-edges/--ptt-edges"
    needed = (
        f"about {round(binning.sample_factor * n_events, -2):.0f} events"
        if binning.sample_factor is not None
        else f"more than {n_events} events (a truth bin is empty)"
    )
    return (
        f"{n_events} events leave a single m_tt × pT_t bin (every edge merged): no spectrum "
        f"to unfold; the requested binning needs {needed}"
    )


def choose_k(response: Response, measured: tuple[np.ndarray, np.ndarray], rule: str) -> int:
    """The ``k`` for ``response`` unfolding ``measured`` by ``rule`` (see :data:`K_RULES`)."""
    values, w2 = measured
    signal = subtract_fakes(response, values)

    def unfold_with(k: int) -> UnfoldResult:
        return svd_unfold(signal, w2, response.matrix, response.truth, k, response.shape)

    if rule == "half":
        return max(response.n_bins // 2, 1)
    if rule == "d":
        return k_from_d(unfold_with(response.n_bins).diagnostics["d"])
    if rule == "global-correlation":
        return k_minimum_global_correlation(unfold_with, range(2, response.n_bins + 1))
    raise ValueError(f"unknown k rule {rule!r}; choose one of {', '.join(K_RULES)}")


def format_table(study: UnfoldStudy) -> str:
    """Per-bin relative uncertainties (%) per method and their ratio to the truth-ν result."""
    names = list(study.methods)
    header = f"{'bin':<42}" + "".join(f"{n + ' σ/x':>14}" for n in names)
    has_ratio = any(m.ratio_to_truth is not None for m in study.methods.values())
    if has_ratio:
        header += "".join(f"{n + '/truth':>14}" for n in names if n != REFERENCE)
    warnings = [
        study.response_sample_warning(),
        study.binning_warning(),
        study.degenerate_warning(),
    ]
    lines = [
        *(warning for warning in warnings if warning),
        f"m_tt × pT_t {ALGORITHM_LABELS[study.algorithm]} unfolding, {study.parameter} = "
        f"{study.regularisation:.3g} ({study.rule}), backend {study.backend}; "
        f"{study.n_events} {study.channel} events, {study.split}",
        f"curvature: {study.curvature}",
        "σ/x: " + ", ".join(f"{n} {m.uncertainty_label}" for n, m in study.methods.items()),
        header,
    ]
    for i, label in enumerate(study.bin_labels()):
        row = f"{label:<42}" + "".join(
            f"{100 * study.methods[n].rel_uncertainty[i]:>13.2f}%" for n in names
        )
        if has_ratio:
            row += "".join(
                f"{study.methods[n].ratio_to_truth[i]:>14.2f}" for n in names if n != REFERENCE
            )
        lines.append(row)
    ratios = [
        f"{n} {np.median(m.ratio_to_truth):.2f} ({np.mean(m.ratio_to_truth):.2f})"
        for n, m in study.methods.items()
        if m.ratio_to_truth is not None and n != REFERENCE
    ]
    if ratios:
        lines.append("ratio to truth, median (mean) over bins: " + ", ".join(ratios))
    lines.extend(
        f"{name}: detector systematics, mean |shift|/x over bins: "
        + ", ".join(
            f"{group} {100 * np.mean(np.abs(shift) / np.abs(m.result.unfolded)):.2f} %"
            for group, shift in m.systematics.items()
        )
        for name, m in study.methods.items()
        if m.shifts
    )
    lines.extend(f"{name}: not unfolded: {why}" for name, why in study.failures.items())
    scans = {name: m.scan for name, m in study.methods.items() if m.scan is not None}
    if scans:
        lines.append(format_scan(scans, REFERENCE))
    lines.extend(
        f"{name}: no equal-bias scan: {m.scan_error}"
        for name, m in study.methods.items()
        if m.scan_error is not None
    )
    lines.append(
        "valid fraction: "
        + ", ".join(f"{n} {m.valid_fraction:.3f}" for n, m in study.methods.items())
    )
    return "\n".join(lines)
