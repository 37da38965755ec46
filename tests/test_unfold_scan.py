"""Oversampled templates (nuanalysis.oversampling) and the equal-bias k scan (unfold_scan)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_branches
from scipy import stats

from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.methods.registry import NeutrinoResult, reconstruct
from nuanalysis.oversampling import event_fractions, oversampled_template
from nuanalysis.posterior import DRAWS_KEY, LOG_PROB_KEY
from nuanalysis.unfold_study import unfold_methods


def test_oversampled_template_normalisation_and_covariance():
    """S draws at weight w/S keep each event's weight; the covariance is Σ f fᵀ, not Σ (w/S)²."""
    rng = np.random.default_rng(0)
    n, n_draws, n_bins = 400, 16, 5
    bins = rng.integers(-1, n_bins, (n, n_draws))  # -1: a draw outside the binning
    weight = rng.uniform(0.5, 2.0, n)
    fractions = event_fractions(bins, n_bins, weight)
    template, covariance = oversampled_template(fractions)
    inside = (bins >= 0).mean(axis=1)
    assert template.sum() == pytest.approx(np.sum(weight * inside))
    naive = np.bincount(bins[bins >= 0], np.repeat(weight, n_draws)[bins.ravel() >= 0] / n_draws)
    np.testing.assert_allclose(template, naive)
    # Poisson-distributed events: the spread of the template over event resamplings
    counts = rng.poisson(1.0, (4000, n)).astype(float)
    replicas = counts @ fractions
    np.testing.assert_allclose(np.cov(replicas, rowvar=False), covariance, rtol=0.15, atol=0.5)
    sum_w2 = np.bincount(
        bins[bins >= 0], (np.repeat(weight, n_draws) / n_draws)[bins.ravel() >= 0] ** 2
    )
    assert (np.diag(covariance) > 3 * sum_w2).all()  # the draws of one event are not independent


def test_one_draw_is_the_ordinary_histogram():
    bins = np.array([[0], [2], [2], [-1], [1]])
    weight = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    template, covariance = oversampled_template(event_fractions(bins, 3, weight))
    np.testing.assert_allclose(template, [1.0, 5.0, 5.0])
    np.testing.assert_allclose(covariance, np.diag([1.0, 25.0, 13.0]))


@pytest.fixture(scope="module")
def smeared_dilepton(tmp_path_factory):
    path = tmp_path_factory.mktemp("scan") / "di.root"
    write_ntuple(path, make_branches("dilepton", 6000, seed=21))
    return load_padded(path)


def _scan(events, results, stress=0.0):
    study = unfold_methods(
        events,
        results,
        backend="numpy",
        progress=False,
        stress=stress,
        mtt_edges=(300.0, 450.0, 600.0, 1200.0),
        ptt_edges=(0.0, 100.0, 400.0),
    )
    return {name: m.scan for name, m in study.methods.items()}


def test_truth_closure_is_consistent_with_zero_bias(smeared_dilepton):
    """In a closure split the truth-ν unfolding has no bias at any k ≥ 2: the χ² of unfolded −
    truth in the bootstrap covariance follows χ²(6 bins); a stressed pseudo-data sample is
    biased at strong regularisation, and the χ² sees it."""
    results = {"truth": reconstruct("truth", smeared_dilepton)}
    closure = _scan(smeared_dilepton, results)["truth"]
    assert closure.values == (1, 2, 3, 4, 5, 6)
    assert all(stats.chi2.sf(chi2, 6) > 0.001 for chi2 in closure.closure_chi2[1:])
    assert closure.closure_chi2[0] > 100  # k = 1 (one SVD component) distorts even a closure
    stressed = _scan(smeared_dilepton, results, stress=3.0)["truth"]
    assert stats.chi2.sf(stressed.closure_chi2[1], 6) < 1e-4
    assert stressed.rms_bias[1] > 2 * closure.rms_bias[1]
    assert stressed.rms_bias[1] > stressed.rms_bias[-1]  # less regularisation, less bias
    assert list(closure.mean_rel_uncertainty) == sorted(closure.mean_rel_uncertainty)


def test_posterior_result_is_oversampled(smeared_dilepton):
    """A posterior of S copies of the truth unfolds exactly like the truth point, oversampled
    or as its mean."""
    events = smeared_dilepton
    truth = reconstruct("truth", events)
    draws = np.repeat(truth.momenta[:, None], 4, axis=1)
    extras = {DRAWS_KEY: draws, LOG_PROB_KEY: np.zeros(draws.shape[:2])}
    copies = NeutrinoResult(truth.momenta, truth.valid, extras=extras)
    study = unfold_methods(
        events, {"truth": truth, "copies": copies}, backend="numpy", progress=False, k=3
    )
    point, oversampled = study.methods["truth"], study.methods["copies"]
    np.testing.assert_allclose(oversampled.measured, point.measured)
    np.testing.assert_allclose(oversampled.result.unfolded, point.result.unfolded, rtol=1e-9)
    np.testing.assert_allclose(oversampled.result.covariance, point.result.covariance, rtol=1e-9)
    mean = unfold_methods(
        events, {"copies": copies}, backend="numpy", progress=False, k=3, posterior_estimate="mean"
    ).methods["copies"]
    np.testing.assert_allclose(mean.result.unfolded, point.result.unfolded, rtol=1e-9)
    with pytest.raises(ValueError, match="posterior_estimate"):
        unfold_methods(events, {"copies": copies}, progress=False, posterior_estimate="mode")


@pytest.mark.parametrize("algorithm", ["tunfold", "bayes"])
def test_tunfold_and_bayes_close_and_show_their_regularisation_bias(smeared_dilepton, algorithm):
    """Truth-ν closure is consistent with zero bias at every τ / number of iterations; with
    stressed pseudo-data the strongest regularisation (largest τ, one iteration) is the most
    biased; the iterations default to the equal-bias choice of the truth scan."""
    results = {"truth": reconstruct("truth", smeared_dilepton)}
    settings = {"algorithm": algorithm, "backend": "numpy", "progress": False}
    edges = {"mtt_edges": (300.0, 450.0, 600.0, 1200.0), "ptt_edges": (0.0, 100.0, 200.0, 400.0)}
    closure = unfold_methods(smeared_dilepton, results, **settings, **edges)
    scan = closure.methods["truth"].scan
    assert scan.parameter == {"tunfold": "tau", "bayes": "iterations"}[algorithm]
    assert all(stats.chi2.sf(chi2, 9) > 0.001 for chi2 in scan.closure_chi2)
    if algorithm == "bayes":
        assert closure.regularisation == scan.best
    else:
        assert scan.values[0] < closure.regularisation < scan.values[-1]
    stressed = unfold_methods(smeared_dilepton, results, stress=3.0, **settings, **edges)
    bias = stressed.methods["truth"].scan.rms_bias
    strongest, weakest = (bias[-1], bias[0]) if algorithm == "tunfold" else (bias[0], bias[-1])
    assert strongest > 2 * weakest and strongest > 0.02


def test_posterior_draws_enter_at_weight_one_over_s(smeared_dilepton):
    """Four different draws per event (p_z scaled by 0.6 … 1.5): the oversampled measured
    spectrum is the mean of the four spectra of one draw each, not any one of them."""
    events = smeared_dilepton
    truth = reconstruct("truth", events)
    scales = np.array([0.6, 0.9, 1.2, 1.5])
    draws = np.repeat(truth.momenta[:, None], len(scales), axis=1)
    draws[..., 2] *= scales[None, :, None]
    extras = {DRAWS_KEY: draws, LOG_PROB_KEY: np.zeros(draws.shape[:2])}
    results = {"posterior": NeutrinoResult(truth.momenta, truth.valid, extras=extras)}
    results |= {f"draw{s}": NeutrinoResult(draws[:, s], truth.valid) for s in range(len(scales))}
    study = unfold_methods(events, results, backend="numpy", progress=False, k=3)
    one_draw = [study.methods[f"draw{s}"].measured for s in range(len(scales))]
    assert not np.allclose(one_draw[0], one_draw[-1])  # the draws fall in different bins
    np.testing.assert_allclose(study.methods["posterior"].measured, np.mean(one_draw, axis=0))


def test_response_statistics_of_a_posterior_count_events_not_draws(smeared_dilepton):
    """The response's MC uncertainty comes from replicas of its events, so S identical draws
    per event give the point's uncertainty, not one √S times smaller."""
    events = smeared_dilepton
    truth = reconstruct("truth", events)
    draws = np.repeat(truth.momenta[:, None], 8, axis=1)
    extras = {DRAWS_KEY: draws, LOG_PROB_KEY: np.zeros(draws.shape[:2])}
    copies = NeutrinoResult(truth.momenta, truth.valid, extras=extras)
    settings = {"backend": "numpy", "progress": False, "k": 3, "response_toys": 30}
    point = unfold_methods(events, {"truth": truth}, **settings).methods["truth"]
    drawn = unfold_methods(events, {"truth": copies}, **settings).methods["truth"]
    assert (np.diag(point.response_covariance) > 0).all()
    np.testing.assert_allclose(drawn.response_covariance, point.response_covariance, rtol=1e-6)
