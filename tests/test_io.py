"""Ntuple I/O: schema v1 round trips (uproot and ROOT), to_padded, chunking, bad input."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import HAVE_ROOT, make_branches

from baselines.constants import TOP_MASS, W_MASS
from nuanalysis import io, schema
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.kinematics import mass
from nuanalysis.padded import MAX_JETS, N_LEPTONS, N_NEUTRINOS

CHANNELS = ("semileptonic", "dilepton")


def _values(value):
    return ak.to_list(value) if isinstance(value, ak.Array) else value.tolist()


# --------------------------------------------------------------------- round trips


@pytest.mark.parametrize("channel", CHANNELS)
def test_round_trip_keeps_values_and_schema_dtypes(tmp_path, channel):
    branches = make_branches(channel, 300, seed=3)
    path = io.write_ntuple(tmp_path / "rt.root", branches)
    with uproot.open(path) as file:
        tree = file[schema.TREE_NAME]
        assert tree.title == schema.TREE_TITLE
        for counter in ("njet", "nlep", "ntruth_nu"):
            assert counter in tree.keys()
        stored = tree.arrays(list(branches), how=dict)
    assert set(branches) == set(schema.BY_NAME)
    for name, value in branches.items():
        spec = schema.BY_NAME[name]
        dtype = (
            np.dtype(ak.type(stored[name]).content.content.primitive)
            if spec.shape != "flat"
            else np.dtype(ak.type(stored[name]).content.primitive)
        )
        assert dtype == spec.dtype, name
        assert _values(stored[name]) == _values(value), name


@pytest.mark.parametrize("channel", CHANNELS)
def test_read_events_exposes_vector_records(tmp_path, channel):
    branches = make_branches(channel, 200, seed=4)
    events = io.read_events(io.write_ntuple(tmp_path / "ev.root", branches))
    assert len(events) == 200
    assert ak.all(ak.num(events.leptons) == N_LEPTONS[channel])
    assert ak.to_list(events.jets.pt) == _values(branches["jet_pt"])
    assert ak.to_list(events.jets.btag) == _values(branches["jet_btag"])
    assert ak.to_list(events.leptons.pid) == _values(branches["lep_pid"])
    assert ak.to_list(events.met.pt) == _values(branches["met"])
    # vector behaviour: px from pt and phi, and the truth decay chain is physical
    px = ak.to_numpy(ak.flatten(events.jets.px))
    expected = ak.to_numpy(ak.flatten(branches["jet_pt"] * np.cos(branches["jet_phi"])))
    np.testing.assert_allclose(px, expected, rtol=1e-5, atol=1e-4)
    partons = events.truth.partons
    w_plus = partons[:, 2] + partons[:, 3]
    np.testing.assert_allclose(ak.to_numpy(w_plus.mass), W_MASS, rtol=1e-4)
    np.testing.assert_allclose(ak.to_numpy((partons[:, 0] + w_plus).mass), TOP_MASS, rtol=1e-4)
    np.testing.assert_allclose(ak.to_numpy(events.truth.top.mass), TOP_MASS, rtol=1e-6)
    assert ak.all(events.truth.neutrinos.mass == 0)
    assert ak.all(ak.num(events.truth.neutrinos) == N_NEUTRINOS[channel])


def test_file_without_truth_or_optional_branches(tmp_path):
    branches = make_branches("semileptonic", 50, truth=False)
    del branches["jet_match"], branches["weight"]
    events = io.read_events(io.write_ntuple(tmp_path / "reco.root", branches))
    assert "truth" not in events.fields
    assert ak.all(ak.flatten(events.jets.match) == -1)
    assert ak.all(events.weight == 1)
    padded = io.to_padded(events)
    assert not padded.has_truth and padded.truth_partons is None


def test_chunked_writer_and_extra_branches(tmp_path):
    """Chunks append; extra <prefix>_<field> branches share one sanitised counter."""
    parts = [make_branches("dilepton", n, seed=s) for n, s in ((40, 1), (0, 2), (25, 3))]
    for part in parts:
        size = len(part["met"])
        part["flow-sample_nu_px"] = ak.Array(np.arange(2 * size, dtype=np.float32).reshape(-1, 2))
        part["flow-sample_nu_py"] = ak.Array(np.ones((size, 2), dtype=np.float32))
        part["flow-sample_valid"] = np.ones(size, dtype=bool)
    path = tmp_path / "chunks.root"
    with io.NtupleWriter(path) as writer:
        for part in parts:
            writer.extend(part)
    assert writer.num_entries == 65
    with uproot.open(path) as file:
        tree = file["events"]
        assert tree.num_entries == 65
        assert "nflow_sample_nu" in tree.keys()
        px = tree["flow-sample_nu_px"].array()
    expected = ak.concatenate([p["flow-sample_nu_px"] for p in parts])
    assert ak.to_list(px) == ak.to_list(expected)
    events = io.read_events(path)
    assert ak.to_list(events.met.pt) == np.concatenate([p["met"] for p in parts]).tolist()


def test_writer_rejects_inconsistent_branches(tmp_path):
    branches = make_branches("semileptonic", 10)
    with pytest.raises(InputError, match="different numbers of entries"):
        io.write_ntuple(tmp_path / "a.root", {**branches, "met": branches["met"][:5]})
    jet_eta = ak.concatenate([branches["jet_eta"][:1, :-1], branches["jet_eta"][1:]])
    with pytest.raises(InputError, match=r"'jet_eta'.*entry 0"):
        io.write_ntuple(tmp_path / "b.root", {**branches, "jet_eta": jet_eta})
    with pytest.raises(InputError, match="truth_parton_pt"):
        io.write_ntuple(
            tmp_path / "c.root", {**branches, "truth_parton_pt": branches["truth_parton_pt"][:, :4]}
        )
    with io.NtupleWriter(tmp_path / "d.root") as writer:
        writer.extend(branches)
        with pytest.raises(InputError, match=r"missing.*'weight'"):
            writer.extend({k: v for k, v in branches.items() if k != "weight"})


@pytest.mark.root
@pytest.mark.skipif(not HAVE_ROOT, reason="PyROOT not installed")
@pytest.mark.parametrize("channel", CHANNELS)
def test_written_file_reads_in_root(tmp_path, channel):
    import ROOT

    branches = make_branches(channel, 25, seed=5)
    path = io.write_ntuple(tmp_path / "root.root", branches)
    file = ROOT.TFile.Open(str(path))
    tree = file.Get("events")
    assert tree and tree.GetEntries() == 25
    assert {b.GetName() for b in tree.GetListOfBranches()} >= set(branches) | {"njet", "nlep"}
    for i in range(25):
        tree.GetEntry(i)
        for name, value in branches.items():
            leaf = tree.GetLeaf(name)
            stored = [leaf.GetValue(j) for j in range(leaf.GetLen())]
            expected = np.atleast_1d(np.asarray(_values(value[i]), dtype=np.float64))
            np.testing.assert_array_equal(np.asarray(stored), expected, err_msg=f"{name}[{i}]")
    file.Close()


# --------------------------------------------------------------------- to_padded


@pytest.mark.parametrize("channel", CHANNELS)
def test_to_padded_matches_vector_and_pads(tmp_path, channel):
    branches = make_branches(channel, 400, seed=6, max_extra_jets=12)
    events = io.read_events(io.write_ntuple(tmp_path / "p.root", branches))
    padded = io.to_padded(events)
    n_jets = ak.to_numpy(ak.num(events.jets))
    assert padded.channel == channel and len(padded) == 400
    assert (n_jets > MAX_JETS).any(), "sample must exercise jet truncation"
    np.testing.assert_array_equal(padded.n_jets, n_jets)
    np.testing.assert_array_equal(padded.jet_mask.sum(axis=1), np.minimum(n_jets, MAX_JETS))
    assert padded.jets.dtype == np.float64 and padded.jets.shape == (400, MAX_JETS, 4)
    kept = events.jets[:, :MAX_JETS]
    for axis, component in enumerate(("px", "py", "pz", "E")):
        np.testing.assert_allclose(
            padded.jets[..., axis][padded.jet_mask],
            ak.to_numpy(ak.flatten(getattr(kept, component))),
            rtol=1e-5,
            atol=1e-3,
        )
    assert (padded.jets[~padded.jet_mask] == 0).all()
    assert (padded.jet_match[~padded.jet_mask] == -1).all()
    np.testing.assert_array_equal(padded.jet_btag[padded.jet_mask], ak.flatten(kept.btag))
    lep = events.leptons
    np.testing.assert_allclose(padded.leptons[..., 3], ak.to_numpy(lep.E), rtol=1e-5)
    np.testing.assert_array_equal(padded.lep_charge, ak.to_numpy(lep.charge))
    np.testing.assert_allclose(padded.met[:, 0], ak.to_numpy(events.met.px), rtol=1e-5, atol=1e-4)
    # physics of the synthetic truth: MET = Σ ν pT, W and top masses from padded partons
    np.testing.assert_allclose(padded.truth_nu[:, :, :2].sum(axis=1), padded.met, atol=1e-3)
    w_plus = padded.truth_partons[:, 2] + padded.truth_partons[:, 3]
    np.testing.assert_allclose(mass(w_plus), W_MASS, rtol=1e-4)
    np.testing.assert_allclose(mass(padded.truth_top), TOP_MASS, rtol=1e-4)
    assert padded.truth_nu.shape == (400, N_NEUTRINOS[channel], 3)


def test_to_padded_orders_neutrino_before_antineutrino(tmp_path):
    branches = make_branches("dilepton", 30, seed=7)
    flipped = {
        name: value[:, ::-1] if name.startswith("truth_nu_") else value
        for name, value in branches.items()
    }
    events = io.read_events(io.write_ntuple(tmp_path / "flip.root", flipped))
    assert ak.all(events.truth.neutrinos.pid[:, 0] < 0)
    padded = io.to_padded(events)
    reference = io.to_padded(io.read_events(io.write_ntuple(tmp_path / "ok.root", branches)))
    np.testing.assert_array_equal(padded.truth_nu, reference.truth_nu)
    pt = np.hypot(padded.truth_nu[:, 0, 0], padded.truth_nu[:, 0, 1])
    np.testing.assert_allclose(pt, ak.to_numpy(events.truth.neutrinos.pt[:, 1]), rtol=1e-5)


# --------------------------------------------------------------------- chunks, files


def test_iterate_events_equals_whole_read(synthetic_ntuple):
    path = synthetic_ntuple("semileptonic", 250)
    whole = io.read_events(path)
    chunks = list(io.iterate_events(path, step_size=60))
    assert [len(c) for c in chunks] == [60, 60, 60, 60, 10]
    assert ak.to_list(ak.concatenate(chunks)) == ak.to_list(whole)
    padded = io.load_padded(path)
    reference = io.to_padded(whole)
    np.testing.assert_array_equal(padded.jets, reference.jets)
    np.testing.assert_array_equal(padded.truth_nu, reference.truth_nu)


def test_several_files_and_entry_stop(synthetic_ntuple):
    a = synthetic_ntuple("dilepton", 40, name="a.root", seed=1)
    b = synthetic_ntuple("dilepton", 30, name="b.root", seed=2)
    events = io.read_events([a, b])
    assert len(events) == 70
    assert ak.to_list(events[40:]) == ak.to_list(io.read_events(b))
    assert len(io.read_events([a, b], entry_stop=55)) == 55
    assert len(io.load_padded(str(a.parent / "*.root"), max_events=45)) == 45
    assert sum(len(c) for c in io.iterate_events([a, b], step_size=25, entry_stop=50)) == 50


# --------------------------------------------------------------------- channels


def test_detect_channel(synthetic_ntuple):
    for channel in CHANNELS:
        assert io.detect_channel(io.read_events(synthetic_ntuple(channel, 20))) == channel


def _with_leptons(branches, keep):
    """Drop leptons so that entry i keeps ``keep[i]`` of them."""
    mask = ak.local_index(branches["lep_pt"]) < ak.Array(keep)[:, None]
    return {k: (v[mask] if k.startswith("lep_") else v) for k, v in branches.items()}


def test_one_lepton_in_dilepton_file_names_file_and_entry(tmp_path):
    branches = make_branches("dilepton", 20)
    keep = np.full(20, 2)
    keep[13] = 1
    path = io.write_ntuple(tmp_path / "mixed.root", _with_leptons(branches, keep))
    with pytest.raises(ChannelError, match=r"mixed\.root.*entry 13 has 1 lepton"):
        io.read_events(path, channel="dilepton")
    with pytest.raises(ChannelError, match=r"mixed.*entry 13"):
        io.read_events(path)
    keep[0] = 0
    path = io.write_ntuple(tmp_path / "none.root", _with_leptons(branches, keep))
    with pytest.raises(ChannelError, match=r"entry 0 has 0 lepton"):
        io.read_events(path)


def test_wrong_channel_and_mixed_files(synthetic_ntuple):
    semi = synthetic_ntuple("semileptonic", 10)
    di = synthetic_ntuple("dilepton", 10)
    with pytest.raises(ChannelError, match=r"semileptonic_10\.root.*entry 0.*dilepton"):
        io.read_events(semi, channel="dilepton")
    with pytest.raises(ChannelError, match=r"dilepton_10\.root"):
        io.read_events([semi, di])
    with pytest.raises(ChannelError, match="unknown channel"):
        io.read_events(semi, channel="allhadronic")
    events = io.read_events(semi)
    with pytest.raises(ChannelError, match="needs exactly 2"):
        io.to_padded(events, channel="dilepton")


def test_lepton_charges_are_checked(tmp_path):
    branches = make_branches("dilepton", 12)
    charge = ak.to_numpy(branches["lep_charge"]).copy()
    charge[9] = [1, 1]
    path = io.write_ntuple(tmp_path / "ss.root", {**branches, "lep_charge": ak.Array(charge)})
    with pytest.raises(InputError, match=r"ss\.root: entry 9 has two leptons of the same charge"):
        io.read_events(path)
    charge[9] = [1, 0]
    path = io.write_ntuple(tmp_path / "q0.root", {**branches, "lep_charge": ak.Array(charge)})
    with pytest.raises(InputError, match=r"entry 9 has a lepton charge other than ±1"):
        io.load_padded(path)
    with pytest.raises(InputError, match="at least 1"):
        io.read_events(path, entry_stop=0)


def test_to_padded_rejects_non_finite_events_built_in_memory(synthetic_ntuple):
    events = io.read_events(synthetic_ntuple("semileptonic", 8))
    met = ak.to_numpy(events.met.pt).copy()
    met[5] = np.nan
    events["met"] = ak.zip({"pt": met, "phi": events.met.phi}, with_name="Momentum2D")
    with pytest.raises(InputError, match=r"events: branch 'met\.pt' holds NaN .*entry 5\)"):
        io.to_padded(events)


def test_event_without_jets_is_rejected(tmp_path):
    branches = make_branches("dilepton", 10)
    keep = (
        ak.local_index(branches["jet_pt"]) < ak.Array(np.where(np.arange(10) == 6, 0, 99))[:, None]
    )
    jets_cut = {k: (v[keep] if k.startswith("jet_") else v) for k, v in branches.items()}
    path = io.write_ntuple(tmp_path / "nojet.root", jets_cut)
    with pytest.raises(InputError, match=r"nojet\.root: entry 6 has no jets"):
        io.read_events(path)


def test_to_padded_of_no_events_keeps_shapes(synthetic_ntuple):
    events = io.read_events(synthetic_ntuple("dilepton", 5))[:0]
    padded = io.to_padded(events, channel="dilepton")
    assert padded.jets.shape == (0, MAX_JETS, 4) and padded.truth_nu.shape == (0, 2, 3)
    with pytest.raises(InputError, match="no events"):
        io.detect_channel(events)


# --------------------------------------------------------------------- bad input


def test_missing_file_and_tree(tmp_path, synthetic_ntuple):
    with pytest.raises(InputError, match=r"not found: .*nothing\.root"):
        io.read_events(tmp_path / "nothing.root")
    with pytest.raises(InputError, match="no input file matches"):
        io.read_events(str(tmp_path / "*.nope"))
    path = synthetic_ntuple("semileptonic", 5)
    with pytest.raises(InputError, match=r"no tree 'nominal'.*\['events'\]"):
        io.read_events(path, mapping={"tree": "nominal"})
    with uproot.recreate(tmp_path / "rntuple.root") as file:
        file["events"] = {"met": np.ones(3, dtype=np.float32)}
    with pytest.raises(InputError, match="not a TTree"):
        io.read_events(tmp_path / "rntuple.root")


def test_missing_branch_names_branch_file_and_mapping(tmp_path):
    branches = make_branches("semileptonic", 10)
    del branches["lep_phi"]
    path = io.write_ntuple(tmp_path / "nolep.root", branches)
    with pytest.raises(InputError, match=r"nolep\.root.*'lep_phi'.*mapping"):
        io.read_events(path)
    partial = make_branches("semileptonic", 10)
    del partial["truth_top_eta"]
    path = io.write_ntuple(tmp_path / "partial.root", partial)
    with pytest.raises(InputError, match=r"truth_top branches are incomplete.*truth_top_eta"):
        io.read_events(path)


def test_empty_file(tmp_path):
    branches = {k: v[:0] for k, v in make_branches("dilepton", 3).items()}
    path = io.write_ntuple(tmp_path / "empty.root", branches)
    with pytest.raises(InputError, match=r"empty\.root.*no entries"):
        io.read_events(path)


@pytest.mark.parametrize(
    ("branch", "entry", "bad", "kind"),
    [
        ("jet_pt", 7, np.nan, "NaN"),
        ("met", 3, np.inf, "inf"),
        ("truth_nu_eta", 150, -np.inf, "inf"),
        ("truth_parton_mass", 11, np.nan, "NaN"),
    ],
)
def test_non_finite_momenta(tmp_path, branch, entry, bad, kind):
    branches = make_branches("dilepton", 200)
    value = branches[branch]
    if isinstance(value, np.ndarray):
        value = value.copy()
        value[entry] = bad
    else:
        flat = ak.to_numpy(ak.flatten(value)).copy()
        flat[int(ak.sum(ak.num(value)[:entry]))] = bad
        value = ak.unflatten(flat, ak.num(value))
    path = io.write_ntuple(tmp_path / "bad.root", {**branches, branch: value})
    message = rf"bad\.root.*'{branch}'.*{kind}.*entry {entry}\)"
    with pytest.raises(InputError, match=message):
        io.read_events(path)
    with pytest.raises(InputError, match=message):
        list(io.iterate_events(path, step_size=64))


def test_corrupt_files(tmp_path, synthetic_ntuple):
    path = synthetic_ntuple("semileptonic", 500)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.root.*cannot be read"):
        io.read_events(truncated)
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"this is not a ROOT file" * 10)
    with pytest.raises(InputError, match=r"garbage\.root"):
        io.load_padded(garbage)


def test_demo_sample_path():
    with pytest.raises(ChannelError, match="unknown channel"):
        io.demo_sample_path("allhadronic")
    for channel in CHANNELS:
        try:
            path = io.demo_sample_path(channel)
        except InputError as exc:
            assert f"demo_{channel}.root" in str(exc)
        else:
            assert path.name == f"demo_{channel}.root" and path.is_file()
