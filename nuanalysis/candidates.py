"""The b-jet candidates of a dilepton event (NW, ellipse, χ² pairing, observables).

The two b-jet candidates of a dilepton event are the two leading b-tagged jets,
or the leading tagged and the leading untagged jet when only one jet is tagged
(docs/methods.md, "Baselines as analysts configure them"; AnalysisTop). Both
b ↔ lepton pairings are tried by the methods themselves.
"""

from __future__ import annotations

import numpy as np

from nuanalysis.padded import PaddedEvents


def b_jet_candidate_indices(events: PaddedEvents) -> np.ndarray:
    """(n, 2) jet indices of the two b candidates, pT-ordered within each class; -1 where missing.

    Tagged jets come first (in pT order), then untagged ones, so the first two
    entries of that ordering are the candidates.
    """
    n_slots = events.jet_mask.shape[1]
    slot = np.arange(n_slots)
    # sort key: present tagged jets, then present untagged jets, then padding; pT order kept
    key = np.where(events.jet_mask, np.where(events.jet_btag, 0, 1), 2) * n_slots + slot
    order = np.argsort(key, axis=1, kind="stable")[:, :2]
    present = np.take_along_axis(events.jet_mask, order, axis=1)
    return np.where(present, order, -1)


def b_jet_candidates(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2, 4) four-momenta of the b candidates and the (n,) mask of events having two."""
    index = b_jet_candidate_indices(events)
    jets = np.take_along_axis(events.jets, np.maximum(index, 0)[:, :, None], axis=1)
    has_two = (index >= 0).all(axis=1)
    return np.where((index >= 0)[:, :, None], jets, 0.0), has_two
