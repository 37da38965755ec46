"""Generation of selected tt̄ events in parallel processes, in ntuple schema v1.

Job ``j`` of ``J`` produces ``N // J`` (+1 for the first ``N % J`` jobs)
selected events from its own generators and detector random stream, all
derived from ``numpy.random.SeedSequence(seed).spawn(J)[j]``; the output is the
jobs' events in job order. The same ``seed``, ``jobs`` and ``resmear`` therefore
give an identical file, whatever the scheduling.

Re-smeared copies (``resmear`` N > 1): each Pythia event (shower, hadronisation)
goes through the detector N times, with fresh smearing, efficiencies and
b-tags (and a fresh jet clustering, since the selected leptons are taken out of
the jets), and every copy is selected on its own. The copies share their truth
and differ in reco; the branches of :data:`GENERATOR_BRANCHES` tell them apart.
The detector is far cheaper than Pythia, so this multiplies the selected events
per CPU second (``benchmarks/generation_throughput.py``).

The job processes (and the one relaying their progress) die with the process
that started them (:func:`die_with_parent`): a ``generate`` killed by SIGKILL
leaves no generator computing on.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.managers import SyncManager

import awkward as ak
import numpy as np

from baselines.constants import ELECTRON_MASS, MUON_MASS, TOP_MASS
from nuanalysis import kinematics
from nuanalysis.errors import InputError
from nuanalysis.generation.detector import ATLAS_LIKE, DetectorParameters
from nuanalysis.generation.jets import print_fastjet_banner
from nuanalysis.generation.pythia import (
    LEPTONIC_W_SIDES,
    PYTHIA_MAX_SEED,
    make_pythia,
    next_batch,
)
from nuanalysis.generation.reconstruction import Objects, reconstruct
from nuanalysis.generation.selection import check_channel, passes_selection
from nuanalysis.generation.truth import TruthRecord, match_jets, truth_record

BATCH_SIZE = 100
"""Events per ``Pythia.nextBatch`` call and per FastJet clustering."""

GENERATOR_BRANCHES = {
    "source_event": "index of the Pythia event in the file's generation order (jobs in order); "
    "the re-smeared copies of one event share it",
    "copy_index": "which detector pass of that event (0 … resmear − 1) this entry is",
}
"""Bookkeeping branches written by ``nuanalysis generate`` beside schema v1."""


@dataclass
class JobResult:
    """What one job returns: schema columns of its selected events and counts."""

    columns: dict[str, ak.Array | np.ndarray]
    n_generated: int
    n_selected: int
    n_passing: int
    """Events passing the selection among the generated ones (≥ n_selected: the last
    batch's surplus is not written)."""


@dataclass
class GenerationResult:
    """Columns of the selected events plus the bookkeeping the CLI prints."""

    channel: str
    columns: dict[str, ak.Array | np.ndarray]
    n_generated: int
    n_selected: int
    n_passing: int
    seconds: float
    jobs: int
    resmear: int = 1

    @property
    def efficiency(self) -> float:
        """Selection efficiency: passing / detector passes (generated events × resmear)."""
        return self.n_passing / max(self.n_generated * self.resmear, 1)

    @property
    def events_per_second_per_core(self) -> float:
        return self.n_selected / max(self.seconds, 1e-9) / self.jobs


def _collider(p: np.ndarray) -> dict[str, np.ndarray]:
    """pt, eta, phi, mass (float32) of Cartesian four-momenta."""
    return {
        "pt": kinematics.pt(p).astype(np.float32),
        "eta": kinematics.eta(p).astype(np.float32),
        "phi": kinematics.phi(p).astype(np.float32),
        "mass": kinematics.mass(p).astype(np.float32),
    }


def _jagged(fields: dict[str, np.ndarray], counts: np.ndarray, prefix: str) -> dict[str, ak.Array]:
    return {f"{prefix}_{name}": ak.unflatten(values, counts) for name, values in fields.items()}


def schema_columns(
    truth: TruthRecord, objects: Objects, selected: np.ndarray
) -> dict[str, ak.Array | np.ndarray]:
    """Schema-v1 branches (docs/schema.md), by name, of the ``selected`` events of a batch."""
    partons = _collider(truth.partons)
    match = match_jets(
        objects.jet_offsets,
        objects.jet_eta,
        objects.jet_phi,
        partons["eta"],
        partons["phi"],
        truth.parton_pid,
    )
    jet_fields = {
        "pt": objects.jet_pt.astype(np.float32),
        "eta": objects.jet_eta.astype(np.float32),
        "phi": objects.jet_phi.astype(np.float32),
        "mass": objects.jet_mass.astype(np.float32),
        "btag": objects.jet_btag,
        "match": match,
    }
    abs_lep_pid = np.abs(objects.lep_pid)
    lep_fields = {
        "pt": objects.lep_pt.astype(np.float32),
        "eta": objects.lep_eta.astype(np.float32),
        "phi": objects.lep_phi.astype(np.float32),
        "mass": np.where(abs_lep_pid == 11, ELECTRON_MASS, MUON_MASS).astype(np.float32),
        "charge": (-np.sign(objects.lep_pid)).astype(np.int8),
        "pid": abs_lep_pid.astype(np.int8),
    }
    has_nu = truth.neutrino_pid != 0
    nu_fields = _collider(truth.neutrinos[has_nu])
    del nu_fields["mass"]
    nu_fields["pid"] = truth.neutrino_pid[has_nu].astype(np.int8)
    columns: dict[str, ak.Array | np.ndarray] = {
        **_jagged(jet_fields, np.diff(objects.jet_offsets), "jet"),
        **_jagged(lep_fields, np.diff(objects.lep_offsets), "lep"),
        "met": np.hypot(objects.met_px, objects.met_py).astype(np.float32),
        "met_phi": np.arctan2(objects.met_py, objects.met_px).astype(np.float32),
        "weight": np.ones(len(selected), np.float32),
        **_jagged(nu_fields, has_nu.sum(axis=1), "truth_nu"),
    }
    for name, values in partons.items():
        columns[f"truth_parton_{name}"] = values
    columns["truth_parton_pid"] = truth.parton_pid.astype(np.int8)
    for name, p in (("top", truth.top), ("antitop", truth.antitop)):
        for quantity, values in _collider(p).items():
            columns[f"truth_{name}_{quantity}"] = values
    return {name: values[selected] for name, values in columns.items()}


def concatenate_columns(
    parts: list[dict[str, ak.Array | np.ndarray]],
) -> dict[str, ak.Array | np.ndarray]:
    """Join the columns of several batches or jobs, in order."""
    joined = {}
    for name, first in parts[0].items():
        pieces = [part[name] for part in parts]
        if isinstance(first, np.ndarray):
            joined[name] = np.concatenate(pieces)
        else:
            joined[name] = ak.concatenate(pieces)
    return joined


def truncate_columns(columns: dict, n: int) -> dict:
    return {name: values[:n] for name, values in columns.items()}


def job_quotas(n_events: int, jobs: int) -> list[int]:
    """Selected events each job produces."""
    return [n_events // jobs + (j < n_events % jobs) for j in range(jobs)]


def run_job(
    channel: str,
    quota: int,
    seed_sequence: np.random.SeedSequence,
    top_mass: float,
    params: DetectorParameters = ATLAS_LIKE,
    progress: queue.Queue | None = None,
    resmear: int = 1,
) -> JobResult:
    """Generate, reconstruct ``resmear`` times and select until ``quota`` events pass."""
    sides = LEPTONIC_W_SIDES[channel]
    pythia_seeds = seed_sequence.generate_state(len(sides), np.uint64) % PYTHIA_MAX_SEED + 1
    generators = [
        make_pythia(side, int(s), top_mass) for side, s in zip(sides, pythia_seeds, strict=True)
    ]
    rng = np.random.default_rng(seed_sequence)  # detector smearing, efficiencies, b-tags
    parts, n_generated, n_selected, n_passing, batch_number = [], 0, 0, 0, 0
    while n_selected < quota:
        pythia = generators[batch_number % len(generators)]
        batch_number += 1
        events = next_batch(pythia, BATCH_SIZE)
        source_event = n_generated + np.arange(len(events), dtype=np.int64)
        n_generated += len(events)
        truth = truth_record(events)
        for copy_index in range(resmear):
            if n_selected >= quota:
                break
            objects = reconstruct(events, rng, params)
            selected = passes_selection(channel, objects) & truth.complete
            n_passing += int(selected.sum())
            count = min(int(selected.sum()), quota - n_selected)
            if count:
                columns = schema_columns(truth, objects, selected)
                columns["source_event"] = source_event[selected]
                columns["copy_index"] = np.full(int(selected.sum()), copy_index, np.int16)
                parts.append(truncate_columns(columns, count))
                n_selected += count
                if progress is not None:
                    progress.put(count)
    return JobResult(concatenate_columns(parts), n_generated, n_selected, n_passing)


def generate(
    channel: str,
    n_events: int,
    seed: int = 1,
    top_mass: float = TOP_MASS,
    jobs: int = 1,
    params: DetectorParameters = ATLAS_LIKE,
    progress_bar: bool = True,
    resmear: int = 1,
) -> GenerationResult:
    """Generate ``n_events`` selected events of ``channel`` in ``jobs`` processes.

    ``resmear`` > 1 passes every Pythia event through the detector that many times
    (module docstring); ``n_generated`` then counts Pythia events.
    """
    check_channel(channel)
    if n_events < 1:
        raise InputError(f"--events must be at least 1, got {n_events}")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {jobs}")
    if not 100.0 < top_mass < 300.0:
        raise InputError(f"--top-mass {top_mass} GeV is outside the supported 100–300 GeV")
    if seed < 0:
        raise InputError(f"--seed must be non-negative, got {seed}")
    if resmear < 1:
        raise InputError(f"--resmear must be at least 1, got {resmear}")
    from tqdm import tqdm

    jobs = min(jobs, n_events)
    quotas = job_quotas(n_events, jobs)
    seeds = np.random.SeedSequence(seed).spawn(jobs)
    start = time.perf_counter()
    print_fastjet_banner()  # before the bar, once: forked jobs inherit FastJet's "printed" flag
    with tqdm(
        total=n_events, unit="ev", desc=f"{channel} selected", disable=not progress_bar
    ) as bar:
        if jobs == 1:
            results = [
                run_job(channel, quotas[0], seeds[0], top_mass, params, _BarQueue(bar), resmear)
            ]
        else:
            results = _run_parallel(channel, quotas, seeds, top_mass, params, bar, resmear)
    seconds = time.perf_counter() - start
    first_source = np.cumsum([0] + [r.n_generated for r in results[:-1]])
    for result, offset in zip(results, first_source, strict=True):
        result.columns["source_event"] = result.columns["source_event"] + offset
    return GenerationResult(
        channel=channel,
        columns=concatenate_columns([r.columns for r in results]),
        n_generated=sum(r.n_generated for r in results),
        n_selected=sum(r.n_selected for r in results),
        n_passing=sum(r.n_passing for r in results),
        seconds=seconds,
        jobs=jobs,
        resmear=resmear,
    )


class _BarQueue:
    """Queue-like adapter that advances a tqdm bar in the calling process."""

    def __init__(self, bar):
        self.bar = bar

    def put(self, count: int) -> None:
        self.bar.update(count)


PR_SET_PDEATHSIG = 1
"""Linux ``prctl(2)`` option: the signal a process receives when its parent dies."""


def die_with_parent(parent: int) -> None:
    """Make this (child) process end when ``parent`` ends, even by SIGKILL, which the parent
    cannot pass on: on Linux the kernel sends SIGKILL (``prctl(PR_SET_PDEATHSIG)``), elsewhere
    a thread polls the parent's id once a second. Used as the pool's initializer."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request
            os.kill(os.getpid(), signal.SIGKILL)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def start_worker(parent: int) -> None:
    """The pool's and the manager's initializer: :func:`die_with_parent`, and the signal
    handlers a forked worker inherits from the command (SIGTERM raising ``Terminated``,
    the held-back signals' SIGALRM poll) back to the defaults, so that the pool's
    ``terminate()`` (SIGTERM) ends a worker at once; SIGINT is ignored, as Ctrl-C reaches
    the parent, which stops the pool. With the inherited handlers, an interrupt just after
    the workers started left the parent waiting for them for ever."""
    die_with_parent(parent)
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_parallel(channel, quotas, seeds, top_mass, params, bar, resmear) -> list[JobResult]:
    context = multiprocessing.get_context("fork")
    manager = SyncManager(ctx=context)
    manager.start(start_worker, (os.getpid(),))
    orphan_guard = {"initializer": start_worker, "initargs": (os.getpid(),)}
    with manager, context.Pool(len(quotas), **orphan_guard) as pool:
        progress = manager.Queue()
        pending = [
            pool.apply_async(run_job, (channel, quota, s, top_mass, params, progress, resmear))
            for quota, s in zip(quotas, seeds, strict=True)
        ]
        while not all(p.ready() for p in pending):
            try:
                bar.update(progress.get(timeout=0.2))
            except queue.Empty:
                pass
        while not progress.empty():
            bar.update(progress.get())
        return [p.get() for p in pending]
