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
* for every learned estimator and backend (:data:`VARIANTS`: ``flow`` as the
  default gradient ascent with the channel's settings, the 256-draw mode (also at
  a second seed: the statistical floor of the comparison), 64 draws or the latent
  mode's image, ``flow-sample``, ``ff``; torch or onnxruntime; and any ascent
  setting as ``flow-ascent-D-S-T``: the best S of D draws climb T steps, D = 1
  from the latent mode): single-event latency and
  batched events/s at each ``--threads`` count, and its width68 (p_z, η, E of
  each ν, m(ℓν), m(bℓν), m_tt) and the median of m(ℓν), m(bℓν), m_tt − true
  relative to the 256-draw mode's on the same events (issue 11: a fast
  estimator may replace the mode only within 2 %);
* for every variant, its width68 in GeV and (dilepton) its m_tt median minus the
  median of m_tt built with the true neutrinos (issue 21: a point estimate should
  keep m_tt within ±10 GeV without widening the rest by more than 5 %).

Slow methods are run on as many events as fit in ``--time-budget`` seconds
(their ``n_events`` says how many). Usage::

    OMP_NUM_THREADS=1 python benchmarks/flows.py [--channel dilepton] [--max-events 5000] \
        [--threads 1,2] [--variants flow,flow-draws] [--methods none] [--breakdown] \
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numba
import numpy as np
import torch

from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import NeutrinoResult, available_methods, reconstruct
from nuanalysis.metrics import method_figures
from nuanalysis.observables import reco_observables
from nuanalysis.padded import CHANNELS, PaddedEvents

FLOW_METHODS = ("flow", "flow-sample", "ff")
BASELINES = ("quadratic", "ellipse", "nw")
VARIANTS = {
    "flow": ("flow", {}),
    "flow-draws": ("flow", {"estimator": "draws"}),
    "flow-draws-seed1": ("flow", {"estimator": "draws", "seed": 1}),
    "flow-64": ("flow", {"estimator": "draws", "n_samples": 64}),
    "flow-latent": ("flow", {"estimator": "latent"}),
    "flow-onnx": ("flow", {"backend": "onnx"}),
    "flow-latent-onnx": ("flow", {"estimator": "latent", "backend": "onnx"}),
    "flow-mean": ("flow", {"estimator": "mean"}),
    "flow-mtt-mean": ("flow", {"estimator": "mtt-mean"}),
    "flow-mtt-median": ("flow", {"estimator": "mtt-median"}),
    "flow-sample": ("flow-sample", {}),
    "flow-sample-onnx": ("flow-sample", {"backend": "onnx"}),
    "ff": ("ff", {}),
    "ff-onnx": ("ff", {"backend": "onnx"}),
}
"""Learned estimators × backends: (registered method, options)."""
ASCENT_VARIANT = re.compile(r"flow-ascent-(\d+)-(\d+)-(\d+)")
"""``flow-ascent-D-S-T``: ``flow`` with ascent_draws D, ascent_starts S, ascent_steps T."""
REFERENCE = "flow-draws"
"""The variant every other is compared with: the 256-draw mode (ν-Flows paper §4)."""
RATIO_KEYS = ("pz", "eta", "e")
MASS_KEYS = ("mlnu", "mblnu", "mtt")


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
        "events_per_second": len(events) / (time.perf_counter() - started),
        "batch_events": len(events),
    }


def set_threads(threads: int) -> None:
    """torch (and onnxruntime sessions made after this) and numba on ``threads`` threads."""
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def compare_variants(
    events: PaddedEvents, speed_events: PaddedEvents, labels: list[str], options: dict, threads
) -> dict[str, dict]:
    """Speed of every variant at each thread count, and its resolution on ``events``
    (at the first thread count) relative to the 256-draw mode's."""
    out = {}
    for label in labels:
        name, extra = variant(label)
        call = options.get(name, {}) | extra
        entry = {"method": name, "options": {k: str(v) for k, v in extra.items()}, "speed": {}}
        for count in threads:
            set_threads(count)
            entry["speed"][count] = speed(name, speed_events, call)
        set_threads(threads[0])
        started = time.perf_counter()
        result = reconstruct(name, events, **call)
        entry["figures"] = method_figures(events, result, time.perf_counter() - started)
        if events.channel == "dilepton":
            entry["mtt_median_shift"] = mtt_median_shift(events, result)
        out[label] = entry
    if REFERENCE in out:
        for entry in out.values():
            entry["width_ratio"] = width_ratios(entry["figures"], out[REFERENCE]["figures"])
            entry["bias_shift"] = bias_shifts(entry["figures"], out[REFERENCE]["figures"])
    return out


def mtt_median_shift(events: PaddedEvents, result: NeutrinoResult) -> float:
    """Median of the dilepton m_tt with ``result``'s neutrinos minus the median with the
    true ones (same leptons and b-jet candidates), GeV."""
    mtt, _, ok = reco_observables(events, result)
    truth = NeutrinoResult(events.truth_nu, np.ones(len(events), dtype=bool))
    true_mtt, _, true_ok = reco_observables(events, truth)
    return float(np.median(mtt[ok]) - np.median(true_mtt[true_ok]))


def variant(label: str) -> tuple[str, dict]:
    """(registered method, options) of a :data:`VARIANTS` label or a ``flow-ascent-D-S-T``."""
    if match := ASCENT_VARIANT.fullmatch(label):
        draws, starts, steps = (int(g) for g in match.groups())
        settings = {"ascent_draws": draws, "ascent_starts": starts, "ascent_steps": steps}
        return "flow", {"estimator": "ascent"} | settings
    return VARIANTS[label]


def sample_path(channel: str) -> Path:
    generated = Path(__file__).resolve().parents[1] / "samples" / f"eval_{channel}.root"
    return generated if generated.is_file() else demo_sample_path(channel)


def print_table(channel: str, report: dict) -> None:
    methods = report["methods"]
    names = list(methods)
    print(f"\n== {channel}: {report['input']} ({report['n_events']} events)")
    if not names:
        print_variants(report)
        return
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
    print_variants(report)


def width_ratios(figures: dict, reference: dict) -> dict[str, float]:
    """width68 of ``figures`` over the reference's (the 256-draw mode), per compared key."""
    keys = [k for k in figures["resolution"] if k.split("_")[-1] in RATIO_KEYS]
    keys += [k for k in MASS_KEYS if k in figures["resolution"]]
    return {
        k: figures["resolution"][k]["width68"] / reference["resolution"][k]["width68"] for k in keys
    }


def bias_shifts(figures: dict, reference: dict) -> dict[str, float]:
    """median(reco − true) of the masses minus the reference's, GeV."""
    keys = [k for k in MASS_KEYS if k in figures["resolution"]]
    return {
        k: figures["resolution"][k]["median"] - reference["resolution"][k]["median"] for k in keys
    }


def print_variants(report: dict) -> None:
    variants = report["variants"]
    if not variants:
        return
    threads = list(next(iter(variants.values()))["speed"])
    print("\nlearned estimators and backends (events/s batched; latency of one event)")
    header = "".join(f"{f'{t} thr ev/s':>14s}{f'{t} thr ms':>11s}" for t in threads)
    print(f"{'':18s}{header}   width68 / 256-draw mode's; median shift [GeV]")
    for label, entry in variants.items():
        cells = "".join(
            f"{entry['speed'][t]['events_per_second']:>14.0f}{entry['speed'][t]['latency_ms']:>11.2f}"
            for t in threads
        )
        ratios = " ".join(f"{k} {r:.3f}" for k, r in entry.get("width_ratio", {}).items())
        shifts = " ".join(f"{k} {d:+.1f}" for k, d in entry.get("bias_shift", {}).items())
        print(f"{label:18s}{cells}   {ratios}; {shifts}")
    keys = [k for k in next(iter(variants.values()))["figures"]["resolution"]
            if k.split("_")[-1] in RATIO_KEYS or k in MASS_KEYS]  # fmt: skip
    print("\nwidth68 of reco − true [GeV; η: 1]; m_tt median − truth-ν's [GeV]")
    print(f"{'':18s}" + "".join(f"{k:>10s}" for k in keys) + f"{'Δ med m_tt':>12s}")
    for label, entry in variants.items():
        widths = "".join(f"{entry['figures']['resolution'][k]['width68']:>10.2f}" for k in keys)
        shift = entry.get("mtt_median_shift")
        print(f"{label:18s}{widths}" + (f"{shift:>+12.1f}" if shift is not None else ""))


def best_ms(call, repeats: int = 20) -> float:
    """Fastest of ``repeats`` calls of ``call()`` in ms (the least disturbed by other load)."""
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times)


def latency_breakdown(events: PaddedEvents, model_path: str | None) -> dict[str, float]:
    """Where one event's time goes in ``flow`` (torch): the registry call's checks and
    feature building, the encoder, one flow pass over 1, 16 and 256 draws, and one
    climbing step of the ascent (forward and gradient over its 4 starts)."""
    from nuanalysis.flows.features import event_features
    from nuanalysis.flows.model_io import resolve_model
    from nuanalysis.validation import check_events

    one = events.select(slice(0, 1))
    model = resolve_model(model_path, events.channel, "flow")
    features = event_features(one).to_torch()
    out = {
        "checks + features": best_ms(lambda: (check_events(one), event_features(one))),
    }
    with torch.inference_mode():
        frame = model.event_frame(features)
        out["encoder"] = best_ms(lambda: model.encode(features, frame))
        context = model.encode(features, frame)
        for rows in (1, 16, 256):
            noise = torch.zeros(rows, model.n_targets)
            out[f"flow pass, {rows} rows"] = best_ms(
                lambda noise=noise, rows=rows: model.flow.from_noise(noise, context, rows)
            )
    terms = model.flow.context_terms(context.clone(), 4)

    def climbing_step():
        latent = torch.zeros(4, model.n_targets, requires_grad=True)
        _, log_prob = model.flow.from_terms(latent, terms)
        torch.autograd.grad(log_prob.sum(), latent)

    out["ascent step (4 starts, with gradient)"] = best_ms(climbing_step)
    for estimator in ("ascent", "draws", "latent"):
        options = {"model": model_path, "estimator": estimator}
        out[f"reconstruct flow, {estimator}"] = best_ms(
            lambda o=options: reconstruct("flow", one, **o)
        )
    return out


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
    parser.add_argument(
        "--threads", default="1,2", help="comma-separated thread counts (method table: first)"
    )
    parser.add_argument(
        "--variants",
        help=f"comma-separated of {', '.join(VARIANTS)}, flow-ascent-D-S-T (default: the "
        "named ones; 'none')",
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="print where one event's time goes in flow"
    )
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    set_threads(threads[0])  # the baselines' kernels: per-core figures too

    reports = {}
    for channel in args.channel or list(CHANNELS):
        path = Path(args.input) if args.input else sample_path(channel)
        events = load_padded(path, channel=channel, max_events=args.max_events)
        registered = available_methods(channel)
        wanted = args.methods.split(",") if args.methods else [*FLOW_METHODS, *BASELINES]
        variants = args.variants.split(",") if args.variants else list(VARIANTS)
        labels = [v for v in variants if v in VARIANTS or ASCENT_VARIANT.fullmatch(v)]
        unknown = set(variants) - set(labels) - {"none"}
        if unknown:
            parser.error(
                f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)} "
                "or flow-ascent-D-S-T"
            )
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
        }
        for name in names:
            report["methods"][name] = evaluate(
                name, events, args.time_budget, options.get(name, {})
            )
        speed_events = events.select(slice(0, min(args.speed_events, len(events))))
        report["variants"] = compare_variants(events, speed_events, labels, options, threads)
        print_table(channel, report)
        if args.breakdown:
            report["breakdown_ms"] = latency_breakdown(events, args.model)
            print(f"\none event in flow (torch, {threads[0]} thread, best of 20) [ms]")
            for part, ms in report["breakdown_ms"].items():
                print(f"  {part:40s} {ms:8.2f}")
        reports[channel] = report
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
