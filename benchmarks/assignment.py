"""Replicate ν-Flows Table 2 (χ² b_lep accuracy per jet multiplicity) and the flow/quadratic gain.

On a semileptonic sample — ``samples/eval_semileptonic.root`` if it exists
(held out from training), else the demo sample — every available method among
truth, quadratic, ff, flow-sample, flow, flow-posterior reconstructs the
neutrinos (``flow`` is taken from flow-posterior, whose mode it is: the same
draws); the σ of eq. 4 (and flow-posterior's rule λ, T) are calibrated on the
even entries and the accuracies measured on the odd ones
(:func:`nuanalysis.assignment.assignment_study`). Printed: Tables 2, 4, 5 with
binomial errors, the σ (Table 3), the b_lep accuracy ratio flow / quadratic
per jet multiplicity next to the paper's, the share of the truth − quadratic
b_lep gap closed at 4–6 and 7–9 jets, and the speed of the χ² fit, with the
posterior at 9 jets. Usage::

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
from nuanalysis.assignment_report import (
    TITLES,
    accuracy_tables,
    flow_over_quadratic,
    posterior_lines,
)
from nuanalysis.io import demo_sample_path
from nuanalysis.methods.registry import NeutrinoResult, available_methods
from nuanalysis.outputs import write_json
from nuanalysis.posterior import Posterior, PosteriorRule
from nuanalysis.runner import run_methods

METHODS = ("truth", "quadratic", "ff", "flow-sample", "flow", "flow-posterior")
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


def posterior_speed(events, result, study) -> dict[str, float]:
    """Events per second at ≥ 9 jets: drawing the posterior (the flow-posterior method, timed by
    the runner on all events) and the posterior χ² fit on the events with ≥ 9 jets."""
    name = "flow-posterior"
    rule = PosteriorRule(
        study["posterior_rule"][name]["log_prob_weight"],
        study["posterior_rule"][name]["temperature"],
    )
    sigmas = MassSigmas.from_dict(study["sigmas"][name])
    nine = events.n_jets >= 9
    subset = events.select(nine)
    posterior = Posterior.from_result(result).select(nine)
    momenta = result.momenta[nine]
    assign_semileptonic(subset.select(slice(0, 10)), momenta[:10], sigmas)  # compile
    started = time.perf_counter()
    assign_semileptonic(subset, momenta, sigmas, posterior=posterior, rule=rule)
    elapsed = time.perf_counter() - started
    return {"n_events_9_jets": int(nine.sum()), "chi2_events_per_second": nine.sum() / elapsed}


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
    mode_from_posterior = "flow" in methods and "flow-posterior" in methods
    to_run = [m for m in methods if not (mode_from_posterior and m == "flow")]
    started = time.perf_counter()
    run = run_methods(
        path,
        to_run,
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
                ("flow-posterior", args.model),
                ("ff", args.ff_model),
            ]
            if model is not None and name in methods
        },
    )
    if mode_from_posterior:
        posterior = run.results["flow-posterior"]
        run.results["flow"] = NeutrinoResult(posterior.momenta, posterior.valid, posterior.weight)
        run.results = {m: run.results[m] for m in methods}
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
    ratios = flow_over_quadratic(study)
    if ratios is not None:
        ratio, ratio_err = ratios
        study["flow_over_quadratic_blep"], study["flow_over_quadratic_blep_err"] = ratios
        paper = np.array(PAPER_BLEP["flow"]) / np.array(PAPER_BLEP["quadratic"])
        print("\nb_lep accuracy flow / quadratic")
        print("  jets   " + "  ".join(f"{n:>5s}" for n in ratio))
        print("  here   " + "  ".join(f"{r:5.2f}" for r in ratio.values()))
        print("  ±      " + "  ".join(f"{e:5.2f}" for e in ratio_err.values()))
        print("  paper  " + "  ".join(f"{r:5.2f}" for r in paper))
    for line in posterior_lines(study):
        print(line)
    study["chi2_events_per_second"] = chi2_speed(run.events, run.results[methods[0]], study)
    print(f"\nχ² fit (9 jets, numba, all cores): {study['chi2_events_per_second']:,.0f} events/s")
    study["seconds_per_method"] = run.seconds
    if "flow-posterior" in run.results:
        speed = posterior_speed(run.events, run.results["flow-posterior"], study)
        speed["draw_events_per_second"] = len(run.events) / run.seconds["flow-posterior"]
        study["flow_posterior_speed"] = speed
        print(
            f"flow-posterior: drawing {speed['draw_events_per_second']:,.1f} events/s per core "
            f"(all events), posterior χ² at ≥ 9 jets {speed['chi2_events_per_second']:,.0f} "
            f"events/s ({speed['n_events_9_jets']} events, numba threads as set)"
        )
    if args.json is not None:
        write_json(args.json, study)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
