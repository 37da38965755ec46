"""Parametric ATLAS-like detector: every number of the detector model, with its source.

The model acts on Pythia's stable particles (no pile-up, no material):

* leptons — final-state electrons and muons with a reconstruction efficiency,
  a pT resolution and a relative isolation requirement (so leptons from heavy
  flavour decays inside jets are rejected, as in ATLAS);
* jets — anti-kt R = 0.4 jets of the visible particles (:mod:`.jets`), their
  four-momentum scaled by a Gaussian energy response;
* b-tagging — a flavour-dependent tagging probability at the 70 % working point;
* missing transverse momentum — minus the vector sum of the smeared jets, the
  smeared leptons and a smeared soft term (everything visible not in either).

All parameters live in :class:`DetectorParameters`; :data:`ATLAS_LIKE` is the
configuration the generator uses by default (and the models were trained on);
:data:`DEGRADED` is a worse detector that shows what a mismatch between a
user's detector and the training costs (``nuanalysis generate --detector``,
:data:`DETECTORS`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class DetectorParameters:
    """Parameters of the parametric detector (GeV, radians)."""

    # --- tracking / calorimeter acceptance --------------------------------------------------
    calorimeter_max_abs_eta: float = 4.9
    """ATLAS forward calorimeter coverage (ATLAS detector paper, JINST 3 (2008) S08003)."""
    tracker_max_abs_eta: float = 2.5
    """Inner-detector coverage: leptons and b-tagging (JINST 3 (2008) S08003)."""

    # --- electrons ----------------------------------------------------------------------------
    electron_efficiency_barrel: float = 0.95
    """Reconstruction × identification efficiency, |η| ≤ 1.5 (Delphes ATLAS card)."""
    electron_efficiency_endcap: float = 0.85
    """Same, 1.5 < |η| ≤ 2.5 (Delphes ATLAS card)."""
    electron_resolution_sampling: float = 0.10
    """EM calorimeter stochastic term, σ_E/E = a/√E (ATLAS detector paper: 10 %/√E)."""
    electron_resolution_constant: float = 0.007
    """EM calorimeter constant term (ATLAS detector paper: 0.7 %)."""

    # --- muons ----------------------------------------------------------------------------------
    muon_efficiency_barrel: float = 0.95
    """Muon efficiency, |η| ≤ 1.5 (Delphes ATLAS card, MuonEfficiency)."""
    muon_efficiency_endcap: float = 0.85
    """Muon efficiency, 1.5 < |η| ≤ 2.5 (Delphes ATLAS card)."""
    muon_resolution_constant: float = 0.01
    """σ_pT/pT constant term (Delphes ATLAS card MomentumSmearing: 1 % ⊕ 1e-4·pT)."""
    muon_resolution_slope: float = 1.0e-4
    """σ_pT/pT term proportional to pT, per GeV (Delphes ATLAS card)."""

    # --- lepton isolation -----------------------------------------------------------------------
    isolation_cone_max: float = 0.3
    """Variable cone ΔR = min(0.3, 10 GeV / pT): ATLAS ptvarcone30 (EPJC 79 (2019) 639)."""
    isolation_cone_scale: float = 10.0
    """GeV; the 10 GeV / pT of the variable cone (ATLAS ptvarcone definition)."""
    isolation_max_relative: float = 0.15
    """Σ pT in the cone / lepton pT below this: ATLAS FCLoose-like (EPJC 81 (2021) 578)."""
    isolation_min_particle_pt: float = 0.5
    """Particles below this pT do not count in the isolation sum (track pT threshold ~0.5 GeV)."""

    # --- jets -----------------------------------------------------------------------------------
    jet_radius: float = 0.4
    """Anti-kt radius parameter (ATLAS standard small-R jets)."""
    jet_cluster_min_pt: float = 10.0
    """Particle-level jets below this pT are not kept (well below every reco threshold)."""
    jet_resolution_central: tuple[float, float, float] = (1.59, 0.5205, 0.0302)
    """(noise N [GeV], stochastic S [√GeV], constant C) of σ_E = √(N² + S²E + C²E²), |η| ≤ 1.7
    (Delphes ATLAS card, JetMomentumSmearing)."""
    jet_resolution_endcap: tuple[float, float, float] = (0.0, 0.706, 0.05)
    """Same, 1.7 < |η| ≤ 3.2 (Delphes ATLAS card)."""
    jet_resolution_forward: tuple[float, float, float] = (0.0, 1.075, 0.0942)
    """Same, 3.2 < |η| ≤ 4.9 (Delphes ATLAS card)."""

    # --- b-tagging ------------------------------------------------------------------------------
    btag_efficiency_b: float = 0.70
    """b-jet efficiency of the 70 % working point (ATLAS DL1r, EPJC 83 (2023) 681)."""
    btag_efficiency_c: float = 1.0 / 9.0
    """c-jet mistag: c-rejection ≈ 9 at the DL1r 70 % WP in tt̄ (EPJC 83 (2023) 681)."""
    btag_efficiency_light: float = 1.0 / 300.0
    """Light-jet mistag: light rejection ≈ 300 at the 70 % WP (EPJC 83 (2023) 681, Fig. 7)."""
    flavour_label_dr: float = 0.3
    """Jet flavour label: weakly decaying b (else c) hadron within ΔR < 0.3 (ATLAS labelling)."""
    flavour_label_min_hadron_pt: float = 5.0
    """Heavy-flavour hadrons used for labelling need pT > 5 GeV (ATLAS labelling)."""

    # --- missing transverse momentum ------------------------------------------------------------
    met_jet_min_pt: float = 20.0
    """Jets above this (smeared) pT are hard MET objects (ATLAS MET, EPJC 78 (2018) 903)."""
    met_jet_max_abs_eta: float = 4.5
    """Jets within |η| < 4.5 enter the MET as hard objects (ATLAS MET definition)."""
    met_soft_resolution: float = 6.0
    """GeV per component: Gaussian noise added to the soft term (ATLAS track soft term
    resolution of a few GeV, EPJC 78 (2018) 903; here a single fixed width)."""

    def jet_energy_resolution(self, energy: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        """Relative jet energy resolution σ_E / E in the three η regions."""
        energy = np.maximum(energy, 1e-9)
        sigma = np.zeros_like(energy)
        regions = [
            (abs_eta <= 1.7, self.jet_resolution_central),
            ((abs_eta > 1.7) & (abs_eta <= 3.2), self.jet_resolution_endcap),
            (abs_eta > 3.2, self.jet_resolution_forward),
        ]
        for in_region, (noise, stochastic, constant) in regions:
            e = energy[in_region]
            sigma[in_region] = np.sqrt(noise**2 + stochastic**2 * e + constant**2 * e**2) / e
        return sigma

    def lepton_efficiency(self, abs_pid: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        """Reconstruction × identification efficiency of electrons (11) and muons (13)."""
        barrel = abs_eta <= 1.5
        electron = np.where(
            barrel, self.electron_efficiency_barrel, self.electron_efficiency_endcap
        )
        muon = np.where(barrel, self.muon_efficiency_barrel, self.muon_efficiency_endcap)
        efficiency = np.where(abs_pid == 11, electron, muon)
        return np.where(abs_eta <= self.tracker_max_abs_eta, efficiency, 0.0)

    def lepton_pt_resolution(
        self, abs_pid: np.ndarray, pt: np.ndarray, energy: np.ndarray
    ) -> np.ndarray:
        """Relative pT resolution: calorimeter for electrons, tracking for muons."""
        energy = np.maximum(energy, 1e-9)
        electron = np.hypot(
            self.electron_resolution_sampling / np.sqrt(energy), self.electron_resolution_constant
        )
        muon = np.hypot(self.muon_resolution_constant, self.muon_resolution_slope * pt)
        return np.where(abs_pid == 11, electron, muon)

    def btag_efficiency(self, flavour: np.ndarray, abs_eta: np.ndarray) -> np.ndarray:
        """Tagging probability of jets labelled 5 (b), 4 (c) or 0 (light)."""
        efficiency = np.select(
            [flavour == 5, flavour == 4],
            [self.btag_efficiency_b, self.btag_efficiency_c],
            self.btag_efficiency_light,
        )
        return np.where(abs_eta < self.tracker_max_abs_eta, efficiency, 0.0)


ATLAS_LIKE = DetectorParameters()
"""The detector configuration of ``nuanalysis generate``."""


DEGRADATION = 1.2
"""Factor on every jet-energy and soft-term resolution parameter of :data:`DEGRADED`."""


def _scaled(terms: tuple[float, float, float]) -> tuple[float, float, float]:
    noise, stochastic, constant = terms
    return DEGRADATION * noise, DEGRADATION * stochastic, DEGRADATION * constant


DEGRADED = replace(
    ATLAS_LIKE,
    jet_resolution_central=_scaled(ATLAS_LIKE.jet_resolution_central),
    jet_resolution_endcap=_scaled(ATLAS_LIKE.jet_resolution_endcap),
    jet_resolution_forward=_scaled(ATLAS_LIKE.jet_resolution_forward),
    met_soft_resolution=DEGRADATION * ATLAS_LIKE.met_soft_resolution,
    btag_efficiency_b=0.60,
)
"""A detector the models never saw: jet energy and MET soft-term resolutions 20 % worse
(so the MET, built from the smeared jets, is too) and a 60 % b-tag working point (b-jet
efficiency 0.60 instead of 0.70; mistag rates kept)."""

DETECTORS = {"nominal": ATLAS_LIKE, "degraded": DEGRADED}
"""The detector configurations ``nuanalysis generate --detector`` offers."""
