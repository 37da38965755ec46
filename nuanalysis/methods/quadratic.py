"""Registry adapter of the m_W quadratic (``quadratic``, semileptonic; ν-Flows paper eq. 3).

The neutrino's transverse momentum is the MET; p_z solves the W mass
constraint (:func:`baselines.quadratic.quadratic_pz`) with the lepton mass of
its flavour. Options:

* ``w_mass`` (GeV, default :data:`~baselines.constants.W_MASS`, the paper's
  80.38), a number or one value per event;
* ``solution``: ``"smaller"`` (default, the paper's usual choice) or
  ``"larger"`` |p_z| for ``momenta``; ``"both"`` returns the smaller one in
  ``momenta`` and both, smaller first, in ``extras["pz_solutions"]`` (n, 2).

``extras["complex"]`` flags events whose discriminant was negative; they keep
the real part (the paper's convention) and stay valid.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from baselines.constants import ELECTRON_MASS, MUON_MASS, W_MASS
from baselines.quadratic import quadratic_pz
from nuanalysis.errors import OptionError
from nuanalysis.methods.option_types import OneOf, WMasses
from nuanalysis.methods.spec import register
from nuanalysis.neutrino_result import NeutrinoResult
from nuanalysis.padded import PaddedEvents

SOLUTIONS = ("smaller", "larger", "both")


def lepton_masses(lep_pid: np.ndarray) -> np.ndarray:
    """Lepton masses (GeV) from the unsigned flavour (11 electron, 13 muon)."""
    return np.where(np.abs(lep_pid) == 11, ELECTRON_MASS, MUON_MASS)


@register(
    "quadratic",
    channels=("semileptonic",),
    description="m_W constraint: p_T^ν = MET, p_z from the quadratic (ν-Flows eq. 3)",
    label=r"$p_T^{miss}$ + $m_W$",
    color="tab:green",
)
def quadratic_method(
    events: PaddedEvents,
    w_mass: WMasses = W_MASS,
    solution: Annotated[str, OneOf(SOLUTIONS)] = "smaller",
) -> NeutrinoResult:
    if solution not in SOLUTIONS:
        raise OptionError(f"solution must be one of {SOLUTIONS}, got {solution!r}")
    n = len(events)
    w_masses = np.broadcast_to(np.asarray(w_mass, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(w_masses) & (w_masses > 0)):
        raise OptionError("w_mass must be positive and finite")
    lepton = np.ascontiguousarray(events.leptons[:, 0])
    pz, complex_, solved = quadratic_pz(
        lepton, np.ascontiguousarray(events.met), w_masses, lepton_masses(events.lep_pid[:, 0])
    )
    chosen = pz[:, 1] if solution == "larger" else pz[:, 0]
    momenta = np.stack([events.met[:, 0], events.met[:, 1], chosen], axis=1)[:, None, :]
    extras = {"complex": complex_}
    if solution == "both":
        extras["pz_solutions"] = pz
    return NeutrinoResult(momenta, solved, extras=extras)
