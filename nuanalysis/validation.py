"""The one physical check of the events a neutrino method is given (issue 13, "Inputs").

Rule: input that is not physical is **refused** with an
:class:`~nuanalysis.errors.InputError` naming the event (file entry) and the
array (branch) at fault — it never reaches numba or torch, and never comes back
as a plausible number or as a silently invalid event. Refusing rather than
marking such events invalid keeps ``valid`` meaning one thing (the method found
a solution for a physical event), and a file with garbage in it is a file to
fix, not a failure rate to quote. To run on the physical part of a damaged
sample anyway, select it explicitly: ``events.select(physical_mask(events))``.

An event is physical when (objects of the channel's multiplicity, the jets
that ``jet_mask`` marks):

* every value is finite (the only rule for generator truth, which may sit far
  along the beam);
* there is at least one jet, and every lepton is present (non-zero four-momentum);
* no object has more energy than :data:`~baselines.constants.MAX_COLLISION_ENERGY`
  (the LHC's design √s) nor more transverse momentum than half of it, and the
  MET is below half of it too;
* every object has E ≥ |p| up to float32 rounding (a non-negative mass);
* leptons are electrons or muons (pid 11, 13) of charge ±1, and a dilepton
  event has one ℓ⁺ and one ℓ⁻.

A sample whose jets or MET have a median beyond the transverse bound is not a
sample of garbage events but of the wrong unit (MeV): that is refused as a
whole, pointing at the mapping that converts it.
"""

from __future__ import annotations

import numpy as np

from baselines.constants import MAX_COLLISION_ENERGY
from nuanalysis.errors import InputError
from nuanalysis.kinematics import pt
from nuanalysis.mapping import spelled
from nuanalysis.padded import PaddedEvents

TRANSVERSE_BOUND = MAX_COLLISION_ENERGY / 2
"""Largest transverse momentum (or MET) one LHC collision can give one object, GeV."""

ROUNDING = 1e-3
"""Relative (and absolute, GeV) tolerance of E ≥ |p| for momenta stored as float32."""

MEV_MAPPING = "atlas_mev"
"""The shipped mapping (by name) that reads an ATLAS-style MeV ntuple in GeV."""


def mev_scale(jet_pt: np.ndarray, met: np.ndarray) -> float | None:
    """The median jet pT or MET (GeV) if it is beyond :data:`TRANSVERSE_BOUND`, else None.

    A median, not a maximum, so that one garbage event does not pass for a unit problem:
    tt̄ jets and MET have medians of 50–70 GeV, so in MeV 50 000–70 000 "GeV".
    """
    medians = [float(np.median(v)) for v in (jet_pt, met) if np.size(v)]
    finite = [m for m in medians if np.isfinite(m)]
    return max(finite) if finite and max(finite) > TRANSVERSE_BOUND else None


def mev_message(where: str, median: float) -> str:
    """The refusal of a sample in MeV, with the option that reads it in GeV."""
    return (
        f"{where}: the jets' or MET's median is {median:.4g} GeV, beyond what an LHC collision "
        f"can give ({TRANSVERSE_BOUND:.0f} GeV): the sample looks like it is in MeV. Read it "
        "through a mapping with scale = 0.001, e.g. "
        + spelled(f"--mapping {MEV_MAPPING}", f"mapping={MEV_MAPPING!r}")
    )


def _objects(p4: np.ndarray, present: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Per-event failures of the present objects of a (n, k, 4) array."""
    momentum = np.sqrt(np.sum(p4[..., :3] ** 2, axis=-1))
    energy = p4[..., 3]
    rules = {
        f"{name}: a value is NaN or inf": ~np.isfinite(p4).all(axis=-1),
        f"{name}: an object has no momentum (missing)": energy <= 0.0,
        f"{name}: an energy beyond {MAX_COLLISION_ENERGY:.0f} GeV": energy > MAX_COLLISION_ENERGY,
        f"{name}: a pT beyond {TRANSVERSE_BOUND:.0f} GeV": pt(p4) > TRANSVERSE_BOUND,
        f"{name}: an energy below the momentum (negative mass)": energy
        < momentum * (1 - ROUNDING) - ROUNDING,
    }
    return {reason: (bad & present).any(axis=1) for reason, bad in rules.items()}


def unphysical(events: PaddedEvents) -> dict[str, np.ndarray]:
    """Each rule of the module docstring, as its reason -> (n,) mask of the events breaking it."""
    n = len(events)
    with np.errstate(all="ignore"):
        failures = _objects(events.jets, events.jet_mask, "jets")
        failures.update(
            _objects(events.leptons, np.ones(events.leptons.shape[:2], bool), "leptons")
        )
        charge = events.lep_charge.astype(np.int64)
        failures.update(
            {
                "no jets (jet_mask is empty)": ~events.jet_mask.any(axis=1),
                "met: NaN or inf": ~np.isfinite(events.met).all(axis=1),
                f"met: beyond {TRANSVERSE_BOUND:.0f} GeV": pt(events.met) > TRANSVERSE_BOUND,
                "weight: NaN or inf": ~np.isfinite(events.weight),
                "lep_pid: a lepton other than e (11) or μ (13)": ~np.isin(
                    np.abs(events.lep_pid), (11, 13)
                ).all(axis=1),
                "lep_charge: a charge other than ±1": (np.abs(charge) != 1).any(axis=1),
            }
        )
        if events.channel == "dilepton":
            failures["lep_charge: two leptons of the same charge (need ℓ⁺ℓ⁻)"] = (
                charge.sum(axis=1) != 0
            )
        for name in ("truth_nu", "truth_partons", "truth_top", "truth_antitop"):
            value = getattr(events, name)
            if value is not None:
                failures[f"{name}: NaN or inf"] = ~np.isfinite(value.reshape(n, -1)).all(axis=1)
    return failures


def physical_mask(events: PaddedEvents) -> np.ndarray:
    """(n,) True for the events that pass every rule (to select a damaged sample's good part)."""
    failures = unphysical(events)
    return ~np.any(list(failures.values()), axis=0) if failures else np.ones(len(events), bool)


def check_events(events: PaddedEvents, where: str = "events") -> None:
    """Refuse ``events`` unless every event is physical (rules: module docstring).

    Raises :class:`~nuanalysis.errors.InputError` for a sample in MeV (pointing at
    the mapping) or naming the first unphysical event and what is wrong with it.
    """
    if len(events) == 0:
        return
    with np.errstate(all="ignore"):
        median = mev_scale(pt(events.jets)[events.jet_mask], pt(events.met))
    if median is not None:
        raise InputError(mev_message(where, median))
    failures = unphysical(events)
    firsts = {reason: int(np.argmax(bad)) for reason, bad in failures.items() if bad.any()}
    if firsts:
        event = min(firsts.values())
        reasons = "; ".join(reason for reason, first in firsts.items() if first == event)
        count = int(np.any(list(failures.values()), axis=0).sum())
        raise InputError(
            f"{where}: event {event} is not physical ({reasons}); {count} of {len(events)} "
            "events are not. Fix the input, or select the physical ones with "
            "events.select(nuanalysis.validation.physical_mask(events))"
        )
