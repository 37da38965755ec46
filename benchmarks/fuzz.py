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

Reader (issue 24, W1–W4, W6): files of ``--batch`` demo events under foreign
branch names, read through a mapping, each damaged one way
(:data:`READER_CLASSES`, taking turns): an energy mapped in place of the mass
that is negative or below the momentum, integer pid 269 and charge ±257, float
charge ±1.7, a GeV file read with ``scale = 0.001`` and an MeV file with
``scale = 1``, jets or leptons in reversed pT order, float b-tag scores and a
bit mask without a working point, a jet mass of 1e30 and an η of 12 — each must
be refused naming the branch at fault — and their good twins (energies, signed
pids, float charges ±1.0, MeV with its scale, ``sort_by_pt``, scores or bit
mask with ``btag_working_point``) that must be read. Targets: 0 bad files read,
0 good files refused, 0 other exceptions.

CLI: every command (``reconstruct``, ``compare``, ``assign``, ``unfold``,
``train``, ``export``, ``generate``) in this process on small perturbed files (600 events;
branch-level damage: NaN, negative pT or MET, τ pid, float32-max MET, MeV
units, an entry without jets, all jets with negative pT, a truncated file, a
text file, a binary mapping file, and the reader's bad classes through
``--mapping`` files) and one good file (the 3000 demo events), and ``assign
--sigmas`` files holding ``Infinity``, ``NaN``, ``true``, ``-1``, ``0``,
``1e400``, a string or a list as a σ; per command, the runs that ended in a
clear ``nuanalysis: error`` (exit 1 or 2), cleanly (exit 0; on a bad input
that is a silently accepted value, target 0), or in anything else (target 0).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fuzz.py [--events 100000] [--batch 100] [--seed 0] \\
        [--no-methods] [--no-reader] [--no-cli] [--json out.json]
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

import awkward as ak
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


# --------------------------------------------------------------------------- reader

FOREIGN = {
    **{f"jet_{f}": f"j_{f}" for f in ("pt", "eta", "phi", "mass", "btag")},
    **{f"lep_{f}": f"l_{f}" for f in ("pt", "eta", "phi", "mass", "charge", "pid")},
    "met": "MET",
    "met_phi": "METphi",
}
"""Schema name -> the foreign name the reader fuzz writes it under (read through a mapping)."""

InputClass = Callable[[dict, np.ndarray, np.random.Generator], tuple[dict, dict]]
"""Foreign branches of a batch, the rows to damage, a generator -> (branches, mapping keys)."""


def _objects(branches: dict, name: str, rows: np.ndarray, change) -> None:
    """``branches[name]`` with ``change(values of the chosen rows' objects)`` applied in place."""
    values = branches[name]
    counts = ak.num(values)
    flat = ak.to_numpy(ak.flatten(values)).copy()
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    picked = np.concatenate([np.arange(starts[r], starts[r] + counts[r]) for r in rows])
    flat = np.asarray(
        flat, dtype=np.result_type(flat.dtype, np.asarray(change(flat[picked])).dtype)
    )
    flat[picked] = change(flat[picked])
    branches[name] = ak.unflatten(flat, counts)


def _energy(branches: dict) -> ak.Array:
    pt, eta, mass = (branches[f"j_{f}"] for f in ("pt", "eta", "mass"))
    return np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)


def _mapped_energy(factor: float) -> InputClass:
    """Jets with energy ``j_e`` instead of mass (AnalysisTop); damaged rows' E × ``factor``."""

    def make(branches, rows, rng):
        branches["j_e"] = ak.values_astype(_energy(branches), np.float64)
        del branches["j_mass"]
        _objects(branches, "j_e", rows, lambda e: e * factor)
        return branches, {"branches": {"jet_e": "j_e"}}

    return make


def _int32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.int32)


def _lepton_value(name: str, value: Callable[[np.ndarray], np.ndarray]) -> InputClass:
    """The damaged rows' lepton ``name`` (``l_pid``, ``l_charge``) set from their values."""

    def make(branches, rows, rng):
        _objects(branches, name, rows, value)
        return branches, {}

    return make


def _scaled(factor: float, scale: float) -> InputClass:
    """Every momentum × ``factor`` in the file, read with ``scale`` (all rows: a unit)."""

    def make(branches, rows, rng):
        for name in ("j_pt", "j_mass", "l_pt", "l_mass", "MET"):
            branches[name] = branches[name] * factor
        return branches, {"scale": scale}

    return make


def _reversed(prefix: str, sort: bool) -> InputClass:
    """The damaged rows' jets (``j``) or leptons (``l``) in increasing pT order."""

    def make(branches, rows, rng):
        reverse = np.zeros(len(branches["MET"]), bool)
        reverse[rows] = True
        for name in [n for n in branches if n.startswith(f"{prefix}_")]:
            branches[name] = ak.where(reverse, branches[name][:, ::-1], branches[name])
        return branches, {"sort_by_pt": True} if sort else {}

    return make


def _btag_scores(working_point: float | None, values=(0.05, 0.35)) -> InputClass:
    """Every jet's b-tag a score drawn from ``values`` (floats, or a bit mask's integers)."""

    def make(branches, rows, rng):
        counts = ak.num(branches["j_btag"])
        drawn = rng.choice(np.asarray(values), size=int(ak.sum(counts)))
        branches["j_btag"] = ak.unflatten(drawn, counts)
        return branches, {} if working_point is None else {"btag_working_point": working_point}

    return make


def _jet_value(name: str, value: float) -> InputClass:
    def make(branches, rows, rng):
        _objects(branches, name, rows[:1], lambda v: np.where(np.arange(len(v)) == 0, value, v))
        return branches, {}

    return make


READER_CLASSES: dict[str, tuple[InputClass, str | None, str]] = {
    # name: (input class, the branch a refusal must name (None: must be read), channels)
    "mapped E < 0": (_mapped_energy(-1.0), "'j_e' holds a negative energy", "both"),
    "mapped E < |p|": (_mapped_energy(0.5), "'j_e' holds an energy below", "both"),
    "mapped E (good)": (_mapped_energy(1.0), None, "both"),
    "pid 269 (int32)": (_lepton_value("l_pid", lambda v: _int32(v) + 256), "'l_pid'", "both"),
    "pid signed (good)": (_lepton_value("l_pid", lambda v: -_int32(v)), None, "both"),
    "charge ±257": (_lepton_value("l_charge", lambda v: _int32(v) * 257), "'l_charge'", "both"),
    "charge ±1.7 (float)": (_lepton_value("l_charge", lambda v: v * 1.7), "'l_charge'", "both"),
    "charge ±1.0 float (good)": (_lepton_value("l_charge", lambda v: v * 1.0), None, "both"),
    "GeV read with scale 0.001": (_scaled(1.0, 0.001), "wrong unit", "both"),
    "MeV read with scale 1": (_scaled(1000.0, 1.0), "in MeV", "both"),
    "MeV read with scale 0.001 (good)": (_scaled(1000.0, 0.001), None, "both"),
    "jets reversed": (_reversed("j", sort=False), "'j_pt' is not in decreasing pT order", "both"),
    "leptons reversed": (_reversed("l", sort=False), "'l_pt' is not in decreasing pT", "dilepton"),
    "jets reversed, sort_by_pt (good)": (_reversed("j", sort=True), None, "both"),
    "float b-tag scores": (_btag_scores(None), "'j_btag' holds", "both"),
    "b-tag scores + working point (good)": (_btag_scores(0.3), None, "both"),
    "b-tag bit mask 0/3": (_btag_scores(None, (0, 3)), "'j_btag' holds 3", "both"),
    "b-tag bit mask + working point 1 (good)": (_btag_scores(1, (0, 3)), None, "both"),
    "jet_mass 1e30": (_jet_value("j_mass", 1e30), "'j_mass' holds an energy beyond", "both"),
    "jet_eta 12": (_jet_value("j_eta", 12.0), "'j_eta' holds an energy beyond", "both"),
}  # fmt: skip


def _foreign_sample(channel: str) -> dict:
    """The demo sample's reco branches under their :data:`FOREIGN` names."""
    with uproot.open(demo_sample_path(channel)) as file:
        arrays = file["events"].arrays(list(FOREIGN), how=dict)
    return {FOREIGN[name]: values for name, values in arrays.items()}


def fuzz_reader(n_events: int, batch: int, seed: int) -> dict[str, dict]:
    """Files of ``batch`` demo events damaged one way each, read through a mapping.

    The classes take turns (:data:`READER_CLASSES`); a bad one must be refused with
    a clear error naming the branch at fault, a good one read. Counted per class:
    files refused as expected, refused naming something else, bad files read
    (silently accepted: target 0), good files refused (target 0), other exceptions
    (target 0).
    """
    out: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for channel in ("semileptonic", "dilepton"):
            sample = _foreign_sample(channel)
            n_sample = len(sample["MET"])
            rng = np.random.default_rng([seed, len(channel), 1])
            names = [n for n, c in READER_CLASSES.items() if c[2] in ("both", channel)]
            for i in range(-(-n_events // batch)):
                name = names[i % len(names)]
                make, expected, _ = READER_CLASSES[name]
                pick = rng.integers(n_sample, size=batch)
                branches = {k: v[pick] for k, v in sample.items()}
                rows = np.sort(
                    rng.choice(batch, size=rng.integers(1, batch // 4 + 2), replace=False)
                )
                branches, keys = make(branches, rows, rng)
                mapping = {"branches": {s: f for s, f in FOREIGN.items() if f in branches}}
                mapping["branches"].update(keys.pop("branches", {}))
                path = write_ntuple(Path(tmp) / f"{i}.root", branches)
                counts = out.setdefault(f"{name} [{channel}]", Counter())
                try:
                    load_padded(path, mapping={**mapping, **keys})
                    counts["read" if expected is None else "bad input read (silently)"] += 1
                except NuAnalysisError as error:
                    if expected is None:
                        counts[f"good input refused: {str(error)[-80:]}"] += 1
                    elif expected in str(error):
                        counts["refused, naming the fault"] += 1
                    else:
                        counts[f"refused, naming other: {str(error)[-80:]}"] += 1
                except Exception as error:  # target 0
                    counts[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                path.unlink()
    return {name: dict(counts) for name, counts in out.items()}


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


def _toml(mapping: dict) -> str:
    """A mapping dict as TOML text (its values are strings, numbers and booleans)."""
    top = [f"{key} = {json.dumps(value)}" for key, value in mapping.items() if key != "branches"]
    branches = [f"{key} = {json.dumps(value)}" for key, value in mapping["branches"].items()]
    return "\n".join([*top, "[branches]", *branches]) + "\n"


def _mapped_files(folder: Path, seed: int) -> dict[str, tuple[str, Path, list[str]]]:
    """name -> (channel, file, ``--mapping`` arguments): the bad :data:`READER_CLASSES`
    as 600-event foreign files with their mapping files, every entry damaged."""
    files = {}
    rng = np.random.default_rng([seed, 2])
    for channel in ("semileptonic", "dilepton"):
        sample = {k: v[:600] for k, v in _foreign_sample(channel).items()}
        for i, (name, (make, expected, channels)) in enumerate(READER_CLASSES.items()):
            if expected is None or channels not in ("both", channel):
                continue
            branches, keys = make(dict(sample), np.arange(600), rng)
            mapping = {**keys, "branches": {s: f for s, f in FOREIGN.items() if f in branches}}
            mapping["branches"].update(keys.get("branches", {}))
            path = write_ntuple(folder / f"{channel}_mapped_{i}.root", branches)
            toml = folder / f"{channel}_mapped_{i}.toml"
            toml.write_text(_toml(mapping))
            files[f"{name} [{channel}]"] = (channel, path, ["--mapping", str(toml)])
    return files


SIGMAS = {
    "Infinity": "Infinity",
    "NaN": "NaN",
    "true": "true",
    "-1": "-1",
    "0": "0",
    "1e400": "1e400",
    "string": '"5"',
    "list": "[5]",
    "good": "22.5",
}
"""--sigmas files: the value of ``blnu`` (the others fine); only ``good`` may run."""


def _sigmas_runs(folder: Path, good: Path) -> list[tuple[str, str, list[str]]]:
    runs = []
    for name, value in SIGMAS.items():
        path = folder / f"sigmas_{name}.json"
        path.write_text(f'{{"truth": {{"lnu": 10, "blnu": {value}, "qq": 10, "bqq": 15}}}}')
        args = ["assign", "--input", str(good), "--methods", "truth", "--no-report"]
        runs.append(("assign --sigmas", f"{name} sigmas", [*args, "--sigmas", str(path)]))
    return runs


def fuzz_cli(seed: int) -> dict[str, dict]:
    """Every command on the damaged files: a clear error (exit 1 or 2), or exit 0 for the
    good inputs only. ``exit 0 on bad input`` counts silently accepted bad input (target 0)."""
    from nuanalysis.cli import main

    tally: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = _damaged_files(folder)
        runs = [
            ("generate", "bad arguments", ["generate", "--channel", "dilepton", "--events", "-1",
                                           "--out", str(folder / "g.root")]),
        ]  # fmt: skip
        mapped = _mapped_files(folder, seed)
        for k, (name, (channel, path, extra)) in enumerate({**files, **mapped}.items()):
            out = folder / f"out_{k}"  # names hold "/"
            for command, args in _commands(channel, path, extra, out).items():
                if args is not None and not (name in mapped and command in ("train", "export")):
                    out.mkdir(exist_ok=True)
                    runs.append((command, name, args))
        runs += _sigmas_runs(folder, files["good [semileptonic]"][1])
        for command, name, args in runs:
            counts = tally.setdefault(command, Counter())
            stderr = text_io.StringIO()
            try:
                with (
                    contextlib.redirect_stderr(stderr),
                    contextlib.redirect_stdout(text_io.StringIO()),
                ):
                    main(args)
                counts[
                    "exit 0" if name.startswith("good") else f"exit 0 on bad input ({name})"
                ] += 1
            except SystemExit as stop:
                text = stderr.getvalue()  # after the progress bar's lines
                clear = stop.code in (1, 2) and "nuanalysis: error" in text
                clear = clear and "Traceback" not in text
                counts["clear error" if clear else f"exit {stop.code} ({name})"] += 1
            except Exception as error:  # target 0
                counts[f"{type(error).__name__} ({name})"] += 1
    return {command: dict(counts) for command, counts in tally.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="perturbed events per channel")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-methods", action="store_true", help="skip the Python API part")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader part")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line part")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    numba.set_num_threads(1)
    torch.set_num_threads(1)

    report = {}
    if not args.no_methods:
        report["methods"] = fuzz_methods(args.events, args.batch, args.seed)
        _print_methods(report["methods"], args.events, args.batch)
    if not args.no_reader:
        report["reader"] = fuzz_reader(args.events, args.batch, args.seed)
        print(
            f"\nReader: {args.events} events per channel in files of {args.batch}, damaged one "
            "way each, read through a mapping (targets: bad refused naming the fault, good read)"
        )
        for name, counts in report["reader"].items():
            print(f"{name:<56} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if not args.no_cli:
        report["cli"] = fuzz_cli(args.seed)
        print(
            "\nCLI: runs per command on damaged files (target: clear error, exit 0 on good "
            "input only, nothing else)"
        )
        for command, counts in report["cli"].items():
            print(f"{command:<16} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def _print_methods(methods: dict[str, dict], events: int, batch: int) -> None:
    print(f"Python API: {events} perturbed events per channel, batches of {batch}")
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


if __name__ == "__main__":
    main()
