"""Unfolding at equal bias: m_tt × pT_t per method and k, with the flow's posterior used whole.

On a dilepton sample — ``samples/eval_dilepton.root`` if it exists (held out
from training), else the demo sample — truth, flow-posterior, nw and ellipse
reconstruct the neutrinos once; ``flow`` (the mode) is the mode that
flow-posterior returns (the same draws). Printed:

1. m_tt resolution (median and width68 of reco − true, GeV) of the flow's
   point estimates: the mode, the posterior mean and median of m_tt, the draw
   chosen with the b ↔ lepton pairing by the top-mass χ² (λ = 0 and 1), and of
   all draws (the oversampled distribution); flow-posterior is then unfolded
   both oversampled and as the posterior mean of m_tt and pT_t;
2. for each algorithm (SVD, TUnfold, D'Agostini) the unfolding table of ``nuanalysis
   unfold`` (per-bin σ/x, with the response's MC statistics from toys, and its ratio to
   truth-ν) and the equal-bias scan (mean σ/x, RMS closure bias ± error and closure χ² for
   every regularisation value; :mod:`nuanalysis.unfold_scan`), in closure and with the
   pseudo-data stressed by (m_tt/⟨m_tt⟩)^stress; with ``--response-input`` the responses
   and priors come from that independent sample;
3. per algorithm and method at its own smallest √(σ² + bias²): σ/x over truth-ν's at that
   regularisation, the bias with its error and (with ``--variations``) the mean detector
   systematic, and whether the flows' σ/x lies below NW's and the ellipse's at every
   scanned value; the totals include the variations' shifts (:mod:`nuanalysis.variations`).

Usage (one core; about 10 minutes for 10k events, mostly NW)::

    OMP_NUM_THREADS=1 python benchmarks/unfold_bias.py [--input F.root] [--max-events N] \\
        [--stress 2] [--algorithms svd,tunfold,bayes] [--response-input MC.root] \\
        [--variations jes,jer,btag,met] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nuanalysis.assignment import PosteriorChoice, calibrate_dilepton_sigma, choose_dilepton
from nuanalysis.io import demo_sample_path
from nuanalysis.methods.registry import NeutrinoResult, reconstruct
from nuanalysis.observables import PAIRING_KEY, reco_observables, truth_observables
from nuanalysis.outputs import json_safe
from nuanalysis.oversampling import posterior_observables
from nuanalysis.posterior import Posterior, PosteriorRule
from nuanalysis.runner import run_methods
from nuanalysis.statistics import width68
from nuanalysis.unfold_study import ResponseSample, format_table, unfold_methods
from nuanalysis.variations import parse_groups, vary

METHODS = ("truth", "flow-posterior", "nw", "ellipse")
CHOSEN_WEIGHTS = (0.0, 1.0)


def default_input() -> Path:
    held_out = Path(__file__).resolve().parents[1] / "samples" / "eval_dilepton.root"
    return held_out if held_out.is_file() else demo_sample_path("dilepton")


def resolution(reco: np.ndarray, true: np.ndarray, valid: np.ndarray) -> str:
    difference = (reco - true)[valid]
    return f"median {np.median(difference):+7.1f}  width68 {width68(difference):6.1f}"


def mtt_estimators(events, posterior_result: NeutrinoResult) -> dict[str, NeutrinoResult | None]:
    """Point estimates of the flow to compare (None: not a neutrino, resolution only)."""
    posterior = Posterior.from_result(posterior_result)
    sigma = calibrate_dilepton_sigma(events, posterior_result)
    out = {}
    for weight in CHOSEN_WEIGHTS:
        choice = PosteriorChoice(sigma, PosteriorRule(weight, 0.0))
        pairing, neutrinos = choose_dilepton(events, posterior, choice)
        out[f"flow-chosen(λ={weight:g})"] = NeutrinoResult(
            neutrinos, posterior_result.valid, extras={PAIRING_KEY: pairing}
        )
    return out


def summary(study) -> str:
    """Per method at its own equal-bias choice: σ/x (stat ⊕ response MC stat) over truth-ν's
    at that regularisation, the RMS bias ± its error; and whether the flows' σ/x lies below
    NW's and the ellipse's at every scanned value."""
    scans = {name: m.scan for name, m in study.methods.items() if m.scan is not None}
    if "truth" not in scans:
        return "no truth-ν scan"
    lines = [
        f"{'method':22s} {'best':>8} {'σ/x over truth-ν':>17} {'RMS bias ± error':>18} "
        f"{'syst σ/x':>9}"
    ]
    for name, scan in scans.items():
        best = scan.best
        at = scan.at(best)
        ratio = (
            at["mean_rel_uncertainty_total"] / scans["truth"].at(best)["mean_rel_uncertainty_total"]
        )
        lines.append(
            f"{name:22s} {best:>8.3g} {ratio:>17.2f} "
            f"{100 * at['rms_bias']:>9.1f} ± {100 * at['rms_bias_error']:4.1f} % "
            f"{100 * at['mean_rel_systematic']:>7.2f} %"
        )
    for flow in ("flow", "flow-posterior"):
        for rival in ("nw", "ellipse"):
            if flow in scans and rival in scans:
                below = np.less(
                    scans[flow].mean_rel_uncertainty_total, scans[rival].mean_rel_uncertainty_total
                )
                lines.append(f"{flow} σ/x below {rival}'s at every value: {bool(below.all())}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=None)
    parser.add_argument("--max-events", type=int, default=None)
    parser.add_argument("--stress", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--algorithms", default="svd,tunfold,bayes")
    parser.add_argument(
        "--response-input", type=Path, default=None, help="independent sample for the responses"
    )
    parser.add_argument("--response-toys", type=int, default=20)
    parser.add_argument(
        "--variations", default=None, help="detector variations, e.g. jes,jer,btag,met"
    )
    args = parser.parse_args()

    path = args.input or default_input()
    run = run_methods(path, METHODS, max_events=args.max_events, seed=args.seed, progress=True)
    events, results = run.events, dict(run.results)
    posterior_result = results["flow-posterior"]
    results["flow"] = NeutrinoResult(posterior_result.momenta, posterior_result.valid)
    chosen = mtt_estimators(events, posterior_result)
    points = {**results, **chosen}

    true_mtt, _ = truth_observables(events)
    print(f"\n{len(events)} events from {path}; m_tt − true m_tt [GeV]")
    for name in [n for n in ("truth", "flow", *chosen, "nw", "ellipse") if n in points]:
        mtt, _, valid = reco_observables(events, points[name])
        print(f"  {name:22s} {resolution(mtt, true_mtt, valid)}  valid {valid.mean():.3f}")
    draws_mtt, _, has_two = posterior_observables(events, Posterior.from_result(posterior_result))
    for label, value in (
        ("posterior mean", draws_mtt.mean(axis=1)),
        ("posterior median", np.median(draws_mtt, axis=1)),
    ):
        print(f"  {'flow ' + label:22s} {resolution(value, true_mtt, has_two)}")
    n_draws = draws_mtt.shape[1]
    every = resolution(draws_mtt.ravel(), np.repeat(true_mtt, n_draws), np.repeat(has_two, n_draws))
    print(f"  {'flow all draws':22s} {every}")

    report = {"input": str(path), "n_events": len(events), "seconds": run.seconds}
    order = ["truth", "flow", "flow-posterior", *chosen, "nw", "ellipse"]
    unfold_results = {name: points[name] for name in order if name in points}
    response_sample = None
    if args.response_input is not None:
        response_run = run_methods(args.response_input, METHODS, seed=args.seed + 1, progress=True)
        response_results = dict(response_run.results)
        response_results["flow"] = NeutrinoResult(
            response_results["flow-posterior"].momenta, response_results["flow-posterior"].valid
        )
        response_results.update(
            mtt_estimators(response_run.events, response_results["flow-posterior"])
        )
        response_sample = ResponseSample.of(
            response_run.events, response_results, str(args.response_input)
        )
    varied = {}
    for index, variation in enumerate(parse_groups(args.variations) if args.variations else ()):
        sample = vary(events, variation, seed=args.seed + index)
        varied_run = {name: reconstruct(name, sample) for name in METHODS}
        varied_run["flow"] = NeutrinoResult(
            varied_run["flow-posterior"].momenta, varied_run["flow-posterior"].valid
        )
        varied_run.update(mtt_estimators(sample, varied_run["flow-posterior"]))
        varied[variation] = (sample, varied_run)
    settings = {
        "backend": "numpy",
        "response_toys": args.response_toys,
        "progress": False,
        "variations": varied,
    }
    for algorithm in args.algorithms.split(","):
        for stress in (0.0, args.stress):
            study = unfold_methods(
                events, unfold_results, algorithm=algorithm, stress=stress,
                response_sample=response_sample, **settings,
            )  # fmt: skip
            title = f"{algorithm}, pseudo-data stress {stress:g}"
            print(f"\n--- {title} ---\n{format_table(study)}\n{summary(study)}")
            report[f"{algorithm}_stress_{stress:g}"] = study.to_json(str(path))
        if algorithm == "svd":
            mean = unfold_methods(
                events,
                {"truth": results["truth"], "flow-posterior": posterior_result},
                posterior_estimate="mean",
                response_sample=response_sample,
                **settings,
            )
            print(f"\nflow-posterior as the posterior mean of m_tt and pT_t:\n{format_table(mean)}")
            report["svd_posterior_mean"] = mean.to_json(str(path))
    if args.json is not None:
        args.json.write_text(json.dumps(json_safe(report), indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
