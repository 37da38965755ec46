"""Per-core speed in one process and on a local dask cluster (``--jobs``): they should agree.

Runs the same events through the same methods with ``jobs=1`` and ``jobs=J`` and
prints each method's CPU time per event (what ``compare`` reports as speed, per
core) and the wall time of the whole run. Run with ``OMP_NUM_THREADS=1``:

    OMP_NUM_THREADS=1 python benchmarks/parallel_speed.py --methods flow,nw --events 1200
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nuanalysis.cli.options import method_options
from nuanalysis.io import demo_sample_path
from nuanalysis.runner import run_methods


def measure(path: str, methods: list[str], events: int, chunk_size: int, jobs: int) -> dict:
    started = time.perf_counter()
    run = run_methods(
        [path],
        methods,
        options=method_options(methods, (), ()),
        max_events=events,
        chunk_size=chunk_size,
        jobs=jobs,
        progress=False,
    )
    return {
        "wall_seconds": time.perf_counter() - started,
        "ms_per_event": {m: 1000 * run.seconds[m] / len(run.events) for m in methods},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=None, help="dilepton ntuple (default: the demo)")
    parser.add_argument("--methods", default="flow,nw")
    parser.add_argument("--events", type=int, default=1200)
    parser.add_argument("--chunk-size", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args()
    path = args.input or str(demo_sample_path("dilepton"))
    methods = args.methods.split(",")
    figures = {
        f"jobs={jobs}": measure(path, methods, args.events, args.chunk_size, jobs)
        for jobs in (1, args.jobs)
    }
    print(f"{args.events} events of {Path(path).name}, chunks of {args.chunk_size}")
    print(f"{'':10}" + "".join(f"{m + ' [ms/ev]':>16}" for m in methods) + f"{'wall [s]':>12}")
    for label, row in figures.items():
        speeds = "".join(f"{row['ms_per_event'][m]:>16.2f}" for m in methods)
        print(f"{label:10}{speeds}{row['wall_seconds']:>12.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
