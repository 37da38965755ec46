"""Posterior-aware χ² assignment and b ↔ lepton pairing (``flow-posterior``, posterior.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_branches

from nuanalysis.assignment import (
    MassSigmas,
    PosteriorChoice,
    _Fit,
    assign_semileptonic,
    assignment_study,
    choose_dilepton,
    pair_dilepton,
    true_assignment,
    true_dilepton_pairing,
)
from nuanalysis.errors import InputError
from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.methods.registry import NeutrinoResult, reconstruct
from nuanalysis.posterior import (
    DRAWS_KEY,
    LOG_PROB_KEY,
    RULES,
    Posterior,
    PosteriorRule,
    soft_minimum,
)

SIGMAS = MassSigmas(lnu=10.0, blnu=20.0, qq=10.0, bqq=20.0)
RULE_CASES = [
    PosteriorRule(),
    PosteriorRule(1.0, 0.0),
    PosteriorRule(0.0, 1.0),
    PosteriorRule(0.3, 3.0),
]


@pytest.fixture(scope="module")
def semileptonic(tmp_path_factory):
    """Smeared events with 0–3 extra jets."""
    path = tmp_path_factory.mktemp("posterior") / "semi.root"
    write_ntuple(path, make_branches("semileptonic", 300, seed=11))
    return load_padded(path)


@pytest.fixture(scope="module")
def exact_semileptonic(tmp_path_factory):
    path = tmp_path_factory.mktemp("posterior") / "exact_semi.root"
    write_ntuple(path, make_branches("semileptonic", 300, seed=12, jet_resolution=0.0))
    return load_padded(path)


@pytest.fixture(scope="module")
def exact_dilepton(tmp_path_factory):
    path = tmp_path_factory.mktemp("posterior") / "exact_di.root"
    write_ntuple(path, make_branches("dilepton", 300, seed=13, jet_resolution=0.0))
    return load_padded(path)


def _decoy(truth_nu: np.ndarray, seed: int) -> np.ndarray:
    """Wrong neutrinos: the true ones with 60 GeV of noise on every component."""
    return truth_nu + np.random.default_rng(seed).normal(0.0, 60.0, truth_nu.shape)


@pytest.mark.parametrize("rule", RULE_CASES, ids=lambda rule: rule.label)
def test_point_posterior_gives_the_mode_chi2(semileptonic, rule):
    """A posterior concentrated on one neutrino (S equal draws, equal density) is the mode χ²."""
    mode = _decoy(semileptonic.truth_nu, 1)
    result = NeutrinoResult(mode, np.ones(len(semileptonic), dtype=bool))
    alone = assign_semileptonic(semileptonic, result, SIGMAS)
    point = Posterior(np.repeat(mode[:, None], 7, axis=1), np.full((len(mode), 7), -3.0))
    joint = assign_semileptonic(semileptonic, result, SIGMAS, posterior=point, rule=rule)
    np.testing.assert_array_equal(joint.jets, alone.jets)
    np.testing.assert_allclose(joint.chi2, alone.chi2, rtol=1e-12)
    np.testing.assert_allclose(joint.neutrinos, mode[:, 0])


def test_joint_choice_finds_the_true_neutrino_among_draws(exact_semileptonic):
    events = exact_semileptonic
    truth = true_assignment(events)
    decoys = [_decoy(events.truth_nu, seed) for seed in (2, 3, 4)]
    draws = np.stack([*decoys, events.truth_nu], axis=1)  # the true ν is the last draw
    posterior = Posterior(draws, np.zeros(draws.shape[:2]))
    decoy_only = assign_semileptonic(events, decoys[0], SIGMAS)
    joint = assign_semileptonic(events, decoys[0], SIGMAS, posterior=posterior)
    exact = assign_semileptonic(events, events.truth_nu, SIGMAS)
    blep = {name: (a.jets[:, 0] == truth[:, 0]).mean() for name, a in
            (("decoy", decoy_only), ("joint", joint), ("exact", exact))}  # fmt: skip
    assert blep["joint"] >= blep["exact"] - 0.02
    assert blep["joint"] > blep["decoy"] + 0.05
    picked_truth = np.isclose(joint.neutrinos, events.truth_nu[:, 0]).all(axis=1)
    assert picked_truth.mean() > 0.9


def test_log_prob_weight_follows_the_density(exact_semileptonic):
    """λ > 0 prefers the more probable draw even against a better χ²."""
    events = exact_semileptonic
    decoy = _decoy(events.truth_nu, 5)
    posterior = Posterior(
        np.stack([decoy, events.truth_nu], axis=1), np.tile([0.0, -50.0], (len(events), 1))
    )
    free = assign_semileptonic(events, decoy, SIGMAS, posterior=posterior)
    weighted = assign_semileptonic(
        events, decoy, SIGMAS, posterior=posterior, rule=PosteriorRule(10.0, 0.0)
    )
    assert np.isclose(free.neutrinos, events.truth_nu[:, 0]).all(axis=1).mean() > 0.9
    np.testing.assert_allclose(weighted.neutrinos, decoy[:, 0])


def test_soft_minimum():
    costs = np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 5.0]])
    np.testing.assert_allclose(soft_minimum(costs, 0.0, axis=1), [1.0, 5.0])
    expected = -2.0 * np.log(np.exp(-costs / 2.0).mean(axis=1))
    np.testing.assert_allclose(soft_minimum(costs, 1.0, axis=1), expected)
    assert soft_minimum(costs, 1.0, axis=1)[0] > 1.0  # averaging over draws costs more than the min


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_kernel_soft_minimum_matches_numpy(semileptonic, temperature):
    """The running log-sum-exp of the kernel equals soft_minimum over explicit per-draw costs."""
    events = semileptonic
    draws = np.stack([_decoy(events.truth_nu, seed) for seed in range(6)], axis=1)
    posterior = Posterior(draws, np.random.default_rng(0).normal(0, 2, draws.shape[:2]))
    rule = PosteriorRule(0.3, temperature)
    fit = _Fit.build(events, SIGMAS, 9, 80.38, 172.5)
    joint = fit.assign(posterior, rule, np.ones(len(events), dtype=bool))
    rows = np.arange(len(events))
    b_lep = joint.jets[:, 0]
    costs = []
    for s in range(draws.shape[1]):
        single = Posterior(draws[:, s : s + 1], np.zeros((len(events), 1)))
        lep = _lep_cost(fit, single, b_lep)
        costs.append(lep + posterior.penalty(rule)[:, s])
    expected = soft_minimum(np.stack(costs, axis=1), temperature, axis=1)
    hadronic = fit.hadronic[rows, b_lep]
    ok = b_lep >= 0
    np.testing.assert_allclose(joint.chi2[ok], (hadronic + expected)[ok], rtol=1e-9)


def _lep_cost(fit: _Fit, single: Posterior, b_lep: np.ndarray) -> np.ndarray:
    """Leptonic χ² terms of one draw with the given b_lep jets (numpy, from eq. 4)."""
    from nuanalysis.kinematics import mass, massless_from_momentum

    w = fit.events.leptons[:, 0] + massless_from_momentum(single.draws[:, 0, 0])
    jets = fit.events.jets[np.arange(len(b_lep)), np.maximum(b_lep, 0)]
    return (fit.w_mass - mass(w)) ** 2 / fit.sigmas.lnu**2 + (
        fit.top_mass - mass(w + jets)
    ) ** 2 / fit.sigmas.blnu**2


def test_dilepton_posterior_pairing(exact_dilepton):
    events = exact_dilepton
    truth = true_dilepton_pairing(events)
    known = truth >= 0
    decoy = _decoy(events.truth_nu, 6)
    result = NeutrinoResult(decoy, np.ones(len(events), dtype=bool))
    point = Posterior.point(decoy)
    choice = PosteriorChoice(20.0, PosteriorRule(0.3, 1.0))
    pairing, neutrinos = choose_dilepton(events, point, choice)
    np.testing.assert_array_equal(pairing[known], pair_dilepton(events, result)[known])
    np.testing.assert_allclose(neutrinos, decoy)
    both = Posterior(np.stack([decoy, events.truth_nu], axis=1), np.zeros((len(events), 2)))
    pairing, neutrinos = choose_dilepton(events, both, PosteriorChoice(20.0, PosteriorRule()))
    np.testing.assert_array_equal(pairing[known], truth[known])
    np.testing.assert_allclose(neutrinos[known], events.truth_nu[known])


def _posterior_result(events, seed: int) -> NeutrinoResult:
    """A stand-in for flow-posterior: the mode is a decoy, the true ν one of the draws."""
    decoy = _decoy(events.truth_nu, seed)
    draws = np.stack([decoy, _decoy(events.truth_nu, seed + 1), events.truth_nu], axis=1)
    log_prob = np.tile([0.0, -1.0, -2.0], (len(events), 1))
    extras = {DRAWS_KEY: draws, LOG_PROB_KEY: log_prob}
    return NeutrinoResult(decoy, np.ones(len(events), dtype=bool), extras=extras)


@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_study_calibrates_the_rule(exact_semileptonic, exact_dilepton, channel):
    events = exact_semileptonic if channel == "semileptonic" else exact_dilepton
    results = {
        "truth": reconstruct("truth", events),
        "flow-posterior": _posterior_result(events, 7),
    }
    calibration = np.arange(len(events)) % 2 == 0
    study = assignment_study(events, results, calibration)
    used = study["posterior_rule"]["flow-posterior"]
    assert set(used["calibration_accuracy"]) == {rule.label for rule in RULES}
    best = max(used["calibration_accuracy"].values())
    chosen = PosteriorRule(used["log_prob_weight"], used["temperature"])
    assert used["calibration_accuracy"][chosen.label] == best
    role = "blep" if channel == "semileptonic" else "pairing"
    accuracy = study["accuracy"][role]
    assert accuracy["flow-posterior"]["4"] > 0.8  # the true ν is among the draws
    uncertainty = study["uncertainty"][role]["flow-posterior"]["4"]
    assert 0 < uncertainty < 3 / np.sqrt(study["n_events"]["4"])  # binomial, also at p = 1
    given = {"flow-posterior": {"log_prob_weight": 0.0, "temperature": 0.0}}
    no_calibration = np.zeros(len(events), dtype=bool)
    sigmas = {name: {"lnu": 5.0, "blnu": 20.0, "qq": 10.0, "bqq": 20.0} for name in results}
    fixed = assignment_study(events, results, no_calibration, sigmas, rules=given)
    assert fixed["posterior_rule"]["flow-posterior"]["calibration_accuracy"] is None
    with pytest.raises(InputError, match="posterior rule"):
        assignment_study(events, results, no_calibration, sigmas)


def test_flow_posterior_method_is_the_mode_with_draws(semileptonic):
    events = semileptonic.select(slice(0, 20))
    mode = reconstruct("flow", events, n_samples=32, seed=4, estimator="draws")
    posterior = reconstruct("flow-posterior", events, n_samples=32, seed=4)
    np.testing.assert_allclose(posterior.momenta, mode.momenta, rtol=1e-5, atol=1e-3)
    draws = Posterior.from_result(posterior)
    assert draws.draws.shape == (20, 32, 1, 3)
    best = draws.log_prob.argmax(axis=1)
    np.testing.assert_allclose(draws.draws[np.arange(20), best], posterior.momenta, atol=1e-3)
