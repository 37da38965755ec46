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
from nuanalysis.padded import CHANNELS, N_LEPTONS, N_NEUTRINOS
from nuanalysis.validation import ROUNDING, TRANSVERSE_BOUND, mev_message, mev_scale

Columns = dict[str, ak.Array]
"""Schema branch name -> values of one chunk (jagged, fixed-size or flat)."""

_FOUR_VECTORS = ("jet", "lep", "truth_parton", "truth_top", "truth_antitop")
_RECO_OBJECTS = ("jet", "lep")


def _first_entry(bad: ak.Array | np.ndarray) -> int | None:
    """Index of the first event with a True anywhere in ``bad``, or None."""
    per_event = bad if bad.ndim == 1 else ak.any(bad, axis=-1)
    per_event = ak.to_numpy(per_event)
    return int(np.argmax(per_event)) if per_event.any() else None


def _flat(values: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(values, axis=None))


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
        what = f"an energy beyond {MAX_COLLISION_ENERGY:.0f} GeV (pT cosh η, mass)"
        rules.append((f"{prefix}_eta", what, energy > MAX_COLLISION_ENERGY))
        rules.append((f"{prefix}_pt", "an object without momentum (pT = mass = 0)", energy <= 0))
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
    ``scale_hint`` is appended to the refusal of a sample in MeV (e.g. the mapping in use).
    """
    check_finite(columns, labels, where, offset)
    median = mev_scale(_flat(columns["jet_pt"]), _flat(columns["met"]))
    if median is not None:
        raise InputError(mev_message(where, median) + scale_hint)
    channel = lepton_channel(ak.to_numpy(ak.num(columns["lep_pt"], axis=1)), channel, where, offset)
    _check_leptons(columns, channel, where, offset)
    _check_jets(ak.to_numpy(ak.num(columns["jet_pt"], axis=1)), where, offset)
    _check_truth_neutrinos(columns, channel, where, offset)
    check_bounds(columns, labels, where, offset)
    return channel
