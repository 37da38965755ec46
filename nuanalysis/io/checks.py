"""Checks of schema-named branch columns, run once per chunk as it is read.

The reader (:mod:`nuanalysis.io.reading`) hands every chunk's columns here
before they become events or padded arrays, so each entry is checked once.
Rules are those of :mod:`nuanalysis.validation` (the check of the padded arrays
every method applies), stated on branches so that errors name the file, the
branch (as the file calls it) and the entry, and so that what padding hides
— a negative pT or MET is only a rotated vector once Cartesian — is caught.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from baselines.constants import MAX_COLLISION_ENERGY
from nuanalysis import schema
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.mapping import spelled
from nuanalysis.padded import CHANNELS, MAX_JETS, N_LEPTONS, N_NEUTRINOS
from nuanalysis.validation import ROUNDING, TRANSVERSE_BOUND, mev_message, mev_scale

Columns = dict[str, ak.Array]
"""Schema branch name -> values of one chunk (jagged, fixed-size or flat)."""

_FOUR_VECTORS = ("jet", "lep", "truth_parton", "truth_top", "truth_antitop")
_RECO_OBJECTS = ("jet", "lep")

SCALE_FLOOR = 1.0
"""Median jet pT (GeV) below which a sample is refused as being in the wrong unit.

Jets of a tt̄ selection have a median pT of 40–70 GeV and no LHC analysis keeps
jets below ~15 GeV; a GeV file read with a MeV scale (× 0.001) has a median of
0.04–0.07 "GeV". The bound sits a factor ~50 from both, the mirror of the MeV
refusal (:func:`nuanalysis.validation.mev_scale`)."""


def _first_entry(bad: ak.Array | np.ndarray) -> int | None:
    """Index of the first event with a True anywhere in ``bad``, or None."""
    per_event = bad if bad.ndim == 1 else ak.any(bad, axis=-1)
    per_event = ak.to_numpy(per_event)
    return int(np.argmax(per_event)) if per_event.any() else None


def _flat(values: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(values, axis=None))


def _first_value(values: ak.Array, bad: ak.Array, entry: int):
    """The first offending value of ``entry`` (its objects' values where ``bad``)."""
    row, mask = values[entry], bad[entry]
    return row if np.ndim(mask) == 0 else ak.to_list(row[mask])[0]


def check_exact(
    values: ak.Array, spec: schema.Branch, label: str, where: str, offset: int, scores: bool
) -> None:
    """An integer or boolean branch holds values its schema type holds exactly.

    A cast would wrap an int8 (pid 269 → 13, charge 257 → 1), truncate a float
    (charge 1.7 → 1) or turn any non-zero b-tag score into "tagged". ``scores``:
    the b-tag branch holds scores cut at a working point, which need only be finite.
    """
    if spec.dtype.kind not in "biu":
        return
    with np.errstate(invalid="ignore", over="ignore"):
        if scores:
            bad = ~np.isfinite(ak.values_astype(values, np.float64))
            rule = "a b-tag score that is not a finite number"
        elif spec.dtype == np.bool_:
            bad = (values != 0) & (values != 1)
            rule = (
                "a b-tag that is not a decision (0 or 1): cut scores at a working point "
                "(a mapping's btag_working_point; tagged: score ≥ it)"
            )
        else:
            info = np.iinfo(spec.dtype)
            bad = (values < info.min) | (values > info.max) | (np.round(values) != values)
            rule = (
                f"a value {spec.name} cannot hold: the schema stores it as {spec.dtype.name} "
                f"(whole numbers {info.min}…{info.max}); {_ALLOWED[spec.name]}"
            )
    entry = _first_entry(bad)
    if entry is not None:
        value = _first_value(values, bad, entry)
        raise InputError(
            f"{where}: branch {label} holds {value:.7g} at entry {offset + entry}, {rule}"
        )


_ALLOWED = {
    "lep_charge": "a lepton's charge is ±1",
    "lep_pid": "a lepton's pid is ±11 or ±13",
    "jet_match": "a jet's match is a parton index 0–5 or -1",
    "truth_nu_pid": "a neutrino's pid is ±12 or ±14 (±16)",
    "truth_parton_pid": "a parton's pid is a PDG id",
}
"""What an integer branch may hold, for :func:`check_exact`'s refusals."""


def check_energy(
    energy: ak.Array, pt: ak.Array, eta: ak.Array, label: str, where: str, offset: int
) -> None:
    """A mapped energy is at least the momentum pT cosh η (up to float32 rounding).

    The rule of a mass branch (non-negative mass) stated for an energy read in its
    place (``jet_e``): E² − p² would fold E = −117 GeV into a positive mass and
    E < |p| into a massless object.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        momentum = ak.values_astype(pt, np.float64) * np.cosh(ak.values_astype(eta, np.float64))
        e = ak.values_astype(energy, np.float64)
        rules = [
            ("a negative energy", e < 0),
            (
                "an energy below the momentum pT cosh η (E < |p|: no particle has it)",
                e < momentum * (1 - ROUNDING) - ROUNDING,
            ),
        ]
    for what, bad in rules:
        entry = _first_entry(bad)
        if entry is not None:
            raise InputError(
                f"{where}: branch {label} holds {what} (first at entry {offset + entry}: "
                f"E = {_first_value(energy, bad, entry):.6g})"
            )


def check_finite(columns: Columns, labels: dict[str, str], where: str, offset: int) -> None:
    """Every float branch is finite; the error names the branch and the first entry."""
    for name in schema.FLOAT_BRANCHES:
        if name not in columns or np.isfinite(_flat(columns[name])).all():
            continue
        kind = "NaN" if np.isnan(_flat(columns[name])).any() else "inf"
        entry = offset + _first_entry(~np.isfinite(columns[name]))
        raise InputError(
            f"{where}: branch {labels[name]} holds {kind} values (first at entry {entry})"
        )


def check_structure(columns: Columns, labels: dict[str, str], where: str, offset: int) -> None:
    """Branches of one collection agree in multiplicity; truth partons come in sixes."""
    for collection in schema.JAGGED_COLLECTIONS:
        names = [
            b.name for b in schema.BRANCHES if b.collection == collection and b.name in columns
        ]
        if not names:
            continue
        reference = ak.to_numpy(ak.num(columns[names[0]], axis=1))
        for name in names[1:]:
            counts = ak.to_numpy(ak.num(columns[name], axis=1))
            if not np.array_equal(counts, reference):
                entry = offset + int(np.argmax(counts != reference))
                raise InputError(
                    f"{where}: branches {labels[names[0]]} and {labels[name]} differ in "
                    f"length at entry {entry}"
                )
    for name in (b.name for b in schema.BRANCHES if b.collection == "truth_parton"):
        if name not in columns:
            continue
        counts = ak.to_numpy(ak.num(columns[name], axis=1))
        if (counts != schema.N_PARTONS).any():
            i = int(np.argmax(counts != schema.N_PARTONS))
            raise InputError(
                f"{where}: branch {labels[name]} must hold {schema.N_PARTONS} partons "
                f"per event, entry {offset + i} has {counts[i]}"
            )
        columns[name] = ak.to_regular(columns[name], axis=1)


def lepton_channel(counts: np.ndarray, channel: str | None, where: str, offset: int = 0) -> str:
    """Channel from lepton multiplicities; ChannelError names the first offending entry."""
    if channel is not None:
        if channel not in CHANNELS:
            raise ChannelError(f"unknown channel {channel!r}; choose one of {CHANNELS}")
        expected = N_LEPTONS[channel]
        bad = counts != expected
        if bad.any():
            i = int(np.argmax(bad))
            raise ChannelError(
                f"{where}: entry {offset + i} has {counts[i]} lepton(s), but the {channel} "
                f"channel needs exactly {expected}"
            )
        return channel
    by_count = {n_lep: name for name, n_lep in N_LEPTONS.items()}
    first = int(counts[0])
    if first not in by_count:
        raise ChannelError(
            f"{where}: entry {offset} has {first} lepton(s); semileptonic events need 1, "
            "dilepton events 2"
        )
    bad = counts != first
    if bad.any():
        i = int(np.argmax(bad))
        raise ChannelError(
            f"{where}: mixed lepton multiplicities: entry {offset} has {first} lepton(s), "
            f"entry {offset + i} has {counts[i]}; select one channel first"
        )
    return by_count[first]


def _check_leptons(columns: Columns, channel: str, where: str, offset: int) -> None:
    """Leptons are e or μ of charge ±1, and a dilepton event has ℓ⁺ℓ⁻ (ν ↔ W⁺ pairing)."""
    charge = columns["lep_charge"]
    bad = ak.to_numpy(ak.any(abs(charge) != 1, axis=1))
    what = "a lepton charge other than ±1"
    if channel == "dilepton" and not bad.any():
        bad = ak.to_numpy(ak.sum(charge, axis=1) != 0)
        what = "two leptons of the same charge (dilepton events need ℓ⁺ℓ⁻)"
    if bad.any():
        raise InputError(f"{where}: entry {offset + int(np.argmax(bad))} has {what}")
    pid = abs(columns["lep_pid"])
    entry = _first_entry((pid != 11) & (pid != 13))
    if entry is not None:
        raise InputError(
            f"{where}: entry {offset + entry} has a lepton of pid "
            f"{ak.to_list(columns['lep_pid'][entry])}; the methods take electrons (11) and "
            "muons (13) only: select them (τ leptons decay to a further neutrino)"
        )


def _check_jets(counts: np.ndarray, where: str, offset: int) -> None:
    """Every tt̄ event has at least one jet; an empty jet set would leave the flows'
    attention over nothing (NaN) and the b-jet methods without candidates."""
    if len(counts) and (counts == 0).any():
        raise InputError(
            f"{where}: entry {offset + int(np.argmax(counts == 0))} has no jets; tt̄ events "
            "need jets (apply the channel's selection: ≥ 4 jets semileptonic, ≥ 2 dilepton)"
        )


def _check_truth_neutrinos(columns: Columns, channel: str, where: str, offset: int) -> None:
    if "truth_nu_pt" not in columns:
        return
    counts = ak.to_numpy(ak.num(columns["truth_nu_pt"], axis=1))
    bad = counts != N_NEUTRINOS[channel]
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{where}: entry {offset + i} has {counts[i]} truth neutrino(s), but {channel} "
            f"events have {N_NEUTRINOS[channel]}"
        )


def _bound_rules(columns: Columns, prefix: str) -> list[tuple[str, str, ak.Array]]:
    """For one four-vector collection: (branch, what is wrong, per-object failure mask)."""
    pt, eta, mass = (columns[f"{prefix}_{f}"] for f in ("pt", "eta", "mass"))
    momentum = ak.values_astype(pt, np.float64) * np.cosh(ak.values_astype(eta, np.float64))
    energy = np.sqrt(momentum**2 + ak.values_astype(mass, np.float64) ** 2)
    rules = [
        (f"{prefix}_pt", "a negative pT", pt < 0),
        (f"{prefix}_pt", f"a pT beyond {TRANSVERSE_BOUND:.0f} GeV", pt > TRANSVERSE_BOUND),
        (f"{prefix}_mass", "a negative mass", mass < -ROUNDING * (1 + momentum)),
    ]
    if prefix in _RECO_OBJECTS:  # generator truth may sit anywhere along the beam
        bound = f"an energy beyond {MAX_COLLISION_ENERGY:.0f} GeV"
        rules += [  # the branch that makes the energy too large: η (pT is bounded above), m
            (f"{prefix}_eta", f"{bound} (pT cosh η)", momentum > MAX_COLLISION_ENERGY),
            (f"{prefix}_mass", f"{bound} (√(p² + m²))", energy > MAX_COLLISION_ENERGY),
            (f"{prefix}_pt", "an object without momentum (pT = mass = 0)", energy <= 0),
        ]
    return rules


def check_bounds(columns: Columns, labels: dict[str, str], where: str, offset: int) -> None:
    """Non-negative pT, MET and masses, and nothing beyond what an LHC collision can give."""
    met = columns["met"]
    with np.errstate(over="ignore", invalid="ignore"):
        rules = [
            rule
            for prefix in _FOUR_VECTORS
            if f"{prefix}_pt" in columns
            for rule in _bound_rules(columns, prefix)
        ]
        rules += [
            ("met", "a negative MET", met < 0),
            ("met", f"a MET beyond {TRANSVERSE_BOUND:.0f} GeV", met > TRANSVERSE_BOUND),
        ]
        if "truth_nu_pt" in columns:
            rules.append(("truth_nu_pt", "a negative pT", columns["truth_nu_pt"] < 0))
    for branch, what, bad in rules:
        entry = _first_entry(bad)
        if entry is not None:
            raise InputError(
                f"{where}: branch {labels[branch]} holds {what} (first at entry {offset + entry})"
            )


def _check_scale_floor(jet_pt: np.ndarray, where: str, scale_hint: str) -> None:
    """The mirror of the MeV refusal: a median jet pT below :data:`SCALE_FLOOR`."""
    median = float(np.median(jet_pt)) if jet_pt.size else None
    if median is not None and median < SCALE_FLOOR:
        raise InputError(
            f"{where}: the jets' median pT is {median:.3g} GeV, below what any tt̄ selection "
            f"keeps ({SCALE_FLOOR:g} GeV): the energies are in the wrong unit, e.g. a GeV "
            f"sample read with scale = 0.001{scale_hint}"
        )


def check_order(columns: Columns, labels: dict[str, str], where: str, offset: int) -> None:
    """Jets and leptons are pT-ordered, leading first, as the schema has them.

    The methods rely on it: the padding keeps the leading :data:`MAX_JETS` jets, the
    flows were trained on objects in that order and the dilepton methods take the
    leading lepton first. A file in another order is refused rather than silently
    reordered; a mapping with ``sort_by_pt = true`` has the reader sort it.
    """
    for prefix in _RECO_OBJECTS:
        pt = columns[f"{prefix}_pt"]
        entry = _first_entry(pt[:, 1:] > pt[:, :-1])
        if entry is not None:
            fix = spelled(
                "--mapping FILE whose mapping says sort_by_pt = true",
                "mapping={'sort_by_pt': True} (or a mapping file saying so)",
            )
            raise InputError(
                f"{where}: branch {labels[f'{prefix}_pt']} is not in decreasing pT order at "
                f"entry {offset + entry} ({[round(v, 3) for v in ak.to_list(pt[entry])]}); "
                f"the methods take the leading objects first (the leading {MAX_JETS} jets): "
                f"write them pT-ordered, or read the file with {fix}"
            )


def check_columns(
    columns: Columns,
    labels: dict[str, str],
    where: str,
    offset: int,
    channel: str | None,
    scale_hint: str = "",
) -> str:
    """Every check of one chunk, in the order that gives the most useful message first.

    Returns the channel (``channel``, or detected from the lepton multiplicity).
    ``scale_hint`` is appended to the refusals of a sample in the wrong unit, MeV or a
    thousandth of GeV (e.g. the mapping in use and its scale).
    """
    check_finite(columns, labels, where, offset)
    jet_pt = _flat(columns["jet_pt"])
    median = mev_scale(jet_pt, _flat(columns["met"]))
    if median is not None:  # before the bounds, which would name one object of it
        raise InputError(mev_message(where, median) + scale_hint)
    channel = lepton_channel(ak.to_numpy(ak.num(columns["lep_pt"], axis=1)), channel, where, offset)
    _check_leptons(columns, channel, where, offset)
    _check_jets(ak.to_numpy(ak.num(columns["jet_pt"], axis=1)), where, offset)
    _check_truth_neutrinos(columns, channel, where, offset)
    check_bounds(columns, labels, where, offset)
    _check_scale_floor(jet_pt, where, scale_hint)
    check_order(columns, labels, where, offset)
    return channel
