"""Which step makes the flows better: an ablation table and a data-scaling curve, held out.

Trains ν-Flows / ν²-Flows models (or takes given ones) and evaluates each on a
held-out sample (``samples/eval_<channel>.root``, never used for training):

* rows ``--row NAME:key=value,...`` (keys: ``frame`` lab|canonical, ``events``,
  ``preset``, ``train`` a glob of training files, ``minutes`` (wall-clock cap),
  ``epochs`` (cap, default 300; early stopping as the preset says), ``cc`` 1 for
  charge-conjugation augmentation, ``copies=first`` to keep only the first detector
  pass of every Pythia event of a ``--resmear`` sample: the sample ``--resmear 1``
  would have given from the same Pythia events) — e.g. baseline recipe, + symmetries,
  + re-smeared copies, + more events, + ``paper`` preset;
* a scaling curve: every ``--sizes`` × ``--frames`` combination, trained on the
  first N events of ``--train`` until early stopping or the ``--minutes`` cap
  (the table says which, with the CPU seconds used);
* ``--model NAME=PATH``: models trained elsewhere (the shipped one, a long run).

Columns: hold-out NLL (−log p of the true ν in (p_x, p_y, η), GeV units, mean),
width68 of ν p_z (and ν̄ p_z), η, m(ℓν), m(bℓν) with the true b of ν-Flows(mode)
(the most probable of ``--mode-samples`` draws, ``estimator="draws"``, as in the
tables measured before the ``ascent`` default);
semileptonic: χ² b_lep accuracy flow(mode) / quadratic per jet multiplicity,
pooled at 7–9 jets, and the share of the truth-ν − quadratic gap closed there;
dilepton: m_tt width68 and bias; training events and CPU seconds. Models are
saved in ``--out-dir`` and reused when the script runs again. Usage::

    OMP_NUM_THREADS=1 python benchmarks/flow_ablation.py --channel semileptonic \\
        --train 'samples/h5/train_semileptonic_*.root' --eval samples/eval_semileptonic.root \\
        --sizes 2500 5000 10000 20000 --frames lab canonical --minutes 4 \\
        --model shipped=nuanalysis/data/model_semileptonic.pt --out-dir samples/h5/ablation
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import uproot

from nuanalysis.assignment import assignment_study
from nuanalysis.flows.features import event_features, neutrino_targets
from nuanalysis.flows.history import model_history
from nuanalysis.flows.model_io import build_model, load_model, save_model
from nuanalysis.flows.presets import preset
from nuanalysis.flows.training import train, training_arrays
from nuanalysis.io import load_padded
from nuanalysis.methods.registry import reconstruct
from nuanalysis.metrics import method_figures
from nuanalysis.padded import PaddedEvents

JETS = ("4", "5", "6", "7", "8", "9")


@dataclass
class Row:
    """One model of the table: trained here (frame, events, preset, …) or given by path."""

    name: str
    frame: str = "canonical"
    events: int | None = None
    preset: str = "default"
    train: str | None = None
    minutes: float = 5.0
    epochs: int = 300
    cc: bool = False
    first_copy: bool = False
    path: Path | None = None
    info: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, defaults: dict) -> Row:
        name, _, spec = text.partition(":")
        values = dict(defaults)
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            values[key] = value
        return cls(
            name,
            frame=values.get("frame", "canonical"),
            events=int(values["events"]) if values.get("events") else None,
            preset=values.get("preset", "default"),
            train=values.get("train"),
            minutes=float(values.get("minutes", 5.0)),
            epochs=int(values.get("epochs", 300)),
            cc=values.get("cc") in ("1", "true", True),
            first_copy=values.get("copies") == "first",
        )


def first_copies(files: list[str], n_events: int) -> np.ndarray:
    """Mask of the entries with ``copy_index`` 0 (first detector pass) of the joined files."""
    parts = []
    for path in files:
        with uproot.open(path) as file:
            parts.append(file["events"]["copy_index"].array(library="np") == 0)
    mask = np.concatenate(parts)
    if len(mask) != n_events:
        raise SystemExit(f"copy_index has {len(mask)} entries, the events {n_events}")
    return mask


def train_row(row: Row, channel: str, out_dir: Path, seed: int):
    """Train (or reuse) the model of ``row``; returns the loaded model."""
    path = out_dir / f"{row.name}.pt"
    if path.is_file():
        model = load_model(path)
        row.info = model.metadata.get("ablation", {})
        return model
    files = sorted(glob.glob(row.train))
    if not files:
        raise SystemExit(f"row {row.name}: no training file matches {row.train!r}")
    events = load_padded(files, channel=channel)
    if row.first_copy:
        events = events.select(first_copies(files, len(events)))
    events = events.select(slice(0, row.events))
    features, targets = training_arrays(events)
    hp = preset(row.preset)
    torch.manual_seed(seed)
    model = build_model("flow", channel, hp.architecture, frame=row.frame)
    cpu = time.process_time()
    result = train(
        model,
        features,
        targets,
        hp.training,
        out_dir / f"{row.name}.ckpt",
        epochs=row.epochs,
        max_seconds=60.0 * row.minutes,
        seed=seed,
        progress=False,
        charge_conjugation=row.cc,
    )
    row.info = {
        "n_events": len(events),
        "cpu_seconds": time.process_time() - cpu,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "files": files,
        "frame": row.frame,
        "preset": row.preset,
        "charge_conjugation": row.cc,
    }
    save_model(model, path, metadata={"ablation": row.info, "history": []})
    return model


def hold_out_nll(model, events: PaddedEvents) -> float:
    """Mean −log p(true ν | event) on the held-out events (GeV units, (p_x, p_y, η))."""
    features = event_features(events).to_torch()
    targets = torch.as_tensor(neutrino_targets(events.truth_nu))
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(events), 4096):
            part = slice(start, start + 4096)
            total += float(model.log_prob(features.select(part), targets[part]).sum())
    return -total / len(events)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def evaluate(model, events: PaddedEvents, references: dict, n_samples: int) -> dict:
    """The table's columns for one model on the held-out ``events``."""
    flow = reconstruct("flow", events, model=model, n_samples=n_samples, seed=0, estimator="draws")
    figures = method_figures(events, flow)["resolution"]
    out = {
        "nll": hold_out_nll(model, events),
        "nu_pz": figures["nu_pz"]["width68"],
        "nu_eta": figures["nu_eta"]["width68"],
        "mlnu": figures["mlnu"]["width68"],
        "mblnu": figures["mblnu"]["width68"],
    }
    if events.channel == "dilepton":
        out["nubar_pz"] = figures["nubar_pz"]["width68"]
        out["mtt"] = figures["mtt"]["width68"]
        out["mtt_bias"] = figures["mtt"]["median"]
        return out
    even = np.arange(len(events)) % 2 == 0
    study = assignment_study(events, {**references, "flow": flow}, calibration=even)
    blep = study["accuracy"]["blep"]
    out["blep_ratio"] = {j: ratio(blep["flow"][j], blep["quadratic"][j]) for j in JETS}
    pooled = study["blep_gap_closed"]
    out["blep_ratio_7_9"] = (
        pooled["flow"]["7-9"]["accuracy"] / pooled["quadratic"]["7-9"]["accuracy"]
    )
    out["gap_closed_7_9"] = pooled["flow"]["7-9"]["gap_closed"]
    out["gap_closed_7_9_err"] = pooled["flow"]["7-9"]["gap_closed_uncertainty"]
    return out


def print_table(channel: str, rows: list[Row], results: dict[str, dict]) -> None:
    dilepton = channel == "dilepton"
    head = f"{'model':<24} {'events':>7} {'CPU s':>6} {'epochs':>7} {'NLL':>7} {'ν pz':>6}"
    head += f" {'ν̄ pz':>6}" if dilepton else ""
    head += f" {'η':>5} {'m(ℓν)':>6} {'m(bℓν)':>6}"
    if dilepton:
        head += f" {'m_tt':>6} {'bias':>6}"
    else:
        head += "  b_lep flow/quadratic " + " ".join(f"{j:>4}" for j in JETS)
        head += f" {'7-9':>5} {'gap 7-9':>12}"
    print(f"\n{channel}: width68 in GeV (η: none), flow(mode) on the held-out sample")
    print("epochs: trained epochs; * = stopped by the time or epoch cap, not by early stopping")
    print(head)
    for row in rows:
        r, info = results[row.name], row.info
        line = f"{row.name:<24} {info.get('n_events', '?'):>7} "
        cpu = info.get("cpu_seconds")
        line += f"{cpu:>6.0f} " if cpu is not None else f"{'?':>6} "
        capped = "" if info.get("stopped_early", True) else "*"
        line += f"{str(info.get('epochs', '?')) + capped:>7} "
        line += f"{r['nll']:>7.3f} {r['nu_pz']:>6.1f}"
        line += f" {r['nubar_pz']:>6.1f}" if dilepton else ""
        line += f" {r['nu_eta']:>5.2f} {r['mlnu']:>6.1f} {r['mblnu']:>6.1f}"
        if dilepton:
            line += f" {r['mtt']:>6.1f} {r['mtt_bias']:>6.1f}"
        else:
            line += " " * 23 + " ".join(f"{r['blep_ratio'][j]:>4.2f}" for j in JETS)
            gap = f"{r['gap_closed_7_9']:.2f}±{r['gap_closed_7_9_err']:.2f}"
            line += f" {r['blep_ratio_7_9']:>5.2f} {gap:>12}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channel", required=True, choices=["semileptonic", "dilepton"])
    parser.add_argument("--train", help="glob of training files (rows may override)")
    parser.add_argument("--eval", required=True, type=Path, help="held-out sample")
    parser.add_argument("--eval-events", type=int, default=None)
    parser.add_argument("--mode-samples", type=int, default=256)
    parser.add_argument("--sizes", type=int, nargs="*", default=[])
    parser.add_argument("--frames", nargs="*", default=["lab", "canonical"])
    parser.add_argument("--minutes", type=float, default=5.0, help="per scaling-curve model")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--row", action="append", default=[], help="NAME:key=value,...")
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH")
    parser.add_argument("--out-dir", type=Path, default=Path("samples/ablation"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--train-only", action="store_true", help="train the rows, then stop")
    args = parser.parse_args()

    torch.set_num_threads(1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    defaults = {"train": args.train, "minutes": args.minutes, "preset": args.preset}
    rows = [Row.parse(text, defaults) for text in args.row]
    for size in args.sizes:
        for frame in args.frames:
            spec = f"{frame}-{size}:frame={frame},events={size}"
            rows.append(Row.parse(spec, defaults))
    for text in args.model:
        name, _, path = text.partition("=")
        rows.append(Row(name, path=Path(path)))

    if args.train_only:
        for row in rows:
            if row.path is None:
                train_row(row, args.channel, args.out_dir, args.seed)
                print(f"trained {row.name}: {row.info}", flush=True)
        return
    events = load_padded(args.eval, channel=args.channel, max_events=args.eval_events)
    references = {}
    if args.channel == "semileptonic":
        references = {name: reconstruct(name, events) for name in ("truth", "quadratic")}
    results = {}
    for row in rows:
        if row.path is not None:
            model = load_model(row.path, args.channel, "flow")
            history = model_history(model.metadata)
            row.info = {"n_events": sum(call.get("n_events", 0) for call in history) or "?"}
        else:
            model = train_row(row, args.channel, args.out_dir, args.seed)
        started = time.perf_counter()
        results[row.name] = evaluate(model, events, references, args.mode_samples)
        print(f"evaluated {row.name} in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\nheld out: {args.eval} ({len(events)} events), {args.mode_samples} samples per mode")
    print_table(args.channel, rows, results)
    if args.json:
        payload = {row.name: {**results[row.name], "info": row.info} for row in rows}
        args.json.write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
