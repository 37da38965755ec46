"""Foreign ntuples through mapping files: a ROOT-written AnalysisTop-style tree in MeV."""

from __future__ import annotations

import importlib.resources
from array import array
from dataclasses import replace

import awkward as ak
import numpy as np
import pytest
from conftest import HAVE_ROOT, make_branches

from baselines.constants import B_MASS
from nuanalysis import io
from nuanalysis.errors import InputError
from nuanalysis.mapping import load_mapping, mapping_from_dict

MEV = 1000.0
ATLAS_MAPPING = importlib.resources.files("nuanalysis") / "data" / "mappings" / "atlas_mev.toml"


def _energy(pt, eta, m):
    return np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)


def _write_atlas_tree_with_root(path, branches):
    """An AnalysisTop-like TTree made by ROOT itself: std::vector branches, MeV, el_/mu_ split."""
    import ROOT

    file = ROOT.TFile(str(path), "RECREATE")
    tree = ROOT.TTree("nominal", "AnalysisTop-style tree")
    vectors = {
        name: ROOT.std.vector(ctype)()
        for name, ctype in [
            *[(f"jet_{v}", "float") for v in ("pt", "eta", "phi", "e")],
            ("jet_isbtagged_DL1r_77", "int"),
            *[(f"{lep}_{v}", "float") for lep in ("el", "mu") for v in ("pt", "eta", "phi", "e")],
            ("el_charge", "float"),
            ("mu_charge", "float"),
        ]
    }
    for name, vec in vectors.items():
        tree.Branch(name, vec)
    scalars = {name: array("f", [0.0]) for name in ("met_met", "met_phi", "weight_mc")}
    for name, buffer in scalars.items():
        tree.Branch(name, buffer, f"{name}/F")

    jets = ak.zip({k[4:]: branches[k] for k in branches if k.startswith("jet_")})
    leptons = ak.zip({k[4:]: branches[k] for k in branches if k.startswith("lep_")})
    for i in range(len(branches["met"])):
        for vec in vectors.values():
            vec.clear()
        for jet in jets[i].to_list():
            vectors["jet_pt"].push_back(jet["pt"] * MEV)
            vectors["jet_eta"].push_back(jet["eta"])
            vectors["jet_phi"].push_back(jet["phi"])
            vectors["jet_e"].push_back(_energy(jet["pt"], jet["eta"], jet["mass"]) * MEV)
            vectors["jet_isbtagged_DL1r_77"].push_back(int(jet["btag"]))
        for lep in leptons[i].to_list():
            kind = "el" if lep["pid"] == 11 else "mu"
            vectors[f"{kind}_pt"].push_back(lep["pt"] * MEV)
            vectors[f"{kind}_eta"].push_back(lep["eta"])
            vectors[f"{kind}_phi"].push_back(lep["phi"])
            vectors[f"{kind}_e"].push_back(_energy(lep["pt"], lep["eta"], lep["mass"]) * MEV)
            vectors[f"{kind}_charge"].push_back(lep["charge"])
        scalars["met_met"][0] = branches["met"][i] * MEV
        scalars["met_phi"][0] = branches["met_phi"][i]
        scalars["weight_mc"][0] = 0.5 + i
        tree.Fill()
    file.Write()
    file.Close()


@pytest.mark.root
@pytest.mark.skipif(not HAVE_ROOT, reason="PyROOT not installed")
@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_root_written_mev_tree_through_shipped_mapping(tmp_path, channel):
    n = 40
    branches = make_branches(channel, n, seed=11, truth=False)
    path = tmp_path / "atlas.root"
    _write_atlas_tree_with_root(path, branches)

    events = io.read_events(path, mapping=str(ATLAS_MAPPING))
    assert len(events) == n and "truth" not in events.fields
    assert io.detect_channel(events) == channel

    def close(actual, expected, **tol):
        np.testing.assert_allclose(
            ak.to_numpy(ak.flatten(actual, axis=None)),
            ak.to_numpy(ak.flatten(expected, axis=None)).astype(np.float64),
            **tol,
        )

    close(events.jets.pt, branches["jet_pt"], rtol=1e-6)  # MeV -> GeV
    close(events.jets.eta, branches["jet_eta"], rtol=0, atol=0)  # never scaled
    close(events.jets.phi, branches["jet_phi"], rtol=0, atol=0)
    # the mass comes from E and p, each rounded to float32 in MeV: the energy is what survives
    jet_energy = _energy(branches["jet_pt"], branches["jet_eta"], branches["jet_mass"])
    close(events.jets.E, jet_energy, rtol=1e-6)
    assert ak.to_list(events.jets.btag) == ak.to_list(branches["jet_btag"])
    assert ak.all(ak.flatten(events.jets.match) == -1)  # no match branch in the file
    # electrons and muons merged back into the original pT order, pid from the constants
    close(events.leptons.pt, branches["lep_pt"], rtol=1e-6)
    close(events.leptons.eta, branches["lep_eta"], rtol=0, atol=0)
    assert ak.to_list(events.leptons.pid) == ak.to_list(branches["lep_pid"])
    assert ak.to_list(events.leptons.charge) == ak.to_list(branches["lep_charge"])
    lep_energy = _energy(branches["lep_pt"], branches["lep_eta"], branches["lep_mass"])
    close(events.leptons.E, lep_energy, rtol=1e-6)
    close(events.met.pt, branches["met"], rtol=1e-6)
    close(events.met.phi, branches["met_phi"], rtol=0, atol=0)
    np.testing.assert_array_equal(ak.to_numpy(events.weight), 0.5 + np.arange(n))
    # b jets (matched to partons 0, 1 in the synthetic truth) keep their 4.5 GeV mass
    is_b = (branches["jet_match"] == 0) | (branches["jet_match"] == 1)
    close(events.jets.mass[is_b], np.full(int(ak.sum(is_b)), B_MASS), atol=0.2)

    padded = io.load_padded(path, mapping=ATLAS_MAPPING, step_size=15)
    reference = io.to_padded(io.read_events(io.write_ntuple(tmp_path / "gev.root", branches)))
    np.testing.assert_allclose(padded.leptons, reference.leptons, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(padded.met, reference.met, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(padded.jets[..., :3], reference.jets[..., :3], rtol=1e-5, atol=1e-3)


def test_renamed_branches_scale_only_momenta(tmp_path):
    """A plain rename + MeV mapping (written by uproot), TOML and YAML forms alike."""
    branches = make_branches("semileptonic", 30, seed=2)
    renamed = {}
    for name, value in branches.items():
        scaled = name.endswith(("_pt", "_mass")) or name == "met"
        renamed["X_" + name] = value * MEV if scaled else value
    path = io.write_ntuple(tmp_path / "foreign.root", renamed, tree="T")
    table = "\n".join(f'{name} = "X_{name}"' for name in branches)
    (tmp_path / "m.toml").write_text(f'tree = "T"\nscale = 0.001\n[branches]\n{table}\n')
    yaml_table = "\n".join(f"  {name}: X_{name}" for name in branches)
    (tmp_path / "m.yaml").write_text(f"tree: T\nscale: 0.001\nbranches:\n{yaml_table}\n")
    reference = io.read_events(io.write_ntuple(tmp_path / "ref.root", branches))
    want = io.to_padded(reference)
    for mapping_file in ("m.toml", "m.yaml"):
        events = io.read_events(path, mapping=tmp_path / mapping_file)
        assert ak.to_list(events.jets.eta) == ak.to_list(reference.jets.eta)
        assert ak.to_list(events.truth.partons.pid) == ak.to_list(reference.truth.partons.pid)
        got = io.to_padded(events)
        for name in ("jets", "leptons", "met", "truth_nu", "truth_partons", "truth_top"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-6)
        np.testing.assert_array_equal(got.jet_btag, want.jet_btag)


def test_mapped_branch_missing_names_foreign_branch(tmp_path):
    path = io.write_ntuple(tmp_path / "plain.root", make_branches("dilepton", 5, truth=False))
    with pytest.raises(InputError, match=r"plain\.root.*'met' \(mapped to 'met_met'\)"):
        io.read_events(path, mapping={"branches": {"met": "met_met"}})
    with pytest.raises(InputError, match=r"'lep_pt' \(mapped to 'el_pt' \+ 'mu_pt'\)"):
        io.read_events(path, mapping=replace(load_mapping(ATLAS_MAPPING), tree="events"))
    with pytest.raises(InputError, match=r"no tree 'nominal'.*check the mapping .*atlas_mev"):
        io.read_events(path, mapping=ATLAS_MAPPING)


def test_shipped_mapping_is_valid():
    mapping = load_mapping(ATLAS_MAPPING)
    assert mapping.tree == "nominal" and mapping.scale == 0.001
    assert mapping.merged_collections == {"lep": 2}
    assert mapping.reads_energy("jet_mass") and mapping.foreign("lep_pid") == (11, 13)
    assert mapping.foreign("jet_match") == "jet_match"  # unlisted: schema name
    assert mapping.foreign("truth_nu_pt") == "truth_nu_pt"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"branches": {"jet_ptt": "x"}}, "'jet_ptt' is not a schema v1 branch"),
        ({"scale": -1}, "finite and positive"),
        ({"scale": float("nan")}, "finite and positive"),
        ({"scale": "MeV"}, "'scale' must be a number"),
        ({"scale": True}, "'scale' must be a number"),
        ({"tree": ""}, "'tree' must be a non-empty string"),
        ({"units": "MeV"}, r"unknown key\(s\) \['units'\]"),
        ({"branches": {"met": ["a", "b"]}}, "'met' is not a per-object branch"),
        ({"branches": {"jet_pt": 3}}, "'jet_pt' must map to a branch name"),
        ({"branches": {"lep_pt": ["a", 3]}}, "expected branch names$"),
        ({"branches": {"jet_mass": "m", "jet_e": "e"}}, "either 'jet_mass' or 'jet_e'"),
        ({"branches": {"lep_pt": ["a", "b"]}}, "'lep_eta' must list 2 branches"),
    ],
)
def test_invalid_mappings(data, message):
    with pytest.raises(InputError, match=message):
        mapping_from_dict(data, source="bad.toml")


def test_unreadable_mapping_files(tmp_path):
    with pytest.raises(InputError, match="mapping file not found"):
        load_mapping(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("scale = = 1\n")
    with pytest.raises(InputError, match=r"broken\.toml cannot be parsed"):
        load_mapping(broken)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("scale = 0\n")
    with pytest.raises(InputError, match=r"wrong\.toml.*finite and positive"):
        io.read_events(tmp_path / "whatever.root", mapping=wrong)
