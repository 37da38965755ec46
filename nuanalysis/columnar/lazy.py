"""The columnar API on dask-awkward: a lazy graph, identical to the eager result.

Each partition is one task of :func:`dask_awkward.map_partitions`: it receives
its events and the global entries of its events (a second collection built
from the divisions, :func:`_entries`), and runs
:func:`nuanalysis.columnar.api.reconstruct` with ``first_event_index`` the
first of them, so the per-event noise is a function of (seed, global entry)
and a retried or re-partitioned task gives the same numbers. Divisions a
selection left unknown are computed first (one pass over the selection's
columns). The output form comes from
:func:`~nuanalysis.columnar.records.output_layout` (the method and channel), so
building the graph — and dask-awkward's typetracer pass, which learns which
columns the task reads — neither runs a method nor loads a model; a worker loads
a model once (:mod:`nuanalysis.flows.model_io` caches it per process).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from nuanalysis.columnar.records import empty_result, output_layout, to_records
from nuanalysis.errors import ChannelError
from nuanalysis.methods.registry import check_applicable
from nuanalysis.padded import CHANNELS


def _entry_range(first: int, stop: int) -> ak.Array:
    return ak.Array(np.arange(first, stop, dtype=np.int64))


def _entries(events):
    """A collection partitioned like ``events`` holding each event's global entry."""
    import dask_awkward as dak

    if not events.known_divisions:
        events.eager_compute_divisions()
    starts, stops = events.divisions[:-1], events.divisions[1:]
    return dak.from_map(_entry_range, starts, stops, divisions=events.divisions, label="entries")


class PartitionTask:
    """What a worker runs on one partition: the method on its events, from its first entry."""

    def __init__(self, method: str, meta: ak.Array, options: dict):
        self.method = method
        self.meta = meta
        self.options = options

    def __call__(self, events: ak.Array, entries: ak.Array) -> ak.Array:
        if ak.backend(events) == "typetracer":  # the graph's form pass: touch, do not run
            ak.typetracer.touch_data(events)
            ak.typetracer.touch_data(entries)
            return ak.Array(self.meta.layout.to_typetracer(forget_length=True))
        from nuanalysis.columnar.api import reconstruct

        first = int(entries[0]) if len(entries) else 0
        return reconstruct(self.method, events, first_event_index=first, **self.options)


def reconstruct_lazy(method: str, events, *, channel: str | None, **kwargs):
    """Lazy :func:`~nuanalysis.columnar.api.reconstruct` of a dask-awkward array.

    ``channel`` must be given (the graph's output form depends on it and no event
    is read to build it); the other keyword arguments are passed through.
    """
    import dask_awkward as dak

    if channel not in CHANNELS:
        raise ChannelError(
            f"lazy events need channel= (one of {', '.join(CHANNELS)}) to build the graph, "
            f"got {channel!r}"
        )
    check_applicable(method, channel)
    layout = output_layout(method, channel, kwargs)
    meta = to_records(empty_result(layout), layout)
    task = PartitionTask(method, meta, {**kwargs, "channel": channel})
    return dak.map_partitions(
        task,
        events,
        _entries(events),
        label=f"nuanalysis-{method}",
        meta=ak.Array(meta.layout.to_typetracer(forget_length=True)),
    )
