"""Using a trained model on events: posterior samples, the mode, one sample, the ν-FF prediction.

ν-Flows(mode) draws 256 neutrino solutions per event and keeps the one with
the highest log-probability under the flow; ν-Flows(sample) keeps a single
draw (paper §4). Every draw is ``x = f⁻¹(z | event)`` for latent noise ``z``
that is a pure function of (seed, global event index, draw)
(:func:`~nuanalysis.flows.noise.event_noise`), so results never depend on
how the events are cut into chunks or batches. The event is encoded once and
its context repeated for its draws; events are processed in batches.

Estimators of the most probable solution (``estimator``):

* ``"ascent"`` (default): the best ``ascent_starts`` of ``ascent_draws``
  draws climb log p by ``ascent_steps`` gradient steps in latent space
  (:mod:`nuanalysis.flows.ascent`); with ``ascent_draws = 1`` the single start
  is the latent mode's image ``f⁻¹(0 | event)`` and the seed plays no part. The
  defaults differ per channel (:data:`ASCENT_SETTINGS`), each the cheapest setting
  measured whose every resolution is within 2 % of the 256-draw mode's or better
  (``benchmarks/flows.py``): semileptonic posteriors are climbed from the latent
  mode alone (10–17× the 256-draw mode's events/s), the dilepton ones, with their
  up to four kinematic solutions, from several draws (4–5×). Its steps run one
  after another, so a single event takes longer than with ``"draws"``;
* ``"draws"``: the most probable of ``n_samples`` draws
  (256, paper §4);
* ``"latent"``: the image of the latent mode, ``f⁻¹(0 | event)`` — one flow
  pass, ~50× faster, but not the density's mode: on held-out samples its
  m(ℓν) width68 is ~55 % wider than the 256-draw mode's (dilepton η 11–15 %).

Posterior draws (:func:`sample_posterior`) are ``x = f⁻¹(T·z | event)`` with the
model's latent temperature T (1 unless ``nuanalysis calibrate`` stored one in
the model file, :mod:`nuanalysis.calibration`); the modes never use it.

``backend`` (``"torch"`` or ``"onnx"``) picks the runner
(:mod:`nuanalysis.flows.runtime`); a ``.onnx`` model path implies ``"onnx"``,
whose ascent steps along forward differences (a graph has no autograd): the
same log p to ~10⁻² (dilepton) or ~10⁻³ (semileptonic), one call per step.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from nuanalysis.errors import OptionError
from nuanalysis.flows.ascent import padded_rows
from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import event_features, momenta_from_targets
from nuanalysis.flows.noise import event_noise
from nuanalysis.flows.runtime import model_runner
from nuanalysis.padded import PaddedEvents

MODE_SAMPLES = 256
"""Samples per event of ν-Flows(mode) (paper §4)."""

ESTIMATORS = ("ascent", "draws", "latent")
"""How ``flow_mode`` finds the most probable solution (module docstring)."""


class AscentSettings(NamedTuple):
    """How ``"ascent"`` climbs: ``draws`` candidates, the best ``starts`` climb ``steps`` steps."""

    draws: int
    starts: int
    steps: int


ASCENT_SETTINGS = {
    "semileptonic": AscentSettings(draws=1, starts=1, steps=4),
    "dilepton": AscentSettings(draws=16, starts=4, steps=4),
}
"""Default ``"ascent"`` settings per channel (module docstring; ``benchmarks/flows.py``)."""

MAX_ROWS = 65536
"""Flow evaluations per batch (events × samples), bounding memory."""

ModelLike = EventModel | str | Path | None


def _batches(n_events: int, rows_per_event: int) -> Iterator[slice]:
    size = max(1, MAX_ROWS // max(rows_per_event, 1))
    for start in range(0, n_events, size):
        yield slice(start, min(start + size, n_events))


def _noise(seed: int, first: int, shape: tuple[int, int, int], latent: bool) -> np.ndarray:
    """(events, draws, D) latent noise of the events from global index ``first`` on:
    seeded draws (:func:`~nuanalysis.flows.noise.event_noise`), or zeros, the latent mode."""
    return np.zeros(shape, dtype=np.float32) if latent else event_noise(seed, first, *shape)


def _draw(
    events: PaddedEvents,
    n_samples: int,
    model: ModelLike,
    seed: int,
    first_event_index: int,
    backend: str,
    latent_mode: bool = False,
    temperature: float | None = 1.0,
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Per batch of events: (slice, (b, S, n_nu, 3) momenta, (b, S) log-probs).

    ``latent_mode``: zero noise (one draw, the latent mode's image) instead of seeded noise;
    ``temperature`` scales the noise (None: the model's :attr:`temperature`).
    """
    if n_samples < 1:
        raise OptionError(f"n_samples must be positive, got {n_samples}")
    if first_event_index < 0:
        raise OptionError(f"first_event_index must be non-negative, got {first_event_index}")
    runner = model_runner(model, events.channel, "flow", backend)
    scale = runner.temperature if temperature is None else temperature
    if not (np.isfinite(scale) and scale > 0):
        raise OptionError(f"the latent temperature must be positive, got {scale}")
    features = event_features(events)
    for part in _batches(len(events), n_samples):
        n = part.stop - part.start
        shape = (n, n_samples, runner.n_targets)
        noise = np.float32(scale) * _noise(seed, first_event_index + part.start, shape, latent_mode)
        rows = padded_rows(n).numpy()  # a batch's size must not change its rounding
        drawn, log_prob = runner.sample_from_noise(features.select(part).select(rows), noise[rows])
        drawn, log_prob = drawn[:n], log_prob[:n]
        yield part, momenta_from_targets(drawn, runner.n_neutrinos), log_prob.astype(np.float64)


def sample_posterior(
    events: PaddedEvents,
    n_samples: int = MODE_SAMPLES,
    model: ModelLike = None,
    seed: int = 0,
    first_event_index: int = 0,
    backend: str = "torch",
    temperature: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` neutrino solutions per event from the flow.

    Returns ``samples`` of shape ``(n_events, n_samples, n_nu, 3)`` with
    (px, py, pz) in GeV, pz = pT sinh η, and ``log_prob`` of shape
    ``(n_events, n_samples)``: the flow's log-density of each sample in its
    own coordinates (px, py, η) per neutrino, in GeV⁻²-per-neutrino units.
    ``model`` is a path (``.pt`` or ``.onnx``), a loaded model, or None for the
    package's pretrained model of the events' channel. Event i's draws depend
    only on ``seed`` and its global index ``first_event_index + i``. The latent
    noise is scaled by ``temperature`` (None: the model's, 1 unless recalibrated).
    """
    samples = np.zeros((len(events), n_samples, events.n_neutrinos, 3))
    log_prob = np.zeros((len(events), n_samples))
    draws = _draw(
        events, n_samples, model, seed, first_event_index, backend, temperature=temperature
    )
    for part, momenta, logp in draws:
        samples[part], log_prob[part] = momenta, logp
    return samples, log_prob


def flow_mode(
    events: PaddedEvents,
    model: ModelLike = None,
    n_samples: int = MODE_SAMPLES,
    seed: int = 0,
    first_event_index: int = 0,
    estimator: str = "ascent",
    backend: str = "torch",
    ascent_draws: int | None = None,
    ascent_starts: int | None = None,
    ascent_steps: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ν-Flows(mode): (n, n_nu, 3) most probable solution and its (n,) log-prob.

    ``estimator`` (module docstring): ``"draws"`` keeps the best of ``n_samples``
    draws (only the best is kept, so memory does not grow with ``n_samples``);
    ``"ascent"`` climbs from the best ``ascent_starts`` of ``ascent_draws`` draws
    (None: the channel's :data:`ASCENT_SETTINGS`); ``"latent"`` ignores the seed.
    Each estimator ignores the others' options.
    """
    if estimator not in ESTIMATORS:
        raise OptionError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if estimator == "ascent":
        defaults = ASCENT_SETTINGS[events.channel]
        settings = AscentSettings(
            defaults.draws if ascent_draws is None else ascent_draws,
            defaults.starts if ascent_starts is None else ascent_starts,
            defaults.steps if ascent_steps is None else ascent_steps,
        )
        return _ascent_mode(events, model, settings, seed, first_event_index, backend)
    latent = estimator == "latent"
    draws = 1 if latent else n_samples
    best = np.zeros((len(events), events.n_neutrinos, 3))
    best_log_prob = np.zeros(len(events))
    for part, momenta, logp in _draw(
        events, draws, model, seed, first_event_index, backend, latent_mode=latent
    ):
        best[part], best_log_prob[part] = most_probable(momenta, logp)
    return best, best_log_prob


def _ascent_mode(
    events: PaddedEvents,
    model: ModelLike,
    settings: AscentSettings,
    seed: int,
    first_event_index: int,
    backend: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``"ascent"`` estimator, batch by batch (:mod:`nuanalysis.flows.ascent`)."""
    n_draws, starts, steps = settings
    if not 1 <= starts <= n_draws:
        raise OptionError(
            f"ascent_starts must be between 1 and ascent_draws = {n_draws}, got {starts}"
        )
    if steps < 0:
        raise OptionError(f"ascent_steps must be non-negative, got {steps}")
    if first_event_index < 0:
        raise OptionError(f"first_event_index must be non-negative, got {first_event_index}")
    runner = model_runner(model, events.channel, "flow", backend)
    features = event_features(events)
    mode = np.zeros((len(events), runner.n_targets))
    log_prob = np.zeros(len(events))
    for part in _batches(len(events), n_draws):
        shape = (part.stop - part.start, n_draws, runner.n_targets)
        noise = _noise(seed, first_event_index + part.start, shape, latent=n_draws == 1)
        mode[part], log_prob[part], _ = runner.ascend_mode(
            features.select(part), noise, starts, steps
        )
    return momenta_from_targets(mode, runner.n_neutrinos), log_prob


def most_probable(samples: np.ndarray, log_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event, the draw of highest log-density: (n, S, n_nu, 3), (n, S) → (n, n_nu, 3), (n,)."""
    index = np.argmax(log_prob, axis=1)
    rows = np.arange(len(index))
    return samples[rows, index], log_prob[rows, index]


def regress(events: PaddedEvents, model: ModelLike = None, backend: str = "torch") -> np.ndarray:
    """ν-FF: (n, n_nu, 3) predicted (px, py, pz)."""
    runner = model_runner(model, events.channel, "ff", backend)
    features = event_features(events)
    out = np.zeros((len(events), runner.n_targets), dtype=np.float64)
    for part in _batches(len(events), 1):
        out[part] = runner.predict(features.select(part))
    return momenta_from_targets(out, runner.n_neutrinos)
