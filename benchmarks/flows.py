"""Benchmark ν-Flows, ν²-Flows and ν-FF against the registered baselines (paper Figs. 6–8).

For each channel, on a held-out generated sample (``samples/eval_<channel>.root``,
else the demo sample shipped in the package), every method reconstructs the
same events and we print:

* valid fraction and events/s (one process, ``torch`` and numba on one thread);
* resolution (median and width68 = half the 16–84 % range of reco − true) of
  p_x, p_y, p_z, η, E of each neutrino, on valid events;
* m(ℓν) and m(bℓν) of the leptonic side (dilepton: the t → ℓ⁺ side) with the
  truth-matched b jet (``jet_match``): the median and width68 of the
  distribution itself and of reco − (same with the true neutrino); m_tt and
  pT_t (definitions: :mod:`nuanalysis.metrics`, shared with ``nuanalysis compare``);
* latency of one event and batched throughput of ``flow`` (256 samples) and
  ``flow-sample``.

Slow methods are run on as many events as fit in ``--time-budget`` seconds
(their ``n_events`` says how many). Usage::

    python benchmarks/flows.py [--channel dilepton] [--max-events 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
import torch

from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import available_methods, reconstruct
from nuanalysis.metrics import method_figures
from nuanalysis.padded import CHANNELS, PaddedEvents

FLOW_METHODS = ("flow", "flow-sample", "ff")
BASELINES = ("quadratic", "ellipse", "nw")


def evaluate(name: str, events: PaddedEvents, budget: float, options: dict) -> dict[str, object]:
    """Run ``name`` on as many of ``events`` as fit in ``budget`` seconds and score it.

    A first call on two events compiles numba kernels and loads models, so that
    neither is counted in the timing.
    """
    reconstruct(name, events.select(slice(0, 2)), **options)
    probe = events.select(slice(0, min(100, len(events))))
    started = time.perf_counter()
    reconstruct(name, probe, **options)
    per_event = (time.perf_counter() - started) / len(probe)
    n = int(min(len(events), max(len(probe), budget / max(per_event, 1e-9))))
    sample = events.select(slice(0, n))
    started = time.perf_counter()
    result = reconstruct(name, sample, **options)
    return method_figures(sample, result, time.perf_counter() - started)


def speed(name: str, events: PaddedEvents, options: dict, repeats: int = 20) -> dict[str, float]:
    """Median single-event latency (ms) and batched events/s (after a warm-up call)."""
    reconstruct(name, events.select(slice(0, 2)), **options)
    latencies = []
    for i in range(repeats):
        one = events.select(slice(i, i + 1))
        started = time.perf_counter()
        reconstruct(name, one, **options)
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    reconstruct(name, events, **options)
    return {
        "latency_ms": 1e3 * float(np.median(latencies)),
        "batched_events_per_second": len(events) / (time.perf_counter() - started),
        "batch_events": len(events),
    }


def sample_path(channel: str) -> Path:
    generated = Path(__file__).resolve().parents[1] / "samples" / f"eval_{channel}.root"
    return generated if generated.is_file() else demo_sample_path(channel)


def print_table(channel: str, report: dict) -> None:
    methods = report["methods"]
    names = list(methods)
    print(f"\n== {channel}: {report['input']} ({report['n_events']} events)")
    print(f"{'':24s}" + "".join(f"{n:>20s}" for n in names))
    print(f"{'n events':24s}" + "".join(f"{methods[n]['n_events']:>20d}" for n in names))
    print(
        f"{'valid fraction':24s}" + "".join(f"{methods[n]['valid_fraction']:>20.3f}" for n in names)
    )
    print(f"{'events/s':24s}" + "".join(f"{methods[n]['events_per_second']:>20.1f}" for n in names))
    print("resolution: median / width68 of reco - true [GeV]")
    for key in methods[names[0]]["resolution"]:
        cells = [methods[n]["resolution"][key] for n in names]
        print(f"{key:24s}" + "".join(f"{c['median']:>9.2f} / {c['width68']:>7.2f} " for c in cells))
    print("distribution: median / width68 [GeV]")
    for key in methods[names[0]]["distribution"]:
        cells = [methods[n]["distribution"][key] for n in names]
        print(f"{key:24s}" + "".join(f"{c['median']:>9.2f} / {c['width68']:>7.2f} " for c in cells))
    for name, figures in report["speed"].items():
        print(
            f"speed {name:12s}: {figures['latency_ms']:.1f} ms per single event, "
            f"{figures['batched_events_per_second']:.0f} events/s batched "
            f"({figures['batch_events']} events)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channel", choices=CHANNELS, action="append")
    parser.add_argument("--input", help="held-out ntuple (one channel); default eval or demo")
    parser.add_argument("--max-events", type=int, default=5000)
    parser.add_argument("--time-budget", type=float, default=60.0, help="seconds per method")
    parser.add_argument("--methods", help="comma-separated (default: flows + baselines)")
    parser.add_argument("--model", help="flow model (default: the shipped one)")
    parser.add_argument("--ff-model", help="ν-FF model (default: the shipped one)")
    parser.add_argument("--speed-events", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)  # the baselines' kernels: per-core figures too

    reports = {}
    for channel in args.channel or list(CHANNELS):
        path = Path(args.input) if args.input else sample_path(channel)
        events = load_padded(path, channel=channel, max_events=args.max_events)
        registered = available_methods(channel)
        wanted = args.methods.split(",") if args.methods else [*FLOW_METHODS, *BASELINES]
        names = [m for m in wanted if m in registered]
        options = {
            "flow": {"model": args.model, "seed": 0},
            "flow-sample": {"model": args.model, "seed": 0},
            "ff": {"model": args.ff_model},
        }
        report = {
            "channel": channel,
            "input": str(path),
            "n_events": len(events),
            "methods": {},
            "speed": {},
        }
        for name in names:
            report["methods"][name] = evaluate(
                name, events, args.time_budget, options.get(name, {})
            )
        speed_events = events.select(slice(0, min(args.speed_events, len(events))))
        for name in ("flow", "flow-sample"):
            if name in names:
                report["speed"][name] = speed(name, speed_events, options[name])
        print_table(channel, report)
        reports[channel] = report
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
