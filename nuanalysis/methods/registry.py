"""One interface for every neutrino method (docs/methods.md, the contract for users).

A method is a function ``(events: PaddedEvents, **options) -> NeutrinoResult``
registered (:func:`~nuanalysis.methods.spec.register`) under a name with the
channels it applies to, its label and colour. The CLI, the χ² assignment, the
metrics and the unfolding only ever call :func:`reconstruct`, and ask this
module what they need to know of a method.
"""

from __future__ import annotations

from nuanalysis.errors import ChannelError
from nuanalysis.methods.option_types import check_options
from nuanalysis.methods.spec import REGISTERED, MethodSpec
from nuanalysis.methods.spec import register as register  # the decorator, named here too
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import PaddedEvents
from nuanalysis.validation import check_events


def available_methods(channel: str | None = None) -> list[str]:
    """Registered method names, optionally only those applying to ``channel``."""
    _load_builtin_methods()
    return [n for n, s in REGISTERED.items() if channel is None or channel in s.channels]


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``; a KeyError listing the registered ones if there is none."""
    _load_builtin_methods()
    if name not in REGISTERED:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(REGISTERED))}")
    return REGISTERED[name]


def reference_method() -> str:
    """The method every other is measured against (``reference=True`` at registration)."""
    _load_builtin_methods()
    (name,) = (n for n, s in REGISTERED.items() if s.reference)
    return name


def posterior_methods() -> list[str]:
    """The methods whose results carry posterior draws (``keeps_posterior=True``)."""
    _load_builtin_methods()
    return [n for n, s in REGISTERED.items() if s.keeps_posterior]


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
    check_options(spec, options, events.channel)
    if not inputs_checked:
        check_events(events)
    result = spec.function(events, **options)
    if result.momenta.shape[:2] != (len(events), events.n_neutrinos):
        raise RuntimeError(f"method {name!r} returned momenta of shape {result.momenta.shape}")
    return result


def _load_builtin_methods() -> None:
    """Import the modules that register the built-in methods (idempotent)."""
    from nuanalysis.methods import builtin  # noqa: F401
