"""Saving and loading trained models: one ``.pt`` file holds weights, scalers and provenance.

The file is a plain dictionary (loadable with ``torch.load(weights_only=True)``):
``format_version``, ``config`` (channel, model type, encoder, frame,
hyper-parameters, feature definitions), ``state_dict`` (weights and the fitted
scalers) and ``metadata`` (preset, package version, command line, training
summary, and ``history``: one entry per ``nuanalysis train`` call that shaped
the weights, see :mod:`nuanalysis.flows.history`; ``calibration``: the latent
temperature fitted by ``nuanalysis calibrate``, see :func:`latent_temperature`).
A file whose config has no ``frame`` predates the canonical frame and is a
lab-frame model; one without ``calibration`` draws at temperature 1.
"""

from __future__ import annotations

import functools
import pickle
import re
from importlib import resources
from pathlib import Path

import torch

import nuanalysis
from nuanalysis.errors import ModelError, first_line
from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import feature_definitions
from nuanalysis.flows.flow import NeutrinoFlowModel
from nuanalysis.flows.presets import ARCHITECTURE_KEYS, Architecture
from nuanalysis.flows.regression import NeutrinoRegressionModel
from nuanalysis.outputs import atomic_file

FORMAT_VERSION = 1
"""Bumped whenever a change makes older model files unreadable."""

MODEL_TYPES: dict[str, type[EventModel]] = {
    "flow": NeutrinoFlowModel,
    "ff": NeutrinoRegressionModel,
}

SHIPPED_FILES = {"flow": "model_{channel}.pt", "ff": "ff_{channel}.pt"}

CALIBRATION_KEY = "calibration"
"""``metadata`` key of the recalibration record (:mod:`nuanalysis.calibration`)."""


CONFIG_KEYS = ("channel", "model_type", "encoder", "hyper_parameters", "features")
"""What every model file's config holds (``frame`` is optional: absent = lab)."""

_FORBIDDEN_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def load_plain_data(path: Path, kind: str) -> object:
    """The content of the torch file ``path`` if it holds only tensors and plain Python data.

    Loads with ``torch.load(weights_only=True)``, whose unpickler builds no other
    object and calls no function, so a file crafted to run code (a pickle
    ``__reduce__``) is refused before anything in it runs. Refusals are one-line
    :class:`~nuanalysis.errors.ModelError` s naming the file as a ``kind``
    ("model file", "training checkpoint"): a file holding other objects, and a
    truncated or damaged one.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = _FORBIDDEN_GLOBAL.search(str(error))  # a pickle calls only what it names
        if found is None:
            raise ModelError(
                f"{path} is not a readable {kind} (not a torch file, or damaged)"
            ) from None
        raise ModelError(
            f"{path} is not a safe {kind}: it holds {found.group(1)}, not only tensors and plain "
            "data, and loading it could run code, so it was not loaded; if you trust its origin, "
            "convert it in a separate Python session: torch.load(it, weights_only=False), keep "
            "only tensors, numbers, strings, lists and dicts, and torch.save that"
        ) from None
    except Exception as error:
        raise ModelError(
            f"{path} is not a readable {kind} (truncated or damaged: {first_line(error)})"
        ) from None


def build_model(
    model_type: str,
    channel: str,
    architecture: Architecture,
    encoder: str | None = None,
    frame: str = "canonical",
) -> EventModel:
    """A fresh, untrained model of ``model_type`` ('flow' or 'ff') seeing events in ``frame``."""
    if model_type not in MODEL_TYPES:
        raise ModelError(f"unknown model type {model_type!r}; choose 'flow' or 'ff'")
    return MODEL_TYPES[model_type](channel, architecture, encoder, frame)


def shipped_model_path(channel: str, model_type: str = "flow") -> Path:
    """Path of the pretrained model inside the package (nuanalysis/data/)."""
    name = SHIPPED_FILES[model_type].format(channel=channel)
    return Path(str(resources.files("nuanalysis") / "data" / name))


def save_model(model: EventModel, path: str | Path, metadata: dict | None = None) -> Path:
    """Write ``model`` (weights, scalers, config) and ``metadata`` to ``path``, atomically
    (:func:`nuanalysis.outputs.atomic_file`: an earlier model survives a failed save)."""
    payload = {
        "format_version": FORMAT_VERSION,
        "package_version": nuanalysis.__version__,
        "config": model.config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    with atomic_file(path) as partial:
        torch.save(payload, partial)
    return Path(path)


def read_model_file(path: str | Path) -> dict:
    """The raw dictionary of a model file, with clear errors for missing or foreign files."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    payload = load_plain_data(path, "model file")
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise ModelError(f"{path} is not a nuanalysis model file (no format_version)")
    missing = [key for key in ("config", "state_dict") if key not in payload]
    if not missing:
        config = payload["config"]
        missing = [f"config.{key}" for key in CONFIG_KEYS if key not in config]
        missing += [
            f"config.hyper_parameters.{key}"
            for key in ARCHITECTURE_KEYS
            if key not in config.get("hyper_parameters", {})
        ]
    if missing:
        raise ModelError(
            f"model file {path} is incomplete: it lacks {', '.join(missing)}; "
            "retrain it with `nuanalysis train`"
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise ModelError(
            f"model {path} has file format {payload['format_version']} (written by nuanalysis "
            f"{payload.get('package_version', '?')}); this nuanalysis {nuanalysis.__version__} "
            f"reads format {FORMAT_VERSION}: retrain it with `nuanalysis train`"
        )
    return payload


def load_model(
    path: str | Path,
    channel: str | None = None,
    model_type: str | None = None,
    device: str | torch.device = "cpu",
) -> EventModel:
    """Load a model file, refusing one made for another channel or model type."""
    payload = read_model_file(path)
    config = payload["config"]
    check_model_config(config, str(path), channel, model_type)
    if {k: tuple(v) for k, v in config["features"].items()} != feature_definitions(
        config["channel"]
    ):
        raise ModelError(
            f"model {path} was trained on other input features than this nuanalysis "
            f"{nuanalysis.__version__} computes: retrain it"
        )
    model = build_model(
        config["model_type"],
        config["channel"],
        Architecture.from_config(config["hyper_parameters"]),
        config["encoder"],
        config.get("frame", "lab"),
    )
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:
        raise ModelError(f"model {path} does not match its own architecture: {error}") from None
    check_finite_weights(model, str(path))
    model.metadata = payload["metadata"]
    model.source = str(path)
    return model.to(device).eval()


def latent_temperature(metadata: dict | None) -> float:
    """The temperature T of a flow's posterior draws, x = f⁻¹(T·z | event), recorded in
    ``metadata[CALIBRATION_KEY]`` by ``nuanalysis calibrate --save-model``
    (:mod:`nuanalysis.calibration`); 1 for a model never recalibrated."""
    return float((metadata or {}).get(CALIBRATION_KEY, {}).get("temperature", 1.0))


def check_finite_weights(model: EventModel, name: str) -> None:
    """Refuse a model with NaN or infinite weights or scalers (every event would be invalid)."""
    bad = [key for key, value in model.state_dict().items() if not torch.isfinite(value).all()]
    if bad:
        raise ModelError(
            f"model {name} has non-finite (NaN/inf) values in {len(bad)} tensor(s), first "
            f"{bad[0]!r}: a diverged or damaged training; retrain it"
        )


def check_model_config(
    config: dict, name: str, channel: str | None, model_type: str | None
) -> None:
    if channel is not None and config["channel"] != channel:
        raise ModelError(
            f"model {name} was trained on {config['channel']} events and cannot reconstruct "
            f"{channel} events; pass a {channel} model"
        )
    if model_type is not None and config["model_type"] != model_type:
        raise ModelError(
            f"model {name} is a {config['model_type']!r} model, "
            f"but a {model_type!r} model is needed"
        )


@functools.lru_cache(maxsize=8)
def _cached_load(path: str, mtime: float) -> EventModel:
    return load_model(path)


def resolve_model(
    model: EventModel | str | Path | None, channel: str, model_type: str
) -> EventModel:
    """A ready model: the one given, loaded from a path, or the package's pretrained one."""
    if isinstance(model, EventModel):
        check_model_config(model.config(), getattr(model, "source", "given"), channel, model_type)
        return model
    path = Path(model) if model is not None else shipped_model_path(channel, model_type)
    if model is None and not path.is_file():
        raise ModelError(
            f"no pretrained {model_type} model for {channel} events ships with this installation "
            f"({path}); train one with `nuanalysis train --channel {channel}` and pass model=..."
        )
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    loaded = _cached_load(str(path.resolve()), path.stat().st_mtime)
    check_model_config(loaded.config(), str(path), channel, model_type)
    return loaded
