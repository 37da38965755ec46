"""Coarsen a product binning until every response can be unfolded with enough events per bin.

Unfolding rescales by the MC truth and inverts the migrations, so every truth
bin needs simulated events, every reco bin events that migrated into it, and
the migration matrix full rank (:func:`unfolding.validation.check_response`).
A fine binning on a small sample leaves the kinematic corners (low m_tt with
high pT_t, high m_tt with low pT_t) with a handful of events or none, and a
method with a low efficiency empties reco bins first.

:func:`coarsen` merges adjacent bins by removing interior edges of one axis at
a time, so the binning stays a product grid shared by every response (a fair
comparison of methods needs one binning). At each step it removes the edge
whose removal leaves the sparsest bin of all responses fullest (up to
``min_events``: beyond it, the removal keeping more bins); it stops when
every response is invertible and its sparsest bin holds at least
``min_events`` effective events (Σw)²/Σw² in the truth spectrum and among the
events reconstructed in that bin.

Only statistics steer the merging: :func:`coarsen_responses` leaves out of the
criterion a response that reconstructs fewer than ``min_events`` events in the
whole binning or none in a bin where it should have :data:`CLEAR_GAP` times
``min_events`` (its efficiency times the bin's truth) — a method failing in a region is that
method's failure, which merging would only hide, at every other method's cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import hist
import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.response import Response
from unfolding.validation import check_response

Grid = tuple[tuple[float, ...], ...]

CLEAR_GAP = 3.0
"""A bin where a response expects this many times ``min_events`` and has none is a gap of
the method, not a fluctuation (Poisson probability of none below e⁻³⁰ for 10 events)."""


@dataclass(frozen=True)
class Coarsening:
    """The binning :func:`coarsen` arrived at and how it got there.

    ``removed`` lists ``(axis, edge)`` in the order the edges were removed;
    ``sparsest_requested`` / ``sparsest`` are the effective events in the
    sparsest bin of any response with the requested / final binning.
    """

    requested: Grid
    edges: Grid
    removed: tuple[tuple[int, float], ...]
    sparsest_requested: float
    sparsest: float
    min_events: float
    ignored: dict[str, str] | None = None
    """Responses (by name) left out of the criterion, and why (:func:`coarsen_responses`)."""
    sample_factor: float | None = None
    """How many times more events the requested binning needs, from the sparsest bin's
    expectation (truth × efficiency); None where a truth bin is empty."""

    @property
    def merged(self) -> bool:
        return bool(self.removed)


def effective_entries(values: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """(Σw)²/Σw² per bin: the number of events for unit weights, 0 for an empty bin."""
    values, w2 = np.asarray(values, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    return np.divide(values**2, w2, out=np.zeros_like(values), where=w2 > 0)


def sparsest_bin(response: Response) -> float:
    """Effective events in the response's sparsest bin, truth spectrum or matched reco events."""
    truth = effective_entries(response.truth, response.truth_w2)
    reco = effective_entries(response.matrix.sum(axis=1), response.matrix_w2.sum(axis=1))
    return float(min(truth.min(), reco.min()))


def invertible(response: Response) -> bool:
    """Whether the response passes the checks every unfolding algorithm makes."""
    try:
        check_response(response.matrix, response.truth)
    except UnfoldingError:
        return False
    return True


def _quality(responses: Iterable[Response]) -> tuple[bool, float]:
    responses = list(responses)
    return (
        all(invertible(r) for r in responses),
        min(sparsest_bin(r) for r in responses),
    )


def expected_sparsest(response: Response) -> float:
    """The fewest events a bin of ``response`` should hold: its truth times the mean
    efficiency (fluctuations and migrations aside)."""
    matched = response.matrix.sum()
    return float(response.truth.min() * matched / max(response.truth.sum(), 1e-300))


def _without(grid: Grid, axis: int, index: int) -> Grid:
    edges = grid[axis][:index] + grid[axis][index + 1 :]
    return (*grid[:axis], edges, *grid[axis + 1 :])


def _n_bins(grid: Grid) -> int:
    return int(np.prod([len(edges) - 1 for edges in grid]))


def coarsen(
    edges: Sequence[Sequence[float]],
    responses: Callable[[Grid], Iterable[Response]],
    min_events: float,
) -> Coarsening:
    """Remove interior edges of ``edges`` (one sequence per axis) until every response that
    ``responses(grid)`` fills with the binning ``grid`` is invertible and its sparsest bin
    holds ``min_events`` (module docstring).

    Ties are broken towards more remaining bins, then the lower axis and edge. Raises
    :class:`UnfoldingError` when even a single bin does not satisfy the criterion.
    """
    requested: Grid = tuple(tuple(float(e) for e in axis) for axis in edges)
    grid, removed = requested, []
    good, sparsest = _quality(responses(grid))
    sparsest_requested = sparsest
    while not (good and sparsest >= min_events):
        candidates = [
            (axis, index)
            for axis, axis_edges in enumerate(grid)
            for index in range(1, len(axis_edges) - 1)
        ]
        if not candidates:
            raise UnfoldingError(
                f"too few events to unfold: even one bin holds {sparsest:g} effective events "
                f"(at least {min_events:g} needed) or cannot be inverted"
            )
        scored = []
        for axis, index in candidates:
            trial = _without(grid, axis, index)
            good, sparsest = _quality(responses(trial))
            rank = (good, min(sparsest, min_events), _n_bins(trial), -axis, -index)
            scored.append((rank, sparsest, axis, index))
        (good, *_), sparsest, axis, index = max(scored)
        removed.append((axis, grid[axis][index]))
        grid = _without(grid, axis, index)
    return Coarsening(requested, grid, tuple(removed), sparsest_requested, sparsest, min_events)


def merge_bins(response: Response, edges: Sequence[Sequence[float]]) -> Response:
    """``response`` on coarser bins: per axis, ``edges`` a subset of its edges with the same
    first and last edge; the contents of merged bins are summed (as ROOT's ``Rebin``)."""
    if len(edges) != len(response.axes):
        raise UnfoldingError(f"{len(edges)} edge lists for a {len(response.axes)}-D response")
    axes, coarse_index = [], []
    for axis, new in zip(response.axes, edges, strict=True):
        old, new = np.asarray(axis.edges), np.asarray(new, dtype=np.float64)
        if new[0] != old[0] or new[-1] != old[-1] or not np.isin(new, old).all():
            raise UnfoldingError(
                f"axis {axis.name!r}: edges {new.tolist()} are not a subset of {old.tolist()} "
                "with the same ends"
            )
        axes.append(hist.axis.Variable(new, name=axis.name, label=axis.label, flow=False))
        coarse_index.append(np.searchsorted(new, old[:-1], side="right") - 1)
    merged = Response(*axes)
    fine = np.indices(response.shape).reshape(len(response.shape), -1)
    target = np.ravel_multi_index(
        tuple(index[f] for index, f in zip(coarse_index, fine, strict=True)), merged.shape
    )
    grouping = np.zeros((merged.n_bins, response.n_bins))
    grouping[target, np.arange(response.n_bins)] = 1.0
    for name in ("truth", "truth_w2", "reco", "reco_w2"):
        setattr(merged, name, grouping @ getattr(response, name))
    merged.matrix = grouping @ response.matrix @ grouping.T
    merged.matrix_w2 = grouping @ response.matrix_w2 @ grouping.T
    return merged


def failure_not_statistical(response: Response, min_events: float) -> str | None:
    """Why ``response`` should not steer the merging (module docstring), or None."""
    matched = response.matrix.sum(axis=0)
    if matched.sum() < min_events:
        return f"only {matched.sum():g} events reconstructed inside the binning"
    expected = response.truth * matched.sum() / response.truth.sum()
    never = (matched == 0) & (expected >= CLEAR_GAP * min_events)
    if never.any():
        j = int(np.flatnonzero(never)[0])
        return f"truth bin {j} is never reconstructed, where {expected[j]:.0f} events were expected"
    empty = (response.matrix.sum(axis=1) == 0) & (expected >= CLEAR_GAP * min_events)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        return f"reco bin {i} stays empty, where {expected[i]:.0f} events were expected"
    return None


def coarsen_responses(responses: dict[str, Response], min_events: float) -> Coarsening:
    """:func:`coarsen` the common binning of ``responses`` (one per method, same axes),
    steered by those whose failures are statistical (:func:`failure_not_statistical`)."""
    ignored = {
        name: why
        for name, response in responses.items()
        if (why := failure_not_statistical(response, min_events)) is not None
    }
    steering = [r for name, r in responses.items() if name not in ignored]
    if not steering:
        raise UnfoldingError(
            "no method reconstructs enough events to unfold: "
            + "; ".join(f"{name}: {why}" for name, why in ignored.items())
        )
    edges = [tuple(axis.edges) for axis in steering[0].axes]
    result = coarsen(edges, lambda grid: (merge_bins(r, grid) for r in steering), min_events)
    expected = min(expected_sparsest(r) for r in steering)
    factor = min_events / expected if expected > 0 else None
    return replace(result, ignored=ignored, sample_factor=factor)
