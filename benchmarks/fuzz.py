"""Fuzz every neutrino method and every CLI command with perturbed events (issue 13, "Inputs").

The rule under test (:mod:`nuanalysis.validation`): unphysical input is refused
with one of the toolkit's clear errors (:class:`~nuanalysis.errors.NuAnalysisError`)
before any method sees it, and ``valid`` means a physical solution. So, per
method, the targets are: 0 exceptions other than the clear errors, and 0 valid
results with NaN/inf momenta or |p| > 10⁵ GeV.

Python API: batches of ``--batch`` events drawn from the demo samples shipped in
the package, each with one perturbation applied to a random subset of its
events (:data:`PERTURBATIONS`): unphysical ones (NaN, ±inf, 1e300, float32-max,
negative energies, E < |p|, τ pid, zero charge or same-sign leptons, a
missing lepton, no jets, a jet slot without momentum, the whole batch in MeV)
that must be refused, and physical but extreme ones (objects scaled up to the
6.9 TeV, zero or 6.9 TeV MET, leptons along the beam or collinear with a
jet, one jet, identical jets, massless or 1 keV objects, lepton and jet
swapped, b-tags all off or on) that must run. Every method sees the same
batches; a refused batch is then run on its physical part
(``events.select(physical_mask(events))``), so the methods see the perturbed
events that are physical. Slow methods run on the first batches only
(:data:`CONFIGS`: ``flow`` and ``flow-posterior`` with 8 draws instead of 256,
``nw`` preset ``analysis``); the table says how many events each saw.

CLI: every command (``reconstruct``, ``compare``, ``assign``, ``unfold``,
``train``, ``export``, ``generate``) in this process on small perturbed files (600 events;
branch-level damage: NaN, negative pT or MET, τ pid, float32-max MET, MeV
units, an entry without jets, all jets with negative pT, a truncated file, a
text file, a binary mapping file) and one good file (the 3000 demo events); per command, the runs
that ended in a clear ``nuanalysis: error`` (exit 1 or 2), cleanly (exit 0), or
in anything else (target 0).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fuzz.py [--events 100000] [--batch 100] [--seed 0] \\
        [--no-cli] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io as text_io
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import torch
import uproot

from nuanalysis.errors import NuAnalysisError
from nuanalysis.io import demo_sample_path, load_padded, write_ntuple
from nuanalysis.methods.registry import available_methods, reconstruct
from nuanalysis.padded import PaddedEvents
from nuanalysis.validation import physical_mask

HUGE = 1e5
"""|p| (GeV) above which a valid neutrino counts as a failure of the benchmark."""

CONFIGS = (
    # (label, method, options, share of the batches)
    ("truth", "truth", {}, 1.0),
    ("quadratic", "quadratic", {}, 1.0),
    ("ellipse", "ellipse", {}, 1.0),
    ("ellipse closest", "ellipse", {"closest_approach": True}, 1.0),  # dilepton only
    ("nw grid", "nw", {"preset": "grid"}, 1.0),
    ("nw analysis", "nw", {"preset": "analysis"}, 0.02),
    ("ff", "ff", {}, 1.0),
    ("flow-sample", "flow-sample", {}, 1.0),
    ("flow (8 draws)", "flow", {"n_samples": 8}, 0.05),
    ("flow-posterior (8 draws)", "flow-posterior", {"n_samples": 8}, 0.05),
)

Perturbation = Callable[[PaddedEvents, np.ndarray, np.random.Generator], None]


def _set_object_value(value: float) -> Perturbation:
    """One component of one jet, lepton or the MET of each chosen event set to ``value``."""

    def perturb(events, rows, rng):
        for i in rows:
            target = rng.choice(["jets", "leptons", "met"])
            array = getattr(events, target)
            if target == "met":
                array[i, rng.integers(2)] = value
            else:
                k = 0 if target == "leptons" else rng.integers(max(events.jet_mask[i].sum(), 1))
                array[i, min(k, array.shape[1] - 1), rng.integers(4)] = value

    return perturb


def _scale_energy(factor: float) -> Perturbation:
    def perturb(events, rows, rng):
        events.leptons[rows, 0, 3] *= factor

    return perturb


def _lepton_field(name: str, value: int) -> Perturbation:
    def perturb(events, rows, rng):
        getattr(events, name)[rows, -1] = value

    return perturb


def _missing_lepton(events, rows, rng):
    events.leptons[rows, -1] = 0.0


def _no_jets(events, rows, rng):
    events.jet_mask[rows] = False


def _empty_jet_slot(events, rows, rng):
    events.jets[rows, 0] = 0.0


def _mev(events, rows, rng):
    for name in ("jets", "leptons", "met"):
        getattr(events, name)[...] *= 1000.0


def _scale_to_bound(events, rows, rng):
    """One object scaled until its energy is just below the LHC bound (a physical extreme)."""
    target = events.leptons if rng.random() < 0.5 else events.jets
    energy = np.maximum(target[rows, 0, 3], 1e-9)
    target[rows, 0] *= (6_900.0 / energy)[:, None]


def _met(value: float) -> Perturbation:
    def perturb(events, rows, rng):
        phi = rng.uniform(-np.pi, np.pi, len(rows))
        events.met[rows] = value * np.stack([np.cos(phi), np.sin(phi)], axis=1)

    return perturb


def _lepton_along_beam(events, rows, rng):
    events.leptons[rows, 0] = [1e-6, 0.0, 3000.0, np.hypot(3000.0, 1e-6)]


def _lepton_on_jet(events, rows, rng):
    jet = events.jets[rows, 0]
    events.leptons[rows, 0, :3] = jet[:, :3]
    events.leptons[rows, 0, 3] = np.linalg.norm(jet[:, :3], axis=1)


def _one_jet(events, rows, rng):
    events.jet_mask[rows, 1:] = False
    events.jets[rows, 1:] = 0.0


def _identical_jets(events, rows, rng):
    events.jets[rows] = np.where(events.jet_mask[rows, :, None], events.jets[rows, :1], 0.0)


def _massless(events, rows, rng):
    for array in (events.jets, events.leptons):
        array[rows, ..., 3] = np.linalg.norm(array[rows, ..., :3], axis=-1)


def _tiny(events, rows, rng):
    events.leptons[rows] *= 1e-6 / np.maximum(events.leptons[rows, :, 3:], 1e-12)
    events.met[rows] = 1e-6


def _swap_lepton_jet(events, rows, rng):
    lepton = events.leptons[rows, 0].copy()
    events.leptons[rows, 0] = events.jets[rows, 0]
    events.jets[rows, 0] = lepton


def _btags(value: bool) -> Perturbation:
    def perturb(events, rows, rng):
        events.jet_btag[rows] = value & events.jet_mask[rows]

    return perturb


PERTURBATIONS: dict[str, tuple[Perturbation, bool]] = {
    # name: (perturbation, physical?)
    "NaN": (_set_object_value(np.nan), False),
    "+inf": (_set_object_value(np.inf), False),
    "-inf": (_set_object_value(-np.inf), False),
    "1e300": (_set_object_value(1e300), False),
    "float32 max": (_set_object_value(float(np.finfo(np.float32).max)), False),
    "negative energy": (_scale_energy(-1.0), False),
    "E < |p|": (_scale_energy(0.5), False),
    "lepton E = inf": (_scale_energy(np.inf), False),
    "tau pid": (_lepton_field("lep_pid", 15), False),
    "pid 0": (_lepton_field("lep_pid", 0), False),
    "charge 0": (_lepton_field("lep_charge", 0), False),
    "same-sign": (_lepton_field("lep_charge", 1), False),
    "missing lepton": (_missing_lepton, False),
    "no jets": (_no_jets, False),
    "empty jet slot": (_empty_jet_slot, False),
    "MeV": (_mev, False),
    "object at the bound": (_scale_to_bound, True),
    "zero MET": (_met(0.0), True),
    "6.9 TeV MET": (_met(6900.0), True),
    "lepton along beam": (_lepton_along_beam, True),
    "lepton on jet": (_lepton_on_jet, True),
    "one jet": (_one_jet, True),
    "identical jets": (_identical_jets, True),
    "massless": (_massless, True),
    "1 keV objects": (_tiny, True),
    "lepton <-> jet": (_swap_lepton_jet, True),
    "no b-tags": (_btags(False), True),
    "all b-tagged": (_btags(True), True),
}


def make_batches(
    sample: PaddedEvents, n_events: int, batch: int, rng: np.random.Generator
) -> list[tuple[str, PaddedEvents]]:
    """``n_events`` perturbed events in batches of ``batch``, one perturbation kind each."""
    kinds = list(PERTURBATIONS)
    batches = []
    for _ in range(-(-n_events // batch)):
        events = sample.select(rng.integers(len(sample), size=batch))  # a copy
        kind = kinds[rng.integers(len(kinds))]
        rows = rng.choice(batch, size=rng.integers(1, batch // 4 + 2), replace=False)
        with np.errstate(all="ignore"):
            PERTURBATIONS[kind][0](events, np.sort(rows), rng)
        batches.append((kind, events))
    return batches


class Tally:
    """What one method did with the batches."""

    def __init__(self):
        self.offered = self.refused = self.run = self.valid = self.bad_valid = 0
        self.other: Counter[str] = Counter()
        self.unexpected_refusals: Counter[str] = Counter()
        self.max_valid_p = 0.0
        self.seconds = 0.0

    def call(self, method: str, events: PaddedEvents, options: dict) -> bool:
        """Run once; True if the events were refused with a clear error."""
        started = time.perf_counter()
        try:
            result = reconstruct(method, events, **options)
        except NuAnalysisError:
            return True
        except Exception as error:  # the benchmark counts these: target 0
            self.other[f"{type(error).__name__}: {str(error)[:80]}"] += 1
            return False
        finally:
            self.seconds += time.perf_counter() - started
        momentum = np.linalg.norm(result.momenta, axis=-1).max(axis=-1)
        bad = result.valid & ~(np.isfinite(result.momenta).all(axis=(1, 2)) & (momentum <= HUGE))
        self.run += len(events)
        self.valid += int(result.valid.sum())
        self.bad_valid += int(bad.sum())
        if result.valid.any():
            self.max_valid_p = max(self.max_valid_p, float(momentum[result.valid].max()))
        return False

    def as_dict(self) -> dict:
        return {
            "events_offered": self.offered,
            "batches_refused": self.refused,
            "events_run": self.run,
            "valid_fraction": self.valid / self.run if self.run else None,
            "valid_nonfinite_or_huge": self.bad_valid,
            "max_valid_p": self.max_valid_p,
            "other_exceptions": dict(self.other),
            "physical_batches_refused": dict(self.unexpected_refusals),
            "seconds": self.seconds,
        }


def fuzz_methods(n_events: int, batch: int, seed: int) -> dict[str, dict]:
    out = {}
    for channel in ("semileptonic", "dilepton"):
        sample = load_padded(demo_sample_path(channel))
        batches = make_batches(sample, n_events, batch, np.random.default_rng([seed, len(channel)]))
        for label, method, options, share in CONFIGS:
            if method not in available_methods(channel) or (
                "closest_approach" in options and channel != "dilepton"
            ):
                continue
            reconstruct(method, sample.select(slice(0, 8)), **options)  # warm-up, untimed
            tally = Tally()
            for kind, events in batches[: max(1, int(len(batches) * share))]:
                tally.offered += len(events)
                if not tally.call(method, events, options):
                    continue
                tally.refused += 1
                if PERTURBATIONS[kind][1]:
                    tally.unexpected_refusals[kind] += 1
                keep = physical_mask(events)
                if keep.any() and tally.call(method, events.select(keep), options):
                    tally.unexpected_refusals[f"{kind} (physical part)"] += 1
            out[f"{label} [{channel}]"] = tally.as_dict()
    return out


# --------------------------------------------------------------------------- CLI


def _damaged_files(folder: Path) -> dict[str, tuple[str, Path, list[str]]]:
    """name -> (channel, file, extra arguments): small files, each damaged one way."""
    files = {}
    for channel in ("semileptonic", "dilepton"):
        with uproot.open(demo_sample_path(channel)) as file:
            arrays = file["events"].arrays(how=dict)
        full = {k: v for k, v in arrays.items() if not k.startswith("n")}
        branches = {k: v[:600] for k, v in full.items()}

        def write(name, changes, extra=(), branches=branches, channel=channel):
            path = folder / f"{channel}_{name}.root"
            write_ntuple(path, {**branches, **changes})
            files[f"{name} [{channel}]"] = (channel, path, list(extra))

        write("good", full)  # all 3000 events: enough for the unfolding's bins
        jet_pt, lep_pt, met = branches["jet_pt"], branches["lep_pt"], branches["met"]
        write("NaN jet pT", {"jet_pt": jet_pt * np.where(np.arange(600) == 7, np.nan, 1.0)})
        write("negative lepton pT", {"lep_pt": lep_pt * np.where(np.arange(600) == 3, -1, 1)})
        write("negative MET", {"met": np.where(np.arange(600) == 5, -met, met)})
        write("tau pid", {"lep_pid": branches["lep_pid"] * 0 + 15})
        write("float32-max MET", {"met": np.where(np.arange(600) == 9, 3.4e38, met)})
        write("all jets negative pT", {"jet_pt": -jet_pt})
        scaled = ("jet_pt", "jet_mass", "lep_pt", "lep_mass", "met")
        write("MeV", {k: branches[k] * 1000.0 for k in scaled})
        mapping = folder / "binary.toml"
        mapping.write_bytes(bytes(range(256)))
        write("binary mapping", {}, ["--mapping", str(mapping)])
        whole = (folder / f"{channel}_NaN jet pT.root").read_bytes()
        truncated = folder / f"{channel}_truncated.root"
        truncated.write_bytes(whole[: len(whole) // 2])
        files[f"truncated file [{channel}]"] = (channel, truncated, [])
        text = folder / f"{channel}_text.root"
        text.write_text("not a ROOT file\n")
        files[f"text file [{channel}]"] = (channel, text, [])
    return files


def _commands(channel: str, path: Path, extra: list[str], out: Path) -> dict[str, list[str]]:
    methods = "truth,quadratic,ellipse" if channel == "semileptonic" else "truth,ellipse"
    common = ["--input", str(path), *extra]
    return {
        "reconstruct": ["reconstruct", *common, "--methods", methods, "--out", str(out / "r.root")],
        "compare": ["compare", *common, "--methods", methods, "--no-report"],
        "assign": ["assign", *common, "--methods", "truth,quadratic"]
        if channel == "semileptonic"
        else None,
        "unfold": ["unfold", *common, "--methods", methods, "--backend", "numpy"],
        "train": [
            "train",
            "--input",
            str(path),
            *extra,
            "--out",
            str(out / "m.pt"),
            "--preset",
            "tiny",
            "--epochs",
            "1",
        ],
        "export": ["export", "--model", str(path), "--out", str(out / "m.onnx")],
    }


def fuzz_cli() -> dict[str, dict]:
    from nuanalysis.cli import main

    tally: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = _damaged_files(folder)
        runs = [
            ("generate", "bad arguments", ["generate", "--channel", "dilepton", "--events", "-1",
                                           "--out", str(folder / "g.root")]),
        ]  # fmt: skip
        for name, (channel, path, extra) in files.items():
            for command, args in _commands(channel, path, extra, folder / name).items():
                if args is not None:
                    (folder / name).mkdir(exist_ok=True)
                    runs.append((command, name, args))
        for command, name, args in runs:
            counts = tally.setdefault(command, Counter())
            stderr = text_io.StringIO()
            try:
                with (
                    contextlib.redirect_stderr(stderr),
                    contextlib.redirect_stdout(text_io.StringIO()),
                ):
                    main(args)
                counts["exit 0"] += 1
            except SystemExit as stop:
                clear = stop.code in (1, 2) and "nuanalysis: error" in stderr.getvalue()
                counts["clear error" if clear else f"exit {stop.code} ({name})"] += 1
            except Exception as error:  # target 0
                counts[f"{type(error).__name__} ({name})"] += 1
    return {command: dict(counts) for command, counts in tally.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="perturbed events per channel")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line part")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    numba.set_num_threads(1)
    torch.set_num_threads(1)

    methods = fuzz_methods(args.events, args.batch, args.seed)
    print(f"Python API: {args.events} perturbed events per channel, batches of {args.batch}")
    header = (
        f"{'method':<36} {'offered':>8} {'refused':>8} {'run':>8} {'valid':>7} "
        f"{'bad valid':>9} {'other exc':>9} {'ev/s':>8}"
    )
    print(header)
    for label, row in methods.items():
        valid = "-" if row["valid_fraction"] is None else f"{row['valid_fraction']:.3f}"
        speed = row["events_run"] / row["seconds"] if row["seconds"] else 0.0
        print(
            f"{label:<36} {row['events_offered']:>8} {row['batches_refused']:>8} "
            f"{row['events_run']:>8} {valid:>7} {row['valid_nonfinite_or_huge']:>9} "
            f"{sum(row['other_exceptions'].values()):>9} {speed:>8.0f}"
        )
        for text, count in {**row["other_exceptions"], **row["physical_batches_refused"]}.items():
            print(f"    {count} x {text}")
    report = {"methods": methods}
    if not args.no_cli:
        report["cli"] = fuzz_cli()
        print(
            "\nCLI: runs per command on damaged files (target: clear error or exit 0, nothing else)"
        )
        for command, counts in report["cli"].items():
            print(f"{command:<12} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
