"""The columnar API on dask-awkward: a lazy graph, identical to the eager result.

Each partition is one task: it receives its events and the global entry of its
first event, and runs :func:`nuanalysis.columnar.api.reconstruct` on them, so
the per-event noise is a function of (seed, global entry) and a retried or
re-partitioned task gives the same numbers. The output form comes from
:func:`~nuanalysis.columnar.records.output_layout` (the method and channel), so
building the graph — and dask-awkward's typetracer pass — neither runs a method
nor loads a model; a worker loads a model once (:mod:`nuanalysis.flows.model_io`
caches it per process).
"""

from __future__ import annotations

import awkward as ak

from nuanalysis.columnar.records import empty_result, output_layout, to_records
from nuanalysis.errors import ChannelError
from nuanalysis.methods.registry import check_applicable
from nuanalysis.padded import CHANNELS


def _partition(events: ak.Array, first_entry: int, method: str, kwargs: dict) -> ak.Array:
    from nuanalysis.columnar.api import reconstruct

    return reconstruct(method, events, first_event_index=first_entry, **kwargs)


def _first_entries(events) -> list:
    """Global entry of each partition's first event: the divisions where dask knows them,
    else delayed running sums of the partitions' lengths."""
    import dask

    if events.known_divisions:
        return list(events.divisions[:-1])
    lengths = [dask.delayed(len)(part) for part in events.to_delayed()]
    return [dask.delayed(sum)(lengths[:k]) for k in range(len(lengths))]


def reconstruct_lazy(method: str, events, *, channel: str | None, **kwargs):
    """Lazy :func:`~nuanalysis.columnar.api.reconstruct` of a dask-awkward array.

    ``channel`` must be given (the graph's output form depends on it and no event
    is read to build it); the other keyword arguments are passed through.
    """
    import dask
    import dask_awkward as dak

    if channel not in CHANNELS:
        raise ChannelError(
            f"lazy events need channel= (one of {', '.join(CHANNELS)}) to build the graph, "
            f"got {channel!r}"
        )
    check_applicable(method, channel)
    layout = output_layout(method, channel, kwargs)
    meta = to_records(empty_result(layout), layout)
    call = {**kwargs, "channel": channel}
    parts = [
        dask.delayed(_partition)(part, first, method, call)
        for part, first in zip(events.to_delayed(), _first_entries(events), strict=True)
    ]
    divisions = events.divisions if events.known_divisions else None
    return dak.from_delayed(
        parts,
        meta=ak.Array(meta.layout.to_typetracer(forget_length=True)),
        divisions=divisions,
    )
