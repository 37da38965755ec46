"""Benchmark the analytic baselines through the registry on the same events.

Methods and presets (docs/methods.md, "Baselines as analysts configure them"):
``quadratic`` and ``ellipse`` on semileptonic events; ``ellipse`` (also with
the closest-approach fallback), ``nw`` preset ``grid`` and ``nw`` preset
``analysis`` (on a subset, it is slow) on dilepton events. A method not yet
registered is skipped with a note.

For each, on ``samples/eval_<channel>.root`` (else the demo sample shipped in
the package, with a warning):

* events/s on one core (``numba.set_num_threads(1)``; per wall-clock second
  and per CPU second of the process, the latter robust on a shared machine)
  and on all cores (wall clock), after a warm-up call so numba compilation is
  not timed; samples smaller than ``--speed-events`` are repeated to that size
  for the timing;
* valid fraction;
* resolution of each neutrino's p_z and η: median and width68 (half the
  16–84 % range) of reco − true over valid events.

(Not named ``baselines.py``: run as a script, that name would shadow the
``baselines`` package for every module in this folder.)

Usage::

    python benchmarks/analytic_baselines.py [--max-events 10000] [--nw-analysis-events 1000] \\
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numba
import numpy as np

from nuanalysis import kinematics
from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import available_methods, reconstruct
from nuanalysis.padded import PaddedEvents
from nuanalysis.statistics import width68

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CONFIGS = (
    # (label, method, channel, options, max events (None: all))
    ("quadratic", "quadratic", "semileptonic", {}, None),
    ("ellipse", "ellipse", "semileptonic", {}, None),
    ("ellipse", "ellipse", "dilepton", {}, None),
    ("ellipse closest", "ellipse", "dilepton", {"closest_approach": True}, None),
    ("nw grid", "nw", "dilepton", {"preset": "grid"}, None),
    ("nw analysis", "nw", "dilepton", {"preset": "analysis"}, "nw_analysis"),
)
NEUTRINOS = ("nu", "nubar")


def resolution(reco: np.ndarray, true: np.ndarray) -> dict[str, float]:
    difference = reco - true
    if len(difference) == 0:
        return {"median": float("nan"), "width68": float("nan")}
    return {"median": float(np.median(difference)), "width68": width68(difference)}


def load_sample(channel: str, max_events: int | None) -> tuple[PaddedEvents, str]:
    path = SAMPLES / f"eval_{channel}.root"
    if not path.exists():
        path = demo_sample_path(channel)
        missing = SAMPLES / f"eval_{channel}.root"
        warnings.warn(f"{missing} not found; using the demo sample {path}", stacklevel=2)
    return load_padded(path, channel=channel, max_events=max_events), str(path)


def repeated(events: PaddedEvents, size: int) -> PaddedEvents:
    """The sample repeated until it has at least ``size`` events (for stable timings)."""
    copies = -(-size // len(events))
    return PaddedEvents.concatenate([events] * copies) if copies > 1 else events


def events_per_second(
    method: str, events: PaddedEvents, options: dict, threads: int
) -> tuple[float, float]:
    """(events per wall-clock second, events per CPU second of this process) with ``threads``."""
    numba.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    reconstruct(method, events, **options)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(events) / wall, len(events) / cpu


def benchmark(method: str, events: PaddedEvents, options: dict, speed_events: int) -> dict:
    reconstruct(method, events.select(slice(0, 20)), **options)  # warm-up: numba compilation
    result = reconstruct(method, events, **options)
    timing = repeated(events, speed_events)
    one_core, one_core_cpu = events_per_second(method, timing, options, 1)
    all_cores, _ = events_per_second(method, timing, options, numba.config.NUMBA_NUM_THREADS)
    report = {
        "n_events": len(events),
        "valid_fraction": float(result.valid.mean()),
        "events_per_second_1core": one_core,
        "events_per_cpu_second_1core": one_core_cpu,
        "events_per_second_all_cores": all_cores,
        "cores": numba.config.NUMBA_NUM_THREADS,
        "resolution": {},
    }
    valid = result.valid
    reco = kinematics.massless_from_momentum(result.momenta[valid])
    true = kinematics.massless_from_momentum(events.truth_nu[valid])
    for k in range(events.n_neutrinos):
        report["resolution"][f"{NEUTRINOS[k]}_pz"] = resolution(reco[:, k, 2], true[:, k, 2])
        report["resolution"][f"{NEUTRINOS[k]}_eta"] = resolution(
            kinematics.eta(reco[:, k]), kinematics.eta(true[:, k])
        )
    return report


def print_table(results: dict) -> None:
    header = (
        f"{'method':<17}{'channel':<14}{'events':>7}{'valid':>7}{'ev/s 1 core':>13}"
        f"{'ev/CPU s':>11}{'ev/s all':>11}  resolution median / width68 (pz GeV, eta)"
    )
    print(header)
    print("-" * len(header))
    for entry in results["methods"]:
        if "skipped" in entry:
            print(f"{entry['label']:<17}{entry['channel']:<14}  skipped: {entry['skipped']}")
            continue
        parts = [
            f"{key} {value['median']:+.3g}/{value['width68']:.3g}"
            for key, value in entry["resolution"].items()
        ]
        print(
            f"{entry['label']:<17}{entry['channel']:<14}{entry['n_events']:>7}"
            f"{entry['valid_fraction']:>7.3f}{entry['events_per_second_1core']:>13.4g}"
            f"{entry['events_per_cpu_second_1core']:>11.4g}"
            f"{entry['events_per_second_all_cores']:>11.4g}  {'  '.join(parts)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-events", type=int, default=10000)
    parser.add_argument("--nw-analysis-events", type=int, default=1000)
    parser.add_argument("--speed-events", type=int, default=100000)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    limits = {None: args.max_events, "nw_analysis": args.nw_analysis_events}
    samples: dict[str, tuple[PaddedEvents, str]] = {}
    results = {"inputs": {}, "methods": []}
    for label, method, channel, options, limit in CONFIGS:
        entry = {"label": label, "method": method, "channel": channel, "options": options}
        if method not in available_methods(channel):
            entry["skipped"] = f"method {method!r} is not registered (yet)"
            results["methods"].append(entry)
            continue
        if channel not in samples:
            samples[channel] = load_sample(channel, args.max_events)
            results["inputs"][channel] = samples[channel][1]
        events = samples[channel][0]
        events = events.select(slice(0, limits[limit]))
        speed_events = min(args.speed_events, len(events)) if limit else args.speed_events
        entry.update(benchmark(method, events, options, speed_events))
        results["methods"].append(entry)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
