"""Two backends running a trained model on numpy features: torch, or its ONNX graph in onnxruntime.

Both offer the same two calls, so :mod:`nuanalysis.flows.inference` never
asks which one it holds (one interface, several backends, as pyhf's tensor
backends): ``sample_from_noise(features, noise) → (samples, log_prob)`` for a
flow and ``predict(features) → prediction`` for ν-FF, numpy in and out, in
the layout of :mod:`nuanalysis.flows.onnx_export`, and ``ascend_mode`` (the
``ascent`` estimator, :mod:`nuanalysis.flows.ascent`): by autograd in torch,
by forward differences over the graph's sampling pass in onnxruntime. Each
holds the model's latent ``temperature`` (1 unless recalibrated).

``backend="onnx"`` runs a ``.onnx`` file written by ``nuanalysis export`` (a
``model`` path ending in ``.onnx`` implies it), or exports a torch model in
memory first (once per model object and process: a model whose weights change
afterwards must be passed as a new object). A graph's metadata must name the
channel and model type asked for and this package's ONNX format, else
:class:`~nuanalysis.errors.ModelError`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch

from nuanalysis.errors import ModelError, OptionError, first_line
from nuanalysis.flows.ascent import ascend_mode, ascend_mode_by_differences
from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import TARGET_FEATURES, EventFeatures
from nuanalysis.flows.model_io import (
    check_model_config,
    latent_temperature,
    read_model_file,
    resolve_model,
)
from nuanalysis.flows.onnx_export import (
    FEATURE_INPUTS,
    METADATA_KEY,
    ONNX_FORMAT_VERSION,
    export_onnx,
    onnx_module,
)
from nuanalysis.padded import N_NEUTRINOS

BACKENDS = ("torch", "onnx")

ModelLike = EventModel | str | Path | None


class TorchRunner:
    """A loaded torch model; float32, ``torch.inference_mode``, the model's own methods."""

    def __init__(self, model: EventModel) -> None:
        self.model = model
        self.n_neutrinos = model.n_neutrinos
        self.n_targets = model.n_targets
        self.temperature = latent_temperature(getattr(model, "metadata", None))

    def sample_from_noise(
        self, features: EventFeatures, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        device = self.model.device
        with torch.inference_mode():
            samples, log_prob = self.model.sample_from_noise(
                features.to_torch(device), torch.as_tensor(noise, device=device)
            )
        return samples.cpu().numpy(), log_prob.cpu().numpy()

    def ascend_mode(
        self, features: EventFeatures, noise: np.ndarray, starts: int, steps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`~nuanalysis.flows.ascent.ascend_mode` on numpy: (B, D) mode, its (B,)
        log p and the (B,) log p of the best draw it climbed from."""
        device = self.model.device
        mode, log_prob, start_log_prob = ascend_mode(
            self.model,
            features.to_torch(device),
            torch.as_tensor(noise, device=device),
            starts,
            steps,
        )
        return tuple(t.detach().cpu().numpy() for t in (mode, log_prob, start_log_prob))

    def predict(self, features: EventFeatures) -> np.ndarray:
        with torch.inference_mode():
            return self.model.predict(features.to_torch(self.model.device)).cpu().numpy()


class OnnxRunner:
    """An exported graph in an onnxruntime session on the CPU with ``threads`` threads
    (default: as many as torch uses, so ``--jobs`` and numba are not oversubscribed)."""

    def __init__(
        self, graph: bytes, name: str, channel: str, model_type: str, threads: int | None = None
    ) -> None:
        onnxruntime = onnx_module("onnxruntime")
        metadata = read_onnx_metadata(graph, name)
        check_model_config(metadata["config"], name, channel, model_type)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime's own exception types, not exported
            raise ModelError(f"onnxruntime cannot load {name}: {first_line(error)}") from None
        self.metadata = metadata
        self.temperature = latent_temperature(metadata)
        self.n_neutrinos = N_NEUTRINOS[channel]
        self.n_targets = len(TARGET_FEATURES) * self.n_neutrinos

    def _feeds(self, features: EventFeatures) -> dict[str, np.ndarray]:
        return {name: np.ascontiguousarray(getattr(features, name)) for name in FEATURE_INPUTS}

    def sample_from_noise(
        self, features: EventFeatures, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        feeds = self._feeds(features) | {"noise": np.ascontiguousarray(noise, dtype=np.float32)}
        samples, log_prob = self.session.run(["samples", "log_prob"], feeds)
        return samples, log_prob

    def ascend_mode(
        self, features: EventFeatures, noise: np.ndarray, starts: int, steps: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``ascent`` estimator with forward-difference gradients
        (:func:`~nuanalysis.flows.ascent.ascend_mode_by_differences`): a graph has no autograd."""
        return ascend_mode_by_differences(self.sample_from_noise, features, noise, starts, steps)

    def predict(self, features: EventFeatures) -> np.ndarray:
        (prediction,) = self.session.run(["prediction"], self._feeds(features))
        return prediction


def read_onnx_metadata(graph: bytes, name: str) -> dict:
    """The nuanalysis metadata of an ONNX graph; ModelError for a foreign or older graph, and
    for one whose weights live in external data files (a graph is read from one file, and
    nothing outside it is opened)."""
    onnx = onnx_module("onnx")
    try:
        proto = onnx.load_from_string(graph)
    except Exception as error:
        raise ModelError(f"{name} is not a readable ONNX file: {first_line(error)}") from None
    if any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in proto.graph.initializer):
        raise ModelError(
            f"{name} keeps its weights in external data files, which nuanalysis does not "
            "read: export the model again with `nuanalysis export` (one self-contained file)"
        )
    entries = {entry.key: entry.value for entry in proto.metadata_props}
    if METADATA_KEY not in entries:
        raise ModelError(
            f"{name} has no '{METADATA_KEY}' metadata: it was not written by `nuanalysis export`"
        )
    metadata = json.loads(entries[METADATA_KEY])
    if metadata.get("format_version") != ONNX_FORMAT_VERSION:
        raise ModelError(
            f"{name} is an ONNX export of format {metadata.get('format_version')} (nuanalysis "
            f"{metadata.get('package_version', '?')}); this version reads format "
            f"{ONNX_FORMAT_VERSION}: export the model again with `nuanalysis export`"
        )
    return metadata


def model_file_config(path: str | Path) -> dict:
    """The config (channel, model type, …) of a ``.pt`` model file or a ``.onnx`` export."""
    path = Path(path)
    if path.suffix == ".onnx":
        return read_onnx_metadata(path.read_bytes(), str(path))["config"]
    return read_model_file(path)["config"]


@functools.lru_cache(maxsize=8)
def _onnx_from_file(
    path: str, mtime: float, channel: str, model_type: str, threads: int
) -> OnnxRunner:
    return OnnxRunner(Path(path).read_bytes(), path, channel, model_type, threads)


@functools.lru_cache(maxsize=4)
def _exported(model: EventModel) -> bytes:
    return export_onnx(model)


@functools.lru_cache(maxsize=8)
def _onnx_from_model(model: EventModel, channel: str, model_type: str, threads: int) -> OnnxRunner:
    return OnnxRunner(_exported(model), model.source, channel, model_type, threads)


def model_runner(
    model: ModelLike, channel: str, model_type: str, backend: str = "torch"
) -> TorchRunner | OnnxRunner:
    """The runner of ``model`` (a torch model, a ``.pt`` or ``.onnx`` path, or None for the
    shipped one) on ``backend``; a ``.onnx`` path always runs in onnxruntime."""
    if backend not in BACKENDS:
        raise OptionError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if isinstance(model, str | Path) and Path(model).suffix == ".onnx":
        path = Path(model)
        if not path.is_file():
            raise ModelError(f"ONNX model file {path} does not exist")
        mtime, threads = path.stat().st_mtime, torch.get_num_threads()
        return _onnx_from_file(str(path.resolve()), mtime, channel, model_type, threads)
    loaded = resolve_model(model, channel, model_type)
    if backend == "onnx":
        return _onnx_from_model(loaded, channel, model_type, torch.get_num_threads())
    return TorchRunner(loaded)
