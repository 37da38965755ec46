"""Inputs (issue 13): a clear error, never a plausible wrong number; each entry read once."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from conftest import make_branches

from baselines.constants import MAX_COLLISION_ENERGY
from nuanalysis import io
from nuanalysis.errors import InputError
from nuanalysis.methods.registry import NeutrinoResult, get_method, reconstruct
from nuanalysis.validation import physical_mask

SCALED = ("jet_pt", "jet_mass", "lep_pt", "lep_mass", "met")


def _with_entry(values, entry: int, new):
    """``values`` (flat numpy or jagged awkward) with every value of ``entry`` replaced."""
    if isinstance(values, np.ndarray):
        values = values.copy()
        values[entry] = new
        return values
    counts = ak.num(values)
    flat = ak.to_numpy(ak.flatten(values)).copy()
    start = int(ak.sum(counts[:entry]))
    flat[start : start + int(counts[entry])] = new
    return ak.unflatten(flat, counts)


def _padded(channel: str, n: int = 12):
    return io.load_padded(io.demo_sample_path(channel), max_events=n)


# --------------------------------------------------------------------- files


def test_mev_file_is_refused_with_the_mapping_hint(tmp_path):
    branches = make_branches("dilepton", 50, seed=3)
    mev = {k: v * 1000.0 if k in SCALED else v for k, v in branches.items()}
    path = io.write_ntuple(tmp_path / "mev.root", mev)
    with pytest.raises(InputError, match=r"mev\.root.*in MeV.*mapping='atlas_mev'"):
        io.read_events(path)
    with pytest.raises(InputError, match="MeV"):
        list(io.iterate_padded(path, step_size=10))
    # the same file through a mapping with the MeV scale reads as the GeV original
    events = io.load_padded(path, mapping={"scale": 0.001})
    np.testing.assert_allclose(events.met, io.to_padded(io.read_events(
        io.write_ntuple(tmp_path / "gev.root", branches))).met, rtol=1e-5)  # fmt: skip


def test_mev_events_at_the_python_api_are_refused():
    events = _padded("semileptonic")
    for name in ("jets", "leptons", "met"):
        setattr(events, name, getattr(events, name) * 1000.0)
    with pytest.raises(InputError, match=r"MeV.*mapping='atlas_mev'"):
        reconstruct("quadratic", events)


@pytest.mark.parametrize(
    ("branch", "entry", "value", "message"),
    [
        ("lep_pt", 4, -30.0, "'lep_pt' holds a negative pT"),
        ("met", 6, -25.0, "'met' holds a negative MET"),
        ("met", 2, 3e38, "'met' holds a MET beyond 7000 GeV"),
        ("jet_pt", 5, 3e38, "'jet_pt' holds a pT beyond 7000 GeV"),
        ("jet_pt", 8, -40.0, "'jet_pt' holds a negative pT"),
        ("lep_pid", 3, 15, "entry 3 has a lepton of pid \\[15.*electrons \\(11\\) and muons"),
        ("lep_mass", 7, -5.0, "'lep_mass' holds a negative mass"),
        ("jet_eta", 1, 12.0, "'jet_eta' holds an energy beyond 14000 GeV"),
    ],
)
def test_unphysical_branch_values_name_branch_and_entry(tmp_path, branch, entry, value, message):
    branches = make_branches("dilepton", 10, seed=1)
    changed = {**branches, branch: _with_entry(branches[branch], entry, value)}
    path = io.write_ntuple(tmp_path / "bad.root", changed)
    pattern = rf"bad\.root: .*{message}" + ("" if "pid" in message else rf".*entry {entry}\)")
    with pytest.raises(InputError, match=pattern):
        io.read_events(path)
    with pytest.raises(InputError, match=pattern):
        io.load_padded(path, step_size=4)


def test_all_jets_with_negative_pt_are_refused(tmp_path):
    branches = make_branches("semileptonic", 10, seed=2)
    path = io.write_ntuple(tmp_path / "neg.root", {**branches, "jet_pt": -branches["jet_pt"]})
    with pytest.raises(InputError, match=r"'jet_pt' holds a negative pT \(first at entry 0\)"):
        io.load_padded(path)


# --------------------------------------------------------------------- Python API


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e300, 3.4e38])
@pytest.mark.parametrize(
    ("method", "channel"),
    [
        ("quadratic", "semileptonic"),
        ("ellipse", "semileptonic"),
        ("ellipse", "dilepton"),
        ("nw", "dilepton"),
        ("flow-sample", "semileptonic"),
        ("flow-sample", "dilepton"),
        ("ff", "dilepton"),
    ],
)
def test_methods_refuse_non_finite_or_huge_inputs(method, channel, value):
    """No SystemError from numba, no AssertionError from nflows, no valid NaN: one InputError."""
    events = _padded(channel)
    events.leptons[5, 0, 3] = value  # the lepton's energy
    options = {"preset": "grid"} if method == "nw" else {}
    with pytest.raises(InputError, match=r"event 5 is not physical \(leptons: "):
        reconstruct(method, events, **options)
    events = _padded(channel)
    events.met[3, 1] = value
    with pytest.raises(InputError, match=r"event 3 is not physical \(met: "):
        reconstruct(method, events, **options)


@pytest.mark.parametrize("value", [np.inf, -1e300, np.nan])
@pytest.mark.parametrize(
    ("method", "channel"),
    [("quadratic", "semileptonic"), ("ellipse", "semileptonic"), ("ellipse", "dilepton"),
     ("nw", "dilepton")],
)  # fmt: skip
def test_baseline_kernels_called_directly_skip_unusable_events(method, channel, value):
    """Without the registry's check (the kernels used alone): the event is not valid, the
    others are solved as before, and numba raises no SystemError."""
    events = _padded(channel, 30)
    options = {"preset": "grid"} if method == "nw" else {}
    reference = get_method(method).function(events, **options)
    events.leptons[3, 0, 3] = value
    with np.errstate(all="ignore"):
        result = get_method(method).function(events, **options)
    others = np.arange(30) != 3
    assert not result.valid[3] and reference.valid[others].any()
    np.testing.assert_array_equal(result.valid[others], reference.valid[others])
    np.testing.assert_array_equal(result.momenta[others], reference.momenta[others])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: e.leptons.__setitem__((2, -1), 0.0), "leptons: an object has no momentum"),
        (lambda e: e.jet_mask.__setitem__(2, False), "no jets"),
        (lambda e: e.lep_pid.__setitem__((2, 0), 15), "lep_pid: a lepton other than e"),
        (lambda e: e.lep_charge.__setitem__((2, 0), 0), "lep_charge: a charge other than ±1"),
        (lambda e: e.jets.__setitem__((2, 0, 3), 1.0), "jets: an energy below the momentum"),
    ],
)
def test_flows_refuse_events_without_jets_or_leptons(change, reason):
    events = _padded("dilepton")
    change(events)
    with pytest.raises(InputError, match=rf"event 2 is not physical \({reason}"):
        reconstruct("flow-sample", events)
    keep = physical_mask(events)
    assert keep.sum() == len(events) - 1 and not keep[2]
    assert reconstruct("flow-sample", events.select(keep)).valid.all()


def test_solutions_beyond_the_collision_energy_are_not_valid():
    momenta = np.array([[[10.0, 20.0, 30.0]], [[0.0, 0.0, 2e4]], [[1e306, 1e306, 0.0]]])
    result = NeutrinoResult(momenta, np.ones(3, bool))
    assert result.valid.tolist() == [True, False, False]
    assert (result.momenta[1:] == 0).all()
    edge = NeutrinoResult(np.array([[[0.0, 0.0, MAX_COLLISION_ENERGY]]]), np.ones(1, bool))
    assert edge.valid.all()


# --------------------------------------------------------------------- read once


class _ReadSpy:
    """Counts the files uproot opens and the entries of every array it reads."""

    def __init__(self, monkeypatch):
        self.opened: list[str] = []
        self.entries = 0
        original_open = uproot.open
        original_iterate = uproot.behaviors.TTree.TTree.iterate
        original_arrays = uproot.behaviors.TTree.TTree.arrays
        spy = self

        def counting_open(path, *args, **kwargs):
            spy.opened.append(str(path))
            return original_open(path, *args, **kwargs)

        def counting_iterate(tree, *args, **kwargs):
            for item in original_iterate(tree, *args, **kwargs):
                arrays = item[0] if kwargs.get("report") else item
                spy.entries += len(next(iter(arrays.values())))
                yield item

        def counting_arrays(tree, *args, **kwargs):
            arrays = original_arrays(tree, *args, **kwargs)
            spy.entries += len(next(iter(arrays.values())) if isinstance(arrays, dict) else arrays)
            return arrays

        monkeypatch.setattr(uproot, "open", counting_open)
        monkeypatch.setattr(uproot.behaviors.TTree.TTree, "iterate", counting_iterate)
        monkeypatch.setattr(uproot.behaviors.TTree.TTree, "arrays", counting_arrays)


def test_runner_reads_each_entry_once_and_opens_each_file_once(synthetic_ntuple, monkeypatch):
    from nuanalysis.runner import iter_chunks, plan_units, process_units

    paths = [synthetic_ntuple("dilepton", 23, name="a.root"), synthetic_ntuple("dilepton", 17)]
    spy = _ReadSpy(monkeypatch)
    chunks = list(iter_chunks(paths, ["truth"], chunk_size=5))  # channel detected on the way
    assert sum(len(c.events) for c in chunks) == 40
    assert spy.entries == 40 and sorted(spy.opened) == sorted(map(str, paths))
    # a dask task of later units reads its own entries only, from its first one
    units = plan_units(paths[0], chunk_size=5)
    spy.entries, spy.opened = 0, []
    results = process_units(units[2:4], ["truth"])
    assert [r.unit.start for r in results] == [10, 15] and spy.entries == 10
    assert len(spy.opened) == 1
    np.testing.assert_array_equal(results[0].events.met, chunks[2].events.met)


def test_runner_refuses_a_method_of_the_detected_channel_before_running(synthetic_ntuple):
    from nuanalysis.errors import ChannelError
    from nuanalysis.runner import iter_chunks

    path = synthetic_ntuple("dilepton", 12)
    with pytest.raises(ChannelError, match="'quadratic' does not apply to dilepton"):
        next(iter_chunks(path, ["truth", "quadratic"], chunk_size=5))


@pytest.mark.parametrize("command", ["compare", "reconstruct"])
def test_cli_refuses_a_mev_file_in_one_line(tmp_path, capsys, command):
    """`compare` on an MeV ntuple ended in a traceback: now one error line with the fix."""
    from nuanalysis.cli import main

    branches = make_branches("dilepton", 40, seed=4)
    path = io.write_ntuple(
        tmp_path / "mev.root", {k: v * 1000.0 if k in SCALED else v for k, v in branches.items()}
    )
    args = [command, "--input", str(path), "--methods", "truth,ellipse"]
    args += ["--out", str(tmp_path / "out.root")] if command == "reconstruct" else ["--no-report"]
    with pytest.raises(SystemExit) as stop:
        main(args)
    assert stop.value.code == 1
    error = capsys.readouterr().err
    assert "nuanalysis: error: " in error and "Traceback" not in error
    assert "--mapping atlas_mev" in error and "mapping=" not in error
