"""ATLAS PHYSLITE → event records, through coffea's ``PHYSLITESchema`` (MeV → GeV).

Default object selection (:class:`PHYSLITESelection`, every cut configurable):

- electrons: pT > 25 GeV, |η| < 2.47 outside the crack 1.37–1.52,
  ``DFCommonElectronsLHTight``;
- muons: pT > 25 GeV, |η| < 2.5, quality Medium or better (``quality`` ≤ 1),
  ``ptvarcone30_Nonprompt_All_MaxWeightTTVA_pt1000`` / pT < 0.15;
- jets (``AnalysisJets``): pT > 25 GeV, |η| < 2.5, ``NNJvtPass`` below 60 GeV,
  ΔR > 0.4 from the selected leptons; b-tagged where the DL1dv01 discriminant
  log(p_b / (f_c p_c + (1 − f_c) p_u)), f_c = 0.018, exceeds its 77 % working point
  (:data:`DL1DV01_WP77`), read from ``BTagging_AntiKt4EMPFlow`` through each jet's
  ``btaggingLink``;
- MET: PHYSLITE stores only the MET's soft terms (``MET_Core_MET``), not the MET
  that ``METMaker`` rebuilds, so the MET here is −(selected leptons + jets with
  pT > 20 GeV + the track soft term ``PVSoftTrkCore``): the rebuilt MET's terms
  without its overlap bookkeeping (an approximation; say so when you quote it);
- weight: ``EventInfo.mcEventWeights[0]`` where present, else 1;
- truth (eager arrays only): ``TruthNeutrinos`` of status 1 whose
  MCTruthClassifier origin is a W boson (12). coffea's ``TruthParticle``
  behaviour refuses this container (both ``e`` and ``m`` fields), so its columns are
  read without it.

A schema-faithful PHYSLITE writer is impractical (element links, aux stores), so
the real PHYSLITE file is this format's test.

References: ATLAS Collaboration, "PHYSLITE" (ATL-SOFT-PUB-2024-001); ATLAS FTAG,
DL1d working points (release 22); coffea NanoEvents PHYSLITESchema.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from nuanalysis.formats.common import (
    ChannelSelection,
    Objects,
    array_library,
    pt_ordered,
    read_objects,
    select_events,
)

MEV = 1e-3
"""GeV per MeV."""

DL1DV01_FC = 0.018
DL1DV01_WP77 = 2.456
"""DL1dv01 discriminant at the 77 % b-jet efficiency working point (PFlow jets)."""

W_ORIGIN = 12
"""MCTruthClassifier ``ParticleOrigin::WBoson``."""

_CRACK = (1.37, 1.52)


@dataclass(frozen=True)
class PHYSLITESelection:
    """Object selection on PHYSLITE (module docstring); momenta in GeV."""

    electron_pt: float = 25.0
    electron_eta: float = 2.47
    electron_id: str = "DFCommonElectronsLHTight"
    muon_pt: float = 25.0
    muon_eta: float = 2.5
    muon_quality: int = 1
    muon_iso: float = 0.15
    jet_pt: float = 25.0
    jet_eta: float = 2.5
    jvt_pt: float = 60.0
    overlap_dr: float = 0.4
    btag_threshold: float = DL1DV01_WP77
    met_jet_pt: float = 20.0


def _in_gev(objects, charge=None, pid=None) -> dict:
    fields = {
        "pt": objects.pt * MEV,
        "eta": objects.eta,
        "phi": objects.phi,
        "mass": objects.m * MEV,
    }
    if charge is not None:
        fields["charge"] = charge
        fields["pid"] = pid
    return fields


def _leptons(events, cuts: PHYSLITESelection):
    lib = array_library(events)
    electrons, muons = events.Electrons, events.Muons
    eta = abs(electrons.eta)
    electrons = electrons[
        (electrons.pt * MEV > cuts.electron_pt)
        & (eta < cuts.electron_eta)
        & ((eta < _CRACK[0]) | (eta > _CRACK[1]))
        & (electrons[cuts.electron_id] == 1)
    ]
    isolation = muons.ptvarcone30_Nonprompt_All_MaxWeightTTVA_pt1000 / muons.pt
    muons = muons[
        (muons.pt * MEV > cuts.muon_pt)
        & (abs(muons.eta) < cuts.muon_eta)
        & (muons.quality <= cuts.muon_quality)
        & (isolation < cuts.muon_iso)
    ]
    parts = [
        lib.zip(_in_gev(lepton, lepton.charge, lib.full_like(lepton.charge, pid, dtype=np.int8)))
        for lepton, pid in ((electrons, 11), (muons, 13))
    ]
    return pt_ordered(lib.concatenate(parts, axis=1))


def _dl1(tagging):
    """DL1dv01 discriminant of each jet's b-tagging record."""
    light = DL1DV01_FC * tagging.DL1dv01_pc + (1 - DL1DV01_FC) * tagging.DL1dv01_pu
    return np.log(tagging.DL1dv01_pb / light)


def _jets(events, cuts: PHYSLITESelection, leptons):
    lib = array_library(events)
    jets = events.Jets
    tagging = events.BTagging_AntiKt4EMPFlow[jets.btaggingLink.m_persIndex]
    pt = jets.pt * MEV
    fields = {**_in_gev(jets), "btag": _dl1(tagging) > cuts.btag_threshold}
    jets = lib.zip(fields, with_name="Momentum4D")
    pairs = lib.cartesian([jets, leptons], axis=1, nested=True)
    separated = lib.all(
        pairs["0"].deltaR(lib.zip(_vector(pairs["1"]), with_name="Momentum4D")) > cuts.overlap_dr,
        axis=2,
    )
    good = (pt > cuts.jet_pt) & (abs(jets.eta) < cuts.jet_eta) & separated
    good = good & ((pt >= cuts.jvt_pt) | (events.Jets.NNJvtPass == 1))
    met_jets = jets[(pt > cuts.met_jet_pt) & separated]
    return pt_ordered(jets[good]), met_jets


def _vector(records) -> dict:
    return {f: records[f] for f in ("pt", "eta", "phi", "mass")}


def _met(events, leptons, met_jets):
    """−(leptons + jets + track soft term): (pt, phi) in GeV."""
    lib = array_library(events)
    soft = events.MET_Core_MET
    soft = soft[soft.name == "PVSoftTrkCore"]
    px = lib.sum(soft.mpx, axis=1) * MEV
    py = lib.sum(soft.mpy, axis=1) * MEV
    for objects in (leptons, met_jets):
        px = px + lib.sum(objects.pt * np.cos(objects.phi), axis=1)
        py = py + lib.sum(objects.pt * np.sin(objects.phi), axis=1)
    return np.hypot(px, py), np.arctan2(-py, -px)


def _truth_neutrinos(events):
    """Status-1 neutrinos from W decays, read without coffea's TruthParticle behaviour."""
    layout = ak.without_parameters(events.layout.content("TruthNeutrinos"), highlevel=False)
    nu = ak.Array(layout)
    nu = nu[(nu.status == 1) & (nu.classifierParticleOrigin == W_ORIGIN)]
    pt = np.hypot(nu.px, nu.py)
    eta = np.arcsinh(nu.pz / pt)
    return ak.zip({"pt": pt * MEV, "eta": eta, "phi": np.arctan2(nu.py, nu.px), "pid": nu.pdgId})


def physlite_objects(events, cuts: PHYSLITESelection | None = None) -> Objects:
    """The selected objects of PHYSLITE ``events`` (coffea NanoEvents, eager or dask)."""
    cuts = cuts or PHYSLITESelection()
    lib = array_library(events)
    leptons = _leptons(events, cuts)
    jets, met_jets = _jets(events, cuts, leptons)
    met_pt, met_phi = _met(events, leptons, met_jets)
    info = events.EventInfo
    if "mcEventWeights" in info.fields:
        weight = info.mcEventWeights[:, 0]
    else:
        weight = lib.ones_like(met_pt)
    truth = None
    if lib is ak and "TruthNeutrinos" in events.fields:
        truth = _truth_neutrinos(events)
    return Objects(leptons, jets, met_pt, met_phi, weight, truth)


def read_physlite(
    path: str,
    channel: ChannelSelection | str,
    cuts: PHYSLITESelection | None = None,
    entry_stop: int | None = None,
) -> ak.Array:
    """Eager event records of one PHYSLITE file's ``channel`` events (module docstring)."""
    from coffea.nanoevents import PHYSLITESchema

    objects = read_objects(
        path, "CollectionTree", PHYSLITESchema, entry_stop, physlite_objects, cuts
    )
    return select_events(objects, channel, where=str(path))
