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

Option ranges (issue 24, W8): every option of every registered method, found
from the registry and its type hints (:func:`fuzz_options`), through ``compare
--option``: values outside its type or range (NaN, ±Infinity, 1e400, '', below
the minimum, ten times the maximum, 1e308, 1.5 for an integer, a choice that is
not one) must be a one-line refusal with exit 2; values its type allows without
a declared range (−1, 0, 10⁸, ±1e308) must be refused or run with valid results
within :data:`OPTION_SECONDS` of CPU time; its default and the largest value its
range allows must run.

Full disk (issue 24): ``reconstruct``, ``compare --out``/``--json``, ``train``
and ``export`` writing to a full 256 kB tmpfs, and to one with 64 kB free: a
one-line error, non-zero exit, nothing left on the disk (skipped, saying why,
where mounting is not permitted).

Signals (issue 24, D4): SIGINT and SIGTERM to ``compare --methods M`` once the
progress bar names method M running, for every method, and SIGINT, SIGTERM and
SIGKILL to ``generate --jobs 2`` once its workers run: exit 130/143 in one line,
no traceback, no stray files, no worker alive a second after the parent ended.

User files (issue 24, D1–D3): ``--out`` at a folder of user files (thesis.pdf,
notes.md, results.json, page.html), at a link to it or to an earlier report, at
an input, at ``.`` inside the user files and at ``''``, for ``compare``,
``reconstruct``, ``train`` and ``export``: refused in one line or written
(through a link), and every user file as it was (SHA-1 before and after).

Every class counts unexpected exceptions, silently accepted bad values and user
files lost; all must be 0.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fuzz.py [--events 100000] [--batch 100] [--seed 0] \\
        [--no-methods] [--no-reader] [--no-cli] [--no-options] [--no-disk] [--no-signals] \\
        [--no-user-files] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import io as text_io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numba
import numpy as np
import torch
import uproot

from nuanalysis.errors import NuAnalysisError
from nuanalysis.flows.model_io import shipped_model_path
from nuanalysis.io import demo_sample_path, load_padded, write_ntuple
from nuanalysis.methods.option_types import (
    OneOf,
    OnlyFor,
    Range,
    alternatives,
    base_type,
    metadata,
    option_hints,
)
from nuanalysis.methods.registry import available_methods, get_method, reconstruct
from nuanalysis.padded import CHANNELS, PaddedEvents
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


def _interrupt_after(cpu_seconds: float) -> threading.Event:
    """Send this process a SIGINT once it has used ``cpu_seconds`` of CPU time from now (CPU,
    not wall-clock time: a loaded machine must not look like unbounded work); setting the
    returned event disarms it."""
    disarmed = threading.Event()
    start = time.process_time()

    def watch() -> None:
        while not disarmed.wait(0.5):
            if time.process_time() - start > cpu_seconds:
                os.kill(os.getpid(), signal.SIGINT)
                return

    threading.Thread(target=watch, daemon=True).start()
    return disarmed


def _run_cli(args: list[str], cpu_seconds: float | None = None) -> tuple[int | str, str]:
    """``nuanalysis args`` run in this process: (its exit status, or the name of an exception
    other than SystemExit; its stderr). With ``cpu_seconds``, a run that uses more CPU time
    gets a SIGINT (it then exits 130: unbounded work)."""
    from nuanalysis.cli import main

    stderr = text_io.StringIO()
    disarm = threading.Event() if cpu_seconds is None else _interrupt_after(cpu_seconds)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(text_io.StringIO()):
            main(args)
        code: int | str = 0
    except SystemExit as stop:
        if stop.code == 143:  # SIGTERM can only come from outside: it ends the benchmark
            raise
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except KeyboardInterrupt:  # the watchdog fired outside the command's own handling
        code = 130
    except Exception as error:  # the callers count these: target 0
        code = type(error).__name__
    finally:
        disarm.set()
    return code, stderr.getvalue()


def _clear_error(code: int | str, stderr: str, codes: tuple[int, ...] = (1, 2)) -> bool:
    """Whether a run ended with one of ``codes`` and exactly one ``nuanalysis: error`` line,
    no traceback."""
    lines = [line for line in stderr.splitlines() if line.startswith("nuanalysis: error")]
    return code in codes and len(lines) == 1 and "Traceback" not in stderr


def fuzz_cli(seed: int) -> dict[str, dict]:
    """Every command on the damaged files: a clear error (exit 1 or 2), or exit 0 for the
    good inputs only. ``exit 0 on bad input`` counts silently accepted bad input (target 0)."""
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
            code, stderr = _run_cli(args)
            if code == 0:
                counts[
                    "exit 0" if name.startswith("good") else f"exit 0 on bad input ({name})"
                ] += 1
            elif isinstance(code, str):  # target 0
                counts[f"{code} ({name})"] += 1
            else:
                counts[
                    "clear error" if _clear_error(code, stderr) else f"exit {code} ({name})"
                ] += 1
    return {command: dict(counts) for command, counts in tally.items()}


# --------------------------------------------------------------------------- option ranges

OPTION_EVENTS = 10
"""Events per run of the option-range class."""
OPTION_SECONDS = 60.0
"""A run with an accepted option that uses more CPU seconds is stopped: unbounded work."""
NEVER_VALUES = ("NaN", "Infinity", "-Infinity", "1e400", "")
"""``--option`` values that no option may accept."""


def _option_values(hint) -> tuple[list[str], list[str]]:
    """``--option`` values for an option typed ``hint``, derived from its type and range:
    (values it must refuse, values it must refuse or run on with valid results in
    bounded time)."""
    refuse, doubtful = list(NEVER_VALUES), []
    for member in alternatives(hint):
        kind = base_type(member)
        for extra in metadata(member):
            if isinstance(extra, Range):
                refuse.append(f"{extra.minimum - 1 if extra.inclusive else extra.minimum:g}")
                refuse += [f"{10 * extra.maximum + 1:g}", "1e308"] if extra.maximum < 1e307 else []
            elif isinstance(extra, OneOf):
                refuse.append("no-such-choice")
        if kind is bool:
            refuse += ["maybe", "2"]
        elif kind is int:
            refuse.append("1.5")
            doubtful += ["-1", "0", "100000000"]
        elif kind is float:
            doubtful += ["-1e308", "1e308", "-1", "0"]
        elif typing.get_origin(kind) in (list, tuple):
            refuse += ["[]", "[.nan]", "[.inf]"]
            doubtful += ["[1e308]", "[-1e308]"]
        elif kind is str:
            doubtful.append("no-such-choice")
    ranges = [
        extra for a in alternatives(hint) for extra in metadata(a) if isinstance(extra, Range)
    ]
    for value in doubtful:
        if ranges and value[-1].isdigit() and not any(r.holds(float(value)) for r in ranges):
            refuse.append(value)
    refuse = list(dict.fromkeys(refuse))
    return refuse, [value for value in dict.fromkeys(doubtful) if value not in refuse]


def _option_defaults(name: str) -> dict[str, object]:
    """Option -> its default value (signature or configuration dataclass) of method ``name``."""
    spec = get_method(name)
    defaults = {
        p.name: p.default
        for p in inspect.signature(spec.function).parameters.values()
        if p.default is not p.empty
    }
    fields = dataclasses.fields(spec.config) if spec.config is not None else ()
    return {**{f.name: f.default for f in fields}, **defaults}


def _as_text(value) -> str | None:
    """A default value as ``--option`` text (None where the command line cannot give it)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, tuple) and all(isinstance(v, int | float) for v in value):
        return json.dumps(list(value))
    return None


def _good_values(hint, default) -> list[str]:
    """Values inside the option's range: its default and the largest its range allows."""
    good = [] if _as_text(default) is None else [_as_text(default)]
    for member in alternatives(hint):
        for extra in metadata(member):
            if isinstance(extra, Range) and extra.maximum < 1e307:
                good.append(f"{extra.maximum:g}")
            elif isinstance(extra, OneOf):
                good += extra.choices
    return list(dict.fromkeys(good))


def _option_channel(name: str, hint) -> str:
    """The channel whose events the option applies to and the method reads (dilepton where
    both: some choices, the flow's m_tt estimators, need its two b-jets)."""
    only = [m.channel for a in alternatives(hint) for m in metadata(a) if isinstance(m, OnlyFor)]
    return only[0] if only else [c for c in CHANNELS if name in available_methods(c)][-1]


def fuzz_options() -> dict[str, dict]:
    """Every option of every registered method (:func:`option_hints`) through ``compare
    --option``: values outside its type or range must be a one-line refusal (exit 2)
    before any work; values its type allows but that make no physics (negative, 10⁸,
    ±1e308) must be refused or run with valid results within :data:`OPTION_SECONDS`;
    values inside its range must run. Counted per method: refused as expected, runs,
    bad values run (silently accepted: 0 valid, unbounded work, or a must-refuse value
    that ran; target 0), good values refused (target 0), other outcomes (target 0)."""
    from nuanalysis.cli.options import RUNNER_KEYS

    out: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        warm: set[tuple[str, str]] = set()
        for name in available_methods():
            defaults = _option_defaults(name)
            counts = out.setdefault(name, Counter())
            for key, hint in option_hints(name).items():
                refuse, doubtful = _option_values(hint)
                if key in RUNNER_KEYS:
                    refuse, doubtful, good = ["1"], [], []
                else:
                    good = _good_values(hint, defaults.get(key))
                channel = _option_channel(name, hint)
                compare = ["compare", "--input", str(demo_sample_path(channel)), "--methods"]
                compare += [name, "--max-events", str(OPTION_EVENTS), "--no-report"]
                if (name, channel) not in warm:  # untimed: the first run compiles the kernels
                    _run_cli(compare)
                    warm.add((name, channel))
                runs = [(v, "refuse") for v in refuse] + [(v, "doubtful") for v in doubtful]
                for value, expect in runs + [(v, "good") for v in good]:
                    summary.unlink(missing_ok=True)
                    args = [*compare, "--json", str(summary), "--option", f"{name}.{key}={value}"]
                    code, stderr = _run_cli(args, OPTION_SECONDS)
                    counts[_option_outcome(name, key, value, expect, code, stderr, summary)] += 1
    return {name: dict(counts) for name, counts in out.items()}


def _option_outcome(name, key, value, expect, code, stderr, summary: Path) -> str:
    """How one ``--option name.key=value`` run ended, in the words of the table."""
    shown = f"{name}.{key}={value!r}"
    others = [other for other in option_hints(name) if other != key]
    if _clear_error(code, stderr, (2,)) and key in stderr:
        if expect != "good":
            return "refused"
        bound = [other for other in others if other in stderr]  # ascent_starts ≤ ascent_draws
        return f"refused, bounded by {bound[0]}" if bound else f"good value refused ({shown})"
    if code == 130 and expect != "good":
        return f"bad value ran > {OPTION_SECONDS:g} CPU s (silently accepted: {shown})"
    if code != 0:
        return f"exit {code} ({shown}): {stderr.strip().splitlines()[-1:]}"
    valid = json.loads(summary.read_text())["methods"][name]["valid_fraction"]
    if expect == "refuse" or (expect == "doubtful" and not valid):
        return f"bad value ran, valid {valid} (silently accepted: {shown})"
    return "ran"  # a good value at its range's end may find few solutions (nw.w_mass=160)


# --------------------------------------------------------------------------- full disk

DISK_SIZE = "256k"
"""Size of the tmpfs that stands for a full disk."""


def _fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until at most ``leave`` bytes are free."""
    with open(folder / "filler", "wb") as filler, contextlib.suppress(OSError):
        while (free := os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize) > leave:
            filler.write(b"\0" * min(4096, free - leave))
            filler.flush()


def _tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-1 of every file below ``folder`` (links followed, not entered)."""
    return {
        str(path.relative_to(folder)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def fuzz_full_disk() -> dict[str, dict]:
    """Every writing command with ``--out`` on a full (and on a nearly full) small tmpfs:
    a one-line error with a non-zero exit, no traceback, and nothing left behind on the
    disk; on the nearly full one an output that fits may be written whole. Skipped, with
    the reason, where mounting a tmpfs is not permitted."""
    out: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        disk = Path(tmp) / "disk"
        disk.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            reason = f"skipped: mounting a tmpfs failed ({mounted.stderr.strip()})"
            return {"full disk": {reason: 1}}
        try:
            for leave in (0, 64 * 1024):
                _fill(disk, leave)
                for command, args in _disk_commands(disk).items():
                    before = _tree(disk)
                    code, stderr = _run_cli(args)
                    left = sorted(set(_tree(disk)) - set(before))
                    counts = out.setdefault(command, Counter())
                    if _clear_error(code, stderr) and not left:
                        counts[f"clear error, nothing left ({leave // 1024} kB free)"] += 1
                    elif code == 0 and leave:
                        counts["written whole (it fit)"] += 1
                        for name in left:
                            (disk / name).unlink()
                    else:
                        counts[f"exit {code}, left {left} ({leave // 1024} kB free)"] += 1
                (disk / "filler").unlink()
        finally:
            subprocess.run(["umount", str(disk)], check=True)
    return {command: dict(counts) for command, counts in out.items()}


def _disk_commands(disk: Path) -> dict[str, list[str]]:
    """Each writing command, reading the shipped dilepton sample or model, writing to ``disk``."""
    data = str(demo_sample_path("dilepton"))
    run = ["--input", data, "--methods", "truth,ellipse"]
    return {
        "reconstruct": ["reconstruct", *run, "--out", str(disk / "r.root")],
        "compare --out": ["compare", *run, "--max-events", "300", "--out", str(disk / "report")],
        "compare --json": ["compare", *run, "--no-report", "--json", str(disk / "c.json")],
        "train": [
            "train",
            "--input",
            data,
            "--out",
            str(disk / "m.pt"),
            "--preset",
            "tiny",
            "--epochs",
            "1",
            "--max-events",
            "300",
        ],
        "export": [
            "export",
            "--model",
            str(shipped_model_path("dilepton")),
            "--out",
            str(disk / "m.onnx"),
        ],
    }


# --------------------------------------------------------------------------- signals

SIGNAL_DELAY = 0.3
"""Seconds between seeing a method's kernel run and sending the signal."""
SIGNAL_WAIT = 60.0
"""Seconds a signalled command may take to end."""
STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
"""The exit status each signal must give (SIGKILL: killed)."""


def _descendants(pid: int) -> set[int]:
    """Processes below ``pid`` (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, waiting for init to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _signal_run(args: list[str], folder: Path, ready: Callable[[str, int], bool], signum) -> str:
    """Run ``nuanalysis args`` in a child process in ``folder``, send ``signum`` once
    ``ready(stderr so far, pid)``, and say how it ended in the words of the table."""
    before = _tree(folder)
    process = subprocess.Popen(
        [sys.executable, "-m", "nuanalysis", *args],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not inherited
    )
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(process.stderr.read1, b"")))
    reader.start()
    while process.poll() is None and not ready(
        b"".join(chunks).decode(errors="replace"), process.pid
    ):
        time.sleep(0.05)
    time.sleep(SIGNAL_DELAY)
    workers = _descendants(process.pid)
    if process.poll() is not None:
        reader.join()
        return f"finished before the signal (exit {process.returncode})"
    process.send_signal(signum)
    try:
        code: int | str = process.wait(timeout=SIGNAL_WAIT)
    except subprocess.TimeoutExpired:
        code = f"none: still running {SIGNAL_WAIT:g} s after the signal"
        process.kill()
        process.wait()
    reader.join()
    time.sleep(1.0)
    alive = {pid for pid in workers if _running(pid)}
    for pid in alive:  # the benchmark cleans up what it found
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    stderr = b"".join(chunks).decode(errors="replace")
    problems = [f"exit {code}"] if code != STATUS[signum] else []
    if signum != signal.SIGKILL and not _clear_error(code, stderr, (STATUS[signum],)):
        problems.append("not one line" if "Traceback" not in stderr else "traceback")
    problems += [f"{len(alive)} workers alive after 1 s"] if alive else []
    stray = sorted(set(_tree(folder)) ^ set(before))
    problems += [f"stray files {stray}"] if stray else []
    said = "one line, " if signum != signal.SIGKILL else ""
    return ", ".join(problems) or f"exit {code}, {said}no worker or stray file left"


def fuzz_signals() -> dict[str, dict]:
    """SIGINT and SIGTERM to ``compare --methods M --out`` while each method's kernel runs
    (the progress bar names it running), and SIGINT, SIGTERM and SIGKILL to ``generate
    --jobs 2`` while its workers run: exit 130/143 with one line and no traceback (SIGKILL:
    killed), no stray files, no worker alive a second after the parent ended."""
    out: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = {}
        for channel in CHANNELS:  # 5 × 3000 events: the slow kernels run for seconds
            for k in range(5):
                shutil.copy(demo_sample_path(channel), folder / f"{channel}_{k}.root")
            inputs[channel] = str(folder / f"{channel}_*.root")
        for name in available_methods():
            channel = next(c for c in CHANNELS if name in available_methods(c))
            args = ["compare", "--input", inputs[channel], "--methods", name, "--out", "report"]
            for signum in (signal.SIGINT, signal.SIGTERM):
                ready = functools.partial(_names_running, name)
                outcome = _signal_run(args, folder, ready, signum)
                out.setdefault(f"compare {name}", Counter())[f"{signum.name}: {outcome}"] += 1
        generate = ["generate", "--channel", "dilepton", "--events", "2000000", "--jobs", "2"]
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            outcome = _signal_run([*generate, "--out", "g.root"], folder, _workers_run, signum)
            out.setdefault("generate --jobs 2", Counter())[f"{signum.name}: {outcome}"] += 1
    return {name: dict(counts) for name, counts in out.items()}


def _names_running(method: str, stderr: str, pid: int) -> bool:
    """Whether the progress bar names ``method`` as running (its kernel, after preparing)."""
    return f", {method}]" in stderr


def _workers_run(stderr: str, pid: int) -> bool:
    """Whether ``pid`` has at least two worker processes."""
    return len(_descendants(pid)) >= 2


# --------------------------------------------------------------------------- user files

USER_FILES = {"thesis.pdf": "x", "notes.md": "x", "results.json": "{}", "page.html": "x"}


def fuzz_user_files() -> dict[str, dict]:
    """``--out`` at a folder of user files, at a link to one, at a link to an earlier
    report, at an input file, at ``.`` (inside the user files) and ``''``, for every
    writing command: refused in one line or written (through a link), never a user file
    lost or changed (checksums before and after), no traceback."""
    out: dict[str, Counter] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        docs = home / "thesis"
        docs.mkdir()
        for name, text in USER_FILES.items():
            (docs / name).write_text(text)
        shutil.copy(demo_sample_path("dilepton"), home / "data.root")
        shutil.copy(demo_sample_path("dilepton"), home / "data.ckpt")
        (home / "linkthesis").symlink_to(docs)
        compare = ["compare", "--input", "data.root", "--methods", "truth", "--max-events", "50"]
        _run_cli([*compare, "--out", str(home / "realrep")])  # an earlier report
        (home / "linkrep").symlink_to(home / "realrep")
        user = {k: v for k, v in _tree(home).items() if not k.startswith("realrep")}
        saved = {name: (home / name).read_bytes() for name in user}
        shutil.copy(shipped_model_path("dilepton"), home / "model.pt")  # export's input
        train = ["train", "--preset", "tiny", "--epochs", "1", "--max-events", "100"]
        runs = {
            "compare": [
                [*compare, "--out", target] for target in ("thesis", "linkthesis", "linkrep")
            ]
            + [[*compare, "--out", target] for target in ("data.root", "", ".")],
            "reconstruct": [
                ["reconstruct", "--input", "data.root", "--methods", "truth", "--out", target]
                for target in ("thesis", "linkthesis", "data.root", "", ".")
            ],
            "train": [
                [*train, "--input", "data.ckpt", "--out", "data"],  # its checkpoint: data.ckpt
                *(
                    [*train, "--input", "data.root", "--out", target]
                    for target in ("thesis", "data.root", "")
                ),
            ],
            "export": [
                ["export", "--model", "model.pt", "--out", target]
                for target in (
                    "thesis",
                    "linkthesis",
                    "model.pt",
                    "",
                    "thesis/results.onnx",
                )  # .json
            ],
        }
        for command, argument_lists in runs.items():
            counts = out.setdefault(command, Counter())
            for args in argument_lists:
                inside = args[-1] == "."
                with contextlib.chdir(docs if inside else home):
                    code, stderr = _run_cli(args)
                after = _tree(home)
                lost = [name for name, digest in user.items() if after.get(name) != digest]
                shown = f"--out {args[-1]!r}"
                if lost:
                    counts[f"user files lost {lost} ({shown})"] += 1
                    for name in lost:  # restored for the next run
                        (home / name).write_bytes(saved[name])
                elif code == 0:
                    counts["written"] += 1
                elif _clear_error(code, stderr):
                    counts["refused in one line"] += 1
                else:
                    counts[f"exit {code} ({shown})"] += 1
    return {command: dict(counts) for command, counts in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="perturbed events per channel")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-methods", action="store_true", help="skip the Python API part")
    parser.add_argument("--no-reader", action="store_true", help="skip the reader part")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line part")
    parser.add_argument("--no-options", action="store_true", help="skip the option ranges")
    parser.add_argument("--no-disk", action="store_true", help="skip the full disk")
    parser.add_argument("--no-signals", action="store_true", help="skip the signals")
    parser.add_argument("--no-user-files", action="store_true", help="skip the user files")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job ignores it

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
        _print_counts(
            "CLI: runs per command on damaged files (target: clear error, exit 0 on good "
            "input only, nothing else)",
            report["cli"],
        )
    if not args.no_options:
        report["options"] = fuzz_options()
        _print_counts(
            "Option ranges: every method option through compare --option (targets: bad values "
            "refused in one line, good values run)",
            report["options"],
        )
    classes = {
        "disk": (args.no_disk, fuzz_full_disk, "Full disk: --out on a full 256 kB tmpfs"),
        "signals": (args.no_signals, fuzz_signals, "Signals during every kernel"),
        "user_files": (args.no_user_files, fuzz_user_files, "--out at user files"),
    }
    for key, (skip, run, title) in classes.items():
        if not skip:
            report[key] = run()
            _print_counts(title, report[key])
    report["summary"] = summary(report)
    _print_counts("Summary (targets: all 0)", report["summary"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


FINE = ("read", "refused", "clear error", "ran", "written", "skipped", "finished before")
"""How the outcomes that meet the targets begin (after the failures' words are looked for)."""


def _failure(outcome: str) -> str | None:
    """The summary column an outcome of a class counts in; None where it meets the targets."""
    if "silently" in outcome or "on bad input" in outcome:
        return "silently accepted bad values"
    if "lost" in outcome:
        return "user files lost"
    if outcome.startswith("good"):
        return "good inputs refused"
    if outcome == "exit 0" or (
        "naming other" not in outcome
        and (outcome.startswith(FINE) or outcome.endswith(("nothing left", "stray file left")))
    ):
        return None
    return "unexpected outcomes"


def summary(report: dict) -> dict[str, dict[str, int]]:
    """Per class: unexpected outcomes (exceptions, tracebacks, wrong exit, leftovers, live
    workers), silently accepted bad values, good inputs refused, user files lost."""
    columns = [
        "unexpected outcomes",
        "silently accepted bad values",
        "good inputs refused",
        "user files lost",
    ]
    table = {}
    for name, rows in report.items():
        counts = dict.fromkeys(columns, 0)
        for row in rows.values():
            if name == "methods":
                counts["unexpected outcomes"] += sum(row["other_exceptions"].values())
                counts["silently accepted bad values"] += row["valid_nonfinite_or_huge"]
                counts["good inputs refused"] += sum(row["physical_batches_refused"].values())
                continue
            for outcome, count in row.items():
                if column := _failure(outcome.partition(": ")[2] if name == "signals" else outcome):
                    counts[column] += count
        table[name] = counts
    return table


def _print_counts(title: str, table: dict[str, dict]) -> None:
    print(f"\n{title}")
    for name, counts in table.items():
        print(f"{name:<16} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


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
