"""Neutrino Weighting: single-ν solutions vs scipy, closure on exact tt̄, pairing and mass
assignment, reproducible smearing (chunks, threads), presets, edge cases."""

from __future__ import annotations

from dataclasses import replace

import numba
import numpy as np
import pytest
from exact_ttbar import exact_ttbar
from scipy.optimize import fsolve

from baselines.constants import TOP_MASS
from baselines.ellipse import dilepton_neutrinos
from baselines.neutrino_weighting import (
    PRESETS,
    NeutrinoWeightingConfig,
    counter_normal,
    neutrino_solutions,
    neutrino_weighting,
)
from nuanalysis.candidates import b_jet_candidate_indices
from nuanalysis.errors import InputError
from nuanalysis.methods.registry import get_method, reconstruct


@pytest.fixture(scope="module")
def sample():
    return exact_ttbar(400, "dilepton", seed=11)


def eta_of(p3: np.ndarray) -> np.ndarray:
    return np.arcsinh(p3[..., 2] / np.hypot(p3[..., 0], p3[..., 1]))


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1), 0.0))


def massless(p3: np.ndarray) -> np.ndarray:
    return np.concatenate([p3, np.linalg.norm(p3, axis=-1, keepdims=True)], axis=-1)


def true_pairing(events) -> np.ndarray:
    """0 where the leading b candidate is the b from t (paired with ℓ⁺), else 1."""
    index = b_jet_candidate_indices(events)
    match = np.take_along_axis(events.jet_match, index, axis=1)
    return np.where(match[:, 0] == 0, 0, 1)


def exact_options(sample) -> dict:
    """The grid preset told the true masses of each event (jets keep the b-quark masses)."""
    return {"preset": "grid", "top_mass": sample.top_mass, "w_mass": sample.w_mass, "b_mass": None}


def test_single_neutrino_matches_scipy_solve_of_both_constraints(sample):
    """Each solution obeys both mass constraints, scipy finds no other, the true ν is one."""
    events = sample.events
    lepton, b = events.lepton_pos, sample.b_partons[:, 0]
    truth = sample.neutrinos[:, 0]
    for i in range(25):
        m_t, m_w, eta = sample.top_mass[i, 0], sample.w_mass[i, 0], eta_of(truth[i])
        solutions = neutrino_solutions(lepton[i], b[i], m_t, m_w, eta)
        assert 1 <= len(solutions) <= 2
        nu = massless(solutions)
        np.testing.assert_allclose(invariant_mass(lepton[i] + nu), m_w, rtol=1e-7)
        np.testing.assert_allclose(invariant_mass(lepton[i] + b[i] + nu), m_t, rtol=1e-7)
        np.testing.assert_allclose(eta_of(solutions), eta, atol=1e-9)
        assert np.min(np.linalg.norm(solutions - truth[i], axis=1)) < 1e-6 * np.linalg.norm(
            truth[i]
        )

        def constraints(pxy, i=i, eta=eta, m_t=m_t, m_w=m_w):
            pt = np.hypot(*pxy)
            nu = np.array([pxy[0], pxy[1], pt * np.sinh(eta), pt * np.cosh(eta)])
            return [
                (invariant_mass(lepton[i] + nu) ** 2 - m_w**2) / m_w**2,
                (invariant_mass(lepton[i] + b[i] + nu) ** 2 - m_t**2) / m_t**2,
            ]

        rng = np.random.default_rng(i)
        for start in rng.normal(0, 150, (20, 2)):
            root, info, converged, _ = fsolve(constraints, start, full_output=True, xtol=1e-12)
            if converged == 1 and np.max(np.abs(info["fvec"])) < 1e-10:
                assert np.min(np.linalg.norm(solutions[:, :2] - root, axis=1)) < 1e-4


def test_single_neutrino_without_solution():
    """A top lighter than its b + ℓ system has no neutrino."""
    lepton = np.array([40.0, 0.0, 10.0, np.hypot(40.0, 10.0)])
    b = np.array([0.0, 60.0, -20.0, np.sqrt(60.0**2 + 20.0**2 + 4.5**2)])
    assert len(neutrino_solutions(lepton, b, 30.0, 80.4, 0.3)) == 0


def test_closure_with_true_eta_recovers_truth_and_pairing(sample):
    """Given each ν's true η and the event's true masses, NW returns the true (ν, ν̄),
    weight 1 and the true pairing; masses assigned to the wrong top spoil it."""
    events = sample.events
    true_eta = eta_of(sample.neutrinos)[:, :, None]
    result = reconstruct("nw", events, eta_values=true_eta, **exact_options(sample))
    assert result.valid.all()
    np.testing.assert_allclose(result.momenta, sample.neutrinos, atol=1e-6 * 100)
    np.testing.assert_allclose(result.weight, 1.0, atol=1e-9)
    np.testing.assert_array_equal(result.extras["pairing"], true_pairing(events))
    np.testing.assert_allclose(result.extras["top_mass"], sample.top_mass)
    paired_match = np.take_along_axis(events.jet_match, result.extras["b_jet_index"], axis=1)
    np.testing.assert_array_equal(paired_match, np.tile([0, 1], (len(events), 1)))

    swapped = dict(exact_options(sample), top_mass=sample.top_mass[:, ::-1])
    wrong = reconstruct("nw", events, eta_values=true_eta, **swapped)
    off = np.abs(wrong.momenta - sample.neutrinos).max(axis=(1, 2)) > 1.0
    assert off[wrong.valid].mean() > 0.9
    assert np.median(np.where(wrong.valid, wrong.weight, 0.0)) < 0.5


def test_wrong_pairing_loses(sample):
    """With the b quarks given in swapped order NW picks pairing 1 and still the truth; the
    wrong pairing on its own (ℓ⁺ with b̄, ℓ⁻ with b; true η, true masses) scores far lower."""
    events = sample.events
    true_eta = eta_of(sample.neutrinos)
    swapped = neutrino_weighting(
        sample.b_partons[:, ::-1],
        events.lepton_pos,
        events.lepton_neg,
        events.met,
        np.ones(len(events), bool),
        PRESETS["grid"],
        top_mass=sample.top_mass,
        w_mass=sample.w_mass,
        eta_values=true_eta[:, :, None],
    )
    assert (swapped["pairing"] == 1).all()
    np.testing.assert_allclose(swapped["momenta"], sample.neutrinos, atol=1e-4)

    sigma = PRESETS["grid"].met_sigma
    wrong_weight = np.zeros(100)
    for i in range(100):
        nu = neutrino_solutions(
            events.lepton_pos[i],
            sample.b_partons[i, 1],
            *sample.top_mass[i, ::-1][:1],
            sample.w_mass[i, 0],
            true_eta[i, 0],
        )
        nubar = neutrino_solutions(
            events.lepton_neg[i],
            sample.b_partons[i, 0],
            sample.top_mass[i, 1],
            sample.w_mass[i, 1],
            true_eta[i, 1],
        )
        for a in nu:
            for b in nubar:
                d2 = np.sum((a[:2] + b[:2] - events.met[i]) ** 2) / sigma**2
                wrong_weight[i] = max(wrong_weight[i], np.exp(-0.5 * d2))
    assert np.mean(wrong_weight < 0.5) > 0.9
    assert (wrong_weight < swapped["weight"][:100]).mean() > 0.95


def test_grid_closure_fine_eta_grid(sample):
    """On exact events with true masses, a fine η grid (no special values) finds weights near 1,
    the chosen solution obeys both constraints, and mostly it is the true neutrino pair
    (the system has up to four exact solutions per pairing)."""
    events = sample.events
    step = 0.05
    result = reconstruct("nw", events, eta_min=-5.01, eta_step=step, **exact_options(sample))
    assert result.valid.mean() > 0.99
    assert np.median(result.weight[result.valid]) > 0.99
    valid = result.valid
    index = result.extras["b_jet_index"][valid]
    jets = events.jets[valid]
    b_plus = np.take_along_axis(jets, index[:, :1, None], axis=1)[:, 0]
    b_minus = np.take_along_axis(jets, index[:, 1:, None], axis=1)[:, 0]
    nu, nubar = massless(result.momenta[valid, 0]), massless(result.momenta[valid, 1])
    w_mass, top_mass = sample.w_mass[valid], result.extras["top_mass"][valid]
    np.testing.assert_allclose(invariant_mass(events.lepton_pos[valid] + nu), w_mass[:, 0], 1e-6)
    np.testing.assert_allclose(invariant_mass(events.lepton_neg[valid] + nubar), w_mass[:, 1], 1e-6)
    np.testing.assert_allclose(
        invariant_mass(events.lepton_pos[valid] + b_plus + nu), top_mass[:, 0], 1e-6
    )
    np.testing.assert_allclose(
        invariant_mass(events.lepton_neg[valid] + b_minus + nubar), top_mass[:, 1], 1e-6
    )
    # the exact solutions (all intersections of the Betchart ellipses, both pairings):
    # NW's grid optimum lies next to one of them, in the pairing NW chose (the others:
    # near-tangent ellipses, where η is ill-defined and NW sits between two solutions)
    index = b_jet_candidate_indices(events)
    b_candidates = np.take_along_axis(events.jets, index[:, :, None], axis=1)
    _, _, _, n_exact, exact, _ = dilepton_neutrinos(
        b_candidates,
        events.lepton_pos,
        events.lepton_neg,
        events.met,
        sample.top_mass,
        sample.w_mass,
        np.ones(len(events), bool),
        False,
    )
    nearest = np.full(len(events), np.inf)
    for i in np.flatnonzero(valid):
        pairing = result.extras["pairing"][i]
        for k in range(n_exact[i, pairing]):
            gap = np.abs(eta_of(exact[i, pairing, k]) - result.extras["eta"][i]).max()
            nearest[i] = min(nearest[i], gap)
    assert np.mean(nearest[valid] <= 2 * step) > 0.85
    # and the truth is one of the exact solutions NW can land on
    delta_eta = np.abs(result.extras["eta"] - eta_of(sample.neutrinos)).max(axis=1)
    assert np.mean(delta_eta[valid] <= 2 * step) > 0.3


def test_pruned_search_equals_brute_force(smeared):
    """The bucketed nearest-MET search returns exactly the maximum weight over all (ν, ν̄)
    pairs of solutions (both pairings, every η and independently scanned m_t), with the
    E > 0 and m_tt cuts, and an anisotropic σ (20 % of each MET component)."""
    config = replace(
        PRESETS["grid"], top_mass_offsets=(-3.0, 0.0, 4.0), met_sigma_fraction=0.2, eta_step=0.25
    )
    events = smeared.select(slice(0, 40))
    index = b_jet_candidate_indices(events)
    b_jets = np.take_along_axis(events.jets, index[:, :, None], axis=1)
    b_jets[..., 3] = np.sqrt(np.sum(b_jets[..., :3] ** 2, axis=-1) + config.b_mass**2)
    leptons = np.stack([events.lepton_pos, events.lepton_neg], axis=1)
    fast = neutrino_weighting(
        b_jets, events.lepton_pos, events.lepton_neg, events.met, np.ones(40, bool), config
    )
    top_masses = TOP_MASS + np.array(config.top_mass_offsets)
    for i in range(40):
        sigma = np.maximum(0.2 * np.abs(events.met[i]), config.met_sigma_floor)
        best = 0.0
        for pairing in range(2):
            sides = [leptons[i, 0] + b_jets[i, pairing], leptons[i, 1] + b_jets[i, 1 - pairing]]
            found = []
            for side in range(2):
                b = b_jets[i, pairing if side == 0 else 1 - pairing]
                found.append(
                    massless(
                        np.concatenate(
                            [
                                neutrino_solutions(leptons[i, side], b, m_t, config.w_mass, eta)
                                for m_t in top_masses
                                for eta in config.eta_grid()
                            ]
                        )
                    )
                )
            nu, nubar = found
            if len(nu) == 0 or len(nubar) == 0:
                continue
            residual = nu[:, None, :2] + nubar[None, :, :2] - events.met[i]
            weight = np.exp(-0.5 * np.sum((residual / sigma) ** 2, axis=-1))
            ttbar = sides[0] + nu[:, None] + sides[1] + nubar[None, :]
            weight[invariant_mass(ttbar) <= config.min_mtt] = 0.0
            best = max(best, weight.max())
        expected = best if best > config.min_weight else 0.0
        assert fast["valid"][i] == (expected > 0)
        np.testing.assert_allclose(fast["weight"][i], expected, rtol=1e-9, atol=1e-300)


def test_counter_normal_is_standard_normal_and_pure():
    draws = np.array(
        [
            counter_normal(np.uint64(3), e, s, j)
            for e in range(200)
            for s in range(10)
            for j in range(2)
        ]
    )
    assert abs(draws.mean()) < 0.05 and abs(draws.std() - 1) < 0.05
    assert counter_normal(np.uint64(3), 7, 2, 1) == counter_normal(np.uint64(3), 7, 2, 1)
    assert counter_normal(np.uint64(3), 7, 2, 1) != counter_normal(np.uint64(4), 7, 2, 1)


@pytest.fixture(scope="module")
def smeared():
    """Exact events with a measured-like MET and b-jet response, so smearing matters."""
    sample = exact_ttbar(80, "dilepton", seed=12)
    events = sample.events
    rng = np.random.default_rng(1)
    events.jets[:, :2, :3] *= rng.normal(1.0, 0.15, (len(events), 2, 1))
    events.jets[:, :2, 3] = np.linalg.norm(events.jets[:, :2, :3], axis=-1)
    events.met = events.met + rng.normal(0, 15.0, events.met.shape)
    return events


SMALL_ANALYSIS = {"preset": "analysis", "n_smearings": 6}


def test_smearing_reproducible_across_chunks_and_threads(smeared):
    whole = reconstruct("nw", smeared, **SMALL_ANALYSIS)
    assert (whole.extras["smearing"] > 0).any(), "some events should be won by a smearing"
    parts = [
        reconstruct("nw", smeared.select(slice(0, 30)), **SMALL_ANALYSIS),
        reconstruct("nw", smeared.select(slice(30, None)), first_event_index=30, **SMALL_ANALYSIS),
    ]
    np.testing.assert_array_equal(np.concatenate([p.momenta for p in parts]), whole.momenta)
    np.testing.assert_array_equal(np.concatenate([p.weight for p in parts]), whole.weight)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = reconstruct("nw", smeared, **SMALL_ANALYSIS)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one_thread.momenta, whole.momenta)
    # the smearing is a function of the global event index and the seed
    shifted = reconstruct("nw", smeared.select(slice(30, None)), **SMALL_ANALYSIS)
    assert not np.array_equal(shifted.weight, parts[1].weight)
    reseeded = reconstruct("nw", smeared, smearing_seed=5, **SMALL_ANALYSIS)
    assert not np.array_equal(reseeded.weight, whole.weight)


def test_analysis_configuration_rescues_grid_failures(smeared):
    """m_t scan + smearing + MET-relative σ find solutions where the bare grid fails, and the
    best weight can only grow when the grid preset's choices are a subset of the search."""
    grid = reconstruct("nw", smeared, preset="grid")
    analysis = reconstruct("nw", smeared, **SMALL_ANALYSIS)
    assert analysis.valid.sum() >= grid.valid.sum()
    grid_plus = reconstruct("nw", smeared, preset="grid", n_smearings=6, smearing_seed=0)
    assert (grid_plus.weight >= grid.weight - 1e-12).all()
    assert grid_plus.valid.sum() > grid.valid.sum() or grid.valid.all()


def test_gaussian_eta_sampling(sample):
    result = reconstruct(
        "nw", sample.events, eta_sampling="gaussian", n_eta_draws=300, **exact_options(sample)
    )
    assert result.valid.mean() > 0.9
    assert np.median(result.weight[result.valid]) > 0.5
    again = reconstruct(
        "nw", sample.events, eta_sampling="gaussian", n_eta_draws=300, **exact_options(sample)
    )
    np.testing.assert_array_equal(again.momenta, result.momenta)


def test_edge_cases(sample):
    events = sample.events.select(np.arange(6))  # a copy: the fixture is shared
    # one b-tag: leading tagged + leading untagged are still two candidates
    events.jet_btag[0] = [True] + [False] * (events.jet_btag.shape[1] - 1)
    # no second jet: no candidate pair
    events.jet_mask[1, 1:] = False
    # no jet at all
    events.jet_mask[2] = False
    # zero MET: the σ floor keeps the weight finite
    events.met[3] = 0.0
    # NaN MET never leaks
    events.met[4] = np.nan
    # the registry refuses events without jets or with NaN (nuanalysis.validation) ...
    with pytest.raises(InputError, match=r"event 2 is not physical \(no jets"):
        reconstruct("nw", events, preset="grid")
    # ... and the method alone (its kernel) marks them not valid
    nw = get_method("nw").function
    result = nw(events, preset="analysis", n_smearings=2)
    assert np.isfinite(result.momenta).all() and np.isfinite(result.weight).all()
    assert result.valid[0]
    assert not result.valid[[1, 2, 4]].any()
    assert (result.momenta[~result.valid] == 0).all()
    assert (result.extras["pairing"][~result.valid] == -1).all()
    # no solution anywhere: an impossible top mass
    none = nw(events, preset="grid", top_mass=20.0)
    assert not none.valid.any() and (none.momenta == 0).all() and (none.weight == 0).all()


def test_bad_options_are_refused(sample):
    events = sample.events.select(slice(0, 3))
    with pytest.raises(ValueError, match="preset"):
        reconstruct("nw", events, preset="fast")
    with pytest.raises(ValueError, match="option"):
        reconstruct("nw", events, n_smearing=3)
    with pytest.raises(ValueError, match="top_mass"):
        reconstruct("nw", events, top_mass=np.ones(7))
    with pytest.raises(ValueError, match="first_event_index"):
        reconstruct("nw", events, first_event_index=-1)
    with pytest.raises(ValueError, match="eta_sampling"):
        NeutrinoWeightingConfig(eta_sampling="uniform")
    with pytest.raises(ValueError, match="min_weight"):
        NeutrinoWeightingConfig(min_weight=0.0)


def test_presets():
    analysis, grid = PRESETS["analysis"], PRESETS["grid"]
    assert len(analysis.eta_grid()) == 51 and analysis.eta_grid()[25] == pytest.approx(0.0)
    assert len(analysis.top_mass_offsets) == 9 and analysis.n_smearings == 50
    assert grid.n_smearings == 0 and grid.top_mass_offsets == (0.0,)
    assert grid.met_sigma_fraction is None and grid.met_sigma == 10.0
