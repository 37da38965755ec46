"""Schema-v1 branches written as a CMS NanoAOD-schema file (``generate --format nanoaod``).

The generator's (or any schema-v1) events become ``Events`` branches in NanoAOD's
names, so :mod:`nuanalysis.formats.nanoaod` and coffea's ``NanoAODSchema`` read
them like a CMS file: ``Jet_*`` with ``btagDeepFlavB`` (:data:`TAGGED_SCORE` for
a b-tagged jet, :data:`UNTAGGED_SCORE` otherwise, either side of the medium working
point) and ``jetId`` 6 (tight, lepton veto), ``Electron_*`` (``cutBased`` 4, tight)
and ``Muon_*`` (``tightId``, isolation 0) split by flavour, ``MET_pt``/``MET_phi``,
``genWeight``, the event ID (``run`` 1, ``luminosityBlock`` 1, ``event`` the
entry) and, with the truth branches, ``GenPart_*``: the W⁺ and W⁻ (sums of
their decay partons), the top quarks where the input has them, and the
neutrinos, each pointing to its W through ``genPartIdxMother``, all with the
``fromHardProcess``, ``isFirstCopy`` and ``isLastCopy`` status flags. The detector
objects are already selected, so the default NanoAOD selection keeps those that pass
its cuts.
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from nuanalysis.io import Branches
from nuanalysis.kinematics import from_pt_eta_phi_m

TAGGED_SCORE, UNTAGGED_SCORE = 0.9, 0.05
_P4 = ("pt", "eta", "phi", "mass")
HARD_PROCESS_FLAGS = (1 << 8) | (1 << 12) | (1 << 13)
"""``GenPart_statusFlags``: fromHardProcess, isFirstCopy, isLastCopy."""


def _leptons(branches: Branches, pid: int) -> dict:
    keep = branches["lep_pid"] == pid
    lepton = {f: ak.Array(branches[f"lep_{f}"])[keep] for f in ("pt", "eta", "phi", "mass")}
    charge = ak.values_astype(ak.Array(branches["lep_charge"])[keep], np.int32)
    lepton["charge"] = charge
    lepton["pdgId"] = -pid * charge
    zeros = ak.values_astype(ak.zeros_like(lepton["pt"]), np.float32)
    if pid == 11:
        lepton["cutBased"] = ak.values_astype(charge * 0 + 4, np.uint8)
        lepton["deltaEtaSC"] = zeros
    else:
        lepton["tightId"] = charge == charge
        lepton["pfRelIso04_all"] = zeros
    return lepton


def _collider(p4: np.ndarray) -> dict[str, np.ndarray]:
    pt = np.hypot(p4[..., 0], p4[..., 1])
    mass2 = p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1)
    return {
        "pt": pt.astype(np.float32),
        "eta": np.arcsinh(p4[..., 2] / pt).astype(np.float32),
        "phi": np.arctan2(p4[..., 1], p4[..., 0]).astype(np.float32),
        "mass": np.sqrt(np.maximum(mass2, 0.0)).astype(np.float32),
    }


def _generator_particles(branches: Branches) -> dict:
    """W⁺, W⁻ [, t, t̄ where the truth tops are given], then the neutrinos (W as mother)."""
    partons = from_pt_eta_phi_m(
        *(
            np.asarray(branches[f"truth_parton_{f}"], np.float64)
            for f in ("pt", "eta", "phi", "mass")
        )
    )
    heavy = [partons[:, 2] + partons[:, 3], partons[:, 4] + partons[:, 5]]
    pdg_ids = [24, -24]
    if "truth_top_pt" in branches and "truth_antitop_pt" in branches:
        for name, pdg_id in (("top", 6), ("antitop", -6)):
            values = (np.asarray(branches[f"truth_{name}_{f}"], np.float64) for f in _P4)
            heavy.append(from_pt_eta_phi_m(*values))
            pdg_ids.append(pdg_id)
    bosons = np.stack(heavy, axis=1)
    n, k = bosons.shape[:2]
    w = {key: ak.from_numpy(v) for key, v in _collider(bosons).items()}
    w["pdgId"] = ak.from_numpy(np.tile(np.array(pdg_ids, np.int32), (n, 1)))
    w["genPartIdxMother"] = ak.from_numpy(np.full((n, k), -1, np.int16))
    nu_pid = ak.values_astype(ak.Array(branches["truth_nu_pid"]), np.int32)
    nu = {f: ak.Array(branches[f"truth_nu_{f}"]) for f in ("pt", "eta", "phi")}
    nu["mass"] = ak.values_astype(ak.zeros_like(nu["pt"]), np.float32)
    nu["pdgId"] = nu_pid
    nu["genPartIdxMother"] = ak.values_astype(ak.where(nu_pid > 0, 0, 1), np.int16)
    particles = {f: ak.concatenate([ak.to_regular(w[f], axis=1), nu[f]], axis=1) for f in nu}
    status = ak.concatenate([ak.to_regular(w["pdgId"]) * 0 + 62, nu_pid * 0 + 1], axis=1)
    particles["status"] = ak.values_astype(status, np.int32)
    particles["statusFlags"] = ak.values_astype(status * 0 + HARD_PROCESS_FLAGS, np.uint16)
    return particles


def nanoaod_branches(branches: Branches) -> dict:
    """NanoAOD-named collections (records, one counter each) and flat branches."""
    jet = {f: ak.Array(branches[f"jet_{f}"]) for f in ("pt", "eta", "phi", "mass")}
    btag = ak.Array(branches["jet_btag"])
    jet["btagDeepFlavB"] = ak.values_astype(
        ak.where(btag, TAGGED_SCORE, UNTAGGED_SCORE), np.float32
    )
    jet["jetId"] = ak.values_astype(ak.zeros_like(jet["pt"]) + 6, np.uint8)
    n = len(branches["met"])
    weight = branches.get("weight", np.ones(n, np.float32))
    out = {
        "Jet": ak.zip(jet),
        "Electron": ak.zip(_leptons(branches, 11)),
        "Muon": ak.zip(_leptons(branches, 13)),
        "MET_pt": np.asarray(branches["met"], np.float32),
        "MET_phi": np.asarray(branches["met_phi"], np.float32),
        "genWeight": np.asarray(weight, np.float32),
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.ones(n, dtype=np.uint32),
        "event": np.arange(n, dtype=np.uint64),
    }
    if "truth_nu_pt" in branches and "truth_parton_pt" in branches:
        out["GenPart"] = ak.zip(_generator_particles(branches))
    return out


def write_nanoaod(path: str | Path, branches: Branches) -> Path:
    """Write ``branches`` (schema v1) as a NanoAOD-schema ``Events`` tree at ``path``."""
    path = Path(path)
    data = nanoaod_branches(branches)
    types = {
        name: value.type.content if isinstance(value, ak.Array) else value.dtype
        for name, value in data.items()
    }
    with uproot.recreate(path) as file:
        file.mktree("Events", types).extend(data)
    return path
