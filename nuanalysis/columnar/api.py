"""``reconstruct(method, events, **options)`` on awkward records: the runner's numbers, as records.

The events are checked and padded once (:func:`nuanalysis.io.to_padded`, the
reader's checks: errors name the field and the entry), then run exactly as the
command line runs a chunk (:func:`nuanalysis.runner.run_chunk`: one thread,
the same progress slices on the global entry grid, the per-event seeding from
``seed`` and the global entry ``first_event_index + i``), so the numbers equal
``nuanalysis reconstruct``'s on the same events and seed.
"""

from __future__ import annotations

import awkward as ak

from nuanalysis.columnar.records import empty_result, output_layout, to_records
from nuanalysis.errors import InputError
from nuanalysis.io import to_padded
from nuanalysis.methods.registry import check_applicable
from nuanalysis.runner import WorkUnit, _threads_limited, run_chunk


def _is_lazy(events) -> bool:
    return type(events).__module__.startswith("dask_awkward")


def reconstruct(
    method: str,
    events,
    *,
    channel: str | None = None,
    seed: int = 0,
    first_event_index: int = 0,
    threads: int | None = 1,
    **options,
):
    """Neutrinos of ``method`` for every event record, aligned with ``events``.

    ``events``: an awkward array of records (:func:`nuanalysis.io.padding.columns_of_records`
    lists the fields), or a dask-awkward array (then the result is lazy, and
    ``channel`` must be given: :func:`nuanalysis.columnar.lazy.reconstruct_lazy`).
    ``channel``: default detected from the lepton multiplicity. ``seed`` and
    ``first_event_index`` (the global entry of the first event) seed the stochastic
    methods per event; ``threads`` as in the runner. Further ``options`` are the
    method's (:func:`nuanalysis.methods.registry.reconstruct`).
    Returns records with ``nu`` [, ``nubar``], ``valid`` [, ``weight``] [, ``draws``]
    (:func:`nuanalysis.columnar.records.to_records`).
    """
    if _is_lazy(events):
        from nuanalysis.columnar.lazy import reconstruct_lazy

        return reconstruct_lazy(
            method, events, channel=channel, seed=seed, threads=threads, **options
        )
    if not isinstance(events, ak.Array):
        raise InputError(
            "events must be an awkward or dask-awkward array of records, "
            f"got {type(events).__name__}"
        )
    padded = to_padded(events, channel, first_entry=first_event_index)
    check_applicable(method, padded.channel)
    layout = output_layout(method, padded.channel, options)
    if len(padded) == 0:
        return to_records(empty_result(layout), layout)
    unit = WorkUnit("events", 0, len(padded), len(padded), first_event_index)
    with _threads_limited(threads):
        chunk = run_chunk(padded, unit, [method], {method: options}, seed)
    return to_records(chunk.results[method], layout)
