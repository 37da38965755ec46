"""CMS NanoAOD → event records, through coffea's ``NanoAODSchema``.

Default object selection (:class:`NanoAODSelection`, every cut configurable):

- electrons: pT > 25 GeV, |η| < 2.5 outside the barrel–endcap gap
  (1.4442 < |η_SC| < 1.566), cut-based ID ≥ tight (``Electron_cutBased`` 4);
- muons: pT > 25 GeV, |η| < 2.4, ``tightId``, ``pfRelIso04_all`` < 0.15;
- jets: pT > 25 GeV, |η| < 2.5, jet ID tight with lepton veto, ΔR > 0.4 from the
  selected leptons; the b-tag decision is a discriminator above its medium working
  point (:data:`BTAG_MEDIUM`): ``btagUParTAK4B`` where the file has it (NanoAOD
  v15), else ``btagDeepFlavB``;
- MET: ``MET_pt``/``MET_phi`` (PF, type-1), or ``PFMET_*`` where the file has no
  ``MET`` (v15), else ``PuppiMET_*``;
- weight: ``genWeight`` where present, else 1;
- truth: the hard-process neutrinos of W decays (``GenPart`` with
  ``fromHardProcess`` and ``isFirstCopy``, mother a W), kept where every selected
  event has the channel's number of them.

Versions differ and are handled: NanoAOD v15 has no ``Jet_jetId``, so the ID is
computed from the jet's composition (:func:`jet_id_from_composition`), and no
``MET_*`` branches.

References: CMS JetMET, "Jet identification for Run 3" (NanoAOD v15 recipe,
https://twiki.cern.ch/twiki/bin/view/CMS/JetID13p6TeV); CMS BTV, Run 3 working
points (https://btv-wiki.docs.cern.ch/ScaleFactors/); coffea NanoEvents
(https://coffea-hep.readthedocs.io).
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak

from nuanalysis.errors import InputError
from nuanalysis.formats.common import (
    ChannelSelection,
    Objects,
    array_library,
    pt_ordered,
    read_objects,
    select_events,
)

BTAG_MEDIUM = {"btagUParTAK4B": 0.1272, "btagDeepFlavB": 0.3086, "btagPNetB": 0.245}
"""Medium working points (2022 for DeepJet and ParticleNet, 2024 for UParT), in the
order the default tagger is chosen."""

MET_COLLECTIONS = ("MET", "PFMET", "PuppiMET")
"""MET collections in the order the default is chosen."""

_NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True)
class NanoAODSelection:
    """Object selection on NanoAOD (module docstring); ``btag``/``met`` ``None``: the default."""

    electron_pt: float = 25.0
    electron_eta: float = 2.5
    electron_id: int = 4
    electron_gap: tuple[float, float] | None = (1.4442, 1.566)
    muon_pt: float = 25.0
    muon_eta: float = 2.4
    muon_id: str = "tightId"
    muon_iso: float = 0.15
    jet_pt: float = 25.0
    jet_eta: float = 2.5
    jet_lepton_veto: bool = True
    overlap_dr: float = 0.4
    btag: str | None = None
    btag_threshold: float | None = None
    met: str | None = None


def _first_present(names, available, what: str) -> str:
    for name in names:
        if name in available:
            return name
    raise InputError(f"NanoAOD: no {what} among {', '.join(names)}")


def jet_id_from_composition(jets, lepton_veto: bool = True):
    """Tight (lepton-veto) jet ID from energy fractions and multiplicities (Run 3 recipe).

    |η| ≤ 2.6: neHEF < 0.99, neEmEF < 0.9, ≥ 2 constituents, chHEF > 0.01, ≥ 1 charged;
    2.6–2.7: neHEF < 0.9, neEmEF < 0.99; 2.7–3.0: neHEF < 0.99; beyond: ≥ 2 neutral,
    neEmEF < 0.4. The lepton veto (|η| ≤ 2.7) adds muEF < 0.8 and chEmEF < 0.8.
    """
    eta = abs(jets.eta)
    central = (
        (jets.neHEF < 0.99)
        & (jets.neEmEF < 0.9)
        & (jets.chMultiplicity + jets.neMultiplicity > 1)
        & (jets.chHEF > 0.01)
        & (jets.chMultiplicity > 0)
    )
    tight = (
        ((eta <= 2.6) & central)
        | ((eta > 2.6) & (eta <= 2.7) & (jets.neHEF < 0.9) & (jets.neEmEF < 0.99))
        | ((eta > 2.7) & (eta <= 3.0) & (jets.neHEF < 0.99))
        | ((eta > 3.0) & (jets.neMultiplicity >= 2) & (jets.neEmEF < 0.4))
    )
    if lepton_veto:
        tight = tight & ((eta > 2.7) | ((jets.muEF < 0.8) & (jets.chEmEF < 0.8)))
    return tight


def _jet_id(jets, lepton_veto: bool):
    if "jetId" in jets.fields:  # bit 1: tight, bit 2: tight with lepton veto
        return (jets.jetId & (4 if lepton_veto else 2)) > 0
    return jet_id_from_composition(jets, lepton_veto)


def _leptons(events, cuts: NanoAODSelection):
    lib = array_library(events)
    electrons, muons = events.Electron, events.Muon
    good_e = (
        (electrons.pt > cuts.electron_pt)
        & (abs(electrons.eta) < cuts.electron_eta)
        & (electrons.cutBased >= cuts.electron_id)
    )
    if cuts.electron_gap is not None:
        eta_sc = abs(electrons.eta + electrons.deltaEtaSC)
        good_e = good_e & ((eta_sc < cuts.electron_gap[0]) | (eta_sc > cuts.electron_gap[1]))
    good_mu = (
        (muons.pt > cuts.muon_pt)
        & (abs(muons.eta) < cuts.muon_eta)
        & muons[cuts.muon_id]
        & (muons.pfRelIso04_all < cuts.muon_iso)
    )
    electrons, muons = electrons[good_e], muons[good_mu]
    parts = [
        lib.zip(
            {
                "pt": lepton.pt,
                "eta": lepton.eta,
                "phi": lepton.phi,
                "mass": lepton.mass,
                "charge": lepton.charge,
                "pid": abs(lepton.pdgId),
            }
        )
        for lepton in (electrons, muons)
    ]
    return pt_ordered(lib.concatenate(parts, axis=1)), (electrons, muons)


def _jets(events, cuts: NanoAODSelection, selected_leptons):
    lib = array_library(events)
    jets = events.Jet
    tagger = cuts.btag or _first_present(BTAG_MEDIUM, jets.fields, "b-tag discriminator")
    threshold = BTAG_MEDIUM.get(tagger) if cuts.btag_threshold is None else cuts.btag_threshold
    if threshold is None:
        raise InputError(f"NanoAOD: give btag_threshold for the discriminator {tagger!r}")
    good = (
        (jets.pt > cuts.jet_pt)
        & (abs(jets.eta) < cuts.jet_eta)
        & _jet_id(jets, cuts.jet_lepton_veto)
    )
    for leptons in selected_leptons:
        good = good & lib.all(jets.metric_table(leptons) > cuts.overlap_dr, axis=2)
    jets = jets[good]
    return pt_ordered(
        lib.zip(
            {
                "pt": jets.pt,
                "eta": jets.eta,
                "phi": jets.phi,
                "mass": jets.mass,
                "btag": jets[tagger] > threshold,
            }
        )
    )


def _truth_neutrinos(events):
    particles = events.GenPart
    pid = abs(particles.pdgId)
    hard = particles.hasFlags(["fromHardProcess", "isFirstCopy"])
    is_nu = (pid == _NEUTRINOS[0]) | (pid == _NEUTRINOS[1]) | (pid == _NEUTRINOS[2])
    mother = particles.distinctParent.pdgId
    lib = array_library(events)
    nu = particles[is_nu & hard & (abs(lib.fill_none(mother, 0)) == 24)]
    return lib.zip({"pt": nu.pt, "eta": nu.eta, "phi": nu.phi, "pid": nu.pdgId})


def nanoaod_objects(events, cuts: NanoAODSelection | None = None) -> Objects:
    """The selected objects of NanoAOD ``events`` (coffea NanoEvents, eager or dask)."""
    cuts = cuts or NanoAODSelection()
    lib = array_library(events)
    leptons, selected = _leptons(events, cuts)
    met = events[cuts.met or _first_present(MET_COLLECTIONS, events.fields, "MET collection")]
    weight = events.genWeight if "genWeight" in events.fields else lib.ones_like(met.pt)
    truth = _truth_neutrinos(events) if "GenPart" in events.fields else None
    return Objects(leptons, _jets(events, cuts, selected), met.pt, met.phi, weight, truth)


def read_nanoaod(
    path: str,
    channel: ChannelSelection | str,
    cuts: NanoAODSelection | None = None,
    entry_stop: int | None = None,
) -> ak.Array:
    """Eager event records of one NanoAOD file's ``channel`` events (module docstring)."""
    from coffea.nanoevents import NanoAODSchema

    objects = read_objects(path, "Events", NanoAODSchema, entry_stop, nanoaod_objects, cuts)
    return select_events(objects, channel, where=str(path))
