"""Detector systematic variations of the reconstructed objects of any ntuple, MET kept consistent.

Each variation returns a copy of :class:`~nuanalysis.padded.PaddedEvents` with changed reco
objects; the truth is untouched, so the same events reconstructed with every neutrino method
show how far each method carries a detector uncertainty into its observables. Stochastic
variations draw from ``numpy.random.default_rng(seed)``: the same seed gives the same sample.

- ``jes_up`` / ``jes_down``: every jet's four-momentum scaled by ``1 ± u(E, |η|)`` with the
  jet-energy-scale uncertainty ``u = JES_FRACTION_OF_RESOLUTION × σ_E/E`` from the detector's
  jet resolution (:meth:`~nuanalysis.generation.detector.DetectorParameters.jet_energy_resolution`):
  3.6 % at 20 GeV, 1.6 % at 100 GeV and 0.9 % at 1 TeV in the central region, larger forward,
  the size and pT/η dependence of ATLAS's in situ JES uncertainty (EPJC 81 (2021) 689);
- ``jer``: each jet smeared by a further Gaussian of width ``√((1 + JER_UNCERTAINTY)² − 1) σ_E/E``,
  a resolution worse by :data:`JER_UNCERTAINTY` (one-sided, symmetrised in the total);
- ``btag_up`` / ``btag_down``: the b-tagging efficiency scaled by ``1 ± BTAG_UNCERTAINTY``:
  tagged jets lose their tag with probability ``BTAG_UNCERTAINTY`` (down), untagged jets gain
  one with probability ``BTAG_UNCERTAINTY ε / (1 − ε)`` for the working point's efficiency ε
  (up), so the tagged fraction of b-jets moves by the relative uncertainty;
- ``met``: the soft term (MET minus the leptons and jets it balances) smeared by a Gaussian
  of :attr:`~nuanalysis.generation.detector.DetectorParameters.met_soft_resolution` per
  component (its resolution uncertainty, one-sided).

Whenever jets change, the MET changes by minus the change of their transverse momentum sum, so
the event stays balanced: ``MET' = MET − Σ_jets (p_T' − p_T)``. Only the jets stored in the
padded arrays (the leading :data:`nuanalysis.padded.MAX_JETS`) are varied; the event selection
is not re-applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from nuanalysis import kinematics
from nuanalysis.errors import InputError
from nuanalysis.generation.detector import ATLAS_LIKE, DetectorParameters
from nuanalysis.padded import PaddedEvents

JES_FRACTION_OF_RESOLUTION = 0.25
"""The JES uncertainty as this fraction of the relative jet energy resolution (module docstring)."""

JER_UNCERTAINTY = 0.10
"""Relative uncertainty of the jet energy resolution."""

BTAG_UNCERTAINTY = 0.02
"""Relative uncertainty of the b-tagging efficiency (a few per cent at the 70 % working point)."""

GROUPS = {
    "jes": ("jes_up", "jes_down"),
    "jer": ("jer",),
    "btag": ("btag_up", "btag_down"),
    "met": ("met",),
}
"""The variations asked for by group name (``--variations jes,jer,btag,met``)."""


def _jet_kinematics(events: PaddedEvents) -> tuple[np.ndarray, np.ndarray]:
    """Energy and |η| of every padded jet (zeros for padding)."""
    return events.jets[..., 3], np.abs(kinematics.eta(events.jets))


def _rescale_jets(events: PaddedEvents, factor: np.ndarray) -> PaddedEvents:
    """Jets times ``factor`` (n, MAX_JETS) where present; the MET balances the change."""
    factor = np.where(events.jet_mask, factor, 1.0)
    jets = events.jets * factor[..., None]
    change = (jets[..., :2] - events.jets[..., :2]).sum(axis=1)
    return replace(events, jets=jets, met=events.met - change)


def jes_uncertainty(events: PaddedEvents, detector: DetectorParameters = ATLAS_LIKE) -> np.ndarray:
    """The relative JES uncertainty u(E, |η|) of every padded jet (module docstring)."""
    energy, abs_eta = _jet_kinematics(events)
    resolution = detector.jet_energy_resolution(energy, abs_eta)
    return np.where(events.jet_mask, JES_FRACTION_OF_RESOLUTION * resolution, 0.0)


def jes(sign: float) -> Callable[[PaddedEvents, np.random.Generator], PaddedEvents]:
    """The jet-energy-scale variation up (``sign`` +1) or down (−1) by one σ."""

    def vary(events: PaddedEvents, _rng: np.random.Generator) -> PaddedEvents:
        return _rescale_jets(events, 1.0 + sign * jes_uncertainty(events))

    return vary


def jer(events: PaddedEvents, rng: np.random.Generator) -> PaddedEvents:
    """Jets smeared to a resolution worse by :data:`JER_UNCERTAINTY`."""
    energy, abs_eta = _jet_kinematics(events)
    width = np.sqrt((1.0 + JER_UNCERTAINTY) ** 2 - 1.0)
    width *= ATLAS_LIKE.jet_energy_resolution(energy, abs_eta)
    factor = np.maximum(1.0 + width * rng.normal(size=width.shape), 0.0)
    return _rescale_jets(events, factor)


def btag(sign: float) -> Callable[[PaddedEvents, np.random.Generator], PaddedEvents]:
    """The b-tagging efficiency up (``sign`` +1) or down (−1) by :data:`BTAG_UNCERTAINTY`."""

    def vary(events: PaddedEvents, rng: np.random.Generator) -> PaddedEvents:
        efficiency = ATLAS_LIKE.btag_efficiency_b
        draw = rng.random(events.jet_btag.shape)
        if sign > 0:
            gain = BTAG_UNCERTAINTY * efficiency / (1.0 - efficiency)
            tags = events.jet_btag | (events.jet_mask & (draw < gain))
        else:
            tags = events.jet_btag & (draw >= BTAG_UNCERTAINTY)
        return replace(events, jet_btag=tags)

    return vary


def met_soft_term(events: PaddedEvents, rng: np.random.Generator) -> PaddedEvents:
    """The MET's soft term smeared by its resolution (the jets and leptons unchanged)."""
    noise = ATLAS_LIKE.met_soft_resolution * rng.normal(size=events.met.shape)
    return replace(events, met=events.met + noise)


VARIATIONS: dict[str, Callable[[PaddedEvents, np.random.Generator], PaddedEvents]] = {
    "jes_up": jes(+1.0),
    "jes_down": jes(-1.0),
    "jer": jer,
    "btag_up": btag(+1.0),
    "btag_down": btag(-1.0),
    "met": met_soft_term,
}
"""Each variation by name: ``(events, rng) -> varied events``."""


def parse_groups(text: str) -> tuple[str, ...]:
    """``"jes,btag"`` → the variations of those groups, or an error naming the unknown group."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in GROUPS]
    if unknown or not names:
        raise InputError(
            f"unknown variation {', '.join(unknown) or repr(text)}; choose from {', '.join(GROUPS)}"
        )
    return tuple(variation for name in dict.fromkeys(names) for variation in GROUPS[name])


def vary(events: PaddedEvents, name: str, seed: int = 0) -> PaddedEvents:
    """``events`` with variation ``name`` applied (:data:`VARIATIONS`), reproducible by seed."""
    if name not in VARIATIONS:
        raise InputError(f"unknown variation {name!r}; choose from {', '.join(VARIATIONS)}")
    return VARIATIONS[name](events, np.random.default_rng(seed))


def pair_shift(shifts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per group, the symmetrised shift: half the up-minus-down difference for a pair, the
    shift itself for a one-sided variation."""
    out = {}
    for group, members in GROUPS.items():
        present = [shifts[m] for m in members if m in shifts]
        if len(present) == 2:
            out[group] = 0.5 * np.abs(present[0] - present[1])
        elif present:
            out[group] = np.abs(present[0])
    return out
