"""Run neutrino methods over files in chunks, in one process or on a dask cluster, with timing.

The input (one or many files, read in the order given) is cut into work units
of ``chunk_size`` entries on a *global* grid: unit k of a file starting at
global entry G covers global entries G + k·chunk_size … Stochastic methods
(``flow``, ``flow-sample``, ``nw``) take ``first_event_index``: they get the
base seed and the unit's first global entry and draw counter-based random
numbers per event from (seed, global entry), so ``chunk_size``, ``jobs`` and
the scheduler never change a result. A method taking ``seed`` but not
``first_event_index`` gets a per-unit seed (:func:`chunk_seed`), the same
wherever and in whatever order the units run.

Timing (DESIGN.md, speed): each method is first warmed up on a few events of
the first unit a process sees (numba compilation, model loading are not
timed), then every call of :func:`~nuanalysis.methods.registry.reconstruct`
is timed on the same events for every method. With ``threads=1`` (the
default, and what every command uses) torch and numba run on one thread, so
events per second are per CPU core; on dask the per-unit times of all workers
are summed, which again gives events per second per core. One thread is also
what makes a process and a dask worker agree to the last bit: torch's float
reductions depend on the thread count. Parallelism comes from ``jobs``.

Dask: ``scheduler="tcp://host:8786"`` uses a running cluster (its workers need
this package installed); ``jobs=J`` starts a
``distributed.LocalCluster(processes=True, n_workers=J, threads_per_worker=1)``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nuanalysis.errors import ChannelError, InputError
from nuanalysis.io import NtupleFile, expand_paths
from nuanalysis.methods.registry import NeutrinoResult, check_applicable, get_method, reconstruct
from nuanalysis.padded import PaddedEvents

DEFAULT_CHUNK_SIZE = 5000
WARMUP_EVENTS = 8
_WARMED: set[str] = set()


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


def run_chunk(
    events: PaddedEvents,
    unit: WorkUnit,
    methods: Sequence[str],
    options: dict[str, dict] | None = None,
    seed: int = 0,
) -> ChunkResult:
    """Every method on one unit's events (as the reader checked them), warmed up once per
    process and timed."""
    options = options or {}
    results, seconds = {}, {}
    for name in methods:
        call = _call_options(name, options.get(name, {}), seed, unit)
        if name not in _WARMED:
            reconstruct(name, events.select(slice(0, WARMUP_EVENTS)), inputs_checked=True, **call)
            _WARMED.add(name)
        started = time.perf_counter()
        results[name] = reconstruct(name, events, inputs_checked=True, **call)
        seconds[name] = time.perf_counter() - started
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
) -> list[ChunkResult]:
    """Read and run consecutive units of one file: the task a dask worker executes."""
    with _threads_limited(threads):
        return [
            run_chunk(events, unit, methods, options, seed)
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
    """A ``distributed.Client`` on ``scheduler`` or on a local cluster of ``jobs`` processes."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


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
    bar = _progress_bar(None if local else sum(u.stop - u.start for u in units), progress)
    try:
        if local:  # the total grows as the files open
            for source, file_units in _opened_files(paths, chunk_size, max_events, mapping):
                bar.total = (bar.total or 0) + sum(u.stop - u.start for u in file_units)
                bar.refresh()
                for unit, events in _read_units(file_units, first, mapping, source):
                    first = _applicable(methods, events.channel, first, unit)
                    with _threads_limited(threads):
                        result = run_chunk(events, unit, methods, options, seed)
                    bar.update(len(events))
                    yield result
            return
        with dask_client(jobs, scheduler) as client:
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
                pure=False,
            )
            for future in futures:
                for result in future.result():
                    first = _applicable(methods, result.events.channel, first, result.unit)
                    bar.update(len(result.events))
                    yield result
    finally:
        bar.close()


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="ev", disable=not enabled, desc="reconstructing")


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
