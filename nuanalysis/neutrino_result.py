"""The one result type of every neutrino method: momenta, validity, a weight and extras.

It sits below the methods (:mod:`nuanalysis.methods`) and below everything that
reads their results (observables, the posterior, metrics, studies), so both
sides import it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from baselines.constants import MAX_COLLISION_ENERGY


@dataclass
class NeutrinoResult:
    """What every method returns.

    ``momenta`` is ``(n_events, n_nu, 3)`` (px, py, pz) in the order of the
    schema's ``truth_nu_*`` (ν from W⁺, then ν̄); rows where ``valid`` is False
    are exactly zero, and a row is only ``valid`` where its momenta are finite and no
    neutrino's |p| exceeds :data:`~baselines.constants.MAX_COLLISION_ENERGY` (a
    solution no LHC collision can give is not a solution). ``weight`` is the
    method's per-event figure of merit (NW weight, flow log-probability) or
    None; ``extras`` holds anything else (samples, flags such as the quadratic's
    complex-discriminant mask, the b-jet index paired with each lepton).
    """

    momenta: np.ndarray
    valid: np.ndarray
    weight: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # copies: invalid rows are zeroed below, never in the caller's arrays
        self.momenta = np.array(self.momenta, dtype=np.float64)
        self.valid = np.array(self.valid, dtype=bool)
        if self.momenta.ndim != 3 or self.momenta.shape[2] != 3:
            raise ValueError(f"momenta must be (n_events, n_nu, 3), got {self.momenta.shape}")
        if self.valid.shape != self.momenta.shape[:1]:
            raise ValueError("valid must have one entry per event")
        with np.errstate(invalid="ignore", over="ignore"):
            momentum = np.sqrt(np.sum(self.momenta**2, axis=2))
        self.valid &= (momentum <= MAX_COLLISION_ENERGY).all(axis=1)  # False for NaN, inf
        self.momenta[~self.valid] = 0.0
