"""Particle-level jets: FastJet anti-kt clustering and heavy-flavour labels.

Clustering uses FastJet's awkward interface, one ``ClusterSequence`` over a
whole batch of events (the per-``PseudoJet`` Python interface is an order of
magnitude slower). Jet flavour follows the ATLAS hadron labelling: a jet is
b-labelled (5) if a weakly decaying b-hadron with pT > 5 GeV lies within
ΔR < 0.3 of its axis, else c-labelled (4) for a weakly decaying c-hadron,
else light (0).
"""

from __future__ import annotations

import sys

import awkward as ak
import numba
import numpy as np

from nuanalysis.generation.detector import DetectorParameters
from nuanalysis.generation.pythia import FlatEvents
from nuanalysis.generation.truth import daughter_positions


def print_fastjet_banner() -> None:
    """Print FastJet's banner now, once per process (FastJet prints it at the first clustering).

    A process forked after this call inherits FastJet's "already printed" flag,
    so ``generate --jobs J`` shows the banner once instead of once per job.
    """
    import fastjet

    fastjet._swig.ClusterSequence.print_banner()
    sys.stdout.flush()


def cluster_jets(
    events: FlatEvents, use: np.ndarray, params: DetectorParameters
) -> dict[str, np.ndarray]:
    """Anti-kt jets of the particles flagged in ``use`` (flat bool mask), per event.

    Returns flat ``px, py, pz, e`` arrays of jets above ``params.jet_cluster_min_pt``
    and their per-event ``offsets``.
    """
    import fastjet

    counts = np.bincount(events.event_index[use], minlength=len(events))
    particles = ak.unflatten(
        ak.zip(
            {
                "px": events.px[use],
                "py": events.py[use],
                "pz": events.pz[use],
                "E": events.e[use],
            }
        ),
        counts,
    )
    definition = fastjet.JetDefinition(fastjet.antikt_algorithm, params.jet_radius)
    jets = fastjet.ClusterSequence(particles, definition).inclusive_jets(
        min_pt=params.jet_cluster_min_pt
    )
    offsets = np.concatenate([[0], np.cumsum(ak.to_numpy(ak.num(jets)))]).astype(np.int64)
    flat = ak.flatten(jets)
    return {
        "offsets": offsets,
        **{
            name: np.asarray(ak.to_numpy(flat[field]), np.float64)
            for name, field in (("px", "px"), ("py", "py"), ("pz", "pz"), ("e", "E"))
        },
    }


@numba.njit(cache=True)
def _heavy_content(abs_pid: int) -> int:
    """5 / 4 if a hadron contains a b / c (and no heavier) quark, 0 otherwise."""
    if abs_pid < 100:
        return 0
    code = abs_pid % 10000
    q1, q2, q3 = (code // 1000) % 10, (code // 100) % 10, (code // 10) % 10
    if q1 == 0 and q2 == q3:  # quarkonium: no open flavour
        return 0
    heaviest = max(q1, q2, q3)
    return heaviest if heaviest in (4, 5) else 0


@numba.njit(cache=True)
def _weakly_decaying_heavy_hadrons(offsets, pid, status, d1, d2):
    label = np.zeros(len(pid), np.int8)
    for k in range(len(offsets) - 1):
        start = offsets[k]
        for i in range(offsets[k + 1] - start):
            g = start + i
            if abs(status[g]) < 81:  # hadrons come from hadronisation (8x) or decays (9x)
                continue
            flavour = _heavy_content(abs(pid[g]))
            if flavour == 0:
                continue
            weak = True
            for d in daughter_positions(d1[g], d2[g]):
                if _heavy_content(abs(pid[start + d])) == flavour:
                    weak = False
                    break
            if weak:
                label[g] = flavour
    return label


def heavy_hadron_labels(events: FlatEvents) -> np.ndarray:
    """Flat int8 per particle: 5 (4) for a weakly decaying b (c) hadron, else 0."""
    return _weakly_decaying_heavy_hadrons(
        events.offsets, events.pid, events.status, events.daughter1, events.daughter2
    )


@numba.njit(cache=True)
def _label_kernel(jet_offsets, jet_eta, jet_phi, had_offsets, had_eta, had_phi, had_flavour, dr):
    label = np.zeros(len(jet_eta), np.int8)
    for k in range(len(jet_offsets) - 1):
        for j in range(jet_offsets[k], jet_offsets[k + 1]):
            for h in range(had_offsets[k], had_offsets[k + 1]):
                dphi = (jet_phi[j] - had_phi[h] + np.pi) % (2 * np.pi) - np.pi
                if np.hypot(jet_eta[j] - had_eta[h], dphi) < dr and had_flavour[h] > label[j]:
                    label[j] = had_flavour[h]
    return label


def jet_flavour(
    jet_offsets: np.ndarray,
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    events: FlatEvents,
    params: DetectorParameters,
) -> np.ndarray:
    """Hadron flavour label (5, 4, 0) of flat jets."""
    labels = heavy_hadron_labels(events)
    pt = np.hypot(events.px, events.py)
    keep = (labels > 0) & (pt > params.flavour_label_min_hadron_pt)
    had_offsets = np.searchsorted(events.event_index[keep], np.arange(len(events) + 1))
    had_eta = np.arcsinh(events.pz[keep] / pt[keep])
    had_phi = np.arctan2(events.py[keep], events.px[keep])
    return _label_kernel(
        jet_offsets,
        jet_eta,
        jet_phi,
        had_offsets,
        had_eta,
        had_phi,
        labels[keep],
        params.flavour_label_dr,
    )
