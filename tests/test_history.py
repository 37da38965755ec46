"""Training history in the model file, and clear refusals of damaged models and checkpoints."""

from __future__ import annotations

import math
import re

import pytest
import torch
from click.testing import CliRunner
from conftest import make_branches

from nuanalysis.cli.train import checkpoint_path, command
from nuanalysis.errors import ModelError
from nuanalysis.flows.history import extend_history, model_history
from nuanalysis.flows.model_io import load_model, shipped_model_path
from nuanalysis.flows.presets import preset
from nuanalysis.flows.training import train, training_arrays
from nuanalysis.generation.record import write_generation_record
from nuanalysis.io import load_padded, write_ntuple

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Two independently seeded semileptonic files; the second says how it was generated."""
    directory = tmp_path_factory.mktemp("history")
    paths = []
    for seed in (21, 22):
        path = directory / f"sample_{seed}.root"
        write_ntuple(path, make_branches("semileptonic", 400, seed=seed, met_resolution=5.0))
        paths.append(path)
    write_generation_record(paths[1], {"command": "nuanalysis generate --seed 22", "seed": 22})
    return paths


def test_history_of_every_call_round_trips_through_the_model_file(samples, tmp_path):
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    base = ["--preset", "tiny", "--threads", "1"]
    result = CliRunner().invoke(
        command, [*base, "--input", str(samples[0]), "--out", str(first), "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        command,
        [*base, "--input", str(samples[1]), "--out", str(second), "--epochs", "3",
         "--init", str(first), "--seed", "7"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    history = model_history(load_model(second).metadata)
    assert [len(call["epochs"]) for call in history] == [2, 3]
    assert [call["seed"] for call in history] == [0, 7]
    assert history[0]["init"] is None and history[1]["init"] == str(first.resolve())
    assert history[0]["frame"] == history[1]["frame"] == "canonical"
    assert history[0]["inputs"] == [{"path": str(samples[0].resolve()), "generation": None}]
    assert history[1]["inputs"][0]["generation"]["seed"] == 22
    assert "--init" in history[1]["command"] and "--init" not in history[0]["command"]
    for call in history:
        assert all(math.isfinite(e["train_loss"]) and math.isfinite(e["valid_loss"])
                   for e in call["epochs"])  # fmt: skip
    # the first file's own history is its first call only
    assert model_history(load_model(first).metadata) == history[:1]


def test_files_from_before_the_history_read_as_one_call():
    """The metadata layout of files written before the history existed: one call's command,
    inputs … at the top and its epochs (without a command) under ``history``."""
    epochs = [{"epoch": 0, "train_loss": 1.5, "val_loss": 1.6}, {"epoch": 1, "train_loss": 1.2}]
    legacy = {
        "command": "nuanalysis train --input a.root --out m.pt",
        "inputs": ["/data/a.root", "/data/b.root"],
        "preset": "default",
        "n_events": 5000,
        "seed": 7,
        "history": epochs,
    }
    (call,) = model_history(legacy)
    assert call["command"] == legacy["command"] and call["epochs"] == epochs
    assert call["inputs"] == [
        {"path": "/data/a.root", "generation": None},
        {"path": "/data/b.root", "generation": None},
    ]
    assert (call["preset"], call["n_events"], call["seed"], call["frame"]) == (
        "default",
        5000,
        7,
        "lab",
    )
    later = {"command": "nuanalysis train --init m.pt", "inputs": [], "epochs": []}
    assert extend_history(legacy, later) == [call, later]
    assert model_history({"history": epochs}) == []  # epochs of no known call: no history


@pytest.fixture
def saved_model(samples, tmp_path):
    out = tmp_path / "model.pt"
    args = ["--input", str(samples[0]), "--out", str(out), "--preset", "tiny", "--epochs", "1"]
    assert CliRunner().invoke(command, args).exit_code == 0
    return out


def test_model_without_hyper_parameters_is_refused(saved_model, tmp_path):
    payload = torch.load(saved_model, weights_only=True)
    del payload["config"]["hyper_parameters"]
    torch.save(payload, tmp_path / "incomplete.pt")
    with pytest.raises(ModelError, match=r"lacks config\.hyper_parameters"):
        load_model(tmp_path / "incomplete.pt")


def test_model_with_nan_weights_is_refused(saved_model, tmp_path):
    payload = torch.load(saved_model, weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], math.nan)
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(ModelError, match=rf"non-finite.*{re.escape(name)}"):
        load_model(tmp_path / "nan.pt")


def test_truncated_checkpoint_on_resume_is_a_clear_error(samples, tmp_path):
    features, targets = training_arrays(load_padded(samples[0]))
    model = load_model(shipped_model_path("semileptonic"))  # any configuration will do
    checkpoint = tmp_path / "model.pt.ckpt"
    train(model, features, targets, preset("tiny").training, checkpoint, epochs=0, progress=False)
    checkpoint.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(
        ModelError, match=r"not a readable training checkpoint.*train without --resume"
    ):
        train(
            model,
            features,
            targets,
            preset("tiny").training,
            checkpoint,
            resume=True,
            progress=False,
        )
    out = tmp_path / "model.pt"
    checkpoint_path(out).write_bytes(b"")
    result = CliRunner().invoke(
        command,
        ["--input", str(samples[0]), "--out", str(out), "--preset", "tiny", "--resume"],
    )
    assert isinstance(result.exception, ModelError)
    assert "truncated or damaged" in str(result.exception)
