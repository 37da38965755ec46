"""Foreign ntuples through mapping files: ROOT-written AnalysisTop-style (MeV) and Delphes trees."""

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
MAPPINGS = importlib.resources.files("nuanalysis") / "data" / "mappings"
ATLAS_MAPPING = MAPPINGS / "atlas_mev.toml"


def _energy(pt, eta, m):
    return np.sqrt((pt * np.cosh(eta)) ** 2 + m**2)


def _root_tree(path, tree_name, columns):
    """Write a TTree with ROOT itself: ``columns[name] = (C++ type, per-event values)``.

    Per-event values that are lists become ``std::vector<type>`` branches, numbers
    plain leaves, as in experiments' flat ntuples.
    """
    import ROOT

    leaf_code = {"float": "F", "int": "I"}
    file = ROOT.TFile(str(path), "RECREATE")
    tree = ROOT.TTree(tree_name, "written by ROOT for nuanalysis tests")
    buffers = {}
    for name, (ctype, values) in columns.items():
        if isinstance(values[0], list):
            buffers[name] = ROOT.std.vector(ctype)()
            tree.Branch(name, buffers[name])
        else:
            buffers[name] = array(leaf_code[ctype][0].lower(), [0])
            tree.Branch(name, buffers[name], f"{name}/{leaf_code[ctype]}")
    for i in range(len(next(iter(columns.values()))[1])):
        for name, (_, values) in columns.items():
            if isinstance(values[i], list):
                buffers[name].clear()
                for value in values[i]:
                    buffers[name].push_back(value)
            else:
                buffers[name][0] = values[i]
        tree.Fill()
    file.Write()
    file.Close()


def _lists(array, factor=None):
    return ak.to_list(array if factor is None else array * factor)


def _split_leptons(branches):
    """Electrons and muons as separate collections, as experiments store them."""
    leptons = ak.zip({k[4:]: branches[k] for k in branches if k.startswith("lep_")})
    return leptons[leptons.pid == 11], leptons[leptons.pid == 13]


def _atlas_columns(branches):
    """AnalysisTop-style names, MeV, energies instead of masses, el_/mu_ split."""
    jet_e = _energy(branches["jet_pt"], branches["jet_eta"], branches["jet_mass"])
    columns = {
        "jet_pt": ("float", _lists(branches["jet_pt"], MEV)),
        "jet_eta": ("float", _lists(branches["jet_eta"])),
        "jet_phi": ("float", _lists(branches["jet_phi"])),
        "jet_e": ("float", _lists(jet_e, MEV)),
        "jet_isbtagged_DL1r_77": ("int", _lists(ak.values_astype(branches["jet_btag"], int))),
        "met_met": ("float", (branches["met"] * MEV).tolist()),
        "met_phi": ("float", branches["met_phi"].tolist()),
        "weight_mc": ("float", (0.5 + np.arange(len(branches["met"]))).tolist()),
    }
    for prefix, lep in zip(("el", "mu"), _split_leptons(branches), strict=True):
        columns[f"{prefix}_pt"] = ("float", _lists(lep.pt, MEV))
        columns[f"{prefix}_eta"] = ("float", _lists(lep.eta))
        columns[f"{prefix}_phi"] = ("float", _lists(lep.phi))
        columns[f"{prefix}_e"] = ("float", _lists(_energy(lep.pt, lep.eta, lep.mass), MEV))
        columns[f"{prefix}_charge"] = ("float", _lists(ak.values_astype(lep.charge, float)))
    return columns


@pytest.mark.root
@pytest.mark.skipif(not HAVE_ROOT, reason="PyROOT not installed")
@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_root_written_mev_tree_through_shipped_mapping(tmp_path, channel):
    n = 40
    branches = make_branches(channel, n, seed=11, truth=False)
    path = tmp_path / "atlas.root"
    _root_tree(path, "nominal", _atlas_columns(branches))

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


@pytest.mark.root
@pytest.mark.skipif(not HAVE_ROOT, reason="PyROOT not installed")
def test_root_written_delphes_names_through_shipped_mapping(tmp_path):
    """Delphes names with dots, one-object MissingET/Event collections, bit-mask b-tag."""
    branches = make_branches("dilepton", 30, seed=12, truth=False)
    columns = {
        "Jet.PT": ("float", _lists(branches["jet_pt"])),
        "Jet.Eta": ("float", _lists(branches["jet_eta"])),
        "Jet.Phi": ("float", _lists(branches["jet_phi"])),
        "Jet.Mass": ("float", _lists(branches["jet_mass"])),
        "Jet.BTag": ("int", _lists(ak.values_astype(branches["jet_btag"], int) * 6)),
        "MissingET.MET": ("float", [[v] for v in branches["met"].tolist()]),
        "MissingET.Phi": ("float", [[v] for v in branches["met_phi"].tolist()]),
        "Event.Weight": ("float", [[2.0]] * 30),
    }
    for prefix, lep in zip(("Electron", "Muon"), _split_leptons(branches), strict=True):
        for field, name in (("pt", "PT"), ("eta", "Eta"), ("phi", "Phi")):
            columns[f"{prefix}.{name}"] = ("float", _lists(lep[field]))
        columns[f"{prefix}.Charge"] = ("int", _lists(ak.values_astype(lep.charge, int)))
    path = tmp_path / "delphes.root"
    _root_tree(path, "Delphes", columns)

    padded = io.load_padded(path, mapping=MAPPINGS / "delphes.toml")
    reference = io.to_padded(io.read_events(io.write_ntuple(tmp_path / "gev.root", branches)))
    for name in ("jets", "leptons", "met"):
        np.testing.assert_allclose(getattr(padded, name), getattr(reference, name), rtol=1e-6)
    for name in ("jet_btag", "jet_mask", "lep_charge", "lep_pid"):
        np.testing.assert_array_equal(getattr(padded, name), getattr(reference, name))
    assert (padded.weight == 2.0).all()

    columns["MissingET.MET"][1][4] = [1.0, 2.0]
    _root_tree(path, "Delphes", columns)
    with pytest.raises(InputError, match=r"'MissingET.MET' for 'met' must hold one.*entry 4 has 2"):
        io.read_events(path, mapping=MAPPINGS / "delphes.toml")


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
        ({"branches": {"lep_e": ["a", 0.1]}}, "expected branch names$"),
        ({"branches": {"lep_pid": ["a", 1.5]}}, "expected branch names or numbers$"),
        ({"branches": {"jet_mass": "m", "jet_e": "e"}}, "either 'jet_mass' or 'jet_e'"),
        ({"branches": {"lep_pt": ["a", "b"]}}, "'lep_eta' must list 2 branches"),
        ({"btag_working_point": "77%"}, "'btag_working_point' must be a finite number"),
        ({"btag_working_point": float("inf")}, "'btag_working_point' must be a finite number"),
        ({"btag_working_point": True}, "'btag_working_point' must be a finite number"),
        ({"sort_by_pt": 1}, "'sort_by_pt' must be true or false"),
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


def test_binary_mapping_file_is_refused_clearly(tmp_path):
    """A binary file given as --mapping: a clear InputError, not UnicodeDecodeError."""
    binary = tmp_path / "events.toml"
    binary.write_bytes(b"root\x00\x00\xf6\xff\x9c" + bytes(range(256)))
    with pytest.raises(InputError, match=r"events\.toml is not UTF-8 text"):
        load_mapping(binary)
