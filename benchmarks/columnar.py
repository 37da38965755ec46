"""The columnar API's cost against the command line, and dask-awkward with 2 workers against 1.

1. **Overhead.** On the same events (the shipped dilepton demo sample, or
   ``--input``) and seed, each method runs through the command line's engine
   (:func:`nuanalysis.runner.run_methods`: read, check, pad, run) and through
   the columnar API on the same events as records in memory
   (:func:`nuanalysis.columnar.reconstruct`: check, pad, run, records), also
   with the reading (:func:`nuanalysis.io.read_events`) in front. All are timed in
   CPU seconds of this process with one torch/numba thread, after a warm-up, best
   of ``--repeats``; the overhead is columnar / command line − 1.
2. **Scaling.** ``reconstruct`` on a dask-awkward array of ``--partitions``
   partitions, computed on a ``distributed.LocalCluster`` of 1 and of 2 worker
   processes (one thread each), in wall seconds after a warm-up computation
   that loads the model on every worker. On a machine shared with other work
   the speed-up measures the cores this run was given, so the load average is
   printed with it.

Usage::

    python benchmarks/columnar.py [--input FILE] [--events 2000] [--methods ellipse,flow,nw] \\
        [--scaling-method flow] [--partitions 8] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def _cpu_seconds(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def overhead(path: str, events: int, methods: list[str], repeats: int) -> dict:
    """CPU seconds and events/s of each method through the runner and the columnar API.

    The columnar API is timed on records in memory (what a processor hands it: the
    API's own cost is checking, padding and building records, where the command
    line reads, checks and pads) and, separately, with :func:`read_events` before it.
    """
    from nuanalysis.columnar import reconstruct
    from nuanalysis.io import read_events
    from nuanalysis.runner import run_methods

    records = read_events(path, entry_stop=events)
    rows = {}
    for method in methods:
        timed = {
            "runner": lambda method=method: run_methods(path, [method], max_events=events, seed=1),
            "columnar": lambda method=method: reconstruct(method, records, seed=1),
            "columnar_with_reading": lambda method=method: reconstruct(
                method, read_events(path, entry_stop=events), seed=1
            ),
        }
        for function in timed.values():  # warm-up: numba compilation, models
            function()
        seconds = {name: _cpu_seconds(function, repeats) for name, function in timed.items()}
        row = {f"{name}_events_per_cpu_s": events / s for name, s in seconds.items()}
        row["overhead"] = seconds["columnar"] / seconds["runner"] - 1
        row["overhead_with_reading"] = seconds["columnar_with_reading"] / seconds["runner"] - 1
        rows[method] = row
        print(
            f"{method:>16}: runner {events / seconds['runner']:8.0f} ev/s, columnar "
            f"{events / seconds['columnar']:8.0f} ev/s per CPU s (overhead "
            f"{100 * row['overhead']:+.1f} %; {100 * row['overhead_with_reading']:+.1f} % "
            "with read_events)"
        )
    return rows


def scaling(path: str, events: int, method: str, partitions: int) -> dict:
    """Wall seconds of a lazy reconstruction on 1 and on 2 worker processes."""
    import dask_awkward as dak

    from nuanalysis.columnar import reconstruct
    from nuanalysis.io import read_events
    from nuanalysis.runner import dask_client

    records = read_events(path, entry_stop=events)
    channel = "dilepton" if len(records.leptons[0]) == 2 else "semileptonic"
    array = dak.from_awkward(records, partitions)
    seconds = {}
    for workers in (1, 2):
        # the warm-up (every worker loads the model) runs another seed: a graph of its own,
        # so the timed one cannot be answered from results the cluster still holds
        warm_up = reconstruct(method, array, channel=channel, seed=workers + 1)
        timed = reconstruct(method, array, channel=channel, seed=1)
        with dask_client(jobs=workers) as client:
            client.compute(warm_up).result()
            started = time.perf_counter()
            client.compute(timed).result()
            seconds[workers] = time.perf_counter() - started
    speedup = seconds[1] / seconds[2]
    load = os.getloadavg()[0]
    print(
        f"dask-awkward {method} on {events} events in {partitions} partitions: 1 worker "
        f"{seconds[1]:.1f} s, 2 workers {seconds[2]:.1f} s, speed-up {speedup:.2f}× "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )
    return {"seconds": seconds, "speedup": speedup, "load_average": load, "cores": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", default=None, help="events (default: dilepton demo sample)")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--methods", default="ellipse,flow,nw")
    parser.add_argument("--scaling-method", default="flow")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from nuanalysis.io import demo_sample_path

    torch.set_num_threads(1)
    path = args.input or str(demo_sample_path("dilepton"))
    result = {
        "input": path,
        "events": args.events,
        "overhead": overhead(path, args.events, args.methods.split(","), args.repeats),
        "scaling": scaling(path, args.events, args.scaling_method, args.partitions),
    }
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
