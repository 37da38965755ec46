"""Hyper-parameter presets: ``tiny`` (tests), ``default`` (CPU, minutes), ``paper`` (App. A).

``paper`` follows the published ν-Flows setup: dense nets of 2 × 64, seven
rational-quadratic spline coupling layers, batch 256, Adam with a cosine
schedule cycling the learning rate 0 → 5·10⁻⁴ → 0 every 2 epochs, gradient
clipping at an L2 norm of 5, 10 % hold-out and early stopping with a patience
of 30 epochs (§3.2). The paper does not give the spline bin count; 10 is the
nflows default. ``default`` keeps the building blocks and shrinks depth and
patience so that a model trains in well under an hour on one CPU core.
"""

from __future__ import annotations

from nuanalysis.errors import ModelError

ARCHITECTURE_KEYS = (
    "hidden_features",
    "hidden_layers",
    "context_features",
    "deepset_features",
    "deepset_heads",
    "transformer_width",
    "transformer_heads",
    "transformer_layers",
    "class_attention_layers",
    "flow_layers",
    "spline_bins",
    "tail_bound",
    "regression_layers",
)

PRESETS: dict[str, dict[str, float | int]] = {
    "tiny": {
        "hidden_features": 16,
        "hidden_layers": 2,
        "context_features": 16,
        "deepset_features": 16,
        "deepset_heads": 1,
        "transformer_width": 16,
        "transformer_heads": 2,
        "transformer_layers": 1,
        "class_attention_layers": 1,
        "flow_layers": 2,
        "spline_bins": 4,
        "tail_bound": 5.0,
        "regression_layers": 2,
        "batch_size": 128,
        "learning_rate": 5e-3,
        "epochs": 4,
        "patience": 3,
        "cycle_epochs": 2,
        "clip_norm": 5.0,
        "validation_fraction": 0.1,
    },
    "default": {
        "hidden_features": 64,
        "hidden_layers": 2,
        "context_features": 64,
        "deepset_features": 64,
        "deepset_heads": 2,
        "transformer_width": 64,
        "transformer_heads": 4,
        "transformer_layers": 2,
        "class_attention_layers": 1,
        "flow_layers": 5,
        "spline_bins": 8,
        "tail_bound": 5.0,
        "regression_layers": 4,
        "batch_size": 256,
        "learning_rate": 1e-3,
        "epochs": 40,
        "patience": 10,
        "cycle_epochs": 2,
        "clip_norm": 5.0,
        "validation_fraction": 0.1,
    },
    "paper": {
        "hidden_features": 64,
        "hidden_layers": 2,
        "context_features": 64,
        "deepset_features": 64,
        "deepset_heads": 1,
        "transformer_width": 128,
        "transformer_heads": 8,
        "transformer_layers": 4,
        "class_attention_layers": 2,
        "flow_layers": 7,
        "spline_bins": 10,
        "tail_bound": 5.0,
        "regression_layers": 4,
        "batch_size": 256,
        "learning_rate": 5e-4,
        "epochs": 1000,
        "patience": 30,
        "cycle_epochs": 2,
        "clip_norm": 5.0,
        "validation_fraction": 0.1,
    },
}

DEFAULT_ENCODER = {"semileptonic": "deepset", "dilepton": "transformer"}
"""ν-Flows uses the attention Deep Set (1ν); ν²-Flows the transformer (2ν)."""


def preset(name: str, **overrides) -> dict[str, float | int]:
    """A copy of preset ``name`` with ``overrides`` applied (unknown keys are refused)."""
    if name not in PRESETS:
        raise ModelError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    unknown = set(overrides) - set(values)
    if unknown:
        raise ModelError(f"unknown hyper-parameter(s) {sorted(unknown)}")
    values.update(overrides)
    return values
