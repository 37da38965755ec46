"""One interface for every neutrino method (DESIGN.md, "One interface for every neutrino method").

A method is a function ``(events: PaddedEvents, **options) -> NeutrinoResult``
registered under a name with the channels it applies to. The CLI, the χ²
assignment, the metrics and the unfolding only ever call :func:`reconstruct`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nuanalysis.errors import ChannelError
from nuanalysis.padded import PaddedEvents


@dataclass
class NeutrinoResult:
    """What every method returns.

    ``momenta`` is ``(n_events, n_nu, 3)`` (px, py, pz) in the order of the
    schema's ``truth_nu_*`` (ν from W⁺, then ν̄); rows where ``valid`` is False
    are exactly zero. ``weight`` is the method's per-event figure of merit
    (NW weight, flow log-probability) or None; ``extras`` holds anything else
    (samples, flags such as the quadratic's complex-discriminant mask, the
    b-jet index paired with each lepton).
    """

    momenta: np.ndarray
    valid: np.ndarray
    weight: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # copies: invalid rows are zeroed below, never in the caller's arrays
        self.momenta = np.array(self.momenta, dtype=np.float64)
        self.valid = np.array(self.valid, dtype=bool)
        if self.momenta.ndim != 3 or self.momenta.shape[2] != 3:
            raise ValueError(f"momenta must be (n_events, n_nu, 3), got {self.momenta.shape}")
        if self.valid.shape != self.momenta.shape[:1]:
            raise ValueError("valid must have one entry per event")
        finite = np.isfinite(self.momenta).all(axis=(1, 2))
        self.valid &= finite
        self.momenta[~self.valid] = 0.0


MethodFunction = Callable[..., NeutrinoResult]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    channels: tuple[str, ...]
    function: MethodFunction
    description: str
    model_type: str | None = None  # the model file type a learned method reads ('flow', 'ff')


_REGISTRY: dict[str, MethodSpec] = {}


def register(name: str, channels: tuple[str, ...], description: str, model_type: str | None = None):
    """Decorator registering ``function`` as neutrino method ``name``.

    ``model_type``: for learned methods, the type of model file they read.
    """

    def decorate(function: MethodFunction) -> MethodFunction:
        _REGISTRY[name] = MethodSpec(name, channels, function, description, model_type)
        return function

    return decorate


def available_methods(channel: str | None = None) -> list[str]:
    """Registered method names, optionally only those applying to ``channel``."""
    _load_builtin_methods()
    return [n for n, s in _REGISTRY.items() if channel is None or channel in s.channels]


def get_method(name: str) -> MethodSpec:
    _load_builtin_methods()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def check_applicable(name: str, channel: str) -> MethodSpec:
    """The method's spec, or a :class:`ChannelError` naming why it does not apply."""
    spec = get_method(name)
    if channel not in spec.channels:
        raise ChannelError(
            f"method {name!r} does not apply to {channel} events "
            f"(it reconstructs {' and '.join(spec.channels)} events)"
        )
    return spec


def reconstruct(name: str, events: PaddedEvents, **options) -> NeutrinoResult:
    """Run method ``name`` on ``events``; options are passed to the method."""
    spec = check_applicable(name, events.channel)
    result = spec.function(events, **options)
    if result.momenta.shape[:2] != (len(events), events.n_neutrinos):
        raise RuntimeError(f"method {name!r} returned momenta of shape {result.momenta.shape}")
    return result


def _load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (idempotent)."""
    from nuanalysis.methods import builtin  # noqa: F401
