"""The Betchart ellipse method: closure on exact kinematics, brute-force cross-check, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from exact_ttbar import exact_ttbar
from scipy.optimize import root

from baselines.constants import B_MASS, TOP_MASS, W_MASS_NW
from baselines.ellipse import dilepton_neutrinos, intersect_conics, neutrino_ellipse
from nuanalysis.errors import InputError
from nuanalysis.methods.registry import reconstruct


@pytest.fixture(scope="module")
def dilepton():
    return exact_ttbar(600, "dilepton", seed=5)


@pytest.fixture(scope="module")
def semileptonic():
    return exact_ttbar(600, "semileptonic", seed=6)


def solve(sample, b_jets=None, top_mass=None, w_mass=None, met=None, closest=False):
    """The dilepton kernel on a sample's true b quarks (pairing 0: b with ℓ⁺) and true masses."""
    events = sample.events
    return dilepton_neutrinos(
        sample.b_partons if b_jets is None else b_jets,
        events.lepton_pos,
        events.lepton_neg,
        events.met if met is None else met,
        sample.top_mass if top_mass is None else top_mass,
        sample.w_mass if w_mass is None else w_mass,
        np.ones(len(events), dtype=bool),
        closest,
    )


def distance_to_truth(solutions, n_solutions, truth):
    """(n,) smallest max-|Δp| between the true (ν, ν̄) and any listed solution."""
    distance = np.abs(solutions - truth[:, None]).max(axis=(2, 3))
    listed = np.arange(solutions.shape[1])[None, :] < n_solutions[:, None]
    return np.where(listed, distance, np.inf).min(axis=1)


def four(p3):
    return np.concatenate([p3, np.linalg.norm(p3, axis=-1, keepdims=True)], axis=-1)


def mass(p4):
    return np.sqrt(np.maximum(p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1), 0))


def constraint_residuals(b, lepton, b_bar, lepton_bar, nu, nu_bar, top_mass, w_mass):
    """(…, 4) m(ℓ⁺ν) − m_W⁺, m(bℓ⁺ν) − m_t, and the same for the t̄ side."""
    w, w_bar = lepton + four(nu), lepton_bar + four(nu_bar)
    return np.stack(
        [
            mass(w) - w_mass[..., 0],
            mass(w + b) - top_mass[..., 0],
            mass(w_bar) - w_mass[..., 1],
            mass(w_bar + b_bar) - top_mass[..., 1],
        ],
        axis=-1,
    )


def test_dilepton_closure_both_pairings(dilepton):
    truth = dilepton.neutrinos
    _, valid, _, n_solutions, solutions, _ = solve(dilepton)
    assert valid.all()
    assert np.all(distance_to_truth(solutions[:, 0], n_solutions[:, 0], truth) < 1e-3)
    # candidates in the other order: the truth must come from pairing 1
    swapped = solve(dilepton, b_jets=dilepton.b_partons[:, ::-1].copy())
    assert np.all(distance_to_truth(swapped[4][:, 1], swapped[3][:, 1], truth) < 1e-3)
    np.testing.assert_array_equal(swapped[3][:, ::-1], n_solutions)


def test_dilepton_closure_fails_with_wrong_masses(dilepton):
    """Swapping the t and t̄ mass assumptions (or W⁺, W⁻) must lose the true solution."""
    truth = dilepton.neutrinos
    for masses in (
        {"top_mass": dilepton.top_mass[:, ::-1].copy()},
        {"w_mass": dilepton.w_mass[:, ::-1].copy()},
    ):
        _, _, _, n_solutions, solutions, _ = solve(dilepton, **masses)
        found = distance_to_truth(solutions[:, 0], n_solutions[:, 0], truth) < 1e-3
        assert found.mean() < 0.05


def test_dilepton_solutions_satisfy_constraints_and_choice(dilepton):
    events = dilepton.events
    momenta, valid, pairing, n_solutions, solutions, _ = solve(dilepton)
    b, b_bar = dilepton.b_partons[:, 0], dilepton.b_partons[:, 1]
    masses = []
    for k in range(2):
        first, second = (b, b_bar) if k == 0 else (b_bar, b)
        for m in range(4):
            listed = n_solutions[:, k] > m
            nu, nu_bar = solutions[:, k, m, 0], solutions[:, k, m, 1]
            residual = constraint_residuals(
                first,
                events.lepton_pos,
                second,
                events.lepton_neg,
                nu,
                nu_bar,
                dilepton.top_mass,
                dilepton.w_mass,
            )
            assert np.all(np.abs(residual[listed]) < 1e-5)
            np.testing.assert_allclose((nu + nu_bar)[listed, :2], events.met[listed], atol=1e-6)
            total = first + events.lepton_pos + four(nu) + second + events.lepton_neg + four(nu_bar)
            masses.append(np.where(listed, mass(total), np.inf))
    # the returned solution is the one of smallest m_tt over both pairings
    smallest = np.argmin(np.stack(masses, axis=1), axis=1)
    np.testing.assert_array_equal(pairing, smallest // 4)
    chosen = solutions[np.arange(len(events)), smallest // 4, smallest % 4]
    np.testing.assert_allclose(momenta[valid], chosen[valid])


def test_registry_dilepton_with_true_masses(dilepton):
    events = dilepton.events
    result = reconstruct(
        "ellipse", events, top_mass=dilepton.top_mass, w_mass=dilepton.w_mass, b_mass=None
    )
    assert result.valid.all()
    # both jets are tagged, so candidate 0 is the leading jet: the true pairing is 1 where it is b̄
    true_pairing = (events.jet_match[:, 0] != 0).astype(int)
    n_solutions = result.extras["n_solutions"]
    assert np.all(n_solutions[np.arange(len(events)), true_pairing] > 0)
    # the jet given to ℓ⁺ in the chosen pairing carries b (parton 0) where that pairing is right
    b_index = result.extras["b_jet_index"]
    right = np.take_along_axis(events.jet_match, b_index[:, :1], axis=1)[:, 0] == 0
    close = np.abs(result.momenta - dilepton.neutrinos).max(axis=(1, 2)) < 1e-3
    assert np.all(right[close])
    assert close.mean() > 0.4


def _scipy_solutions(b, lepton, b_bar, lepton_bar, met, top_mass, w_mass, rng, starts=100):
    """Brute force: roots of the 4 mass constraints and 2 MET equations in (ν, ν̄)."""

    def equations(x):
        nu, nu_bar = x[:3], x[3:]
        residual = constraint_residuals(b, lepton, b_bar, lepton_bar, nu, nu_bar, top_mass, w_mass)
        return np.concatenate([residual, (nu + nu_bar)[:2] - met])

    found = []
    for _ in range(starts):
        start = np.concatenate([met / 2 + rng.normal(0, 60, 2), rng.normal(0, 300, 1)])
        start = np.concatenate([start, [met[0] - start[0], met[1] - start[1], rng.normal(0, 300)]])
        solution = root(equations, start, method="hybr", options={"xtol": 1e-12})
        if solution.success and np.abs(equations(solution.x)).max() < 1e-6:
            if not any(np.abs(solution.x - f).max() < 1e-3 for f in found):
                found.append(solution.x)
    return found


def test_cross_check_against_brute_force():
    """On physical events with the nominal masses (0, 2 or 4 solutions), ours = scipy's roots."""
    sample = exact_ttbar(300, "dilepton", seed=9)
    n = len(sample.events)
    top_mass, w_mass = np.full((n, 2), TOP_MASS), np.full((n, 2), W_MASS_NW)
    n_solutions = solve(sample, top_mass=top_mass, w_mass=w_mass)[3][:, 0]
    # a few events of each multiplicity (our count only picks them; scipy judges them)
    picked = np.concatenate([np.flatnonzero(n_solutions == k)[:6] for k in (0, 2, 4)])
    sample.events = sample.events.select(picked)
    sample.b_partons = sample.b_partons[picked]
    events = sample.events
    n = len(events)
    top_mass, w_mass = top_mass[picked], w_mass[picked]
    _, _, _, n_solutions, solutions, _ = solve(sample, top_mass=top_mass, w_mass=w_mass)
    rng = np.random.default_rng(1)
    counts = []
    for i in range(n):
        brute = _scipy_solutions(
            sample.b_partons[i, 0],
            events.lepton_pos[i],
            sample.b_partons[i, 1],
            events.lepton_neg[i],
            events.met[i],
            top_mass[i],
            w_mass[i],
            rng,
        )
        ours = [solutions[i, 0, m].ravel() for m in range(n_solutions[i, 0])]
        counts.append(len(ours))
        for x in brute:
            assert min((np.abs(x - o).max() for o in ours), default=np.inf) < 1e-3
        for o in ours:
            assert min((np.abs(x - o).max() for x in brute), default=np.inf) < 1e-3
    assert {0, 2, 4} <= set(counts)


def test_intersect_conics_known_circles():
    """Unit circle and the circle of radius 1 about (1, 0) meet at (1/2, ±√3/2)."""
    shifted = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    points = intersect_conics(np.diag([1.0, 1.0, -1.0]), shifted)
    points = points[np.argsort(points[:, 1])]
    np.testing.assert_allclose(points, [[0.5, -np.sqrt(3) / 2], [0.5, np.sqrt(3) / 2]], atol=1e-12)
    tangent = np.array([[1.0, 0.0, -2.0], [0.0, 1.0, 0.0], [-2.0, 0.0, 3.0]])  # (x−2)² + y² = 1
    np.testing.assert_allclose(
        intersect_conics(np.diag([1.0, 1.0, -1.0]), tangent), [[1.0, 0.0]], atol=1e-6
    )
    apart = np.array([[1.0, 0.0, -3.0], [0.0, 1.0, 0.0], [-3.0, 0.0, 8.0]])  # (x−3)² + y² = 1
    assert len(intersect_conics(np.diag([1.0, 1.0, -1.0]), apart)) == 0


def test_top_mass_scan_through_tangency(dilepton):
    """Scanning m_t through the 2 → 0 transitions: no NaN, valid ⇔ solutions, constraints hold."""
    sample = exact_ttbar(8, "dilepton", seed=3)
    events = sample.events
    for top_mass in np.linspace(140.0, 220.0, 81):
        masses = np.full((8, 2), top_mass)
        momenta, valid, _, n_solutions, solutions, _ = solve(sample, top_mass=masses)
        assert np.isfinite(momenta).all() and np.isfinite(solutions).all()
        np.testing.assert_array_equal(valid, n_solutions.sum(axis=1) > 0)
        listed = n_solutions[:, 0] > 0
        residual = constraint_residuals(
            sample.b_partons[:, 0],
            events.lepton_pos,
            sample.b_partons[:, 1],
            events.lepton_neg,
            solutions[:, 0, 0, 0],
            solutions[:, 0, 0, 1],
            masses,
            sample.w_mass,
        )
        assert np.all(np.abs(residual[listed]) < 1e-3)


def test_no_ellipse_and_closest_approach(dilepton):
    """A top mass below m_W + m_b leaves no ellipse: not valid, unless closest approach is asked."""
    n = len(dilepton.events)
    low = np.column_stack([np.full(n, 60.0), dilepton.top_mass[:, 1]])
    _, valid, pairing, n_solutions, _, closest = solve(dilepton, top_mass=low)
    assert not valid.any() and (pairing == -1).all() and (n_solutions == 0).all()
    momenta, valid, _, _, _, closest = solve(dilepton, top_mass=low, closest=True)
    assert valid.all() and closest.all() and np.isfinite(momenta).all()

    # where ellipses exist but miss each other, the fallback minimises |ν⊥ + ν̄⊥ − MET|
    events = dilepton.events
    met = events.met + 80.0
    momenta, valid, pairing, n_solutions, _, closest = solve(dilepton, met=met, closest=True)
    assert valid.all() and closest.any()
    i = np.flatnonzero(closest)[0]
    k = pairing[i]
    b, b_bar = dilepton.b_partons[i, k], dilepton.b_partons[i, 1 - k]
    h, _, _ = neutrino_ellipse(
        b, events.lepton_pos[i], dilepton.top_mass[i, 0], dilepton.w_mass[i, 0]
    )
    h_bar, _, _ = neutrino_ellipse(
        b_bar, events.lepton_neg[i], dilepton.top_mass[i, 1], dilepton.w_mass[i, 1]
    )
    t = np.random.default_rng(0).uniform(0, 2 * np.pi, (2, 20000))
    on_ellipses = (h @ np.stack([np.cos(t[0]), np.sin(t[0]), np.ones(20000)]))[:2]
    on_ellipses = on_ellipses + (h_bar @ np.stack([np.cos(t[1]), np.sin(t[1]), np.ones(20000)]))[:2]
    sampled = np.min(np.linalg.norm(on_ellipses.T - met[i], axis=1))
    ours = np.linalg.norm(momenta[i, 0, :2] + momenta[i, 1, :2] - met[i])
    assert ours <= sampled + 1e-6


def test_registry_edge_cases(dilepton):
    events = dilepton.events.select(slice(0, 6))
    # one b-tag: the untagged jet becomes the second candidate, the closure survives
    one_tag = events.select(slice(None))
    one_tag.jet_btag = one_tag.jet_btag.copy()
    one_tag.jet_btag[:, 1] = False
    masses = {"top_mass": dilepton.top_mass[:6], "w_mass": dilepton.w_mass[:6], "b_mass": None}
    result = reconstruct("ellipse", one_tag, **masses)
    assert result.valid.all()
    # zero MET and a single jet: finite, and no candidates means not valid
    zero = events.select(slice(None))
    zero.met = np.zeros_like(zero.met)
    zero.jet_mask = zero.jet_mask.copy()
    zero.jet_mask[:3, 1:] = False
    result = reconstruct("ellipse", zero, **masses)
    assert np.isfinite(result.momenta).all()
    assert not result.valid[:3].any()
    assert np.all(result.momenta[~result.valid] == 0)
    # lepton collinear with its b: no frame, no ellipse, never NaN
    collinear = events.select(slice(None))
    collinear.leptons = collinear.leptons.copy()
    for i in range(6):
        b = collinear.jets[i, 0]
        direction = b[:3] / np.linalg.norm(b[:3])
        collinear.leptons[i, :, :3] = 40.0 * direction
        collinear.leptons[i, :, 3] = 40.0
    result = reconstruct("ellipse", collinear)
    assert np.isfinite(result.momenta).all() and not result.valid.any()
    with pytest.raises(ValueError, match="top_mass"):
        reconstruct("ellipse", events, top_mass=-1.0)
    with pytest.raises(ValueError, match="w_mass"):
        reconstruct("ellipse", events, w_mass=np.ones(3))


def semileptonic_masses(sample):
    side = sample.leptonic_side[:, None]
    return {
        "top_mass": np.take_along_axis(sample.top_mass, side, axis=1)[:, 0],
        "w_mass": np.take_along_axis(sample.w_mass, side, axis=1)[:, 0],
        "b_mass": None,
    }


def test_single_neutrino_closure_and_b_choice(semileptonic):
    events = semileptonic.events
    result = reconstruct("ellipse", events, **semileptonic_masses(semileptonic))
    assert result.valid.all()
    np.testing.assert_allclose(result.momenta, semileptonic.neutrinos, atol=1e-3)
    b_index = result.extras["b_jet_index"]
    chosen_parton = np.take_along_axis(events.jet_match, b_index[:, None], axis=1)[:, 0]
    np.testing.assert_array_equal(chosen_parton, semileptonic.leptonic_side)
    assert np.all(result.extras["chi2"] < 1e-6)


def test_single_neutrino_is_the_chi2_minimum(semileptonic):
    """Off closure (MET shifted), the ν is the point of its ellipse nearest the MET."""
    events = semileptonic.events.select(slice(0, 40))
    events.met = events.met + np.array([25.0, -15.0])
    result = reconstruct("ellipse", events, met_resolution=10.0)
    assert result.valid.all()
    for i in np.flatnonzero(~result.extras["clamped"])[:20]:
        jet = events.jets[i, result.extras["b_jet_index"][i]].copy()
        jet[3] = np.sqrt(np.sum(jet[:3] ** 2) + B_MASS**2)
        h, _, _ = neutrino_ellipse(jet, events.leptons[i, 0], TOP_MASS, W_MASS_NW)
        t = np.linspace(0, 2 * np.pi, 20001)
        points = h @ np.stack([np.cos(t), np.sin(t), np.ones_like(t)])
        best = np.min(np.sum((points[:2].T - events.met[i]) ** 2, axis=1)) / 100.0
        assert result.extras["chi2"][i] <= best + 1e-6
        assert result.extras["chi2"][i] >= best - 1e-3


def test_single_neutrino_clamped_and_bad_covariance(semileptonic):
    events = semileptonic.events.select(slice(0, 10))
    result = reconstruct("ellipse", events, top_mass=90.0)  # far below the b W threshold
    assert result.valid.all() and result.extras["clamped"].all()
    assert np.isfinite(result.momenta).all()
    with pytest.raises(ValueError, match="covariance"):
        reconstruct("ellipse", events, met_resolution=np.zeros((10, 2, 2)))
    covariance = np.tile(np.diag([100.0, 400.0]), (10, 1, 1))
    assert reconstruct("ellipse", events, met_resolution=covariance).valid.all()


def test_single_neutrino_without_tags(semileptonic):
    """No b-tag: the two leading jets are the candidates; one jet: that jet; none: refused."""
    events = semileptonic.events.select(slice(0, 30))
    events.jet_btag = np.zeros_like(events.jet_btag)
    result = reconstruct("ellipse", events)
    assert result.valid.all() and np.isin(result.extras["b_jet_index"], [0, 1]).all()
    events.jet_mask = events.jet_mask.copy()
    events.jet_mask[:10, 1:] = False
    result = reconstruct("ellipse", events)
    assert result.valid[:10].all() and (result.extras["b_jet_index"][:10] == 0).all()
    events.jet_mask[10:20] = False
    with pytest.raises(InputError, match=r"event 10 is not physical \(no jets"):
        reconstruct("ellipse", events)
