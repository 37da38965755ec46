"""Registry adapters of the learned methods: ``flow`` (mode), ``flow-sample``,
``flow-posterior`` (the mode and the posterior draws), ``ff`` (ν-FF).

Every option is optional: ``model`` (a ``.pt`` or ``.onnx`` path or a loaded
model; default the pretrained model shipped for the events' channel),
``seed`` (default 0) and ``first_event_index`` (the runner passes each
chunk's first global entry): event i's draws depend only on ``seed`` and
``first_event_index + i``, never on the chunking. ``backend``: ``"torch"``
(default) or ``"onnx"`` (onnxruntime; :mod:`nuanalysis.flows.runtime`).
``flow`` also takes ``estimator``: ``"ascent"`` (default: the best
``ascent_starts`` of ``ascent_draws`` draws climb log p by ``ascent_steps``
gradient steps; defaults per channel, ``ascent_draws=1`` climbs from the latent
mode; by forward differences on onnx), ``"draws"`` (the best of ``n_samples``) or
``"latent"`` (the latent mode's image): :mod:`nuanalysis.flows.inference`.
A flow always returns a solution, so ``valid`` is True for every event;
events with non-finite inputs raise :class:`~nuanalysis.errors.InputError`.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from nuanalysis.flows.inference import (
    ESTIMATORS,
    MODE_SAMPLES,
    ModelLike,
    flow_mode,
    most_probable,
    regress,
    sample_posterior,
)
from nuanalysis.flows.runtime import BACKENDS
from nuanalysis.methods.option_types import OneOf, SampleCount, StepCount
from nuanalysis.methods.registry import NeutrinoResult, register
from nuanalysis.padded import CHANNELS, PaddedEvents
from nuanalysis.posterior import DRAWS_KEY, LOG_PROB_KEY

Backend = Annotated[str, OneOf(BACKENDS)]


@register(
    "flow",
    channels=CHANNELS,
    description="ν-Flows / ν²-Flows mode: the most probable solution (a few flow samples "
    f"climbing log p; `estimator=draws`: the most probable of {MODE_SAMPLES})",
    model_type="flow",
)
def flow_mode_method(
    events: PaddedEvents,
    model: ModelLike = None,
    n_samples: SampleCount = MODE_SAMPLES,
    seed: int = 0,
    first_event_index: int = 0,
    estimator: Annotated[str, OneOf(ESTIMATORS)] = "ascent",
    backend: Backend = "torch",
    ascent_draws: SampleCount | None = None,
    ascent_starts: SampleCount | None = None,
    ascent_steps: StepCount | None = None,
) -> NeutrinoResult:
    momenta, log_prob = flow_mode(
        events,
        model,
        n_samples,
        seed,
        first_event_index,
        estimator,
        backend,
        ascent_draws,
        ascent_starts,
        ascent_steps,
    )
    return NeutrinoResult(momenta, np.ones(len(events), dtype=bool), weight=log_prob)


@register(
    "flow-sample",
    channels=CHANNELS,
    description="ν-Flows / ν²-Flows: one sample of the neutrino posterior per event",
    model_type="flow",
)
def flow_sample_method(
    events: PaddedEvents,
    model: ModelLike = None,
    seed: int = 0,
    first_event_index: int = 0,
    backend: Backend = "torch",
) -> NeutrinoResult:
    samples, log_prob = sample_posterior(events, 1, model, seed, first_event_index, backend)
    return NeutrinoResult(samples[:, 0], np.ones(len(events), dtype=bool), weight=log_prob[:, 0])


@register(
    "flow-posterior",
    channels=CHANNELS,
    description=f"ν-Flows / ν²-Flows mode, keeping {MODE_SAMPLES} posterior draws for the "
    "posterior-aware χ² assignment and b ↔ lepton pairing",
    model_type="flow",
)
def flow_posterior_method(
    events: PaddedEvents,
    model: ModelLike = None,
    n_samples: SampleCount = MODE_SAMPLES,
    seed: int = 0,
    first_event_index: int = 0,
    backend: Backend = "torch",
) -> NeutrinoResult:
    """The best draw, as ``flow`` with ``estimator="draws"``, plus the draws and their
    log-densities in ``extras`` (:mod:`nuanalysis.posterior`), from which ``assign``
    chooses the neutrino jointly with the jets."""
    samples, log_prob = sample_posterior(events, n_samples, model, seed, first_event_index, backend)
    mode, mode_log_prob = most_probable(samples, log_prob)
    extras = {DRAWS_KEY: samples.astype(np.float32), LOG_PROB_KEY: log_prob.astype(np.float32)}
    return NeutrinoResult(mode, np.ones(len(events), dtype=bool), mode_log_prob, extras)


@register(
    "ff",
    channels=CHANNELS,
    description="ν-FF: feed-forward regression of the neutrino momenta",
    model_type="ff",
)
def regression_method(
    events: PaddedEvents, model: ModelLike = None, backend: Backend = "torch"
) -> NeutrinoResult:
    """Deterministic: no seed."""
    return NeutrinoResult(regress(events, model, backend), np.ones(len(events), dtype=bool))
