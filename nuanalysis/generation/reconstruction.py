"""Reconstructed objects of one batch: leptons, jets, b-tags and MET.

Applies the parametric detector of :mod:`.detector` to Pythia's stable
particles (see that module for the model and every parameter). The order of
random draws is fixed, so a batch and a generator state give the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from nuanalysis.generation.detector import DetectorParameters
from nuanalysis.generation.jets import cluster_jets, jet_flavour
from nuanalysis.generation.pythia import FlatEvents

NEUTRINO_PIDS = (12, 14, 16)
LEPTON_PIDS = (11, 13)
LEPTON_MIN_PT = 15.0
"""Leptons kept: pT > 15 GeV, abs(η) < 2.5 (task definition of the selections)."""
JET_MIN_PT = 25.0
"""Jets kept in the ntuple: pT > 25 GeV, abs(η) < 2.5 (schema v1)."""
JET_MAX_ABS_ETA = 2.5


@dataclass
class Objects:
    """Flat reconstructed objects of a batch with per-event offsets (schema v1 quantities)."""

    lep_offsets: np.ndarray
    lep_pt: np.ndarray
    lep_eta: np.ndarray
    lep_phi: np.ndarray
    lep_pid: np.ndarray  # signed PDG id
    jet_offsets: np.ndarray
    jet_pt: np.ndarray
    jet_eta: np.ndarray
    jet_phi: np.ndarray
    jet_mass: np.ndarray
    jet_btag: np.ndarray
    jet_flavour: np.ndarray  # hadron label 5 / 4 / 0 (not written: see validate_generator)
    met_px: np.ndarray
    met_py: np.ndarray


def _eta(px, py, pz):
    return np.arcsinh(pz / np.maximum(np.hypot(px, py), 1e-12))


@numba.njit(cache=True)
def _isolation_kernel(cand_index, cand_event, cand_cone, offsets, use, pt, eta, phi):
    """Σ pT of the ``use`` particles within each candidate's cone, the candidate excluded."""
    total = np.zeros(len(cand_index))
    for c in range(len(cand_index)):
        i = cand_index[c]
        k = cand_event[c]
        for g in range(offsets[k], offsets[k + 1]):
            if g == i or not use[g]:
                continue
            dphi = (phi[g] - phi[i] + np.pi) % (2 * np.pi) - np.pi
            if np.hypot(eta[g] - eta[i], dphi) < cand_cone[c]:
                total[c] += pt[g]
    return total


def _offsets(event_of_object: np.ndarray, n_events: int) -> np.ndarray:
    return np.searchsorted(event_of_object, np.arange(n_events + 1)).astype(np.int64)


def reconstruct(
    events: FlatEvents, rng: np.random.Generator, params: DetectorParameters
) -> Objects:
    """Detector-level leptons, jets, b-tags and MET of a batch of Pythia events."""
    event_index = events.event_index
    abs_pid = np.abs(events.pid)
    pt = np.hypot(events.px, events.py)
    eta = _eta(events.px, events.py, events.pz)
    phi = np.arctan2(events.py, events.px)
    final = (events.status > 0) & (pt > 0)
    visible = (
        final & ~np.isin(abs_pid, NEUTRINO_PIDS) & (np.abs(eta) < params.calorimeter_max_abs_eta)
    )

    # leptons: efficiency, isolation, pT smearing, acceptance; candidates start at 0.8 × the
    # threshold, far beyond what a 1–3 % pT resolution can lift above it
    candidate = np.flatnonzero(
        final
        & np.isin(abs_pid, LEPTON_PIDS)
        & (np.abs(eta) < params.tracker_max_abs_eta)
        & (pt > 0.8 * LEPTON_MIN_PT)
    )
    cone = np.minimum(params.isolation_cone_max, params.isolation_cone_scale / pt[candidate])
    isolation = _isolation_kernel(
        candidate,
        event_index[candidate],
        cone,
        events.offsets,
        visible & (pt > params.isolation_min_particle_pt),
        pt,
        eta,
        phi,
    )
    efficiency = params.lepton_efficiency(abs_pid[candidate], np.abs(eta[candidate]))
    resolution = params.lepton_pt_resolution(abs_pid[candidate], pt[candidate], events.e[candidate])
    found = rng.random(len(candidate)) < efficiency
    smeared_pt = pt[candidate] * np.maximum(
        1.0 + resolution * rng.standard_normal(len(candidate)), 0
    )
    kept = (
        found
        & (isolation < params.isolation_max_relative * pt[candidate])
        & (smeared_pt > LEPTON_MIN_PT)
    )
    leptons = candidate[kept]
    lep_pt = smeared_pt[kept]
    lep_order = np.lexsort((-lep_pt, event_index[leptons]))
    leptons, lep_pt = leptons[lep_order], lep_pt[lep_order]

    # jets of the visible particles except the selected leptons
    jet_inputs = visible.copy()
    jet_inputs[leptons] = False
    jets = cluster_jets(events, jet_inputs, params)
    n_jets = len(jets["px"])
    jet_event = np.repeat(np.arange(len(events)), np.diff(jets["offsets"]))
    jet_true_pt = np.hypot(jets["px"], jets["py"])
    jet_eta = _eta(jets["px"], jets["py"], jets["pz"])
    scale = np.maximum(
        1.0
        + params.jet_energy_resolution(jets["e"], np.abs(jet_eta)) * rng.standard_normal(n_jets),
        0.0,
    )
    jet_pt = jet_true_pt * scale
    jet_phi = np.arctan2(jets["py"], jets["px"])
    jet_mass = scale * np.sqrt(
        np.maximum(jets["e"] ** 2 - jets["px"] ** 2 - jets["py"] ** 2 - jets["pz"] ** 2, 0.0)
    )
    flavour = jet_flavour(jets["offsets"], jet_eta, jet_phi, events, params)
    btag = rng.random(n_jets) < params.btag_efficiency(flavour, np.abs(jet_eta))

    # MET = -(hard jets + leptons + soft term); soft term = the rest of the visible particles
    hard = (jet_pt > params.met_jet_min_pt) & (np.abs(jet_eta) < params.met_jet_max_abs_eta)
    n_events = len(events)

    def per_event(values, index, mask):
        return np.bincount(index[mask], weights=values[mask], minlength=n_events)

    soft_x = per_event(events.px, event_index, jet_inputs) - per_event(jets["px"], jet_event, hard)
    soft_y = per_event(events.py, event_index, jet_inputs) - per_event(jets["py"], jet_event, hard)
    noise = params.met_soft_resolution * rng.standard_normal((2, n_events))
    lep_event = event_index[leptons]
    every_lepton = np.ones(len(leptons), bool)
    met_px = -(
        per_event(jets["px"] * scale, jet_event, hard)
        + per_event(lep_pt * np.cos(phi[leptons]), lep_event, every_lepton)
        + soft_x
        + noise[0]
    )
    met_py = -(
        per_event(jets["py"] * scale, jet_event, hard)
        + per_event(lep_pt * np.sin(phi[leptons]), lep_event, every_lepton)
        + soft_y
        + noise[1]
    )

    # stored jets: pT > 25, |η| < 2.5, pT-ordered within each event
    stored = np.flatnonzero((jet_pt > JET_MIN_PT) & (np.abs(jet_eta) < JET_MAX_ABS_ETA))
    stored = stored[np.lexsort((-jet_pt[stored], jet_event[stored]))]
    return Objects(
        lep_offsets=_offsets(lep_event, n_events),
        lep_pt=lep_pt,
        lep_eta=eta[leptons],
        lep_phi=phi[leptons],
        lep_pid=events.pid[leptons],
        jet_offsets=_offsets(jet_event[stored], n_events),
        jet_pt=jet_pt[stored],
        jet_eta=jet_eta[stored],
        jet_phi=jet_phi[stored],
        jet_mass=jet_mass[stored],
        jet_btag=btag[stored],
        jet_flavour=flavour[stored],
        met_px=met_px,
        met_py=met_py,
    )
