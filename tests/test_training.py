"""Training loop (ν-Flows §3.2): schedule, loss goes down, early stopping, resume, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_branches

from nuanalysis.cli.train import checkpoint_path, command
from nuanalysis.errors import InputError, ModelError
from nuanalysis.flows.features import momenta_from_targets
from nuanalysis.flows.model_io import build_model, load_model
from nuanalysis.flows.presets import PRESETS, Architecture, preset
from nuanalysis.flows.training import cosine_cycle, split_indices, train, training_arrays
from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.methods.registry import reconstruct

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ntuple(tmp_path_factory):
    """Semileptonic events whose MET is exactly the neutrino pT: p_x, p_y are learnable."""
    path = tmp_path_factory.mktemp("training") / "semileptonic.root"
    write_ntuple(path, make_branches("semileptonic", 1500, seed=11, met_resolution=0.0))
    return path


@pytest.fixture(scope="module")
def arrays(ntuple):
    return training_arrays(load_padded(ntuple))


def test_cosine_schedule_cycles_from_zero_to_max_and_back():
    steps = 100  # one cycle = 2 epochs of 50 steps
    assert cosine_cycle(0, steps) == 0.0
    assert cosine_cycle(50, steps) == pytest.approx(1.0)
    assert cosine_cycle(25, steps) == pytest.approx(0.5)
    assert cosine_cycle(100, steps) == 0.0
    assert cosine_cycle(99, steps) < 0.01


def test_hold_out_is_ten_percent_and_disjoint():
    train_index, valid_index = split_indices(1000, 0.1, seed=0)
    assert len(valid_index) == 100 and len(train_index) == 900
    assert not set(train_index) & set(valid_index)
    assert sorted({*train_index, *valid_index}) == list(range(1000))


def test_training_without_truth_is_refused(ntuple):
    events = load_padded(ntuple)
    events.truth_nu = None
    with pytest.raises(InputError, match="truth_nu"):
        training_arrays(events)


def test_regression_learns_the_transverse_momentum(arrays, tmp_path):
    """ν-FF on events with MET = pT(ν): loss drops, p_x predicted far better than its spread."""
    features, targets = arrays
    hp = preset("tiny", learning_rate=1e-2)
    torch.manual_seed(0)
    model = build_model("ff", "semileptonic", hp.architecture)
    result = train(model, features, targets, hp.training, tmp_path / "ck", epochs=8, progress=False)
    losses = [h["valid_loss"] for h in result.history]
    assert result.best_valid_loss < 0.6 * losses[0]
    assert result.n_valid == 150 and result.n_train == 1350

    with torch.no_grad():
        predicted = model.predict(features.to_torch()).numpy()
    residual = predicted[:, 0] - targets[:, 0]
    assert np.std(residual) < 0.35 * np.std(targets[:, 0])


def test_flow_likelihood_improves(arrays, tmp_path):
    features, targets = arrays
    hp = preset("tiny")
    torch.manual_seed(0)
    model = build_model("flow", "semileptonic", hp.architecture)
    result = train(model, features, targets, hp.training, tmp_path / "ck", epochs=4, progress=False)
    losses = [h["valid_loss"] for h in result.history]
    assert min(losses) < losses[0] - 0.3
    assert result.best_valid_loss == min(losses)
    assert result.best_epoch == int(np.argmin(losses))


def test_early_stopping_when_nothing_improves(arrays, tmp_path):
    features, targets = arrays
    hp = preset("tiny", learning_rate=0.0, patience=2)
    model = build_model("ff", "semileptonic", hp.architecture)
    result = train(
        model, features, targets, hp.training, tmp_path / "ck", epochs=10, progress=False
    )
    assert result.stopped_early
    assert result.epochs == 3  # the first epoch sets the best, two more without improvement


def test_resume_continues_exactly_where_training_stopped(arrays, tmp_path):
    features, targets = arrays
    hp = preset("tiny")

    def fresh():
        torch.manual_seed(0)
        return build_model("flow", "semileptonic", hp.architecture)

    straight = train(
        fresh(), features, targets, hp.training, tmp_path / "a", epochs=4, progress=False
    )
    train(fresh(), features, targets, hp.training, tmp_path / "b", epochs=2, progress=False)
    resumed_model = fresh()
    resumed = train(
        resumed_model,
        features,
        targets,
        hp.training,
        tmp_path / "b",
        resume=True,
        epochs=4,
        progress=False,
    )
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-5)

    other = build_model("flow", "dilepton", hp.architecture)
    with pytest.raises(ModelError, match="differently configured"):
        train(other, features, targets, hp.training, tmp_path / "b", resume=True, progress=False)
    with pytest.raises(ModelError, match="does not exist"):
        train(
            fresh(), features, targets, hp.training, tmp_path / "none", resume=True, progress=False
        )


def test_resume_on_other_data_is_refused_naming_the_difference(arrays, tmp_path):
    """A resumed fit continues the epochs and best weights judged on one hold-out set:
    other events (fewer, other files, another split seed, other values) are refused."""
    features, targets = arrays
    hp = preset("tiny")
    model = build_model("ff", "semileptonic", hp.architecture)
    sources = ["/data/a.root"]
    checkpoint = tmp_path / "ck"
    train(model, features, targets, hp.training, checkpoint, epochs=1, progress=False,
          sources=sources)  # fmt: skip

    def resume(part=slice(None), seed=0, files=sources, shift=0.0):
        train(model, features.select(part), targets[part] + shift, hp.training, checkpoint,
              resume=True, epochs=2, seed=seed, sources=files, progress=False)  # fmt: skip

    with pytest.raises(ModelError, match=r"trained on 1500 events, this call reads 500"):
        resume(part=slice(0, 500))
    with pytest.raises(ModelError, match=r"trained on /data/a\.root, this call reads /data/b"):
        resume(files=["/data/b.root"])
    with pytest.raises(ModelError, match=r"--seed 0, this call uses --seed 3"):
        resume(seed=3)
    with pytest.raises(ModelError, match=r"other events than the input files hold now"):
        resume(shift=1e-3)
    resume()  # the same data: goes on


def test_time_budget_stops_after_one_epoch_and_resume_goes_on(arrays, tmp_path):
    features, targets = arrays
    hp = preset("tiny")
    model = build_model("ff", "semileptonic", hp.architecture)
    first = train(
        model, features, targets, hp.training, tmp_path / "ck", max_seconds=0.0, progress=False
    )
    assert first.epochs == 1 and not first.stopped_early
    again = train(
        model,
        features,
        targets,
        hp.training,
        tmp_path / "ck",
        resume=True,
        epochs=3,
        progress=False,
    )
    assert [h["epoch"] for h in again.history] == [0, 1, 2]


def test_cli_trains_saves_provenance_and_resumes(ntuple, tmp_path):
    out = tmp_path / "model.pt"
    args = ["--input", str(ntuple), "--out", str(out), "--preset", "tiny", "--threads", "1"]
    result = CliRunner().invoke(command, [*args, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert checkpoint_path(out).is_file()
    model = load_model(out, channel="semileptonic", model_type="flow")
    assert model.metadata["preset"] == "tiny"
    assert model.metadata["n_events"] == 1500
    assert model.metadata["training"]["epochs"] == 2
    assert "--preset tiny" in model.metadata["command"]

    result = CliRunner().invoke(command, [*args, "--epochs", "3", "--resume"])
    assert result.exit_code == 0, result.output
    assert load_model(out).metadata["training"]["epochs"] == 3

    events = load_padded(ntuple).select(slice(0, 50))
    flow = reconstruct("flow", events, model=out, n_samples=16, seed=0)
    assert flow.valid.all()
    # (px, py, η) → (px, py, pz): pz = pT sinh η
    eta = np.arcsinh(flow.momenta[..., 2] / np.hypot(flow.momenta[..., 0], flow.momenta[..., 1]))
    targets = np.stack([flow.momenta[..., 0], flow.momenta[..., 1], eta], axis=-1)
    np.testing.assert_allclose(momenta_from_targets(targets.reshape(50, 3), 1), flow.momenta)
    assert math.isfinite(float(flow.weight.mean()))


def test_cli_init_starts_from_a_trained_model(ntuple, tmp_path):
    """--init keeps the model's scalers and weights (zero epochs: the same model back),
    and refuses a model built by another preset."""
    first, again = tmp_path / "first.pt", tmp_path / "again.pt"
    base = ["--input", str(ntuple), "--preset", "tiny", "--threads", "1"]
    assert CliRunner().invoke(command, [*base, "--out", str(first), "--epochs", "1"]).exit_code == 0
    result = CliRunner().invoke(
        command,
        [*base, "--out", str(again), "--epochs", "0", "--init", str(first), "--max-events", "500"],
    )  # scalers refitted on these 500 events would differ
    assert result.exit_code == 0, result.output
    trained, restarted = load_model(first).state_dict(), load_model(again).state_dict()
    assert trained.keys() == restarted.keys()
    assert all(torch.equal(trained[k], restarted[k]) for k in trained)
    result = CliRunner().invoke(
        command, ["--input", str(ntuple), "--preset", "default", "--out", str(again),
                  "--epochs", "0", "--init", str(first)]
    )  # fmt: skip
    assert isinstance(result.exception, ModelError)
    assert "differently configured" in str(result.exception)


def test_preset_overrides_land_in_their_part_and_unknown_names_are_refused():
    changed = preset("default", learning_rate=2e-4, flow_layers=3)
    assert changed.training.learning_rate == 2e-4 and changed.architecture.flow_layers == 3
    assert PRESETS["default"].training.learning_rate == 1e-3  # the preset itself is untouched
    assert changed.architecture.spline_bins == PRESETS["default"].architecture.spline_bins
    with pytest.raises(ModelError, match="unknown hyper-parameter"):
        preset("default", learning_rat=1e-3)
    with pytest.raises(ModelError, match="unknown preset"):
        preset("huge")


def test_architecture_round_trips_through_the_model_config():
    model = build_model("flow", "dilepton", preset("tiny").architecture)
    saved = model.config()["hyper_parameters"]
    assert Architecture.from_config(saved) == preset("tiny").architecture
    assert (
        build_model("flow", "dilepton", Architecture.from_config(saved)).config() == model.config()
    )
