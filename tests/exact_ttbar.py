"""Exact tt̄ kinematics for closure tests of the analytic neutrino methods.

:func:`exact_ttbar` builds random, physical tt̄ events by a chain of
two-body decays, each isotropic in its parent's rest frame and boosted to
the lab: tt̄ system → t t̄, t → b W⁺, t̄ → b̄ W⁻, W → ℓ ν or q q̄'. Every
event draws its own top, W, b and lepton masses, so a method that hard-codes
a mass (or swaps the t and t̄ assumptions) fails the closure. Nothing is
smeared: the jets are the b (and light) quarks, the MET is exactly the sum
of the neutrinos' pT.

The result is a :class:`~nuanalysis.padded.PaddedEvents` (jets pT-ordered,
``jet_match`` in schema parton order, all truth arrays filled) plus the true
masses each constraint must be given: ``top_mass[:, 0]`` / ``w_mass[:, 0]``
for the t → b ℓ⁺ ν (W⁺) side and ``[:, 1]`` for t̄ (W⁻).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.constants import ELECTRON_MASS, MUON_MASS
from nuanalysis.padded import MAX_JETS, PaddedEvents


@dataclass
class ExactSample:
    """Exact events and the per-event truth a closure test needs."""

    events: PaddedEvents
    neutrinos: np.ndarray  # (n, n_nu, 3): ν (from W⁺) then ν̄, as events.truth_nu
    top_mass: np.ndarray  # (n, 2): m_t, m_t̄
    w_mass: np.ndarray  # (n, 2): m_W⁺, m_W⁻
    b_mass: np.ndarray  # (n, 2): b, b̄
    lepton_mass: np.ndarray  # (n, n_lep) in the order of events.leptons
    b_partons: np.ndarray  # (n, 2, 4): b, b̄ four-momenta
    leptonic_side: np.ndarray  # (n,) 0 where the W⁺ decays to ℓ⁺ν, 1 where W⁻ → ℓ⁻ν̄ (semileptonic)


def boost_to_lab(p4: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost ``p4`` (n, 4), given in the rest frame of ``parent`` (n, 4, lab frame), to the lab."""
    beta = parent[:, :3] / parent[:, 3:4]
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[:, :3], axis=1)
    factor = np.divide(gamma - 1.0, b2, out=np.zeros_like(b2), where=b2 > 0)
    p3 = p4[:, :3] + ((factor * bp + gamma * p4[:, 3])[:, None]) * beta
    return np.concatenate([p3, (gamma * (p4[:, 3] + bp))[:, None]], axis=1)


def two_body_decay(
    parent: np.ndarray, m1: np.ndarray, m2: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Lab four-momenta of the daughters of an isotropic two-body decay of ``parent`` (n, 4)."""
    m0 = np.sqrt(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1))
    if np.any(m0 <= m1 + m2):
        raise ValueError("two-body decay below threshold")
    p = np.sqrt((m0**2 - (m1 + m2) ** 2) * (m0**2 - (m1 - m2) ** 2)) / (2 * m0)
    cos_theta = rng.uniform(-1, 1, len(m0))
    sin_theta = np.sqrt(1 - cos_theta**2)
    phi = rng.uniform(-np.pi, np.pi, len(m0))
    direction = np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], axis=1)
    p3 = p[:, None] * direction
    d1 = np.concatenate([p3, np.sqrt(p**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-p3, np.sqrt(p**2 + m2**2)[:, None]], axis=1)
    return boost_to_lab(d1, parent), boost_to_lab(d2, parent)


def _pt(p: np.ndarray) -> np.ndarray:
    return np.hypot(p[..., 0], p[..., 1])


def exact_ttbar(
    n: int,
    channel: str = "dilepton",
    seed: int = 0,
    top_mass_range: tuple[float, float] = (165.0, 180.0),
    w_mass_range: tuple[float, float] = (76.0, 85.0),
    b_mass_range: tuple[float, float] = (4.2, 5.0),
    system_pt_scale: float = 60.0,
    system_pz_scale: float = 400.0,
) -> ExactSample:
    """``n`` exact tt̄ events of ``channel`` ("dilepton" or "semileptonic").

    Masses are uniform in the given ranges, independently for t and t̄ (and
    W⁺, W⁻, b, b̄); each lepton is an electron or a muon at random. The tt̄
    invariant mass is m_t + m_t̄ plus an exponential tail (mean 150 GeV), the
    system gets a random transverse kick and longitudinal boost. All jets are
    b-tagged b quarks or untagged light quarks, pT-ordered, with ``jet_match``.
    """
    if channel not in ("dilepton", "semileptonic"):
        raise ValueError(f"unknown channel {channel!r}")
    rng = np.random.default_rng(seed)
    top_mass = rng.uniform(*top_mass_range, (n, 2))
    w_mass = rng.uniform(*w_mass_range, (n, 2))
    b_mass = rng.uniform(*b_mass_range, (n, 2))
    lepton_pid = rng.choice([11, 13], (n, 2))
    lepton_mass_by_side = np.where(lepton_pid == 11, ELECTRON_MASS, MUON_MASS)

    m_tt = top_mass.sum(axis=1) + rng.exponential(150.0, n) + 1.0
    system_p3 = np.stack(
        [
            rng.normal(0, system_pt_scale, n),
            rng.normal(0, system_pt_scale, n),
            rng.normal(0, system_pz_scale, n),
        ],
        axis=1,
    )
    system = np.concatenate(
        [system_p3, np.sqrt(np.sum(system_p3**2, axis=1) + m_tt**2)[:, None]], axis=1
    )
    top, antitop = two_body_decay(system, top_mass[:, 0], top_mass[:, 1], rng)
    b, w_plus = two_body_decay(top, b_mass[:, 0], w_mass[:, 0], rng)
    bbar, w_minus = two_body_decay(antitop, b_mass[:, 1], w_mass[:, 1], rng)
    zero = np.zeros(n)
    # fermion first (schema): W⁺ → ℓ⁺ ν, W⁻ → ℓ⁻ ν̄
    lep_plus, nu = two_body_decay(w_plus, lepton_mass_by_side[:, 0], zero, rng)
    lep_minus, nubar = two_body_decay(w_minus, lepton_mass_by_side[:, 1], zero, rng)

    if channel == "dilepton":
        leptonic_side = np.full(n, -1)
        w_plus_daughters, w_minus_daughters = (lep_plus, nu), (lep_minus, nubar)
        leptons = np.stack([lep_plus, lep_minus], axis=1)
        charges = np.tile(np.array([1, -1], dtype=np.int8), (n, 1))
        pids = lepton_pid.astype(np.int8)
        lepton_mass = lepton_mass_by_side.copy()
        neutrinos = np.stack([nu[:, :3], nubar[:, :3]], axis=1)
        quark_jets = [(b, 0, True), (bbar, 1, True)]
    else:
        leptonic_side = rng.integers(0, 2, n)
        q_up, q_down = two_body_decay(w_plus, zero, zero, rng)
        q_down_bar, q_up_bar = two_body_decay(w_minus, zero, zero, rng)
        plus_leptonic = (leptonic_side == 0)[:, None]
        w_plus_daughters = (
            np.where(plus_leptonic, lep_plus, q_up),
            np.where(plus_leptonic, nu, q_down),
        )
        w_minus_daughters = (
            np.where(plus_leptonic, q_down_bar, lep_minus),
            np.where(plus_leptonic, q_up_bar, nubar),
        )
        leptons = np.where(plus_leptonic, lep_plus, lep_minus)[:, None]
        charges = np.where(leptonic_side == 0, 1, -1).astype(np.int8)[:, None]
        pids = np.take_along_axis(lepton_pid, leptonic_side[:, None], axis=1).astype(np.int8)
        lepton_mass = np.take_along_axis(lepton_mass_by_side, leptonic_side[:, None], axis=1)
        neutrinos = np.where(plus_leptonic, nu, nubar)[:, None, :3]
        hadronic = ~plus_leptonic
        quark_jets = [
            (b, 0, True),
            (bbar, 1, True),
            (np.where(hadronic, w_plus_daughters[0], w_minus_daughters[0]), 2, False),
            (np.where(hadronic, w_plus_daughters[1], w_minus_daughters[1]), 3, False),
        ]
        # light quarks belong to the hadronic W: partons 2, 3 (W⁺) or 4, 5 (W⁻)
        light_offset = np.where(leptonic_side == 0, 2, 0)

    jets_unsorted = np.stack([j for j, _, _ in quark_jets], axis=1)
    match_unsorted = np.tile(np.array([m for _, m, _ in quark_jets], dtype=np.int8), (n, 1))
    if channel == "semileptonic":
        match_unsorted[:, 2:] += light_offset[:, None].astype(np.int8)
    tag_unsorted = np.tile(np.array([t for _, _, t in quark_jets]), (n, 1))
    order = np.argsort(-_pt(jets_unsorted), axis=1)
    n_quark_jets = jets_unsorted.shape[1]
    jets = np.zeros((n, MAX_JETS, 4))
    jet_btag = np.zeros((n, MAX_JETS), dtype=bool)
    jet_mask = np.zeros((n, MAX_JETS), dtype=bool)
    jet_match = np.full((n, MAX_JETS), -1, dtype=np.int8)
    jets[:, :n_quark_jets] = np.take_along_axis(jets_unsorted, order[:, :, None], axis=1)
    jet_btag[:, :n_quark_jets] = np.take_along_axis(tag_unsorted, order, axis=1)
    jet_mask[:, :n_quark_jets] = True
    jet_match[:, :n_quark_jets] = np.take_along_axis(match_unsorted, order, axis=1)

    lepton_order = np.argsort(-_pt(leptons), axis=1)
    leptons = np.take_along_axis(leptons, lepton_order[:, :, None], axis=1)
    charges = np.take_along_axis(charges, lepton_order, axis=1)
    pids = np.take_along_axis(pids, lepton_order, axis=1)
    lepton_mass = np.take_along_axis(lepton_mass, lepton_order, axis=1)

    partons = np.stack([b, bbar, *w_plus_daughters, *w_minus_daughters], axis=1)
    flavour = lepton_pid  # 11 or 13 per side; ν_ℓ has pid + 1
    parton_pid = np.stack(
        [
            np.full(n, 5),
            np.full(n, -5),
            -flavour[:, 0],
            flavour[:, 0] + 1,
            flavour[:, 1],
            -(flavour[:, 1] + 1),
        ],
        axis=1,
    )
    if channel == "semileptonic":  # the hadronic W: W⁺ → u d̄, W⁻ → d ū
        plus_hadronic = (leptonic_side == 1)[:, None]
        parton_pid[:, 2:4] = np.where(plus_hadronic, [2, -1], parton_pid[:, 2:4])
        parton_pid[:, 4:6] = np.where(plus_hadronic, parton_pid[:, 4:6], [1, -2])
    parton_pid = parton_pid.astype(np.int8)
    met = neutrinos[:, :, :2].sum(axis=1)
    events = PaddedEvents(
        channel=channel,
        jets=jets,
        jet_btag=jet_btag,
        jet_mask=jet_mask,
        jet_match=jet_match,
        leptons=leptons,
        lep_charge=charges,
        lep_pid=pids,
        met=met,
        weight=np.ones(n),
        n_jets=np.full(n, n_quark_jets, dtype=np.int64),
        truth_nu=neutrinos.copy(),
        truth_partons=partons,
        truth_parton_pid=parton_pid,
        truth_top=top,
        truth_antitop=antitop,
    )
    return ExactSample(
        events=events,
        neutrinos=neutrinos,
        top_mass=top_mass,
        w_mass=w_mass,
        b_mass=b_mass,
        lepton_mass=lepton_mass,
        b_partons=np.stack([b, bbar], axis=1),
        leptonic_side=leptonic_side,
    )
