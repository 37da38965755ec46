"""Hyper-parameter presets: ``tiny`` (tests), ``default`` (CPU, minutes), ``paper`` (App. A).

``paper`` follows the published ν-Flows setup: dense nets of 2 × 64, seven
rational-quadratic spline coupling layers, batch 256, Adam with a cosine
schedule cycling the learning rate 0 → 5·10⁻⁴ → 0 every 2 epochs, gradient
clipping at an L2 norm of 5, 10 % hold-out and early stopping with a patience
of 30 epochs (§3.2). The paper does not give the spline bin count; 10 is the
nflows default. ``default`` keeps the building blocks and shrinks depth and
patience so that a model trains in well under an hour on one CPU core.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper");
J. A. Raine, M. Leigh, K. Zoch and T. Golling, "ν²-Flows: Fast and improved neutrino
reconstruction in multi-neutrino final states with conditional normalizing flows",
https://arxiv.org/abs/2307.02405.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from nuanalysis.errors import ModelError


@dataclass(frozen=True)
class Architecture:
    """The network's shape, saved in every model file (``config.hyper_parameters``)."""

    hidden_features: int
    """Width of every dense net (encoder, embedding, spline nets)."""
    hidden_layers: int
    """Hidden layers of every dense net."""
    context_features: int
    """Size of the flow's context (the encoder's output)."""
    deepset_features: int
    """Width of the Deep Set's per-jet features (ν-Flows)."""
    deepset_heads: int
    """Attention heads of the Deep Set pooling."""
    transformer_width: int
    """Token width of the transformer (ν²-Flows)."""
    transformer_heads: int
    transformer_layers: int
    class_attention_layers: int
    flow_layers: int
    """Rational-quadratic spline coupling layers (each followed by an LU layer)."""
    spline_bins: int
    tail_bound: float
    """The splines act on [−tail_bound, tail_bound] of the standardised targets."""
    regression_layers: int
    """Hidden layers of ν-FF's final embedding net (§3.3)."""

    @classmethod
    def from_config(cls, values: dict) -> Architecture:
        """The architecture a model file's ``config.hyper_parameters`` describes."""
        return cls(**{field.name: values[field.name] for field in fields(cls)})

    def as_config(self) -> dict[str, float | int]:
        return asdict(self)


ARCHITECTURE_KEYS = tuple(field.name for field in fields(Architecture))
"""What a model file's ``config.hyper_parameters`` must hold."""


@dataclass(frozen=True)
class Training:
    """How ``train`` fits a model (§3.2): batches, schedule, clipping, early stopping."""

    batch_size: int
    learning_rate: float
    """Peak of the cosine cycle."""
    epochs: int
    """Maximum epochs of one call."""
    patience: int
    """Epochs without a better hold-out loss before stopping."""
    cycle_epochs: int
    """Length of one cosine cycle 0 → learning_rate → 0."""
    clip_norm: float
    """Gradient clipping at this L2 norm."""
    validation_fraction: float
    """Share of the events held out for early stopping."""


@dataclass(frozen=True)
class Preset:
    """A named pair: the network (saved with the model) and how to train it."""

    architecture: Architecture
    training: Training


_DEFAULT = Preset(
    Architecture(
        hidden_features=64,
        hidden_layers=2,
        context_features=64,
        deepset_features=64,
        deepset_heads=2,
        transformer_width=64,
        transformer_heads=4,
        transformer_layers=2,
        class_attention_layers=1,
        flow_layers=5,
        spline_bins=8,
        tail_bound=5.0,
        regression_layers=4,
    ),
    Training(
        batch_size=256,
        learning_rate=1e-3,
        epochs=40,
        patience=10,
        cycle_epochs=2,
        clip_norm=5.0,
        validation_fraction=0.1,
    ),
)

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        replace(
            _DEFAULT.architecture,
            hidden_features=16,
            context_features=16,
            deepset_features=16,
            deepset_heads=1,
            transformer_width=16,
            transformer_heads=2,
            transformer_layers=1,
            flow_layers=2,
            spline_bins=4,
            regression_layers=2,
        ),
        replace(_DEFAULT.training, batch_size=128, learning_rate=5e-3, epochs=4, patience=3),
    ),
    "default": _DEFAULT,
    "paper": Preset(
        replace(
            _DEFAULT.architecture,
            deepset_heads=1,
            transformer_width=128,
            transformer_heads=8,
            transformer_layers=4,
            class_attention_layers=2,
            flow_layers=7,
            spline_bins=10,
        ),
        replace(_DEFAULT.training, learning_rate=5e-4, epochs=1000, patience=30),
    ),
}
"""``tiny`` and ``paper`` say only where they differ from ``default``."""

DEFAULT_ENCODER = {"semileptonic": "deepset", "dilepton": "transformer"}
"""ν-Flows uses the attention Deep Set (1ν); ν²-Flows the transformer (2ν)."""


def preset(name: str, **overrides) -> Preset:
    """Preset ``name`` with ``overrides`` of any architecture or training field applied
    (unknown names are refused)."""
    if name not in PRESETS:
        raise ModelError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    training_keys = {field.name for field in fields(Training)}
    unknown = set(overrides) - set(ARCHITECTURE_KEYS) - training_keys
    if unknown:
        raise ModelError(f"unknown hyper-parameter(s) {sorted(unknown)}")
    chosen = PRESETS[name]
    return Preset(
        replace(
            chosen.architecture, **{k: v for k, v in overrides.items() if k in ARCHITECTURE_KEYS}
        ),
        replace(chosen.training, **{k: v for k, v in overrides.items() if k in training_keys}),
    )
