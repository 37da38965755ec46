"""CMS NanoAOD and ATLAS PHYSLITE: the event builders, the NanoAOD writer, detection, ``--format``.

Always run on NanoAOD files our writer makes (no network); the real files of
coffea's source distribution (``nano_tt_v12.root``, ``nano_tt_v15.root``,
``PHYSLITE_example.root``) are fetched once into a cache and their tests skip,
with the reason, where the package index cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import make_branches

pytest.importorskip("coffea")

from nuanalysis import io
from nuanalysis.columnar import reconstruct
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.formats import ChannelSelection, detect_format
from nuanalysis.formats.nanoaod import (
    NanoAODSelection,
    jet_id_from_composition,
    read_nanoaod,
)
from nuanalysis.formats.nanoaod_writer import write_nanoaod
from nuanalysis.statistics import width68, width68_error

LOOSE = NanoAODSelection(
    electron_pt=0,
    muon_pt=0,
    electron_eta=99,
    muon_eta=99,
    electron_gap=None,
    jet_pt=0,
    jet_eta=99,
    overlap_dr=-1,
)
"""A selection every generated object passes: the writer's round trip."""

COFFEA_VERSION = "2026.9.0"
REAL_FILES = ("nano_tt_v12.root", "nano_tt_v15.root", "PHYSLITE_example.root")


@pytest.fixture(scope="module", params=["semileptonic", "dilepton"])
def written(request, tmp_path_factory):
    channel = request.param
    folder = tmp_path_factory.mktemp(f"nano_{channel}")
    branches = make_branches(channel, 60, seed=4, met_resolution=10.0)
    ntuple = io.write_ntuple(folder / "ntuple.root", branches)
    return channel, ntuple, write_nanoaod(folder / "nano.root", branches)


def test_writer_round_trip_is_exact(written):
    channel, ntuple, nano = written
    assert (detect_format(ntuple), detect_format(nano)) == ("ntuple", "nanoaod")
    records = read_nanoaod(nano, ChannelSelection(channel, min_jets=1, min_btags=0), LOOSE)
    events = io.read_events(ntuple)
    assert len(records) == len(events)
    for collection in ("jets", "leptons"):
        for field in records[collection].fields:
            assert ak.to_list(records[collection][field]) == ak.to_list(events[collection][field])
    assert ak.to_list(records.met.phi) == ak.to_list(events.met.phi)
    for field in ("pt", "eta", "pid"):  # ν (from W⁺) first, ν̄ second
        assert ak.to_list(records.truth.neutrinos[field]) == ak.to_list(
            events.truth.neutrinos[field]
        )


def test_default_selection_cuts(written):
    channel, _, nano = written
    records = read_nanoaod(nano, channel)
    assert 0 < len(records) < 60
    jets, leptons = records.jets, records.leptons
    assert ak.all(jets.pt > 25) and ak.all(abs(jets.eta) < 2.5)
    assert ak.all(leptons.pt > 25) and ak.all(
        ak.num(leptons) == (1 if channel == "semileptonic" else 2)
    )
    assert ak.all(ak.num(jets) >= (4 if channel == "semileptonic" else 2))
    assert ak.all(ak.sum(jets.btag, axis=1) >= 1)
    pairs = ak.cartesian([jets, leptons], nested=True)
    assert ak.all(pairs["0"].deltaR(pairs["1"]) > 0.4)
    assert ak.all(ak.flatten(jets.pt[:, :-1] >= jets.pt[:, 1:]))


def test_command_line_reads_nanoaod_like_the_columnar_api(written, tmp_path):
    channel, _, nano = written
    out = tmp_path / "reco.root"
    args = ["reconstruct", "--input", str(nano), "--channel", channel, "--methods", "flow-sample"]
    result = _run_cli([*args, "--seed", "3", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    cli = uproot.open(out)["events"].arrays(library="np")
    records = reconstruct("flow-sample", read_nanoaod(nano, channel), seed=3)
    assert len(cli["flow-sample_valid"]) == len(records)
    px = np.stack(cli["flow-sample_nu_px"])[:, 0]
    np.testing.assert_array_equal(px, ak.to_numpy(records.nu.px).astype(np.float32))


def _run_cli(args):
    """The console entry point in a subprocess (its exit status and one-line errors)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nuanalysis", *args], capture_output=True, text=True, env=env
    )


def test_format_errors_are_one_line(written, tmp_path):
    channel, _, nano = written
    if channel == "semileptonic":  # (a dilepton event losing a lepton is semileptonic)
        with pytest.raises(ChannelError, match="none of the 60 events passes the dilepton"):
            read_nanoaod(nano, "dilepton")
    alien = tmp_path / "alien.root"
    with uproot.recreate(alien) as file:
        file.mktree("Delphes", {"x": np.float32}).extend({"x": np.zeros(3, np.float32)})
    with pytest.raises(
        InputError, match=r"no tree 'events' .* found Delphes \(TTree\); .*mapping='delphes'"
    ):
        detect_format(alien)
    base = ["reconstruct", "--methods", "ellipse", "--out", str(tmp_path / "o.root")]
    for args, message in (
        (["--input", str(nano)], "give --channel"),
        (["--input", str(nano), "--format", "physlite", "--channel", channel], "is nanoaod"),
        (["--input", str(alien)], "found Delphes"),
    ):
        result = _run_cli([*base, *args])
        assert result.returncode == 1
        assert message in result.stderr and "Traceback" not in result.stderr


def test_jet_id_from_composition_applies_each_cut():
    good = {
        "eta": 0.5, "neHEF": 0.5, "neEmEF": 0.3, "chHEF": 0.3, "chEmEF": 0.1, "muEF": 0.0,
        "chMultiplicity": 5, "neMultiplicity": 3,
    }  # fmt: skip
    failing = [
        {"neHEF": 0.995},
        {"neEmEF": 0.95},
        {"chHEF": 0.005},
        {"chMultiplicity": 0},
        {"muEF": 0.85},
        {"chEmEF": 0.85},
        {"eta": 3.5, "neMultiplicity": 1},
    ]
    jets = ak.Array([good, *({**good, **change} for change in failing)])
    assert ak.to_list(jet_id_from_composition(jets)) == [True] + [False] * len(failing)
    # without the lepton veto, the lepton fractions do not matter
    assert ak.to_list(jet_id_from_composition(jets, lepton_veto=False))[5:7] == [True, True]


# ------------------------------------------------------------------ real files


@pytest.fixture(scope="module")
def real_files() -> dict[str, Path]:
    """coffea's sample files, fetched once from its source distribution into the user cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nuanalysis"
    folder = cache / f"coffea-{COFFEA_VERSION}-samples"
    if not all((folder / name).exists() for name in REAL_FILES):
        with tempfile.TemporaryDirectory() as scratch:
            command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:"]
            command += ["--no-deps", f"coffea=={COFFEA_VERSION}", "-d", scratch, "-q"]
            try:
                fetched = subprocess.run(command, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                pytest.skip("the package index did not answer within 300 s")
            archives = list(Path(scratch).glob("coffea-*.tar.gz"))
            if fetched.returncode != 0 or not archives:
                pytest.skip(
                    f"coffea's source distribution is not reachable: {fetched.stderr[-200:]}"
                )
            folder.mkdir(parents=True, exist_ok=True)
            with tarfile.open(archives[0]) as archive:
                for member in archive.getmembers():
                    if Path(member.name).name in REAL_FILES:
                        member.name = Path(member.name).name
                        archive.extract(member, folder, filter="data")
    return {name: folder / name for name in REAL_FILES}


def test_nanoaod_v12_semileptonic_flow_beats_the_quadratic(real_files):
    """52–55 events pass; the shipped flow's ν p_y width68 is narrower than the quadratic's."""
    records = read_nanoaod(real_files["nano_tt_v12.root"], "semileptonic")
    assert 40 < len(records) < 80 and "truth" in records.fields
    truth = records.truth.neutrinos[:, 0]
    widths = {}
    for method in ("flow", "quadratic"):
        nu = reconstruct(method, records).nu
        widths[method] = [ak.to_numpy(getattr(nu, c) - getattr(truth, c)) for c in ("px", "py")]
    flow_py, quadratic_py = widths["flow"][1], widths["quadratic"][1]
    gap = width68(quadratic_py) - width68(flow_py)
    assert gap > 1.5 * np.hypot(width68_error(flow_py), width68_error(quadratic_py))
    with pytest.raises(ChannelError, match="none of the 200 events passes the dilepton"):
        read_nanoaod(real_files["nano_tt_v12.root"], "dilepton")


def test_nanoaod_v15_without_met_and_jet_id(real_files):
    """v15 has neither MET_* nor Jet_jetId: PFMET and the composition ID are used; this
    all-hadronic sample has no isolated lepton, so a channel selects nothing."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from nuanalysis.formats.nanoaod import nanoaod_objects

    path = real_files["nano_tt_v15.root"]
    events = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager"
    ).events()
    assert "MET" not in events.fields and "jetId" not in events.Jet.fields
    objects = nanoaod_objects(events)
    np.testing.assert_array_equal(ak.to_numpy(objects.met_pt), ak.to_numpy(events.PFMET.pt))
    # the computed tight lepton-veto ID keeps nearly every central jet of a simulated tt̄ sample
    central = events.Jet[(events.Jet.pt > 25) & (abs(events.Jet.eta) < 2.5)]
    assert ak.mean(ak.flatten(jet_id_from_composition(central))) > 0.98
    assert ak.sum(ak.num(objects.jets)) > 500
    with pytest.raises(ChannelError, match=r"by number of selected leptons: 200 with 0"):
        read_nanoaod(path, "semileptonic")


def test_physlite_z_to_ee_in_gev(real_files):
    """The example is Z → ee (no tt̄, no b-tag): its dilepton pairs peak at m_Z in GeV."""
    from nuanalysis.formats.physlite import read_physlite

    path = real_files["PHYSLITE_example.root"]
    assert detect_format(path) == "physlite"
    records = read_physlite(path, ChannelSelection("dilepton", min_btags=0))
    assert len(records) >= 3 and ak.all(records.leptons.pid == 11)
    pair = records.leptons[:, 0] + records.leptons[:, 1]
    assert np.median(ak.to_numpy(pair.mass)) == pytest.approx(91.2, abs=10)
    assert ak.all((records.met.pt > 0) & (records.met.pt < 500))
    assert ak.all(records.jets.pt > 25)
