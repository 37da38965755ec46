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
``"latent"`` (the latent mode's image): :mod:`nuanalysis.flows.inference`; or a
point from the ``n_samples`` posterior draws (:data:`POSTERIOR_ESTIMATORS`,
:func:`posterior_point`).
A flow always returns a solution, so ``valid`` is True for every event;
events with non-finite inputs raise :class:`~nuanalysis.errors.InputError`.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from nuanalysis.candidates import b_jet_candidates
from nuanalysis.errors import OptionError
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
from nuanalysis.kinematics import mass
from nuanalysis.methods.option_types import OneOf, SampleCount, StepCount
from nuanalysis.methods.spec import register
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.observables import pair_tops
from nuanalysis.padded import CHANNELS, PaddedEvents
from nuanalysis.posterior import DRAWS_KEY, LOG_PROB_KEY

Backend = Annotated[str, OneOf(BACKENDS)]

POSTERIOR_ESTIMATORS = ("mean", "mtt-mean", "mtt-median")
"""``flow`` estimators that summarise ``n_samples`` posterior draws (:func:`posterior_point`)."""

MTT_WINDOW = 64
"""Draws nearest the target m_tt among which ``mtt-mean`` / ``mtt-median`` keep the most
probable. Of 256 draws on 4000 held-out dilepton events, windows of 32 and 64 kept the
``mtt-mean`` m_tt median within 4 GeV of truth-ν's, 64 with p_z and m(bℓν) 1–3 % narrower
(README, "Which flow estimator")."""

EVENTS_PER_BLOCK = 2048
"""Events whose posterior draws are held at once by the posterior estimators."""


def draw_mtt(events: PaddedEvents, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, S) m_tt of every draw of ``draws`` (n, S, 2, 3) of dilepton ``events``, with the
    b-jet candidates paired per draw by the top mass (:func:`nuanalysis.observables.pair_tops`),
    and the (n,) mask of events having two candidates."""
    b_candidates, has_two = b_jet_candidates(events)
    n, n_draws = draws.shape[:2]
    top, antitop, _ = pair_tops(
        *(np.repeat(a, n_draws, axis=0) for a in (events.lepton_pos, events.lepton_neg)),
        np.repeat(b_candidates, n_draws, axis=0),
        draws.reshape(n * n_draws, *draws.shape[2:]),
    )
    return mass(top + antitop).reshape(n, n_draws), has_two


def posterior_point(
    events: PaddedEvents,
    draws: np.ndarray,
    log_prob: np.ndarray,
    estimator: str,
    mtt_window: int = MTT_WINDOW,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One (n, n_nu, 3) solution per event from its posterior ``draws`` (n, S, n_nu, 3) and
    their ``log_prob`` (n, S), and its (n,) log-density (None for ``"mean"``):

    * ``"mean"``: the posterior mean of (p_x, p_y, p_z), the estimate of least squared
      error per component (its masses are not those of any solution: m(ℓν) is smeared);
    * ``"mtt-mean"`` / ``"mtt-median"`` (dilepton): the most probable of the ``mtt_window``
      draws whose m_tt (:func:`draw_mtt`) is nearest the event's posterior mean / median
      m_tt — a mode at the posterior's own m_tt, where the six-dimensional mode lies
      ~45 GeV low; events without two b-jet candidates get the most probable draw.
    """
    if estimator == "mean":
        return draws.mean(axis=1), None
    if events.channel != "dilepton":
        raise OptionError(
            f"estimator {estimator!r} needs dilepton events (m_tt from the b-jet candidates); "
            f"choose one of {', '.join(ESTIMATORS)} or 'mean' for {events.channel} events"
        )
    if not 1 <= mtt_window <= draws.shape[1]:
        raise OptionError(
            f"mtt_window must be between 1 and n_samples = {draws.shape[1]}, got {mtt_window}"
        )
    mtt, has_two = draw_mtt(events, draws)
    target = mtt.mean(axis=1) if estimator == "mtt-mean" else np.median(mtt, axis=1)
    nearest = np.argsort(np.abs(mtt - target[:, None]), axis=1)[:, :mtt_window]
    nearest[~has_two] = np.argsort(-log_prob[~has_two], axis=1)[:, :mtt_window]
    rows = np.arange(len(draws))
    best = nearest[rows, np.argmax(np.take_along_axis(log_prob, nearest, axis=1), axis=1)]
    return draws[rows, best], log_prob[rows, best]


def _posterior_estimate(
    events: PaddedEvents,
    model: ModelLike,
    n_samples: int,
    seed: int,
    first_event_index: int,
    backend: str,
    estimator: str,
    mtt_window: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`posterior_point` block by block of :data:`EVENTS_PER_BLOCK` events (each
    event's draws depend only on the seed and its global index, so blocks change nothing)."""
    momenta = np.zeros((len(events), events.n_neutrinos, 3))
    log_prob = np.zeros(len(events))
    for start in range(0, len(events), EVENTS_PER_BLOCK):
        block = slice(start, min(start + EVENTS_PER_BLOCK, len(events)))
        part = events.select(block)
        draws, draw_log_prob = sample_posterior(
            part, n_samples, model, seed, first_event_index + start, backend
        )
        momenta[block], best = posterior_point(part, draws, draw_log_prob, estimator, mtt_window)
        if best is not None:
            log_prob[block] = best
    return momenta, None if estimator == "mean" else log_prob


@register(
    "flow",
    channels=CHANNELS,
    description="ν-Flows / ν²-Flows mode: the most probable solution (a few flow samples "
    f"climbing log p; `estimator=draws`: the most probable of {MODE_SAMPLES}; "
    "`estimator=mtt-mean`: the mode at the posterior's m_tt)",
    label=r"$\nu$-Flows (mode)",
    color="tab:orange",
    model_type="flow",
    weighted=True,
)
def flow_mode_method(
    events: PaddedEvents,
    model: ModelLike = None,
    n_samples: SampleCount = MODE_SAMPLES,
    seed: int = 0,
    first_event_index: int = 0,
    estimator: Annotated[str, OneOf(ESTIMATORS + POSTERIOR_ESTIMATORS)] = "ascent",
    backend: Backend = "torch",
    ascent_draws: SampleCount | None = None,
    ascent_starts: SampleCount | None = None,
    ascent_steps: StepCount | None = None,
    mtt_window: SampleCount = MTT_WINDOW,
) -> NeutrinoResult:
    """The estimator's solution (module docstring) and its log-density as ``weight``
    (None for ``estimator="mean"``)."""
    if estimator in POSTERIOR_ESTIMATORS:
        momenta, log_prob = _posterior_estimate(
            events, model, n_samples, seed, first_event_index, backend, estimator, mtt_window
        )
        return NeutrinoResult(momenta, np.ones(len(events), dtype=bool), weight=log_prob)
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
    label=r"$\nu$-Flows (sample)",
    color="tab:red",
    model_type="flow",
    weighted=True,
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
    label=r"$\nu$-Flows (posterior)",
    color="tab:brown",
    model_type="flow",
    weighted=True,
    keeps_posterior=True,
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
    label=r"$\nu$-FF",
    color="tab:blue",
    model_type="ff",
)
def regression_method(
    events: PaddedEvents, model: ModelLike = None, backend: Backend = "torch"
) -> NeutrinoResult:
    """Deterministic: no seed."""
    return NeutrinoResult(regress(events, model, backend), np.ones(len(events), dtype=bool))
