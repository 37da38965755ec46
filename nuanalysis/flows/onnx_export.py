"""ONNX export of a trained ν-Flows / ν²-Flows / ν-FF model, for C++ analysis frameworks.

The graph holds the whole learned method: feature standardisation, the
model's event frame, the encoder (Deep Set or transformer) and, for a flow,
the inverse flow with its log-density (ν-Flows paper eq. 2), so a framework
feeds the Table 1 features of an event and gets neutrinos back:

========== =============================== ============================================
input      shape                           meaning
========== =============================== ============================================
met        (B, 2) float32                  p_x^miss, p_y^miss [GeV]
leptons    (B, n_lep, 5 or 6) float32      p_x, p_y [GeV], η, log(E/GeV), is_muon [, charge]
jets       (B, MAX_JETS, 5) float32        p_x, p_y [GeV], η, log(E/GeV), is_b; pT-ordered
jet_mask   (B, MAX_JETS) bool              True for a real jet; padded rows are all zero
misc       (B, 2) float32                  N_jets, N_b-jets
noise      (B, S, 3 n_nu) float32          flow only: standard-normal latent draws
========== =============================== ============================================

Outputs: a flow gives ``samples`` (B, S, 3 n_nu) = (p_x, p_y, η) per neutrino
(ν then ν̄) and ``log_prob`` (B, S); ν-FF gives ``prediction`` (B, 3 n_nu).
Zero noise gives the image of the latent mode; the noise the Python side
draws per event is :func:`nuanalysis.flows.noise.event_noise`. The same
description is stored in the file's ``metadata_props`` (key
``nuanalysis``, JSON); ``nuanalysis export`` also writes it beside the graph
as ``<name>.json``. ``examples/onnx_inference.cpp`` feeds one event.

References: ONNX operator sets, https://onnx.ai/onnx/operators/ ;
``torch.onnx.export``, https://pytorch.org/docs/stable/onnx.html
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import warnings
from types import ModuleType

import torch
from torch import nn

import nuanalysis
from nuanalysis.errors import MissingExtraError
from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import (
    JET_FEATURES,
    LEPTON_FEATURES,
    MET_FEATURES,
    MISC_FEATURES,
    TARGET_FEATURES,
    EventFeatures,
)
from nuanalysis.flows.model_io import CALIBRATION_KEY
from nuanalysis.padded import MAX_JETS, N_LEPTONS

ONNX_FORMAT_VERSION = 1
"""Bumped whenever the graph's inputs, outputs or metadata change meaning."""

ONNX_EXTRA = 'pip install "nuanalysis[onnx]"'
"""How a user gets ``onnx`` and ``onnxruntime`` (the package's ``onnx`` extra)."""

METADATA_KEY = "nuanalysis"
OPSET = 17
FEATURE_INPUTS = ("met", "leptons", "jets", "jet_mask", "misc")
OUTPUTS = {"flow": ("samples", "log_prob"), "ff": ("prediction",)}

_UNITS = {"px": "GeV", "py": "GeV", "eta": "1", "log_e": "log(E/GeV)"}


class _FlowGraph(nn.Module):
    """Features + noise → (samples, log_prob) through the model's own sampling method."""

    def __init__(self, model: EventModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, met, leptons, jets, jet_mask, misc, noise):
        features = EventFeatures(met, leptons, jets, jet_mask, misc)
        return self.model.sample_from_noise(features, noise)


class _RegressionGraph(nn.Module):
    """Features → ν-FF prediction through the model's own ``predict``."""

    def __init__(self, model: EventModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, met, leptons, jets, jet_mask, misc):
        return self.model.predict(EventFeatures(met, leptons, jets, jet_mask, misc))


def input_layout(model: EventModel) -> list[dict]:
    """Names, shapes (symbolic B, S), dtypes, columns and units of the graph's inputs, in order."""
    n_lep = N_LEPTONS[model.channel]

    def columns(names) -> list[dict]:
        return [{"name": name, "unit": _UNITS.get(name, "1")} for name in names]

    layout = [
        {"name": "met", "shape": ["B", 2], "dtype": "float32", "columns": columns(MET_FEATURES)},
        {
            "name": "leptons",
            "shape": ["B", n_lep, len(LEPTON_FEATURES[model.channel])],
            "dtype": "float32",
            "columns": columns(LEPTON_FEATURES[model.channel]),
            "order": "pT-ordered (leading first)",
        },
        {
            "name": "jets",
            "shape": ["B", MAX_JETS, len(JET_FEATURES)],
            "dtype": "float32",
            "columns": columns(JET_FEATURES),
            "order": f"pT-ordered, at most {MAX_JETS}; rows past the last jet all zero",
        },
        {"name": "jet_mask", "shape": ["B", MAX_JETS], "dtype": "bool", "columns": []},
        {"name": "misc", "shape": ["B", 2], "dtype": "float32", "columns": columns(MISC_FEATURES)},
    ]
    if model.model_type == "flow":
        layout.append(
            {
                "name": "noise",
                "shape": ["B", "S", model.n_targets],
                "dtype": "float32",
                "columns": [],
                "meaning": "standard-normal latent draws; zeros give the latent mode's image",
            }
        )
    return layout


def export_metadata(model: EventModel) -> dict:
    """What a C++ user needs besides the graph: channel, inputs, outputs, units, padding."""
    outputs = OUTPUTS[model.model_type]
    target_columns = [
        f"{name}_{neutrino}"
        for neutrino in (["nu", "nubar"][: model.n_neutrinos])
        for name in TARGET_FEATURES
    ]
    return {
        "format_version": ONNX_FORMAT_VERSION,
        "package_version": nuanalysis.__version__,
        "source": model.source,
        "config": model.config(),
        CALIBRATION_KEY: (getattr(model, "metadata", None) or {}).get(CALIBRATION_KEY, {}),
        "inputs": input_layout(model),
        "outputs": [
            {
                "name": name,
                "columns": target_columns if name != "log_prob" else [],
                "unit": "GeV for p_x, p_y; η dimensionless"
                if name != "log_prob"
                else "log of GeV^-2 per neutrino",
            }
            for name in outputs
        ],
        "padding": "jets beyond the event's count (or beyond MAX_JETS) are all-zero rows "
        "with jet_mask False; log_e of a padded row is 0",
    }


def _example_inputs(model: EventModel) -> tuple[torch.Tensor, ...]:
    """A two-event batch of the graph's input shapes (values do not matter for tracing)."""
    n_lep, n_lep_features = N_LEPTONS[model.channel], len(LEPTON_FEATURES[model.channel])
    jet_mask = torch.zeros(2, MAX_JETS, dtype=torch.bool)
    jet_mask[:, :4] = True
    inputs = (
        torch.ones(2, len(MET_FEATURES)),
        torch.ones(2, n_lep, n_lep_features),
        torch.ones(2, MAX_JETS, len(JET_FEATURES)) * jet_mask[..., None],
        jet_mask,
        torch.full((2, len(MISC_FEATURES)), 4.0),
    )
    if model.model_type == "flow":
        inputs += (torch.zeros(2, 3, model.n_targets),)
    return inputs


def _cache_linear_inverses(module: nn.Module) -> None:
    """Let nflows' LU layers use their cached inverse weight, a constant in the graph
    (ONNX has no triangular solve); the cache fills on the next (untraced) call."""
    for layer in module.modules():
        if hasattr(layer, "use_cache"):
            layer.use_cache(True)


def onnx_module(name: str) -> ModuleType:
    """``onnx`` or ``onnxruntime``, imported; if missing, a one-line
    :class:`~nuanalysis.errors.MissingExtraError` naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingExtraError(
            f"ONNX export and the onnx backend need the {name} package, which is not "
            f"installed: {ONNX_EXTRA}"
        ) from None


def export_onnx(model: EventModel) -> bytes:
    """The ONNX graph of ``model`` (module docstring) with its metadata, serialised."""
    onnx = onnx_module("onnx")

    graph_model = copy.deepcopy(model).cpu().eval()
    _cache_linear_inverses(graph_model)
    graph_class = _FlowGraph if model.model_type == "flow" else _RegressionGraph
    wrapper = graph_class(graph_model)
    inputs = _example_inputs(graph_model)
    names = list(FEATURE_INPUTS) + (["noise"] if model.model_type == "flow" else [])
    outputs = list(OUTPUTS[model.model_type])
    dynamic = {name: {0: "B"} for name in names + outputs}
    if model.model_type == "flow":
        dynamic["noise"] = dynamic["samples"] = dynamic["log_prob"] = {0: "B", 1: "S"}
    with torch.no_grad():
        wrapper(*inputs)  # fills the LU caches outside the trace
    buffer = io.BytesIO()
    fast_path = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # its fused kernel has no ONNX operator
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # nflows' data-dependent checks (spline bounds, asserts) are not part of the graph
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "Constant folding", UserWarning)
            torch.onnx.export(
                wrapper,
                inputs,
                buffer,
                input_names=names,
                output_names=outputs,
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
    proto = onnx.load_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(export_metadata(model))
    return proto.SerializeToString()
