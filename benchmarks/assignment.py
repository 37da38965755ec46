"""Replicate ν-Flows Table 2 (χ² b_lep accuracy per jet multiplicity) and the flow/quadratic gain.

On a semileptonic sample — ``samples/eval_semileptonic.root`` if it exists
(held out from training), else the demo sample — every available method among
truth, quadratic, ff, flow-sample, flow reconstructs the neutrinos; the σ of
eq. 4 are calibrated on the even entries and the accuracies measured on the
odd ones (:func:`nuanalysis.assignment.assignment_study`). Printed: Tables 2,
4, 5, the σ (Table 3) and the b_lep accuracy ratio flow / quadratic per jet
multiplicity next to the paper's, and the speed of the χ² fit. Usage::

    python benchmarks/assignment.py [--input F.root] [--max-events N] [--model M.pt] \\
        [--ff-model F.pt] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import uproot

from nuanalysis.assignment import MassSigmas, assign_semileptonic, assignment_study
from nuanalysis.cli.assign import TITLES, accuracy_tables, flow_over_quadratic
from nuanalysis.io import demo_sample_path
from nuanalysis.methods.registry import available_methods
from nuanalysis.outputs import write_json
from nuanalysis.runner import run_methods

METHODS = ("truth", "quadratic", "ff", "flow-sample", "flow")
PAPER_BLEP = {
    "truth": (0.864, 0.753, 0.686, 0.641, 0.611, 0.587),
    "quadratic": (0.790, 0.576, 0.476, 0.398, 0.366, 0.286),
    "ff": (0.754, 0.533, 0.410, 0.353, 0.300, 0.302),
    "flow-sample": (0.803, 0.624, 0.515, 0.457, 0.391, 0.357),
    "flow": (0.813, 0.664, 0.575, 0.508, 0.481, 0.405),
}
"""ν-Flows Table 2, jets 4…9."""
RECOMMENDED_EVENTS = 20_000


def default_input() -> Path:
    held_out = Path(__file__).resolve().parents[1] / "samples" / "eval_semileptonic.root"
    return held_out if held_out.is_file() else demo_sample_path("semileptonic")


def chi2_speed(events, result, study) -> float:
    """Events per second of the χ² fit itself (after a warm-up call compiles it)."""
    sigmas = MassSigmas.from_dict(next(iter(study["sigmas"].values())))
    assign_semileptonic(events.select(slice(0, 10)), result.momenta[:10], sigmas)
    started = time.perf_counter()
    assign_semileptonic(events, result, sigmas)
    return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="flow model for flow and flow-sample (default: shipped)")
    parser.add_argument("--ff-model", help="ν-FF model (default: the shipped one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    path = args.input or default_input()
    n_entries = uproot.open(path)["events"].num_entries
    if args.max_events is None and n_entries < RECOMMENDED_EVENTS:
        print(f"note: {path} has {n_entries} events; the paper-like table wants ≥ 20k")
    registered = available_methods("semileptonic")
    methods = [m for m in args.methods.split(",") if m in registered]
    started = time.perf_counter()
    run = run_methods(
        path,
        methods,
        max_events=args.max_events,
        seed=args.seed,
        threads=1,
        jobs=args.jobs,
        progress=True,
        options={
            name: {"model": model}
            for name, model in [
                ("flow", args.model),
                ("flow-sample", args.model),
                ("ff", args.ff_model),
            ]
            if model is not None and name in methods
        },
    )
    even = np.arange(len(run.events)) % 2 == 0
    study = assignment_study(run.events, run.results, calibration=even)
    study["input"] = str(path)
    study["seconds"] = time.perf_counter() - started
    print(f"\n{len(run.events)} events from {path}; methods {', '.join(methods)}")
    for key, table in accuracy_tables(study).items():
        print(f"\n{TITLES.get(key, 'χ² σ [GeV] (Table 3)')}\n{table.text()}")
    print("\npaper Table 2 (b_lep), jets 4…9:")
    for m in methods:
        if m in PAPER_BLEP:
            print(f"  {m:12s} " + "  ".join(f"{v:.3f}" for v in PAPER_BLEP[m]))
    ratio = flow_over_quadratic(study)
    if ratio is not None:
        study["flow_over_quadratic_blep"] = ratio
        paper = np.array(PAPER_BLEP["flow"]) / np.array(PAPER_BLEP["quadratic"])
        print("\nb_lep accuracy flow / quadratic")
        print("  jets   " + "  ".join(f"{n:>5s}" for n in ratio))
        print("  here   " + "  ".join(f"{r:5.2f}" for r in ratio.values()))
        print("  paper  " + "  ".join(f"{r:5.2f}" for r in paper))
    study["chi2_events_per_second"] = chi2_speed(run.events, run.results[methods[0]], study)
    print(f"\nχ² fit (9 jets, numba, all cores): {study['chi2_events_per_second']:,.0f} events/s")
    if args.json is not None:
        write_json(args.json, study)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
