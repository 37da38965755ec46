"""A method's :class:`~nuanalysis.methods.registry.NeutrinoResult` as awkward records.

The layout depends on the method and channel only, never on the events
(:func:`output_layout`), so a lazy graph knows its output form without running
a method or loading a model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import awkward as ak
import numpy as np
import vector

from nuanalysis.methods.registry import NeutrinoResult, get_method
from nuanalysis.padded import N_NEUTRINOS
from nuanalysis.posterior import DRAWS_KEY, LOG_PROB_KEY

vector.register_awkward()

NEUTRINO_FIELDS = ("nu", "nubar")
"""Record fields of the neutrinos in the order of ``NeutrinoResult.momenta``: ν (W⁺), ν̄ (W⁻)."""


@dataclass(frozen=True)
class OutputLayout:
    """What :func:`to_records` returns for a method on a channel's events."""

    n_neutrinos: int
    weighted: bool
    n_draws: int | None


def output_layout(method: str, channel: str, options: dict | None = None) -> OutputLayout:
    """The fields a method's records have on ``channel`` events with ``options``."""
    spec = get_method(method)
    n_draws = None
    if spec.keeps_posterior:
        default = inspect.signature(spec.function).parameters["n_samples"].default
        n_draws = int((options or {}).get("n_samples", default))
    return OutputLayout(N_NEUTRINOS[channel], spec.weighted, n_draws)


def _momentum4d(p3: np.ndarray) -> ak.Array:
    """Massless ``vector`` Momentum4D records from ``(..., 3)`` px, py, pz (GeV)."""
    p3 = np.asarray(p3, dtype=np.float64)
    fields = {name: p3[..., i] for i, name in enumerate(("px", "py", "pz"))}
    fields["E"] = np.sqrt(np.sum(p3**2, axis=-1))
    return ak.zip(
        {k: ak.from_numpy(v, regulararray=True) for k, v in fields.items()}, with_name="Momentum4D"
    )


def to_records(result: NeutrinoResult, layout: OutputLayout) -> ak.Array:
    """One record per event: ``nu`` [, ``nubar``] (Momentum4D), ``valid`` [, ``weight``]
    [, ``draws``: ``nu`` [, ``nubar``] and ``log_prob`` on an axis of ``n_draws``]."""
    fields = {
        name: _momentum4d(result.momenta[:, i])
        for i, name in enumerate(NEUTRINO_FIELDS[: layout.n_neutrinos])
    }
    fields["valid"] = ak.from_numpy(result.valid)
    if layout.weighted:
        fields["weight"] = ak.from_numpy(np.asarray(result.weight, dtype=np.float64))
    if layout.n_draws is not None:
        draws = result.extras[DRAWS_KEY]
        posterior = {
            name: _momentum4d(draws[:, :, i])
            for i, name in enumerate(NEUTRINO_FIELDS[: layout.n_neutrinos])
        }
        log_prob = np.asarray(result.extras[LOG_PROB_KEY], dtype=np.float32)
        posterior["log_prob"] = ak.from_numpy(log_prob, regulararray=True)
        fields["draws"] = ak.zip(posterior, depth_limit=2)
    return ak.zip(fields, depth_limit=1)


def empty_result(layout: OutputLayout) -> NeutrinoResult:
    """A zero-event result of ``layout``: the form of a lazy graph's output."""
    extras = {}
    if layout.n_draws is not None:
        extras[DRAWS_KEY] = np.zeros((0, layout.n_draws, layout.n_neutrinos, 3), np.float32)
        extras[LOG_PROB_KEY] = np.zeros((0, layout.n_draws), np.float32)
    weight = np.zeros(0) if layout.weighted else None
    return NeutrinoResult(np.zeros((0, layout.n_neutrinos, 3)), np.zeros(0, bool), weight, extras)
