"""Figures of merit of a neutrino method (docs/figures.md).

* resolution of a quantity q: the median and ``width68`` (half of the 16–84 %
  interquantile range) of q_reco − q_true over the events where the method
  (and, for composite quantities, the object choice) succeeded;
* valid fraction: events where the method returned a solution;
* speed: events per second per CPU core, from the runner's timing.

Every figure carries its statistical uncertainty: fractions (valid fraction,
accuracies) the 68.27 % Wilson score interval, medians and ``width68`` the
asymptotic standard error of sample quantiles (:mod:`nuanalysis.statistics`).

Quantities (keys of :func:`method_figures`' ``resolution``):

* ``nu_px nu_py nu_pz nu_eta nu_e`` (and ``nubar_*`` in dilepton events): the
  neutrino (massless) against the generator's;
* ``mlnu``, ``mblnu``: the leptonic W and top masses — semileptonic: the
  lepton's side; dilepton: the t → ℓ⁺νb side — built with the reconstructed
  lepton and the *truth-matched* b jet (``jet_match``; events without one are
  left out of ``mblnu``), compared with the same masses built with the true
  neutrino, so that only the neutrino differs (paper Fig. 8);
* ``mtt``, ``ptt``: m_tt and the top-quark pT against the generator's tops.
  Dilepton: :func:`nuanalysis.observables.reco_observables` with the method's
  own b ↔ lepton pairing, else the smaller Σ (m(bℓν) − m_t)² (one σ for both tops).
  Semileptonic: the truth-matched jets (events with all four partons
  matched), so the figure measures the neutrino, not the jet assignment
  (that is what ``nuanalysis assign`` measures).
"""

from __future__ import annotations

import numpy as np

from nuanalysis import kinematics
from nuanalysis.assignment import fully_matched, true_assignment
from nuanalysis.errors import InputError
from nuanalysis.methods.registry import NeutrinoResult
from nuanalysis.observables import mtt_ptt, reco_observables, truth_observables
from nuanalysis.padded import PaddedEvents
from nuanalysis.statistics import binomial_fraction, quantile_error, width68, width68_error

COMPONENTS = ("px", "py", "pz", "eta", "e")
NEUTRINO_NAMES = ("nu", "nubar")
MASSES = ("mlnu", "mblnu")
TOP_QUANTITIES = ("mtt", "ptt")


def summarize(differences: np.ndarray) -> dict[str, float]:
    """``{"median", "median_err", "width68", "width68_err", "n"}`` of the finite ``differences``
    (NaN when there are none); errors from :func:`quantile_error`."""
    values = np.asarray(differences, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        nan = float("nan")
        return {"median": nan, "median_err": nan, "width68": nan, "width68_err": nan, "n": 0}
    return {
        "median": float(np.median(values)),
        "median_err": quantile_error(values, 0.5),
        "width68": width68(values),
        "width68_err": width68_error(values),
        "n": len(values),
    }


def neutrino_components(momenta: np.ndarray) -> dict[str, np.ndarray]:
    """px, py, pz, η, E of massless neutrinos from ``(..., 3)`` momenta."""
    p4 = kinematics.massless_from_momentum(momenta)
    return {"px": p4[..., 0], "py": p4[..., 1], "pz": p4[..., 2], "eta": kinematics.eta(p4),
            "e": p4[..., 3]}  # fmt: skip


def leptonic_side(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lepton (n, 4), truth-matched b jet (n, 4), has_b (n,)) of the side of neutrino 0.

    Semileptonic: the lepton's top (ℓ⁺ ← t → b, parton 0; ℓ⁻ ← t̄ → b̄, parton 1).
    Dilepton: t → ℓ⁺ ν b (parton 0).
    """
    if events.channel == "dilepton":
        lepton = events.lepton_pos
        parton = np.zeros(len(events), dtype=np.int64)
    else:
        lepton = events.leptons[:, 0]
        parton = np.where(events.lep_charge[:, 0] > 0, 0, 1)
    matched = events.jet_mask & (events.jet_match == parton[:, None])
    has_b = matched.any(axis=1)
    b_jet = events.jets[np.arange(len(events)), np.argmax(matched, axis=1)]
    return lepton, b_jet, has_b


def leptonic_masses(events: PaddedEvents, neutrinos: np.ndarray) -> dict[str, np.ndarray]:
    """m(ℓν) and m(bℓν) (NaN without a matched b) with neutrino 0 of ``neutrinos`` (n, n_nu, 3)."""
    lepton, b_jet, has_b = leptonic_side(events)
    w = lepton + kinematics.massless_from_momentum(neutrinos[:, 0])
    return {
        "mlnu": kinematics.mass(w),
        "mblnu": np.where(has_b, kinematics.mass(w + b_jet), np.nan),
    }


def semileptonic_tops(events: PaddedEvents, neutrinos: np.ndarray) -> tuple[np.ndarray, ...]:
    """(top, antitop, ok) from the truth-matched jets; ``ok`` where all four partons matched."""
    truth = true_assignment(events)
    ok = fully_matched(truth)
    rows = np.arange(len(events))
    jets = events.jets[rows[:, None], np.maximum(truth, 0)]  # (n, 4, 4): b_lep, b_had, q1, q2
    leptonic = (
        events.leptons[:, 0] + kinematics.massless_from_momentum(neutrinos[:, 0]) + jets[:, 0]
    )
    hadronic = jets[:, 1] + jets[:, 2] + jets[:, 3]
    positive = (events.lep_charge[:, 0] > 0)[:, None]
    return np.where(positive, leptonic, hadronic), np.where(positive, hadronic, leptonic), ok


def top_observables(
    events: PaddedEvents, result: NeutrinoResult
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m_tt, pT_t, ok) with the method's neutrinos (see the module docstring for the jets)."""
    if events.channel == "dilepton":
        return reco_observables(events, result)
    top, antitop, ok = semileptonic_tops(events, result.momenta)
    mtt, ptt = mtt_ptt(top, antitop)
    return mtt, ptt, ok & result.valid


def method_figures(
    events: PaddedEvents, result: NeutrinoResult, seconds: float | None = None
) -> dict[str, object]:
    """Valid fraction, speed and resolutions of one method on ``events`` (truth needed)."""
    if not events.has_truth:
        raise InputError("resolutions need the truth_nu_* branches (simulated events)")
    valid = result.valid
    figures: dict[str, object] = {
        "n_events": len(events),
        "valid_fraction": float(valid.mean()) if len(events) else float("nan"),
        "valid_fraction_err": binomial_fraction(int(valid.sum()), len(events))["err"],
        "events_per_second": (len(events) / seconds) if seconds else None,
        "seconds_per_event": (seconds / len(events)) if seconds and len(events) else None,
    }
    resolution: dict[str, dict[str, float]] = {}
    for i in range(events.n_neutrinos):
        reco = neutrino_components(result.momenta[valid, i])
        true = neutrino_components(events.truth_nu[valid, i])
        for component in COMPONENTS:
            resolution[f"{NEUTRINO_NAMES[i]}_{component}"] = summarize(
                reco[component] - true[component]
            )
    reco_masses = leptonic_masses(events, result.momenta)
    true_masses = leptonic_masses(events, events.truth_nu)
    distribution = {}
    for key in MASSES:
        resolution[key] = summarize((reco_masses[key] - true_masses[key])[valid])
        distribution[key] = summarize(reco_masses[key][valid])
    if events.truth_top is not None and events.truth_antitop is not None:
        mtt, ptt, ok = top_observables(events, result)
        true_mtt, true_ptt = truth_observables(events)
        resolution["mtt"] = summarize((mtt - true_mtt)[ok])
        resolution["ptt"] = summarize((ptt - true_ptt)[ok])
        figures["top_fraction"] = float(ok.mean()) if len(events) else float("nan")
        figures["top_fraction_err"] = binomial_fraction(int(ok.sum()), len(events))["err"]
    figures["resolution"] = resolution
    figures["distribution"] = distribution
    return figures
