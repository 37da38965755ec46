"""One interface for every neutrino method (docs/methods.md, the contract for users).

A method is a function ``(events: PaddedEvents, **options) -> NeutrinoResult``
registered under a name with the channels it applies to. The CLI, the χ²
assignment, the metrics and the unfolding only ever call :func:`reconstruct`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from baselines.constants import MAX_COLLISION_ENERGY
from nuanalysis.errors import ChannelError
from nuanalysis.methods.option_types import check_options
from nuanalysis.padded import PaddedEvents
from nuanalysis.validation import check_events


@dataclass
class NeutrinoResult:
    """What every method returns.

    ``momenta`` is ``(n_events, n_nu, 3)`` (px, py, pz) in the order of the
    schema's ``truth_nu_*`` (ν from W⁺, then ν̄); rows where ``valid`` is False
    are exactly zero, and a row is only ``valid`` where its momenta are finite and no
    neutrino's |p| exceeds :data:`~baselines.constants.MAX_COLLISION_ENERGY` (a
    solution no LHC collision can give is not a solution). ``weight`` is the
    method's per-event figure of merit (NW weight, flow log-probability) or
    None; ``extras`` holds anything else (samples, flags such as the quadratic's
    complex-discriminant mask, the b-jet index paired with each lepton).
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
        with np.errstate(invalid="ignore", over="ignore"):
            momentum = np.sqrt(np.sum(self.momenta**2, axis=2))
        self.valid &= (momentum <= MAX_COLLISION_ENERGY).all(axis=1)  # False for NaN, inf
        self.momenta[~self.valid] = 0.0


MethodFunction = Callable[..., NeutrinoResult]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    channels: tuple[str, ...]
    function: MethodFunction
    description: str
    model_type: str | None = None  # the model file type a learned method reads ('flow', 'ff')
    config: type | None = None  # dataclass whose fields are the method's further **options


_REGISTRY: dict[str, MethodSpec] = {}


def register(
    name: str,
    channels: tuple[str, ...],
    description: str,
    model_type: str | None = None,
    config: type | None = None,
):
    """Decorator registering ``function`` as neutrino method ``name``.

    ``model_type``: for learned methods, the type of model file they read.
    ``config``: the dataclass whose fields the method takes as ``**options``.
    Options are typed in the signature (:mod:`nuanalysis.methods.option_types`).
    """

    def decorate(function: MethodFunction) -> MethodFunction:
        _REGISTRY[name] = MethodSpec(name, channels, function, description, model_type, config)
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


def reconstruct(
    name: str, events: PaddedEvents, *, inputs_checked: bool = False, **options
) -> NeutrinoResult:
    """Run method ``name`` on ``events``; options are passed to the method after
    :func:`~nuanalysis.methods.option_types.check_options` (an OptionError for a bad one,
    an OptionWarning for one that does not apply to these events).

    ``events`` first pass the one physical check every method shares
    (:func:`nuanalysis.validation.check_events`): unphysical input is an InputError.
    ``inputs_checked=True`` skips it for events the reader has checked already
    (:func:`nuanalysis.io.iterate_padded` applies the same rules to the branches).
    """
    spec = check_applicable(name, events.channel)
    check_options(name, options, events.channel)
    if not inputs_checked:
        check_events(events)
    result = spec.function(events, **options)
    if result.momenta.shape[:2] != (len(events), events.n_neutrinos):
        raise RuntimeError(f"method {name!r} returned momenta of shape {result.momenta.shape}")
    return result


def _load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (idempotent)."""
    from nuanalysis.methods import builtin  # noqa: F401
