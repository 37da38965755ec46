"""The top-mass study (nuanalysis.masscan, ``nuanalysis masscan``).

Oversampled templates keep the events' normalisation and carry the per-event
variance; the template fit recovers the m_t a Pythia sample was generated at;
the truth-ν m(bℓν) follows the true m_t with slope 1 when the b quarks are
the true ones; a sample whose mass cannot be known is refused.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nuanalysis.errors import InputError
from nuanalysis.generation import generate
from nuanalysis.generation.record import write_generation_record
from nuanalysis.io import demo_sample_path, load_padded, write_ntuple
from nuanalysis.masscan import (
    Binning,
    MassSample,
    ObservableSample,
    Template,
    TemplateModel,
    fit_mass,
    fit_slope,
    mbl_observable,
    mblnu_observable,
    neg2_log_likelihood,
    run_masscan,
    sample_mass,
    scan_method,
    template_halves,
    window_mean,
)
from nuanalysis.methods.registry import NeutrinoResult, reconstruct
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import DRAWS_KEY, LOG_PROB_KEY

MASSES = (166.0, 172.5, 179.0)
EVENTS_PER_MASS = 300


@pytest.fixture(scope="module")
def mass_files(tmp_path_factory) -> list[str]:
    """Small Pythia dilepton samples at :data:`MASSES`, with their generation records."""
    folder = tmp_path_factory.mktemp("masses")
    paths = []
    for seed, top_mass in enumerate(MASSES, start=41):
        result = generate(
            "dilepton", EVENTS_PER_MASS, seed=seed, top_mass=top_mass, progress_bar=False
        )
        path = folder / f"dilepton_mt{top_mass:g}.root"
        write_ntuple(path, result.columns)
        write_generation_record(path, {"top_mass": top_mass, "seed": seed})
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def truth_samples(mass_files) -> list[MassSample]:
    samples = []
    for path in mass_files:
        events = load_padded(path)
        halves = template_halves(events, None)
        results = {"truth": reconstruct("truth", events)}
        samples.append(MassSample(sample_mass(path), path, events, results, halves))
    return samples


def posterior_result(events: PaddedEvents, n_draws: int, seed: int = 0) -> NeutrinoResult:
    """Truth neutrinos smeared into ``n_draws`` draws per event, as a flow-posterior keeps."""
    rng = np.random.default_rng(seed)
    truth = events.truth_nu
    draws = truth[:, None] + rng.normal(0.0, 40.0, (len(events), n_draws, *truth.shape[1:]))
    extras = {DRAWS_KEY: draws, LOG_PROB_KEY: np.zeros((len(events), n_draws))}
    return NeutrinoResult(truth, np.ones(len(events), dtype=bool), extras=extras)


def test_oversampled_template_sums_to_the_events_with_the_per_event_variance():
    events = load_padded(demo_sample_path("dilepton"), max_events=400)
    n_draws = 16
    values, valid = mblnu_observable(events, posterior_result(events, n_draws))
    assert values.shape == (len(events), n_draws)
    binning = Binning("mblnu", (0.0, 5000.0), width=50.0)  # holds every draw
    weight = np.random.default_rng(1).uniform(0.5, 1.5, len(events))
    template = Template.from_fractions(binning.edges, binning.fractions(values, valid, weight))
    assert template.total == pytest.approx(weight[valid].sum())

    per_event_w2 = np.zeros(binning.n_bins)  # Σ_i f_ib²: events are the independent units
    per_draw_w2 = np.zeros(binning.n_bins)  # Σ over draws of (w/S)²: as if draws were events
    for row, w, ok in zip(values, weight, valid, strict=True):
        if ok:
            counts = np.histogram(row, binning.edges)[0]
            per_event_w2 += (counts * w / n_draws) ** 2
            per_draw_w2 += counts * (w / n_draws) ** 2
    np.testing.assert_allclose(template.variance, per_event_w2)
    assert template.variance.sum() > 2 * per_draw_w2.sum()


def test_one_point_per_event_gives_the_sum_of_squared_weights():
    rng = np.random.default_rng(2)
    values, weight = rng.normal(170.0, 20.0, (500, 1)), rng.uniform(0.5, 2.0, 500)
    binning = Binning("mblnu", (120.0, 230.0))
    template = Template.from_fractions(
        binning.edges, binning.fractions(values, np.ones(500, dtype=bool), weight)
    )
    counts = np.histogram(values[:, 0], binning.edges, weights=weight)[0]
    w2 = np.histogram(values[:, 0], binning.edges, weights=weight**2)[0]
    np.testing.assert_allclose(template.values, counts)
    np.testing.assert_allclose(template.variance, w2)


def test_window_mean_of_draws_weighs_events_not_draws():
    values = np.array([[150.0, 160.0], [170.0, 500.0], [180.0, 180.0]])
    mean, error = window_mean(values, np.ones(3, dtype=bool), np.ones(3), (120.0, 230.0))
    # weights 1/2 per draw; the draw at 500 GeV is outside the window
    assert mean == pytest.approx((75 + 80 + 85 + 180) / 2.5)
    assert error > 0


def _gaussian_templates(masses, n, rng, slope=0.7, width=15.0):
    binning = Binning("mblnu", (120.0, 230.0))
    templates, fractions = [], []
    for m in masses:
        values = rng.normal(172.5 + slope * (m - 172.5), width, (n, 1))
        f = binning.fractions(values, np.ones(n, dtype=bool), np.ones(n))
        fractions.append(f)
        templates.append(Template.from_fractions(binning.edges, f))
    return binning, templates, fractions


def test_template_statistics_widen_the_likelihood():
    rng = np.random.default_rng(3)
    templates = _gaussian_templates(MASSES, 300, rng)[1]
    model = TemplateModel(MASSES, templates, degree=1)
    grid = np.linspace(165.0, 180.0, 301)
    data = _gaussian_templates([172.5], 300, rng)[1][0].values
    with_templates = neg2_log_likelihood(data[None], model.expected(grid), model.variance())[0]
    without = neg2_log_likelihood(data[None], model.expected(grid), 0 * model.variance())[0]
    assert (without >= 0).all() and (with_templates >= 0).all()
    assert (with_templates - with_templates.min()).max() < (without - without.min()).max()


def test_fit_on_toys_is_unbiased_and_its_bootstrap_error_covers_the_spread():
    rng = np.random.default_rng(4)
    binning, templates, _ = _gaussian_templates(MASSES, 20_000, rng)
    model = TemplateModel(MASSES, templates, degree=1)
    fits = []
    for _ in range(30):
        values = rng.normal(172.5 + 0.7 * (170.0 - 172.5), 15.0, (400, 1))
        data = binning.fractions(values, np.ones(400, dtype=bool), np.ones(400))
        fits.append(fit_mass(model, data, 170.0, replicas=100, rng=rng))
    fitted = np.array([f.fitted for f in fits])
    error = np.mean([f.error for f in fits])
    assert abs(fitted.mean() - 170.0) < 3 * fitted.std(ddof=1) / np.sqrt(len(fits))
    assert 0.7 < fitted.std(ddof=1) / error < 1.4
    assert np.mean([f.likelihood_error for f in fits]) == pytest.approx(error, rel=0.3)


def test_template_fit_recovers_the_generated_mass(truth_samples):
    study = run_masscan(truth_samples, replicas=100)
    for fit in study.methods["truth"].fits:
        assert 0 < fit.total_error < 5.0
        assert abs(fit.fitted - fit.true_mass) < 3 * fit.total_error, fit.to_dict(10_000)


def with_parton_b_jets(events: PaddedEvents) -> PaddedEvents:
    """``events`` whose only jets are the true b and b̄ quarks, both tagged."""
    jets = np.zeros_like(events.jets)
    jets[:, :2] = events.truth_partons[:, :2]
    mask = np.zeros_like(events.jet_mask)
    mask[:, :2] = True
    parton = events.select(slice(None))
    parton.jets, parton.jet_mask, parton.jet_btag = jets, mask, mask.copy()
    return parton


def test_truth_nu_mblnu_follows_the_true_mass_with_slope_one_given_the_true_b(truth_samples):
    means, errors, reco_means, reco_errors = [], [], [], []
    for sample in truth_samples:
        events = sample.events
        parton = with_parton_b_jets(events)
        for target, target_errors, evs in (
            (means, errors, parton),
            (reco_means, reco_errors, events),
        ):
            values, valid = mblnu_observable(evs, sample.results["truth"])
            mean, error = window_mean(values, valid, evs.weight, (120.0, 230.0))
            target.append(mean)
            target_errors.append(error)
    slope = fit_slope(MASSES, means, errors)
    assert abs(slope.slope - 1.0) < 3 * slope.error and slope.error < 0.1
    # with the selected b-jets the jets' response and wrong candidates flatten it, never steepen
    reco = fit_slope(MASSES, reco_means, reco_errors)
    assert 0.2 < reco.slope < slope.slope + 3 * reco.error


def test_mbl_is_neutrino_free_and_pairs_by_the_lowest_mean(truth_samples):
    """m_bℓ computed here from the two b candidates and leptons: the observable is the lower
    of the two pairings' mean, and MET and truth neutrinos do not enter."""
    import dataclasses

    from nuanalysis.candidates import b_jet_candidates

    events = truth_samples[1].events
    values, valid = mbl_observable(events)
    assert values.shape == (len(events), 1) and valid.all()
    candidates, _ = b_jet_candidates(events)

    def mass(a, b):
        p = a + b
        return np.sqrt(np.maximum(p[:, 3] ** 2 - np.sum(p[:, :3] ** 2, axis=1), 0.0))

    straight = (
        mass(events.lepton_pos, candidates[:, 0]) + mass(events.lepton_neg, candidates[:, 1])
    ) / 2
    swapped = (
        mass(events.lepton_pos, candidates[:, 1]) + mass(events.lepton_neg, candidates[:, 0])
    ) / 2
    assert np.mean(np.abs(straight - swapped) > 1.0) > 0.9  # the pairing matters
    np.testing.assert_allclose(values[:, 0], np.minimum(straight, swapped), rtol=1e-9)
    without_neutrinos = dataclasses.replace(
        events, met=np.zeros_like(events.met), truth_nu=np.zeros_like(events.truth_nu)
    )
    np.testing.assert_array_equal(mbl_observable(without_neutrinos)[0], values)


def test_a_file_without_a_known_mass_is_refused(tmp_path):
    demo = demo_sample_path("dilepton")
    with pytest.raises(InputError, match=r"top mass of this sample is unknown.*--input MASS="):
        sample_mass(demo)
    assert sample_mass(demo, 172.5) == 172.5
    from click.testing import CliRunner

    from nuanalysis.cli import cli

    result = CliRunner().invoke(
        cli, ["masscan", "--input", str(demo), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code != 0
    assert "top mass of this sample is unknown" in str(result.exception)


def test_cli_defaults_agree_with_the_study():
    from nuanalysis import masscan
    from nuanalysis.cli import masscan as cli_masscan

    assert cli_masscan.DEFAULT_DRAWS == masscan.DRAWS
    assert cli_masscan.DEFAULT_LUMI_EVENTS == masscan.LUMI_EVENTS
    assert cli_masscan.DEFAULT_REPLICAS == masscan.BOOTSTRAP_REPLICAS
    assert cli_masscan.DEFAULT_BIN_WIDTH == masscan.BIN_WIDTH
    assert tuple(map(float, cli_masscan.DEFAULT_MBLNU_WINDOW.split(","))) == masscan.MBLNU_WINDOW
    assert tuple(map(float, cli_masscan.DEFAULT_MBL_WINDOW.split(","))) == masscan.MBL_WINDOW


def test_cli_writes_the_table_json_and_figures(mass_files, tmp_path):
    from click.testing import CliRunner

    from nuanalysis.cli import cli

    out = tmp_path / "scan"
    arguments = ["masscan", "--methods", "truth,flow-posterior", "--draws", "4"]
    arguments += ["--replicas", "20", "--out", str(out)]
    for path in mass_files[:2]:
        arguments += ["--input", path]
    arguments += ["--input", f"179={mass_files[2]}"]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "flow-posterior ×4" in result.output
    summary = json.loads((out / "masscan.json").read_text())
    assert set(summary["methods"]) == {"truth", "flow-posterior", "mbl"}
    posterior = summary["methods"]["flow-posterior"]
    assert posterior["draws_per_event"] == 4 and len(posterior["fits"]) == len(MASSES)
    assert [i["top_mass"] for i in summary["inputs"]] == list(MASSES)
    for name in ("mass_templates", "mass_calibration", "mass_likelihood"):
        assert (out / f"{name}.png").is_file()


def _toy_scan(template_events: int, data_events: int, seed: int, bin_width: float):
    """scan_method on toys: a Gaussian of width 20 GeV moving by 0.8 m_t, at five masses."""
    rng = np.random.default_rng(seed)
    samples = []
    for top_mass in (169.0, 171.0, 172.5, 174.0, 176.0):
        n = template_events + data_events
        values = rng.normal(172.5 + 0.8 * (top_mass - 172.5), 20.0, (n, 1))
        half = np.arange(n) < template_events
        samples.append(ObservableSample(top_mass, values, np.ones(n, bool), np.ones(n), half))
    binning = Binning("mblnu", (120.0, 230.0), bin_width)
    return scan_method("toy", "mblnu", binning, samples, degree=1, replicas=50, seed=seed)


def test_large_templates_calibrate_to_one_and_small_ones_shrink_the_fits():
    large = _toy_scan(40_000, 2000, seed=5, bin_width=5.0)
    k = large.calibration
    assert abs(k.slope - 1.0) < 3 * k.error and k.error < 0.2
    fit = large.central_fit()
    calibrated, error = large.calibrated(fit)
    assert abs(calibrated - 172.5) < 3 * error
    # template noise passes for m_t dependence: fits pulled towards the templates' mean mass
    small = [_toy_scan(300, 300, seed=s, bin_width=5.0).calibration.slope for s in range(6)]
    assert np.mean(small) < 0.85


def test_one_mass_is_refused_before_any_reconstruction():
    from nuanalysis.masscan import resolve_inputs

    demo = demo_sample_path("dilepton")
    with pytest.raises(InputError, match=r"two different masses at least, got 172\.5 GeV"):
        resolve_inputs([f"172.5={demo}"])
    assert [m for m, _ in resolve_inputs([f"172.5={demo}", f"175={demo}"])] == [172.5, 175.0]


def _toy_method(name: str, response: float, width: float, seed: int):
    """scan_method on toys whose mean moves by ``response`` × (m_t − 172.5), of ``width`` GeV;
    with ``response`` 0 every mass gets the very same values (a method that ignores m_t)."""
    samples = []
    for top_mass in (166.0, 172.5, 179.0):
        rng = np.random.default_rng(seed if response == 0 else [seed, int(top_mass * 10)])
        values = rng.normal(172.5 + response * (top_mass - 172.5), width, (2000, 1))
        half = np.arange(2000) % 2 == 0
        samples.append(ObservableSample(top_mass, values, np.ones(2000, bool), np.ones(2000), half))
    binning = Binning("mblnu", (120.0, 230.0), 10.0)
    return scan_method(name, "mblnu", binning, samples, degree=1, replicas=30, seed=seed)


def test_a_method_that_does_not_follow_mt_gets_no_precision_quoted():
    """Issue 20 item 5: a method solving with m_t fixed (the ellipse) gives the same
    observable at every true mass; no σ of it may be printed as an m_t precision, and every
    missing figure is explained."""
    from dataclasses import replace

    from nuanalysis.masscan import MassScanStudy, Slope, format_table

    study = MassScanStudy(
        methods={
            "truth": _toy_method("truth", 0.9, 15.0, seed=1),
            "fixed": _toy_method("fixed", 0.0, 15.0, seed=2),
        },
        inputs=[(m, f"toy_{m:g}.root") for m in (166.0, 172.5, 179.0)],
        interpolation="linear",
        lumi_events=10_000,
    )
    truth, fixed = study.methods["truth"], study.methods["fixed"]
    assert not truth.fit_withheld(truth.central_fit()) and not truth.mean_withheld
    assert "flat likelihood" in fixed.fit_withheld(fixed.central_fit()) and fixed.mean_withheld
    assert np.isnan(fixed.mean_precision(10_000))
    summary = study.to_json()["methods"]
    assert summary["truth"]["m_t_sensitive"] and not summary["fixed"]["m_t_sensitive"]
    assert all(f["error_10000_events"] is None for f in summary["fixed"]["fits"])
    assert all(f["error_10000_events"] > 0 for f in summary["truth"]["fits"])
    text = format_table(study)
    rows = {line.split()[0]: line for line in text.splitlines()[2:4]}
    assert "nan" not in text
    # truth quotes σ@N, σ/k@N and mean@N; the fixed-m_t method none of them (— each)
    assert not rows["truth"].rstrip().endswith("—")
    assert rows["fixed"].split()[-5:] == ["—", "—", "—", "—", "—"]
    assert "fixed: flat likelihood" in text
    assert "fixed: the window mean does not follow the true m_t" in text
    assert "shown: the fit of the m_t = 172.5 GeV sample" in text
    # a fit with a minimum whose position does not move with m_t (k = 0.00 ± 0.00): the
    # bootstrap σ is small for that reason alone and is withheld too
    stuck = replace(truth, calibration=Slope(0.001, 0.002, 176.8, 172.5))
    assert "do not follow the true m_t (k = 0.00 ± 0.00" in stuck.fit_withheld(stuck.fits[1])
    assert np.isnan(stuck.calibrated(stuck.fits[1])[0])
