"""Synthetic events whose neutrinos follow a known law, for tests and quick demonstrations.

Not physics: each neutrino has a random transverse momentum, the MET is the
neutrinos' summed pT plus Gaussian noise of ``met_noise`` GeV per component,
and each neutrino's η is 0.7 η of its lepton plus a unit Gaussian. A model
that learns this law must use the MET and the leptons.
"""

from __future__ import annotations

import numpy as np

from nuanalysis import kinematics
from nuanalysis.padded import MAX_JETS, N_LEPTONS, N_NEUTRINOS, PaddedEvents


def toy_events(n: int, channel: str, seed: int = 0, met_noise: float = 10.0) -> PaddedEvents:
    rng = np.random.default_rng(seed)
    n_lep, n_nu = N_LEPTONS[channel], N_NEUTRINOS[channel]
    lep_eta = rng.normal(0.0, 1.0, (n, n_lep))
    leptons = kinematics.from_pt_eta_phi_m(
        rng.uniform(25.0, 120.0, (n, n_lep)), lep_eta, rng.uniform(-np.pi, np.pi, (n, n_lep)), 0.0
    )
    nu_pt = rng.uniform(10.0, 120.0, (n, n_nu))
    nu_phi = rng.uniform(-np.pi, np.pi, (n, n_nu))
    nu_eta = 0.7 * lep_eta[:, :n_nu] + rng.normal(0.0, 1.0, (n, n_nu))
    neutrinos = kinematics.from_pt_eta_phi_m(nu_pt, nu_eta, nu_phi, 0.0)[..., :3]
    met = neutrinos[..., :2].sum(axis=1) + rng.normal(0.0, met_noise, (n, 2))

    n_jets = rng.integers(2, MAX_JETS + 3, n)
    slots = np.arange(MAX_JETS)
    jet_mask = slots[None, :] < n_jets[:, None]
    jet_pt = np.sort(rng.uniform(25.0, 200.0, (n, MAX_JETS)), axis=1)[:, ::-1]
    jets = kinematics.from_pt_eta_phi_m(
        jet_pt,
        rng.uniform(-2.5, 2.5, (n, MAX_JETS)),
        rng.uniform(-np.pi, np.pi, (n, MAX_JETS)),
        8.0,
    )
    jets = np.where(jet_mask[..., None], jets, 0.0)
    charge = np.ones((n, n_lep), dtype=np.int8)
    if n_lep == 2:
        charge[:, 1] = -1
    else:
        charge[:, 0] = rng.choice(np.array([-1, 1], dtype=np.int8), n)
    return PaddedEvents(
        channel=channel,
        jets=jets,
        jet_btag=(rng.random((n, MAX_JETS)) < 0.3) & jet_mask,
        jet_mask=jet_mask,
        jet_match=np.full((n, MAX_JETS), -1, dtype=np.int8),
        leptons=leptons,
        lep_charge=charge,
        lep_pid=rng.choice(np.array([11, 13], dtype=np.int8), (n, n_lep)),
        met=met,
        weight=np.ones(n),
        n_jets=n_jets,
        truth_nu=neutrinos,
    )
