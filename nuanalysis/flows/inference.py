"""Using a trained model on events: posterior samples, the mode, one sample, the ν-FF prediction.

ν-Flows(mode) draws 256 neutrino solutions per event and keeps the one with
the highest log-probability under the flow; ν-Flows(sample) keeps a single
draw (paper §4). The event context is encoded once per event and repeated
for all of its samples; events are processed in batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import event_features, momenta_from_targets
from nuanalysis.flows.model_io import resolve_model
from nuanalysis.padded import PaddedEvents

MODE_SAMPLES = 256
"""Samples per event of ν-Flows(mode) (paper §4)."""

MAX_ROWS = 65536
"""Flow evaluations per batch (events × samples), bounding memory."""

ModelLike = EventModel | str | Path | None


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Make torch's global RNG reproducible inside the block without disturbing the caller's."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _batches(n_events: int, rows_per_event: int) -> Iterator[slice]:
    size = max(1, MAX_ROWS // max(rows_per_event, 1))
    for start in range(0, n_events, size):
        yield slice(start, min(start + size, n_events))


@torch.no_grad()
def _draw(
    events: PaddedEvents, n_samples: int, model: ModelLike, seed: int | None
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Per batch of events: (slice, (b, S, n_nu, 3) momenta, (b, S) log-probs)."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be positive, got {n_samples}")
    flow = resolve_model(model, events.channel, "flow")
    features = event_features(events)
    with _seeded(seed):
        for part in _batches(len(events), n_samples):
            drawn, log_prob = flow.sample(features.select(part).to_torch(flow.device), n_samples)
            momenta = momenta_from_targets(drawn.double().cpu().numpy(), flow.n_neutrinos)
            yield part, momenta, log_prob.double().cpu().numpy()


def sample_posterior(
    events: PaddedEvents,
    n_samples: int = MODE_SAMPLES,
    model: ModelLike = None,
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n_samples`` neutrino solutions per event from the flow.

    Returns ``samples`` of shape ``(n_events, n_samples, n_nu, 3)`` with
    (px, py, pz) in GeV, pz = pT sinh η, and ``log_prob`` of shape
    ``(n_events, n_samples)``: the flow's log-density of each sample in its
    own coordinates (px, py, η) per neutrino, in GeV⁻²-per-neutrino units.
    ``model`` is a path, a loaded model, or None for the package's pretrained
    model of the events' channel.
    """
    samples = np.zeros((len(events), n_samples, events.n_neutrinos, 3))
    log_prob = np.zeros((len(events), n_samples))
    for part, momenta, logp in _draw(events, n_samples, model, seed):
        samples[part], log_prob[part] = momenta, logp
    return samples, log_prob


def flow_mode(
    events: PaddedEvents, model: ModelLike = None, n_samples: int = MODE_SAMPLES, seed=None
) -> tuple[np.ndarray, np.ndarray]:
    """ν-Flows(mode): (n, n_nu, 3) most probable of ``n_samples`` draws and its (n,) log-prob.

    Only the best draw of each event is kept, so memory does not grow with ``n_samples``.
    """
    best = np.zeros((len(events), events.n_neutrinos, 3))
    best_log_prob = np.zeros(len(events))
    for part, momenta, logp in _draw(events, n_samples, model, seed):
        index = np.argmax(logp, axis=1)
        rows = np.arange(len(index))
        best[part], best_log_prob[part] = momenta[rows, index], logp[rows, index]
    return best, best_log_prob


@torch.no_grad()
def regress(events: PaddedEvents, model: ModelLike = None) -> np.ndarray:
    """ν-FF: (n, n_nu, 3) predicted (px, py, pz)."""
    network = resolve_model(model, events.channel, "ff")
    features = event_features(events)
    out = np.zeros((len(events), network.n_targets), dtype=np.float64)
    for part in _batches(len(events), 1):
        out[part] = network.predict(features.select(part).to_torch(network.device)).double().numpy()
    return momenta_from_targets(out, network.n_neutrinos)
