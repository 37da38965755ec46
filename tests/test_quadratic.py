"""The m_W quadratic (ν-Flows eq. 3): closure on exact kinematics, options, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from exact_ttbar import exact_ttbar

from baselines.constants import MAX_COLLISION_ENERGY, W_MASS
from baselines.quadratic import quadratic_pz
from nuanalysis import kinematics
from nuanalysis.errors import ChannelError
from nuanalysis.methods.registry import reconstruct


@pytest.fixture(scope="module")
def sample():
    return exact_ttbar(2000, "semileptonic", seed=11)


def leptonic_w_mass(sample) -> np.ndarray:
    return np.take_along_axis(sample.w_mass, sample.leptonic_side[:, None], axis=1)[:, 0]


def test_closure_true_pz_among_solutions(sample):
    events = sample.events
    pz, complex_, solved = quadratic_pz(
        events.leptons[:, 0].copy(), events.met, leptonic_w_mass(sample), sample.lepton_mass[:, 0]
    )
    true_pz = sample.neutrinos[:, 0, 2]
    scale = np.maximum(np.abs(true_pz), 1.0)
    error = np.min(np.abs(pz - true_pz[:, None]), axis=1) / scale
    assert solved.all()
    assert np.all(error < 1e-6)
    # exact kinematics never needs the real-part fallback except at a double root
    assert np.all(~complex_ | (np.abs(pz[:, 0] - pz[:, 1]) < 1e-3 * scale))
    assert np.all(np.abs(pz[:, 0]) <= np.abs(pz[:, 1]))


def test_registry_closure_and_solutions(sample):
    events = sample.events
    result = reconstruct("quadratic", events, w_mass=leptonic_w_mass(sample), solution="both")
    truth = sample.neutrinos[:, 0]
    np.testing.assert_allclose(result.momenta[:, 0, :2], events.met)
    both = result.extras["pz_solutions"]
    assert np.all(
        np.min(np.abs(both - truth[:, 2:3]), axis=1) < 1e-6 * np.maximum(np.abs(truth[:, 2]), 1)
    )
    # the reconstructed W has the assumed mass for both solutions
    for k in range(2):
        nu = kinematics.massless_from_momentum(
            np.concatenate([events.met, both[:, k : k + 1]], axis=1)
        )
        w = kinematics.mass(nu + events.leptons[:, 0])
        np.testing.assert_allclose(w, leptonic_w_mass(sample), rtol=1e-7)
    smaller = reconstruct("quadratic", events, w_mass=leptonic_w_mass(sample))
    larger = reconstruct("quadratic", events, w_mass=leptonic_w_mass(sample), solution="larger")
    np.testing.assert_array_equal(smaller.momenta[:, 0, 2], both[:, 0])
    # a larger root beyond what an LHC collision can give is no solution (NeutrinoResult)
    physical = np.hypot(np.hypot(*events.met.T), both[:, 1]) <= MAX_COLLISION_ENERGY
    assert (~physical).any() and np.array_equal(larger.valid, physical)
    np.testing.assert_array_equal(larger.momenta[:, 0, 2], np.where(physical, both[:, 1], 0.0))


def test_fixed_mass_does_not_close(sample):
    """With the default m_W instead of each event's true mass the closure must fail."""
    result = reconstruct("quadratic", sample.events, solution="both")
    true_pz = sample.neutrinos[:, 0, 2]
    error = np.min(np.abs(result.extras["pz_solutions"] - true_pz[:, None]), axis=1)
    assert np.mean(error > 1e-3) > 0.9


def test_matches_numpy_roots():
    rng = np.random.default_rng(3)
    n = 300
    lepton = kinematics.from_pt_eta_phi_m(
        rng.uniform(20, 200, n), rng.uniform(-2.5, 2.5, n), rng.uniform(-3, 3, n), 0.10566
    )
    met = rng.normal(0, 50, (n, 2))
    w = np.full(n, W_MASS)
    pz, complex_, _ = quadratic_pz(lepton, met, w, np.full(n, 0.10566))
    for i in range(n):
        alpha = W_MASS**2 - 0.10566**2 + 2 * (lepton[i, :2] @ met[i])
        a = lepton[i, 2] ** 2 - lepton[i, 3] ** 2
        roots = np.roots(
            [a, alpha * lepton[i, 2], alpha**2 / 4 - lepton[i, 3] ** 2 * met[i] @ met[i]]
        )
        assert complex_[i] == bool(np.any(np.abs(roots.imag) > 0))
        expected = sorted(roots.real, key=abs)
        np.testing.assert_allclose(pz[i], expected, rtol=1e-8, atol=1e-6)


def test_negative_discriminant_keeps_real_part(sample):
    """MET back to back with the lepton and large: transverse mass above m_W, no real root."""
    events = sample.events.select(slice(0, 1))
    lepton = kinematics.from_pt_eta_phi_m(60.0, 0.8, 0.0, 0.10566)
    events.leptons[0, 0] = lepton
    events.lep_pid[0, 0] = 13
    events.met[0] = [-150.0, 0.0]
    result = reconstruct("quadratic", events, solution="both")
    assert result.extras["complex"][0] and result.valid[0]
    alpha = W_MASS**2 - 0.10566**2 + 2 * lepton[0] * -150.0
    expected = -alpha * lepton[2] / (2 * (lepton[2] ** 2 - lepton[3] ** 2))
    np.testing.assert_allclose(result.extras["pz_solutions"][0], [expected, expected])


def test_zero_met_and_bad_options(sample):
    events = sample.events.select(slice(0, 5))
    events.met[:] = 0.0
    result = reconstruct("quadratic", events)
    assert np.isfinite(result.momenta).all() and result.valid.all()
    with pytest.raises(ValueError, match="solution"):
        reconstruct("quadratic", events, solution="closest")
    with pytest.raises(ValueError, match="w_mass"):
        reconstruct("quadratic", events, w_mass=-1.0)
    dilepton = exact_ttbar(3, "dilepton").events
    with pytest.raises(ChannelError):
        reconstruct("quadratic", dilepton)
