"""Run neutrino methods over files in chunks, in one process or on a dask cluster, with timing.

The input (one or many files, read in the order given) is cut into work units
of ``chunk_size`` entries on a *global* grid: unit k of a file starting at
global entry G covers global entries G + k·chunk_size … Stochastic methods
(``flow``, ``flow-sample``, ``nw``) take ``first_event_index``: they get the
base seed and the unit's first global entry and draw counter-based random
numbers per event from (seed, global entry), so ``chunk_size``, ``jobs`` and
the scheduler never change a result. A method taking ``seed`` but not
``first_event_index`` gets a seed per progress slice (:func:`chunk_seed` of
its first global entry), the same wherever and in whatever order the units
run.

Progress: each method runs on slices of at most :data:`PROGRESS_EVENTS` events of
a unit (cut on the global grid, so a method's per-event seeding sees the same
global entries), and reports each slice to the progress bar (on dask through
the scheduler's event stream): the bar moves every second or so whatever
``chunk_size``.

Timing (docs/figures.md, "Speed"): each method is first warmed up on a few events of
the first unit a process sees (numba compilation, model loading are not
timed), then every call of :func:`~nuanalysis.methods.registry.reconstruct`
is timed on the same events for every method, in CPU seconds (:func:`_cpu_clock`).
With ``threads=1`` (the default, and what every command uses) torch and numba
compute in the calling thread, whose CPU time is then the method's alone, so
events per second are per CPU core and mean the same in one process and
summed over dask workers, however loaded the machine (wall time would count
the waits for a core, the thread's clock leaves out a dask worker's own
threads). One thread is also what makes a process and a dask worker
agree to the last bit: torch's float reductions depend on the thread count.
Parallelism comes from ``jobs``.

Dask: ``scheduler="tcp://host:8786"`` uses a running cluster (its workers need
this package installed); ``jobs=J`` starts a
``distributed.LocalCluster(processes=True, n_workers=J, threads_per_worker=1)``
configured by :data:`LOCAL_CLUSTER_CONFIG`, whose logging stays out of the
progress bar (errors only).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nuanalysis.errors import ChannelError, InputError
from nuanalysis.io import NtupleFile, expand_paths
from nuanalysis.methods.registry import NeutrinoResult, check_applicable, get_method, reconstruct
from nuanalysis.padded import PaddedEvents
from nuanalysis.progress import MethodProgress

DEFAULT_CHUNK_SIZE = 5000
WARMUP_EVENTS = 8
PROGRESS_EVENTS = 250
"""Events per method call and progress report: about a second of the slowest methods
(NW's analysis preset, the flows) on one core."""
_WARMED: set[str] = set()

LOCAL_CLUSTER_CONFIG = {
    # workers leave through os._exit once closed: a spawned worker's interpreter takes
    # seconds to tear torch down on a busy machine, and the nanny kills it (with a
    # warning) after 4 s
    "distributed.worker.multiprocessing-method": "forkserver",
    # dask returns freed memory to the OS above 64 kB by default: torch's large
    # temporaries then page-fault afresh on every call, doubling a flow's CPU time
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.nanny.pre-spawn-environ.DASK_LOGGING__DISTRIBUTED": "error",
}
"""dask configuration of the ``jobs`` cluster (see :func:`dask_client`)."""

Progress = Callable[[str, int], None]
"""Called with a method's name and the number of events it has just finished."""


@dataclass(frozen=True)
class WorkUnit:
    """Entries ``[start, stop)`` of ``path``; ``global_start``: global index of the first one."""

    path: str
    start: int
    stop: int
    chunk_size: int
    global_start: int


@dataclass
class ChunkResult:
    """One unit's events, each method's result, the seconds each took and the process id."""

    unit: WorkUnit
    events: PaddedEvents
    results: dict[str, NeutrinoResult]
    seconds: dict[str, float]
    pid: int


@dataclass
class RunResult:
    """All units joined: ``events``, per-method ``results`` aligned with them, total ``seconds``."""

    events: PaddedEvents
    results: dict[str, NeutrinoResult]
    seconds: dict[str, float]
    paths: list[str]


def chunk_seed(seed: int, global_start: int) -> int:
    """The seed of the unit whose first global entry is ``global_start``."""
    return int(np.random.SeedSequence([int(seed), int(global_start)]).generate_state(1)[0])


def _opened_files(
    paths: str | Path | Sequence[str | Path],
    chunk_size: int,
    max_events: int | None,
    mapping,
) -> Iterator[tuple[NtupleFile, list[WorkUnit]]]:
    """Each input file opened once, in order, with its work units; a file stays open
    while the caller works on it (reads its units), and closes before the next opens."""
    if chunk_size < 1:
        raise InputError(f"chunk_size must be at least 1, got {chunk_size}")
    if max_events is not None and max_events < 1:
        raise InputError(f"max_events must be at least 1, got {max_events}")
    offset = 0
    for path in expand_paths(paths):
        with NtupleFile(path, mapping) as source:
            n_entries = source.num_entries
            if max_events is not None:
                n_entries = min(n_entries, max_events - offset)
            units = [
                WorkUnit(
                    str(path), start, min(start + chunk_size, n_entries), chunk_size, offset + start
                )
                for start in range(0, n_entries, chunk_size)
            ]
            yield source, units
        offset += n_entries
        if max_events is not None and offset >= max_events:
            break


def plan_units(
    paths: str | Path | Sequence[str | Path],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_events: int | None = None,
    mapping=None,
) -> list[WorkUnit]:
    """Work units over ``paths`` (globs allowed), at most ``max_events`` entries in all;
    ``mapping`` (a foreign ntuple's branch mapping) names the tree and branches,
    which every file must have (it is refused here, before any work)."""
    return [u for _, units in _opened_files(paths, chunk_size, max_events, mapping) for u in units]


def _limit_threads(threads: int | None) -> None:
    if threads is None:
        return
    import numba
    import torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def _threads_limited(threads: int | None) -> Iterator[None]:
    """Limit torch and numba threads inside the block and restore the caller's afterwards."""
    import numba
    import torch

    before = torch.get_num_threads(), numba.get_num_threads()
    _limit_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


def _call_options(name: str, options: dict, seed: int, unit: WorkUnit) -> dict:
    """``options`` plus, where the method takes them, ``first_event_index`` (the unit's
    first global entry) and ``seed``: the base seed for a method seeding each event by
    its global entry, else the unit's :func:`chunk_seed`."""
    parameters = inspect.signature(get_method(name).function).parameters
    call = dict(options)
    per_event = "first_event_index" in parameters
    if per_event:
        call["first_event_index"] = unit.global_start
    if "seed" in parameters:
        call["seed"] = seed if per_event else chunk_seed(seed, unit.global_start)
    return call


def _cpu_clock() -> Callable[[], float]:
    """The calling thread's CPU clock where torch and numba compute on that one thread,
    else the whole process's."""
    import numba
    import torch

    one_thread = torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    return time.thread_time if one_thread else time.process_time


def progress_slices(unit: WorkUnit, size: int = PROGRESS_EVENTS) -> list[WorkUnit]:
    """``unit`` cut where the global entry is a multiple of ``size``."""
    first, last = unit.global_start, unit.global_start + unit.stop - unit.start
    cuts = [first, *range((first // size + 1) * size, last, size), last]
    return [
        replace(unit, start=unit.start + a - first, stop=unit.start + b - first, global_start=a)
        for a, b in itertools.pairwise(cuts)
    ]


def run_chunk(
    events: PaddedEvents,
    unit: WorkUnit,
    methods: Sequence[str],
    options: dict[str, dict] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> ChunkResult:
    """Every method on one unit's events (as the reader checked them), warmed up once per
    process, slice by slice (:func:`progress_slices`, each reported to ``progress``),
    timed in CPU seconds; a method's warm-up is reported as 0 events done (the bar says
    it is being prepared)."""
    options = options or {}
    slices = progress_slices(unit)
    clock = _cpu_clock()
    results, seconds = {}, {}
    for name in methods:
        if name not in _WARMED:
            if progress is not None:
                progress(name, 0)
            call = _call_options(name, options.get(name, {}), seed, unit)
            reconstruct(name, events.select(slice(0, WARMUP_EVENTS)), inputs_checked=True, **call)
            _WARMED.add(name)
        parts, seconds[name] = [], 0.0
        for part in slices:
            call = _call_options(name, options.get(name, {}), seed, part)
            selected = events.select(slice(part.start - unit.start, part.stop - unit.start))
            started = clock()
            parts.append(reconstruct(name, selected, inputs_checked=True, **call))
            seconds[name] += clock() - started
            if progress is not None:
                progress(name, part.stop - part.start)
        results[name] = parts[0] if len(parts) == 1 else concatenate_results(parts)
    return ChunkResult(unit, events, results, seconds, os.getpid())


def _read_units(
    units: Sequence[WorkUnit], channel: str | None, mapping, source: NtupleFile | None = None
) -> Iterator[tuple[WorkUnit, PaddedEvents]]:
    """The entries of consecutive ``units`` of one file, each read, checked and padded once.

    Reading starts at the first unit's entry; ``source`` is the file if it is open
    already (else it is opened here). ``channel=None``: detected from the first entry.
    """
    with contextlib.nullcontext(source) if source else NtupleFile(units[0].path, mapping) as file:
        chunks = file.padded(units[0].start, units[-1].stop, units[0].chunk_size, channel)
        yield from zip(units, chunks, strict=True)


def _applicable(methods: Sequence[str], channel: str, first: str | None, unit: WorkUnit) -> str:
    """``channel``, once the methods are known to apply to it and it is the first unit's."""
    if first is None:
        for name in methods:
            check_applicable(name, channel)
    elif channel != first:
        raise ChannelError(
            f"{unit.path}: entry {unit.start} starts {channel} events, but the input began "
            f"with {first} events; select one channel first"
        )
    return channel


def process_units(
    units: Sequence[WorkUnit],
    methods: Sequence[str],
    options: dict[str, dict] | None = None,
    channel: str | None = None,
    mapping=None,
    seed: int = 0,
    threads: int | None = 1,
    progress_topic: str | None = None,
) -> list[ChunkResult]:
    """Read and run consecutive units of one file: the task a dask worker executes; with
    ``progress_topic``, each slice done is logged as a ``(method, events)`` event of that
    topic (:meth:`distributed.Worker.log_event`) for the client's bar."""
    progress = None
    if progress_topic is not None:
        from distributed import get_worker

        worker = get_worker()

        def progress(name: str, events: int) -> None:
            worker.log_event(progress_topic, (name, events))

    with _threads_limited(threads):
        return [
            run_chunk(events, unit, methods, options, seed, progress)
            for unit, events in _read_units(units, channel, mapping)
        ]


def _by_file(units: Sequence[WorkUnit], groups_per_file: int = 1) -> list[list[WorkUnit]]:
    """Consecutive units of each file, split into up to ``groups_per_file`` groups."""
    files: dict[str, list[WorkUnit]] = {}
    for unit in units:
        files.setdefault(unit.path, []).append(unit)
    groups = []
    for file_units in files.values():
        size = -(-len(file_units) // max(groups_per_file, 1))
        groups += [file_units[i : i + size] for i in range(0, len(file_units), size)]
    return groups


@contextlib.contextmanager
def dask_client(jobs: int | None = None, scheduler: str | None = None):
    """A ``distributed.Client`` on ``scheduler`` or on a local cluster of ``jobs`` processes
    (:data:`LOCAL_CLUSTER_CONFIG`; its HTTP server on a free port, no dashboard), closed
    cleanly; dask's own log messages below errors are not shown meanwhile."""
    import dask
    from distributed import Client, LocalCluster

    with _quiet_logger("distributed"):
        if scheduler is not None:
            with Client(scheduler) as client:
                yield client
            return
        with (
            dask.config.set(LOCAL_CLUSTER_CONFIG),
            LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": ":0"},
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR) -> Iterator[None]:
    """Raise logger ``name`` to ``level`` inside the block."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def iter_chunks(
    paths,
    methods: Sequence[str],
    options: dict[str, dict] | None = None,
    channel: str | None = None,
    mapping=None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_events: int | None = None,
    seed: int = 0,
    threads: int | None = 1,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> Iterator[ChunkResult]:
    """Chunk results in input order, computed here or on dask (``jobs`` > 1 or ``scheduler``).

    Each file is opened once here (its header again by a dask worker reading it),
    each entry read and checked once; ``channel=None``: the first entry's.
    """
    first = channel
    if channel is not None:
        for name in methods:
            check_applicable(name, channel)
    local = scheduler is None and (jobs is None or jobs <= 1)
    units = None if local else plan_units(paths, chunk_size, max_events, mapping)
    bar = MethodProgress(methods, None if local else sum(u.stop - u.start for u in units), progress)
    try:
        if local:  # the total grows as the files open
            for source, file_units in _opened_files(paths, chunk_size, max_events, mapping):
                bar.add_total(sum(u.stop - u.start for u in file_units))
                for unit, events in _read_units(file_units, first, mapping, source):
                    first = _applicable(methods, events.channel, first, unit)
                    with _threads_limited(threads):
                        result = run_chunk(events, unit, methods, options, seed, bar.advance)
                    yield result
            return
        with dask_client(jobs, scheduler) as client:
            topic = f"nuanalysis-progress-{uuid.uuid4().hex}"
            client.subscribe_topic(topic, lambda event: bar.advance(*event[1]))
            n_workers = max(len(client.scheduler_info()["workers"]), 1)
            futures = client.map(
                process_units,
                _by_file(units, n_workers),
                methods=list(methods),
                options=options,
                channel=channel,
                mapping=mapping,
                seed=seed,
                threads=threads,
                progress_topic=topic if progress else None,
                pure=False,
            )
            try:
                for future in futures:
                    for result in future.result():
                        first = _applicable(methods, result.events.channel, first, result.unit)
                        yield result
            finally:
                client.unsubscribe_topic(topic)
            bar.complete()
    finally:
        bar.close()


def concatenate_results(parts: Sequence[NeutrinoResult]) -> NeutrinoResult:
    """Join chunk results; extras present in every chunk with one row per event are kept."""
    weight = None
    if all(p.weight is not None for p in parts):
        weight = np.concatenate([p.weight for p in parts])
    common = set.intersection(*(set(p.extras) for p in parts)) if parts else set()
    extras = {}
    for key in sorted(common):
        values = [np.asarray(p.extras[key]) for p in parts]
        if all(v.ndim >= 1 and len(v) == len(p.valid) for v, p in zip(values, parts, strict=True)):
            extras[key] = np.concatenate(values)
    return NeutrinoResult(
        np.concatenate([p.momenta for p in parts]),
        np.concatenate([p.valid for p in parts]),
        weight,
        extras,
    )


def run_methods(paths, methods: Sequence[str], **kwargs) -> RunResult:
    """All of :func:`iter_chunks` joined (keyword arguments as there)."""
    chunks = list(iter_chunks(paths, methods, **kwargs))
    return RunResult(
        events=PaddedEvents.concatenate([c.events for c in chunks]),
        results={m: concatenate_results([c.results[m] for c in chunks]) for m in methods},
        seconds={m: float(sum(c.seconds[m] for c in chunks)) for m in methods},
        paths=sorted({c.unit.path for c in chunks}, key=[c.unit.path for c in chunks].index),
    )
