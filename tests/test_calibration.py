"""Posterior calibration: PIT and coverage, the latent temperature, ``nuanalysis calibrate``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import make_branches

from nuanalysis.calibration import (
    calibration_report,
    fit_temperature,
    pit,
    spread_score,
    summarize_pit,
)
from nuanalysis.cli import main
from nuanalysis.flows.features import event_features, neutrino_targets
from nuanalysis.flows.inference import flow_mode, sample_posterior
from nuanalysis.flows.model_io import (
    CALIBRATION_KEY,
    build_model,
    latent_temperature,
    load_model,
    save_model,
)
from nuanalysis.flows.presets import preset
from nuanalysis.flows.runtime import OnnxRunner, TorchRunner, _exported
from nuanalysis.io import load_padded, write_ntuple

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("calibration") / "semileptonic.root"
    write_ntuple(path, make_branches("semileptonic", 40, seed=8, met_resolution=10.0))
    return load_padded(path)


@pytest.fixture(scope="module")
def tiny_flow(events):
    torch.manual_seed(3)
    model = build_model("flow", "semileptonic", preset("tiny").architecture)
    model.fit_scalers(event_features(events), neutrino_targets(events.truth_nu))
    return model.eval()


def gaussian_toy(n: int, draws: int, width_ratio: float, seed: int = 0):
    """Truth ~ N(μ, 1) per event; draws ~ N(μ, width_ratio²): calibrated for ratio 1."""
    rng = np.random.default_rng(seed)
    centre = rng.normal(0.0, 5.0, n)
    truth = centre + rng.normal(size=n)
    drawn = centre[:, None] + width_ratio * rng.normal(size=(n, draws))
    return drawn, truth


def test_pit_of_an_exactly_calibrated_posterior_is_flat():
    summary = summarize_pit(pit(*gaussian_toy(20000, 200, 1.0)))
    density, error = np.array(summary["pit_density"]), np.array(summary["pit_density_err"])
    assert np.all(np.abs(density - 1.0) < 4 * error), density
    for level in ("0.68", "0.95"):
        coverage = summary["coverage"][level]
        assert abs(coverage["value"] - float(level)) < 4 * coverage["err"] + 0.01, coverage


def test_an_over_confident_posterior_has_a_u_shaped_pit_and_low_coverage():
    summary = summarize_pit(pit(*gaussian_toy(20000, 200, 0.6)))
    density = summary["pit_density"]
    assert density[0] > 1.3 and density[-1] > 1.3 and density[4] < 0.8
    assert summary["coverage"]["0.68"]["value"] < 0.5  # P(|z| < 0.6) = 0.45
    assert summary["coverage"]["0.95"]["value"] < 0.85  # P(|z| < 1.18) = 0.76


def test_pit_is_undefined_where_the_truth_or_a_draw_is_or_where_draws_agree():
    drawn = np.array([[1.0, 2.0, 3.0], [1.0, np.nan, 3.0], [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    truth = np.array([2.5, 2.0, 2.0, np.nan])
    values = pit(drawn, truth)
    assert values[0] == pytest.approx(2 / 3)
    assert np.isnan(values[1:]).all()


def test_fit_temperature_recovers_the_missing_width_and_restores_coverage(events):
    """Draws from a posterior 1/1.5 too narrow: the fit finds T ≈ 1.5 and coverage improves."""
    rng = np.random.default_rng(4)
    many = events.select(np.repeat(np.arange(len(events)), 50))  # 2000 events
    centre = many.truth_nu + 10.0 * rng.normal(size=many.truth_nu.shape)
    noise = rng.normal(size=(len(many), 128, *many.truth_nu.shape[1:]))

    def sample(temperature: float) -> np.ndarray:
        return centre[:, None] + temperature * (10.0 / 1.5) * noise

    assert spread_score(many, sample(1.0)) > 0.55
    temperature = fit_temperature(many, sample)
    assert temperature == pytest.approx(1.5, rel=0.05)
    before = calibration_report(many, sample(1.0))["nu_pz"]["coverage"]["0.68"]["value"]
    after = calibration_report(many, sample(temperature))["nu_pz"]["coverage"]["0.68"]["value"]
    assert before < 0.55 and abs(after - 0.68) < 0.03


def test_the_temperature_round_trips_through_the_model_file_and_its_onnx_export(
    events, tiny_flow, tmp_path
):
    path = save_model(
        tiny_flow, tmp_path / "flow.pt", metadata={CALIBRATION_KEY: {"temperature": 1.7}}
    )
    loaded = load_model(path)
    assert TorchRunner(loaded).temperature == pytest.approx(1.7)
    onnx = OnnxRunner(_exported(loaded), str(path), "semileptonic", "flow")
    assert onnx.temperature == pytest.approx(1.7)
    # the draws use it; the mode does not
    some = events.select(slice(0, 10))
    warm, _ = sample_posterior(some, 8, path, seed=1)
    np.testing.assert_allclose(warm, sample_posterior(some, 8, tiny_flow, 1, temperature=1.7)[0])
    assert not np.allclose(warm, sample_posterior(some, 8, tiny_flow, seed=1)[0])
    np.testing.assert_array_equal(
        flow_mode(some, path, estimator="latent")[0],
        flow_mode(some, tiny_flow, estimator="latent")[0],
    )


def test_a_model_file_without_calibration_draws_at_temperature_one(events, tiny_flow, tmp_path):
    path = save_model(tiny_flow, tmp_path / "old.pt")
    assert CALIBRATION_KEY not in torch.load(path, weights_only=True)["metadata"]
    assert TorchRunner(load_model(path)).temperature == 1.0


def test_calibrate_command_reports_fits_and_saves_a_recalibrated_model(
    events, tiny_flow, tmp_path, capsys
):
    model = save_model(tiny_flow, tmp_path / "flow.pt")
    sample = tmp_path / "sample.root"
    write_ntuple(sample, make_branches("semileptonic", 30, seed=9, met_resolution=10.0))
    out, recalibrated = tmp_path / "report", tmp_path / "recalibrated.pt"
    arguments = ["calibrate", "--input", str(sample), "--model", str(model), "--draws", "16"]
    main([*arguments, "--out", str(out), "--save-model", str(recalibrated)])
    summary = json.loads((out / "calibrate.json").read_text())
    assert set(summary["reports"]) == {"model", "recalibrated"}
    for name in ("nu_px", "nu_py", "nu_pz", "mtt", "ptt", "mblnu"):
        assert set(summary["reports"]["model"][name]["coverage"]) == {"0.68", "0.95"}
    assert (out / "calibration.png").is_file() and (out / "calibration_recalibrated.png").is_file()
    temperature = summary["recalibration"]["temperature"]
    assert latent_temperature(load_model(recalibrated).metadata) == pytest.approx(temperature)
    assert "cover 0.68" in capsys.readouterr().out


def test_calibrate_refuses_a_sample_without_truth(tmp_path, capsys):
    branches = make_branches("semileptonic", 20, seed=9)
    truthless = {k: v for k, v in branches.items() if not k.startswith("truth_nu")}
    write_ntuple(tmp_path / "data.root", truthless)
    with pytest.raises(SystemExit):
        main(["calibrate", "--input", str(tmp_path / "data.root"), "--out", str(tmp_path / "r")])
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "truth" in error


# ------------------------------------------------------------------ a detector the models never saw


def test_degraded_detector_is_worse_by_the_stated_factors():
    from nuanalysis.cli.generate import command
    from nuanalysis.generation.detector import ATLAS_LIKE, DEGRADED, DETECTORS

    choices = next(p for p in command.params if p.name == "detector").type.choices
    assert list(choices) == list(DETECTORS)
    energy, eta = np.array([30.0, 100.0, 300.0]), np.array([0.5, 2.0, 3.5])
    ratio = DEGRADED.jet_energy_resolution(energy, eta) / ATLAS_LIKE.jet_energy_resolution(
        energy, eta
    )
    np.testing.assert_allclose(ratio, 1.2)
    assert DEGRADED.met_soft_resolution == pytest.approx(1.2 * ATLAS_LIKE.met_soft_resolution)
    assert DEGRADED.btag_efficiency_b < ATLAS_LIKE.btag_efficiency_b
    unchanged = ("electron_resolution_sampling", "muon_resolution_constant", "btag_efficiency_c")
    for name in unchanged:
        assert getattr(DEGRADED, name) == getattr(ATLAS_LIKE, name)
