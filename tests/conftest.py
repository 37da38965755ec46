"""Shared fixtures: small synthetic tt̄ samples in ntuple schema v1.

:func:`make_branches` builds a schema-v1 branch dict of ``n`` events by an
exact decay chain (t → b W, W → f f̄', isotropic two-body decays boosted to
the lab), so truth is self-consistent: every W daughter pair has m = W_MASS,
every b W pair m = TOP_MASS, and with ``met_resolution=0`` the MET is exactly the
sum of the neutrinos' pT. Jets are the quarks (pT smeared by ``jet_resolution``)
plus a few unmatched extra jets, pT-ordered, with ``jet_match`` pointing at
the parton. Use it directly (``from conftest import make_branches``) or via
the fixtures ``synthetic_branches`` and ``synthetic_ntuple``.
"""

from __future__ import annotations

import importlib.util

import awkward as ak
import numpy as np
import pytest

from baselines.constants import B_MASS, ELECTRON_MASS, MUON_MASS, TOP_MASS, W_MASS

LEPTON_MASS = {11: ELECTRON_MASS, 13: MUON_MASS}


def _four_vector(pt, eta, phi, mass):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + mass**2)], axis=-1)


def _boost(p4, parent):
    """Boost ``p4`` from the rest frame of ``parent`` (both (n, 4)) to the lab."""
    beta = parent[:, :3] / parent[:, 3:4]
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[:, :3], axis=1)
    gamma2 = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    p3 = p4[:, :3] + (gamma2 * bp + gamma * p4[:, 3])[:, None] * beta
    return np.concatenate([p3, (gamma * (p4[:, 3] + bp))[:, None]], axis=1)


def _two_body(parent, m1, m2, rng):
    """Isotropic decay of ``parent`` (n, 4) into masses m1, m2 (scalars or (n,))."""
    n = len(parent)
    big_m = np.sqrt(np.maximum(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1), 0.0))
    m1, m2 = np.broadcast_to(m1, n), np.broadcast_to(m2, n)
    p = np.sqrt((big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2)) / (2 * big_m)
    cos_t, phi = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    direction = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    d1 = np.concatenate([p[:, None] * direction, np.sqrt(p**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-p[:, None] * direction, np.sqrt(p**2 + m2**2)[:, None]], axis=1)
    return _boost(d1, parent), _boost(d2, parent)


def _collider(p4):
    pt = np.hypot(p4[..., 0], p4[..., 1])
    eta = np.arcsinh(p4[..., 2] / pt)
    phi = np.arctan2(p4[..., 1], p4[..., 0])
    m2 = p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1)
    return pt, eta, phi, np.sqrt(np.maximum(m2, 0.0))


def _jagged(values, keep, order):
    """Rows of ``values`` (n, k) reordered by ``order`` and restricted to ``keep``."""
    values = np.take_along_axis(values, order, axis=1)
    keep = np.take_along_axis(keep, order, axis=1)
    return ak.unflatten(values[keep], keep.sum(axis=1))


def make_branches(
    channel: str,
    n: int,
    seed: int = 0,
    truth: bool = True,
    met_resolution: float = 0.0,
    jet_resolution: float = 0.1,
    max_extra_jets: int = 3,
) -> dict:
    """Schema-v1 branches of ``n`` synthetic tt̄ events of ``channel``.

    Tops: exponential pT (mean 80 GeV), Gaussian η (σ 1.2), mass TOP_MASS, each
    decayed isotropically. Leptons are the W's charged leptons unsmeared (e or μ at
    random); no selection cuts are applied. ``met_resolution`` (GeV) smears each
    MET component; ``jet_resolution`` is the relative Gaussian pT smearing of the
    quark jets (b jets carry B_MASS, light-quark jets are massless).
    """
    rng = np.random.default_rng(seed)
    tops = []
    for _ in range(2):
        pt = rng.exponential(80.0, n) + 1.0
        tops.append(
            _four_vector(pt, rng.normal(0, 1.2, n), rng.uniform(-np.pi, np.pi, n), TOP_MASS)
        )
    top, antitop = tops
    b, w_plus = _two_body(top, B_MASS, W_MASS, rng)
    bbar, w_minus = _two_body(antitop, B_MASS, W_MASS, rng)

    if channel == "dilepton":
        leptonic = np.ones((n, 2), dtype=bool)
    elif channel == "semileptonic":
        plus = rng.random(n) < 0.5
        leptonic = np.stack([plus, ~plus], axis=1)
    else:
        raise ValueError(channel)
    flavour = np.where(rng.random((n, 2)) < 0.5, 11, 13)
    lep_mass = np.where(flavour == 11, ELECTRON_MASS, MUON_MASS)
    # W daughters: charged lepton / up-type quark first, then ν / down-type antiquark
    daughters = [
        _two_body(w, np.where(leptonic[:, i], lep_mass[:, i], 0.0), 0.0, rng)
        for i, w in enumerate((w_plus, w_minus))
    ]
    partons = np.stack([b, bbar, *daughters[0], *daughters[1]], axis=1)  # (n, 6, 4)
    quark_pid = np.array([[5, -5, 2, -1, 1, -2]]).repeat(n, axis=0)
    lepton_pid = np.stack(
        [
            quark_pid[:, 0],
            quark_pid[:, 1],
            -flavour[:, 0],
            flavour[:, 0] + 1,
            flavour[:, 1],
            -(flavour[:, 1] + 1),
        ],
        axis=1,
    )
    is_lepton_w = np.repeat(leptonic, 2, axis=1)
    parton_pid = np.where(np.hstack([np.zeros((n, 2), bool), is_lepton_w]), lepton_pid, quark_pid)

    p_pt, p_eta, p_phi, p_mass = _collider(partons)
    p_mass[:, :2] = B_MASS  # remove rounding noise on the b masses

    # leptons: the charged leptons of leptonic Ws, pT-ordered
    lep_slots = [2, 4]
    lep_pt = p_pt[:, lep_slots]
    lep_order = np.argsort(np.where(leptonic, -lep_pt, np.inf), axis=1, kind="stable")
    lep = {
        "lep_pt": _jagged(lep_pt, leptonic, lep_order),
        "lep_eta": _jagged(p_eta[:, lep_slots], leptonic, lep_order),
        "lep_phi": _jagged(p_phi[:, lep_slots], leptonic, lep_order),
        "lep_mass": _jagged(lep_mass, leptonic, lep_order),
        "lep_charge": _jagged(np.tile([1, -1], (n, 1)), leptonic, lep_order),
        "lep_pid": _jagged(flavour, leptonic, lep_order),
    }

    # jets: b, b̄, hadronic W daughters (pT smeared), plus unmatched extra jets
    quark = np.hstack([np.ones((n, 2), bool), ~is_lepton_w])
    smear = np.clip(1 + jet_resolution * rng.normal(size=(n, 6)), 0.3, None)
    n_extra = rng.integers(0, max_extra_jets + 1, n)
    extra_keep = np.arange(max_extra_jets)[None, :] < n_extra[:, None]
    jet_pt = np.hstack([p_pt * smear, 25 + rng.exponential(20.0, (n, max_extra_jets))])
    jet_eta = np.hstack([p_eta, rng.uniform(-2.5, 2.5, (n, max_extra_jets))])
    jet_phi = np.hstack([p_phi, rng.uniform(-np.pi, np.pi, (n, max_extra_jets))])
    quark_jet_mass = np.broadcast_to(np.where(np.arange(6) < 2, B_MASS, 0.0), (n, 6))
    jet_mass = np.hstack([quark_jet_mass, rng.uniform(2, 10, (n, max_extra_jets))])
    jet_match = np.hstack([np.tile(np.arange(6), (n, 1)), -np.ones((n, max_extra_jets), int)])
    jet_keep = np.hstack([quark, extra_keep])
    is_b = np.arange(6 + max_extra_jets) < 2
    jet_btag = np.where(is_b, rng.random(jet_pt.shape) < 0.77, rng.random(jet_pt.shape) < 0.01)
    jet_order = np.argsort(np.where(jet_keep, -jet_pt, np.inf), axis=1, kind="stable")
    jets = {
        f"jet_{name}": _jagged(values, jet_keep, jet_order)
        for name, values in [
            ("pt", jet_pt),
            ("eta", jet_eta),
            ("phi", jet_phi),
            ("mass", jet_mass),
            ("btag", jet_btag),
            ("match", jet_match),
        ]
    }

    nu_slots = [3, 5]
    nu_p = partons[:, nu_slots, :2].sum(axis=1, where=leptonic[:, :, None])
    met_xy = nu_p + met_resolution * rng.normal(size=(n, 2))
    branches = {
        **jets,
        **lep,
        "met": np.hypot(met_xy[:, 0], met_xy[:, 1]),
        "met_phi": np.arctan2(met_xy[:, 1], met_xy[:, 0]),
        "weight": np.ones(n),
    }
    if truth:
        order = np.tile([0, 1], (n, 1))
        branches.update(
            {
                "truth_nu_pt": _jagged(p_pt[:, nu_slots], leptonic, order),
                "truth_nu_eta": _jagged(p_eta[:, nu_slots], leptonic, order),
                "truth_nu_phi": _jagged(p_phi[:, nu_slots], leptonic, order),
                "truth_nu_pid": _jagged(parton_pid[:, nu_slots], leptonic, order),
            }
        )
        for name, values in [
            ("pt", p_pt),
            ("eta", p_eta),
            ("phi", p_phi),
            ("mass", p_mass),
            ("pid", parton_pid),
        ]:
            branches[f"truth_parton_{name}"] = values
        for label, p4 in [("top", top), ("antitop", antitop)]:
            for name, values in zip(("pt", "eta", "phi", "mass"), _collider(p4), strict=True):
                branches[f"truth_{label}_{name}"] = values
    return {name: _with_schema_dtype(name, value) for name, value in branches.items()}


def _with_schema_dtype(name, value):
    from nuanalysis.schema import BY_NAME

    dtype = BY_NAME[name].dtype
    if isinstance(value, np.ndarray):
        return value.astype(dtype)
    return ak.values_astype(value, dtype)


@pytest.fixture
def synthetic_branches():
    """The :func:`make_branches` factory."""
    return make_branches


@pytest.fixture
def synthetic_ntuple(tmp_path):
    """Factory writing a synthetic schema-v1 file: ``synthetic_ntuple("dilepton", 200) -> Path``."""
    from nuanalysis.io import write_ntuple

    def write(channel: str, n: int, name: str | None = None, **options):
        path = tmp_path / (name or f"{channel}_{n}.root")
        write_ntuple(path, make_branches(channel, n, **options))
        return path

    return write


HAVE_ROOT = importlib.util.find_spec("ROOT") is not None
