"""The flows' latent noise as a pure function of (seed, global event index, draw, coordinate).

A flow sample is ``x = f⁻¹(z | event)`` with ``z`` standard normal (ν-Flows
paper eq. 2). Drawing ``z`` from a stream seeded per chunk ties every
sample to how a file was cut into chunks; here each number is the
counter-based normal of :func:`baselines.neutrino_weighting.counter_normal`
(splitmix64 hashes of its counters, Box–Muller) keyed by the base seed and
the event's *global* entry, as Neutrino Weighting draws its smearings. So
``--chunk-size``, ``--jobs`` and ``--scheduler`` never change a flow sample,
and the noise can be handed to an exported ONNX graph as an explicit input.

References: J. K. Salmon et al., "Parallel random numbers: as easy as
1, 2, 3", SC11 (counter-based generators); G. Steele et al., "Fast splittable
pseudorandom number generators", OOPSLA 2014 (splitmix64).
"""

from __future__ import annotations

import numba
import numpy as np

from baselines.neutrino_weighting import counter_normal

FLOW_STREAM = np.uint64(0x466C6F77)
"""Stream counter of the flows' latent noise ("Flow"), apart from NW's streams."""


@numba.njit(cache=True)
def _fill(seed, first_event_index, out):
    n_events, n_draws, dimension = out.shape
    for event in range(n_events):
        for draw in range(n_draws):
            for coordinate in range(dimension):
                counter = draw * dimension + coordinate
                out[event, draw, coordinate] = counter_normal(
                    seed, first_event_index + event, FLOW_STREAM, counter
                )


def event_noise(
    seed: int, first_event_index: int, n_events: int, n_draws: int, dimension: int
) -> np.ndarray:
    """(n_events, n_draws, dimension) float32 standard normals of events
    ``first_event_index … first_event_index + n_events − 1`` under ``seed``."""
    if first_event_index < 0:
        raise ValueError(f"first_event_index must be non-negative, got {first_event_index}")
    out = np.empty((n_events, n_draws, dimension), dtype=np.float64)
    _fill(np.uint64(int(seed) % 2**64), np.int64(first_event_index), out)
    return out.astype(np.float32)
