"""Response bookkeeping, numpy SVD and Bayesian unfolding, uncertainties, observables and the study.

ROOT-free; the agreement with ROOT's TSVDUnfold is in test_unfolding_root.py.
"""

from __future__ import annotations

import json

import hist
import numpy as np
import pytest
from conftest import make_branches

import unfolding as U
from baselines.constants import TOP_MASS
from unfolding import Response, UnfoldingError

EDGES = np.linspace(0.0, 4.0, 9)


def toy_sample(n: int, seed: int, resolution: float = 0.15):
    """Falling spectrum, Gaussian smearing, truth-dependent efficiency (< 1)."""
    rng = np.random.default_rng(seed)
    truth = rng.exponential(1.0, n)
    reco = truth * rng.normal(1.0, resolution, n)
    reconstructed = rng.random(n) < 0.6 + 0.3 * np.exp(-truth)
    return truth, reco, reconstructed


def toy_response(n: int = 100_000, seed: int = 1, fakes: int = 3000) -> Response:
    truth, reco, ok = toy_sample(n, seed)
    response = Response(EDGES).fill(reco, truth, reco_valid=ok)
    return response.fill_fake(np.random.default_rng(seed + 100).uniform(0, 4, fakes))


# ------------------------------------------------------------------ response
def test_fill_bookkeeping_of_fakes_and_misses():
    response = Response([0.0, 1.0, 2.0])
    reco = np.array([0.5, 0.5, 1.5, 1.5, 0.2, 5.0, 1.2, 0.7])
    truth = np.array([0.5, 1.5, 1.5, 1.5, 0.3, 0.4, 9.0, 0.1])
    reco_valid = np.array([True, True, True, False, True, True, True, True])
    truth_valid = np.array([True, True, True, True, True, True, True, False])
    weight = np.array([1, 1, 1, 1, 1, 1, 1, 2.0])
    response.fill(reco, truth, weight, reco_valid=reco_valid, truth_valid=truth_valid)
    # matched: (0,0) x2 [events 0, 4], (0,1) [1], (1,1) [2]
    np.testing.assert_array_equal(response.matrix, [[2, 1], [0, 1]])
    # misses: event 3 (no reco), event 5 (reco outside) -> truth bins 1 and 0
    np.testing.assert_array_equal(response.misses, [1, 1])
    # fakes: event 6 (truth outside) in reco bin 1, event 7 (no truth, weight 2) in reco bin 0
    np.testing.assert_array_equal(response.fakes, [2, 1])
    np.testing.assert_array_equal(response.truth, [3, 3])
    np.testing.assert_array_equal(response.reco, [5, 2])
    np.testing.assert_array_equal(response.reco_w2, [7, 2])
    np.testing.assert_allclose(response.efficiency, [2 / 3, 2 / 3])
    np.testing.assert_allclose(response.purity, [2 / 5, 1 / 2])
    np.testing.assert_allclose(response.fake_fraction, [2 / 5, 1 / 2])
    np.testing.assert_allclose(response.migration.sum(axis=0), response.efficiency)


def test_fill_fake_and_miss_match_fill_with_masks():
    a = Response(EDGES).fill_fake([0.5, 3.5]).fill_miss([1.5])
    assert a.matrix.sum() == 0
    assert a.reco.sum() == 2 and a.fakes.sum() == 2
    assert a.truth.sum() == 1 and a.misses.sum() == 1


def test_two_dimensional_response_is_flattened_mtt_major_and_kept_2d():
    response = Response([300, 450, 600, 800, 1200], [0, 100, 200, 400])
    assert response.shape == (4, 3) and response.n_bins == 12
    mtt, ptt = np.array([700.0]), np.array([150.0])  # bin (2, 1)
    response.fill((mtt, ptt), (mtt, ptt))
    assert response.flat_index((mtt, ptt))[0] == 2 * 3 + 1
    assert response.matrix[7, 7] == 1
    h = response.truth_hist()
    assert isinstance(h, hist.Hist) and h.values().shape == (4, 3)
    assert h.values()[2, 1] == 1 and h.values().sum() == 1
    assert response.matrix_hist().values()[7, 7] == 1
    # an (n, 2) array is the same as a tuple of columns
    np.testing.assert_array_equal(
        response.flat_index(np.array([[310.0, 10.0], [1300.0, 10.0]])), [0, -1]
    )


def test_non_finite_valid_value_is_an_error():
    with pytest.raises(UnfoldingError, match="non-finite"):
        Response(EDGES).fill(np.array([np.nan]), np.array([1.0]))
    # a NaN where the entry is marked invalid is ignored (a method failure)
    r = Response(EDGES).fill(np.array([np.nan]), np.array([1.0]), reco_valid=np.array([False]))
    assert r.misses.sum() == 1


# ---------------------------------------------------------------- unfolding
@pytest.mark.parametrize("k", [2, 4, 8])
def test_svd_closure_on_the_training_sample(k):
    response = toy_response()
    result = U.unfold(response, response.reco, k=k)
    np.testing.assert_allclose(result.unfolded, response.truth, rtol=1e-6)


def test_bayes_closure_on_the_training_sample():
    response = toy_response()
    result = U.unfold(response, response.reco, algorithm="bayes", iterations=3)
    np.testing.assert_allclose(result.unfolded, response.truth, rtol=1e-10)


def diagonal_response(truth: np.ndarray) -> Response:
    response = Response(np.arange(len(truth) + 1.0))
    centres = np.arange(len(truth)) + 0.5
    return response.fill(centres, centres, truth)


def test_diagonal_response_returns_its_input():
    truth = np.array([1000.0, 800, 600, 450, 300, 200, 120, 80])
    response = diagonal_response(truth)
    measured = truth * np.linspace(0.8, 1.2, 8)
    bayes = U.unfold(response, measured, algorithm="bayes", iterations=1)
    np.testing.assert_allclose(bayes.unfolded, measured, rtol=1e-12)
    # SVD cannot switch the regularisation off (tau = s_k² > 0): at k = n only
    # the highest-curvature component is damped, far below the uncertainty
    svd = U.unfold(response, measured, k=8)
    assert np.all(np.abs(svd.unfolded - measured) < 0.1 * svd.uncertainty)
    # an input with the MC shape is returned at every k > 1 (k = 1 damps the
    # leading, normalisation component by s_1²/(s_1² + s_1²) = 1/2)
    np.testing.assert_allclose(U.unfold(response, truth, k=1).unfolded, 0.5 * truth, rtol=1e-6)
    for k in (2, 4, 8):
        np.testing.assert_allclose(
            U.unfold(response, 0.5 * truth, k=k).unfolded, 0.5 * truth, rtol=1e-6
        )


def test_unfolding_corrects_for_misses_and_subtracts_fakes():
    response = toy_response(n=200_000, seed=1, fakes=6000)
    truth, reco, ok = toy_sample(100_000, seed=2)
    measured, w2 = response.spectrum(reco, valid=ok)
    fake_values = np.random.default_rng(7).uniform(0, 4, 3000)
    fakes, fakes_w2 = response.spectrum(fake_values)
    true_spectrum, _ = response.spectrum(truth)
    result = U.unfold(response, measured + fakes, w2 + fakes_w2, k=6)
    # efficiency ~0.7: the reco total is far below the truth, the unfolded one is not
    assert (measured.sum() + fakes.sum()) < 0.85 * true_spectrum.sum()
    pull = (result.unfolded - true_spectrum) / result.uncertainty
    assert np.all(np.abs(pull) < 4), pull
    chi2 = np.sum(pull**2)
    assert chi2 < 3 * len(pull)
    # without the fake subtraction every bin would be biased up by ~3 %
    truth_mc, reco_mc, ok_mc = toy_sample(200_000, seed=1)
    no_fakes = Response(EDGES).fill(reco_mc, truth_mc, reco_valid=ok_mc)
    biased = U.unfold(no_fakes, measured + fakes, w2 + fakes_w2, k=6)
    excess = (biased.unfolded.sum() - result.unfolded.sum()) / fakes.sum()
    assert 1.2 < excess < 1.7  # the fakes, efficiency-corrected (1/ε ≈ 1.4)


def test_bayes_agrees_with_svd_within_uncertainties_on_a_smooth_spectrum():
    response = toy_response(n=200_000, fakes=0)
    _, reco, ok = toy_sample(100_000, seed=5)
    measured, w2 = response.spectrum(reco, valid=ok)
    svd = U.unfold(response, measured, w2, k=6)
    bayes = U.unfold(response, measured, w2, algorithm="bayes", iterations=4)
    sigma = np.maximum(svd.uncertainty, bayes.uncertainty)
    assert np.all(np.abs(svd.unfolded - bayes.unfolded) < sigma)


def test_regularisation_shrinks_the_uncertainty():
    response = toy_response()
    measured = response.reco
    relative = [U.unfold(response, measured, k=k).relative_uncertainty.mean() for k in (2, 4, 8)]
    assert relative[0] < relative[1] < relative[2]


# -------------------------------------------------------------- uncertainties
def test_analytic_covariances_match_toys():
    response = toy_response()
    _, reco, ok = toy_sample(50_000, seed=9)
    measured, w2 = response.spectrum(reco, valid=ok)
    rng = np.random.default_rng(3)
    for algorithm in ("svd", "bayes"):
        result = U.unfold(response, measured, w2, algorithm=algorithm, k=5)
        toys = U.measured_toys_covariance(
            lambda b, a=algorithm: U.unfold(response, b, w2, algorithm=a, k=5).unfolded,
            measured,
            np.diag(w2),
            400,
            rng,
        )
        np.testing.assert_allclose(np.sqrt(np.diag(toys)), result.uncertainty, rtol=0.15)


def test_bootstrap_matches_the_analytic_covariance():
    response = toy_response()
    _, reco, ok = toy_sample(30_000, seed=11)

    def unfolded(weights):
        values, w2 = response.spectrum(reco, weights, ok)
        return U.unfold(response, values, w2, k=5).unfolded

    values, w2 = response.spectrum(reco, valid=ok)
    analytic = U.unfold(response, values, w2, k=5).uncertainty
    boot = U.bootstrap_covariance(unfolded, len(reco), 300, np.random.default_rng(5))
    np.testing.assert_allclose(np.sqrt(np.diag(boot)), analytic, rtol=0.2)


def test_response_statistical_uncertainty_falls_with_response_statistics():
    _, reco, ok = toy_sample(20_000, seed=13)
    sizes = []
    for n in (20_000, 200_000):
        response = toy_response(n=n, fakes=n // 30)
        measured, w2 = response.spectrum(reco, valid=ok)
        cov = U.response_toys_covariance(
            response,
            lambda replica, m=measured, v=w2: U.unfold(replica, m, v, k=5).unfolded,
            100,
            np.random.default_rng(1),
        )
        sizes.append(np.sqrt(np.diag(cov)).mean())
    # ten times the simulation: about sqrt(10) smaller
    assert 2.0 < sizes[0] / sizes[1] < 5.0


def test_relative_uncertainty_and_correlations():
    cov = np.array([[4.0, 2.0], [2.0, 9.0]])
    np.testing.assert_allclose(U.relative_uncertainty(np.array([20.0, -30.0]), cov), [0.1, 0.1])
    np.testing.assert_allclose(U.correlation_matrix(cov)[0, 1], 2 / 6)
    np.testing.assert_allclose(U.global_correlation(np.diag([1.0, 2.0])), [0, 0], atol=1e-12)
    assert U.global_correlation(np.array([[1.0, 0.99], [0.99, 1.0]]))[0] > 0.98


def test_choosing_k():
    assert U.k_from_d(np.array([150.0, 12.0, 3.0, 0.4, 1.8, 0.2])) == 3
    assert U.k_from_d(np.array([40.0, 0.5, 0.2])) == 2
    assert U.k_from_d(np.array([40.0])) == 1
    response = toy_response()
    _, reco, ok = toy_sample(50_000, seed=21)
    measured, w2 = response.spectrum(reco, valid=ok)
    signal = U.subtract_fakes(response, measured)
    result = U.svd_unfold(signal, w2, response.matrix, response.truth, 8)
    # the |d_i| of a smeared spectrum fall from the normalisation to the noise level
    d = result.diagnostics["d"]
    assert d[0] > 50 and np.median(d[4:]) < 3
    ks = range(2, 9)
    means = [
        np.mean(
            U.global_correlation(
                U.svd_unfold(signal, w2, response.matrix, response.truth, k).covariance
            )
        )
        for k in ks
    ]
    assert np.argmin(means) != np.argmax(means)  # the rule has a choice to make
    k = U.k_minimum_global_correlation(
        lambda k: U.svd_unfold(signal, w2, response.matrix, response.truth, k), ks
    )
    assert k == ks[int(np.argmin(means))]
    # the unfold study's global-correlation rule is this minimum over 2 … n bins
    from nuanalysis.unfold_study import choose_k

    assert choose_k(response, (measured, w2), "global-correlation") == k


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors():
    response = toy_response()
    with pytest.raises(UnfoldingError, match="has 5 bins, the response 8"):
        U.unfold(response, np.ones(5), k=2)
    other = hist.Hist(hist.axis.Variable(np.linspace(0, 8, 9)), storage=hist.storage.Weight())
    with pytest.raises(UnfoldingError, match="binning"):
        U.unfold(response, other, k=2)
    negative = response.reco.copy()
    negative[3] = -1
    with pytest.raises(UnfoldingError, match="negative counts at bin \\(3,\\)"):
        U.unfold(response, negative, k=2)
    for k in (0, 9, 2.5):
        with pytest.raises(UnfoldingError, match="regularisation k"):
            U.unfold(response, response.reco, k=k)
    with pytest.raises(UnfoldingError, match="needs a regularisation"):
        U.unfold(response, response.reco)
    with pytest.raises(UnfoldingError, match="unknown backend"):
        U.unfold(response, response.reco, k=2, backend="tunfold")


def test_empty_truth_bin_and_singular_responses():
    truth, reco, ok = toy_sample(10_000, seed=3)
    sparse = Response(np.append(EDGES, [40.0, 50.0])).fill(reco, truth, reco_valid=ok)
    with pytest.raises(UnfoldingError, match="MC truth bin 9 is empty"):
        U.unfold(sparse, sparse.reco, k=2)
    never = Response(EDGES).fill(reco, truth, reco_valid=ok & (truth < 3.5))
    with pytest.raises(UnfoldingError, match="truth bin 7 is never reconstructed"):
        U.unfold(never, never.reco, k=2)
    # two truth bins migrating identically: rank deficient
    matrix = np.array([[5.0, 5.0, 0.0], [5.0, 5.0, 0.0], [0.0, 0.0, 9.0]])
    with pytest.raises(UnfoldingError, match="rank 2 < 3"):
        U.svd_unfold(np.ones(3), np.ones(3), matrix, np.array([10.0, 10.0, 9.0]), 2)
    with pytest.raises(UnfoldingError, match="rank 2 < 3"):
        U.bayes_unfold(np.ones(3), np.ones(3), matrix, np.array([10.0, 10.0, 9.0]))
    with pytest.raises(UnfoldingError, match="response matrix has shape"):
        U.svd_unfold(np.ones(3), np.ones(3), np.eye(2), np.ones(3), 1)


# --------------------------------------------------------------- observables
def padded_dilepton(n: int, seed: int = 0, **options):
    from nuanalysis.io import write_ntuple

    return make_branches("dilepton", n, seed=seed, **options), write_ntuple


@pytest.fixture(scope="module")
def dilepton_events(tmp_path_factory):
    from nuanalysis.io import load_padded, write_ntuple

    path = tmp_path_factory.mktemp("unfold") / "dilepton.root"
    write_ntuple(path, make_branches("dilepton", 6000, seed=4, jet_resolution=0.0))
    return path, load_padded(path)


def test_truth_neutrinos_with_true_b_jets_give_the_true_mtt_and_top_pt(dilepton_events):
    from nuanalysis.candidates import b_jet_candidate_indices
    from nuanalysis.methods.registry import reconstruct
    from nuanalysis.observables import reco_observables, truth_observables

    _, events = dilepton_events
    mtt, ptt, valid = reco_observables(events, reconstruct("truth", events))
    true_mtt, true_ptt = truth_observables(events)
    index = b_jet_candidate_indices(events)
    matched = np.take_along_axis(events.jet_match, np.maximum(index, 0), axis=1)
    true_b = valid & (index >= 0).all(axis=1) & (np.sort(matched, axis=1) == [0, 1]).all(axis=1)
    assert true_b.mean() > 0.5
    np.testing.assert_allclose(mtt[true_b], true_mtt[true_b], rtol=1e-4)
    np.testing.assert_allclose(ptt[true_b], true_ptt[true_b], rtol=1e-4, atol=1e-3)
    assert true_mtt.min() > 2 * TOP_MASS - 1


def test_method_pairing_from_extras_is_used(dilepton_events):
    from nuanalysis.methods.registry import reconstruct
    from nuanalysis.observables import PAIRING_KEY, reco_observables

    _, events = dilepton_events
    result = reconstruct("truth", events)
    mtt, best, _ = reco_observables(events, result)
    result.extras[PAIRING_KEY] = np.zeros(len(events), dtype=int)
    mtt_first, first, _ = reco_observables(events, result)
    result.extras[PAIRING_KEY] = np.ones(len(events), dtype=int)
    second = reco_observables(events, result)[1]
    # m_tt sums all six objects and does not depend on the pairing; pT_t does
    np.testing.assert_allclose(mtt_first, mtt)
    np.testing.assert_allclose(best, np.where(np.isclose(best, first), first, second))
    assert np.mean(np.isclose(first, second)) < 0.1
    # the ellipse's key "pairing" has the same meaning; -1 (no pairing found) is a failure
    del result.extras[PAIRING_KEY]
    result.extras["pairing"] = np.where(np.arange(len(events)) % 3 == 0, -1, 1)
    _, via_pairing, valid = reco_observables(events, result)
    np.testing.assert_array_equal(valid, np.arange(len(events)) % 3 != 0)
    np.testing.assert_allclose(via_pairing[valid], second[valid])


def test_observables_refuse_semileptonic_events(tmp_path):
    from nuanalysis.errors import ChannelError
    from nuanalysis.io import load_padded, write_ntuple
    from nuanalysis.methods.registry import reconstruct
    from nuanalysis.observables import reco_observables

    path = tmp_path / "semi.root"
    write_ntuple(path, make_branches("semileptonic", 50, seed=1))
    events = load_padded(path)
    with pytest.raises(ChannelError, match="dilepton"):
        reco_observables(events, reconstruct("truth", events))


# ------------------------------------------------------------------- study
def _register_half_failing_method():
    from nuanalysis.methods.registry import NeutrinoResult, register

    @register(
        "_test-half-failures",
        channels=("dilepton",),
        description="truth, every 2nd fails",
        label="half failures",
        color="tab:gray",
    )
    def half(events):
        valid = (np.arange(len(events)) // 2) % 2 == 0  # fails in half the even and odd entries
        return NeutrinoResult(events.truth_nu.copy(), valid)


def test_study_method_failures_are_misses_and_cost_precision(dilepton_events):
    from nuanalysis.unfold_study import run_study

    _register_half_failing_method()
    _, events = dilepton_events
    study = run_study(
        events, ["_test-half-failures"], backend="numpy", k=12, progress=False, min_bin_events=0
    )  # all 12 bins, unregularised: half the events in each
    assert list(study.methods) == ["truth", "_test-half-failures"]
    truth, half = study.methods["truth"], study.methods["_test-half-failures"]
    assert half.valid_fraction == pytest.approx(truth.valid_fraction / 2, abs=0.01)
    matched = truth.response.matrix.sum(axis=0)
    sigma = np.sqrt(0.25 / matched)
    assert np.all(np.abs(half.response.efficiency - truth.response.efficiency / 2) < 4 * sigma)
    np.testing.assert_array_equal(half.response.truth, truth.response.truth)
    # the ratio is the method's relative uncertainty over the truth-ν one, bin by bin
    np.testing.assert_allclose(half.ratio_to_truth, half.rel_uncertainty / truth.rel_uncertainty)
    # half the events: about sqrt(2) larger relative uncertainties, same unfolded total
    assert 1.2 < np.median(half.ratio_to_truth) < 1.7
    assert half.result.unfolded.sum() == pytest.approx(truth.truth.sum(), rel=0.05)


def test_study_records_a_method_that_cannot_be_unfolded(dilepton_events):
    from nuanalysis.methods.registry import NeutrinoResult, register
    from nuanalysis.observables import truth_observables
    from nuanalysis.unfold_study import format_table, run_study

    @register(
        "_test-low-mass-only",
        channels=("dilepton",),
        description="fails above 450 GeV",
        label="low mass only",
        color="tab:olive",
    )
    def low_mass_only(events):
        return NeutrinoResult(events.truth_nu.copy(), truth_observables(events)[0] < 450)

    _, events = dilepton_events
    study = run_study(events, ["_test-low-mass-only"], backend="numpy", k=6, progress=False)
    assert "never reconstructed" in study.failures["_test-low-mass-only"]
    assert "_test-low-mass-only: not unfolded" in format_table(study)
    assert "error" in study.to_json()["methods"]["_test-low-mass-only"]
    assert "truth" in study.methods


def test_cli_writes_the_design_json(dilepton_events, tmp_path):
    from click.testing import CliRunner

    from nuanalysis.cli import cli

    path, _ = dilepton_events
    out = tmp_path / "u.json"
    runner = CliRunner()
    args = ["unfold", "--methods", "truth", "--input", str(path), "--backend", "numpy"]
    result = runner.invoke(cli, [*args, "--json", str(out), "--out", str(tmp_path / "figs")])
    assert result.exit_code == 0, result.output
    assert "ratio" in result.output or "σ/x" in result.output
    data = json.loads(out.read_text())
    assert data["observable"] == "mtt_ptt" and data["backend"] == "numpy"
    assert data["degenerate"] == []  # 6000 events keep the binning, k = 6 and a small bias
    assert data["backend_provenance"] == {"backend": "numpy"}
    assert data["bins"]["mtt"] == [300.0, 450.0, 600.0, 800.0, 1200.0]
    assert data["bins"]["ptt"] == [0.0, 100.0, 200.0, 400.0]
    entry = data["methods"]["truth"]
    assert {"unfolded", "rel_uncertainty", "ratio_to_truth", "k"} <= set(entry)
    assert len(entry["unfolded"]) == 12 and entry["ratio_to_truth"] == [1.0] * 12
    assert entry["k"] == 6  # default rule: n/2, as RooUnfoldSvd
    assert all(0 < u < 1 for u in entry["rel_uncertainty"])
    assert (tmp_path / "figs" / "response_truth.png").stat().st_size > 0
    assert (tmp_path / "figs" / "uncertainty_ratios.png").stat().st_size > 0

    bad = runner.invoke(cli, ["unfold", "--methods", "truth,nonsense", "--input", str(path)])
    assert bad.exit_code != 0 and "nonsense" in bad.output


def test_cli_refuses_semileptonic_events_and_unavailable_backends(dilepton_events):
    from click.testing import CliRunner

    from nuanalysis.cli import cli
    from nuanalysis.errors import ChannelError

    runner = CliRunner()
    result = runner.invoke(cli, ["unfold", "--methods", "truth", "--channel", "semileptonic"])
    assert isinstance(result.exception, ChannelError) and "dilepton" in str(result.exception)
    if not U.SVD_BACKENDS["roounfold"].available():
        path, _ = dilepton_events
        args = ["unfold", "--methods", "truth", "--input", str(path), "--backend", "roounfold"]
        result = runner.invoke(cli, args)
        assert result.exit_code != 0 and "RooUnfold" in result.output
