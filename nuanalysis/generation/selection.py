"""Event selections of the two channels (applied to reconstructed objects).

* semileptonic: exactly one lepton, ≥ 4 jets, ≥ 2 b-tagged jets;
* dilepton: exactly two leptons of opposite charge, ≥ 2 jets, ≥ 1 b-tagged jet.

Leptons (pT > 15 GeV, abs(η) < 2.5, isolated) and jets (pT > 25 GeV,
abs(η) < 2.5) are already those of the ntuple, see :mod:`.reconstruction`.
"""

from __future__ import annotations

import numpy as np

from nuanalysis.errors import ChannelError
from nuanalysis.generation.reconstruction import Objects
from nuanalysis.padded import CHANNELS

REQUIREMENTS = {
    "semileptonic": {"leptons": 1, "min_jets": 4, "min_btags": 2},
    "dilepton": {"leptons": 2, "min_jets": 2, "min_btags": 1},
}
"""Object multiplicities each channel requires."""


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ChannelError(f"unknown channel {channel!r}; choose one of {', '.join(CHANNELS)}")


def passes_selection(channel: str, objects: Objects) -> np.ndarray:
    """Boolean per event: the event passes the channel's selection."""
    check_channel(channel)
    needs = REQUIREMENTS[channel]
    n_events = len(objects.met_px)
    n_leptons = np.diff(objects.lep_offsets)
    n_jets = np.diff(objects.jet_offsets)
    jet_event = np.repeat(np.arange(n_events), n_jets)
    n_btags = np.bincount(jet_event[objects.jet_btag], minlength=n_events)
    selected = (
        (n_leptons == needs["leptons"])
        & (n_jets >= needs["min_jets"])
        & (n_btags >= needs["min_btags"])
    )
    if channel == "dilepton":
        lep_event = np.repeat(np.arange(n_events), n_leptons)
        charge_sum = np.bincount(lep_event, weights=np.sign(objects.lep_pid), minlength=n_events)
        selected &= charge_sum == 0
    return selected
