"""The columnar API: the command line's numbers as awkward records, eagerly and on dask-awkward.

Equality with ``nuanalysis reconstruct`` is checked for every registered method of
both channels on the same file and seed; a lazy graph over 1 or 3 partitions (known
or unknown divisions) gives the eager records; bad records get the reader's one-line
errors, naming the field and the global entry.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from click.testing import CliRunner
from conftest import make_branches

from nuanalysis import io
from nuanalysis.cli.reconstruct import command as reconstruct_command
from nuanalysis.columnar import output_layout, reconstruct
from nuanalysis.errors import ChannelError, InputError, OptionError
from nuanalysis.methods.registry import available_methods
from nuanalysis.padded import CHANNELS

SEED = 7


@pytest.fixture(scope="module", params=CHANNELS)
def sample(request, tmp_path_factory):
    """A 40-event file of the channel, and the CLI's output for every method on it."""
    channel = request.param
    folder = tmp_path_factory.mktemp(f"columnar_{channel}")
    path = io.write_ntuple(
        folder / "in.root", make_branches(channel, 40, seed=11, met_resolution=10.0)
    )
    methods = available_methods(channel)
    out = folder / "reco.root"
    args = ["--input", str(path), "--methods", ",".join(methods), "--out", str(out)]
    result = CliRunner().invoke(
        reconstruct_command, [*args, "--seed", str(SEED)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return channel, path, methods, uproot.open(out)["events"].arrays(library="np")


def _momenta(records: ak.Array, fields=("nu", "nubar")) -> np.ndarray:
    """(n, n_nu, 3) px, py, pz of the records' neutrinos."""
    present = [f for f in fields if f in records.fields]
    return np.stack(
        [np.stack([ak.to_numpy(records[f][c]) for c in ("px", "py", "pz")], -1) for f in present],
        axis=1,
    )


def test_every_method_equals_the_command_line(sample):
    channel, path, methods, cli = sample
    events = io.read_events(path)
    for method in methods:
        records = reconstruct(method, events, seed=SEED)
        assert len(records) == len(events)
        momenta = np.stack([np.stack(cli[f"{method}_nu_{c}"]) for c in ("px", "py", "pz")], -1)
        np.testing.assert_array_equal(_momenta(records).astype(np.float32), momenta, method)
        np.testing.assert_array_equal(ak.to_numpy(records.valid), cli[f"{method}_valid"])
        assert ("weight" in records.fields) == (f"{method}_weight" in cli), method
        if "weight" in records.fields:
            np.testing.assert_array_equal(
                ak.to_numpy(records.weight).astype(np.float32), cli[f"{method}_weight"]
            )
        layout = output_layout(method, channel)
        assert ("draws" in records.fields) == (layout.n_draws is not None), method


def test_records_are_vectors_and_posterior_draws_have_their_axis(sample):
    channel, path, _, _ = sample
    events = io.read_events(path)
    records = reconstruct("flow-posterior", events, seed=SEED, n_samples=16)
    assert records.fields[:2] == (["nu", "nubar"] if channel == "dilepton" else ["nu", "valid"])
    # vector behaviour: the ν is massless, adds to a lepton, and its pT is the Cartesian one
    np.testing.assert_allclose(ak.to_numpy(records.nu.mass), 0.0, atol=1e-3)
    w = records.nu + events.leptons[:, 0]
    assert ak.all(w.E > events.leptons[:, 0].E)
    np.testing.assert_allclose(records.nu.pt, np.hypot(records.nu.px, records.nu.py))
    # 16 draws per event; the mode is the draw of highest log-density
    assert ak.to_numpy(ak.num(records.draws.log_prob, axis=1)).tolist() == [16] * len(events)
    best = ak.to_numpy(ak.fill_none(ak.argmax(records.draws.log_prob, axis=1), -1))
    mode = ak.to_numpy(records.draws.nu.px)[np.arange(len(events)), best]
    np.testing.assert_allclose(mode, ak.to_numpy(records.nu.px), rtol=1e-6)
    np.testing.assert_allclose(
        ak.to_numpy(ak.max(records.draws.log_prob, axis=1)), records.weight, rtol=1e-6
    )


def test_bad_records_get_one_line_errors(synthetic_ntuple):
    events = io.read_events(synthetic_ntuple("semileptonic", 12))
    with pytest.raises(InputError, match=r"no field 'jets' \(the records have leptons, met"):
        reconstruct("quadratic", events[["leptons", "met"]])
    jets = ak.to_numpy(ak.flatten(events.jets.pt)).copy()
    jets[ak.to_numpy(ak.num(events.jets.pt))[:4].sum()] = np.nan  # first jet of entry 4
    events["jets", "pt"] = ak.unflatten(jets, ak.num(events.jets.pt))
    with pytest.raises(
        InputError, match=r"branch 'jets\.pt' holds NaN values \(first at entry 104\)"
    ):
        reconstruct("quadratic", events, first_event_index=100)
    good = io.read_events(synthetic_ntuple("semileptonic", 12, name="good.root"))
    with pytest.raises(ChannelError, match="'nw' does not apply to semileptonic"):
        reconstruct("nw", good)
    with pytest.raises(OptionError, match="n_samples"):
        reconstruct("flow-posterior", good, n_samples=0)
    with pytest.raises(InputError, match="awkward or dask-awkward array"):
        reconstruct("quadratic", {"jets": []})


def test_empty_selection_keeps_the_layout(synthetic_ntuple):
    events = io.read_events(synthetic_ntuple("dilepton", 5))
    records = reconstruct("flow-posterior", events[:0], channel="dilepton", n_samples=4)
    assert len(records) == 0 and records.fields == ["nu", "nubar", "valid", "weight", "draws"]
    with pytest.raises(InputError, match="no events: give the channel"):
        reconstruct("ellipse", events[:0])


# ------------------------------------------------------------------- dask-awkward


@pytest.fixture(scope="module")
def dilepton_events(tmp_path_factory):
    folder = tmp_path_factory.mktemp("columnar_dask")
    path = io.write_ntuple(folder / "d.root", make_branches("dilepton", 90, seed=5))
    return io.read_events(path)


@pytest.mark.parametrize("method", ["flow-sample", "nw"])
def test_dask_partitions_equal_eager(dilepton_events, method):
    dak = pytest.importorskip("dask_awkward")
    import dask

    eager = reconstruct(method, dilepton_events, seed=SEED)
    with dask.config.set(scheduler="sync"):
        for npartitions in (1, 3):
            lazy = dak.from_awkward(dilepton_events, npartitions=npartitions)
            graph = reconstruct(method, lazy, channel="dilepton", seed=SEED)
            out = graph.compute()
            assert out.layout.form == eager.layout.form
            assert ak.array_equal(out, eager), (method, npartitions)
            # a retried task is bit-identical
            assert ak.array_equal(graph.compute(), out)
        # a selection leaves the divisions unknown: the partitions' lengths give the entries
        lazy = dak.from_awkward(dilepton_events, npartitions=3)
        selected = lazy[lazy.met.pt > 30]
        assert not selected.known_divisions
        out = reconstruct(method, selected, channel="dilepton", seed=SEED).compute()
        kept = dilepton_events[dilepton_events.met.pt > 30]
        assert len(kept) < len(dilepton_events)
        assert ak.array_equal(out, reconstruct(method, kept, seed=SEED))
        # the seed matters, so the equalities above are not trivial
        other = reconstruct(method, dak.from_awkward(dilepton_events, 3), channel="dilepton")
        assert not ak.almost_equal(other.compute(), eager, rtol=1e-3)


def test_building_the_graph_loads_no_model(dilepton_events, monkeypatch):
    dak = pytest.importorskip("dask_awkward")
    from nuanalysis.flows import model_io

    def refuse(*_):
        raise AssertionError("a model was loaded while building the graph")

    monkeypatch.setattr(model_io, "_cached_load", refuse)
    lazy = dak.from_awkward(dilepton_events, npartitions=2)
    records = reconstruct("flow-posterior", lazy, channel="dilepton", n_samples=8)
    assert records.fields == ["nu", "nubar", "valid", "weight", "draws"]
    assert records.draws.nu.px.ndim == 2 and records.npartitions == 2
    mass = (records.nu + lazy.leptons[:, 0]).mass  # vector behaviour on the typetracer
    assert mass.ndim == 1
    # the column-projection pass runs the task on typetracers: it reads the records' columns
    # (all of them, the task needs them), and neither runs the flow nor loads it
    (columns,) = dak.report_necessary_columns(records.weight).values()
    assert {"jets.pt", "leptons.charge", "met.phi"} <= set(columns)
    with pytest.raises(ChannelError, match="lazy events need channel="):
        reconstruct("flow", lazy)


# ------------------------------------------------------------------- ml_tools wrapper


@pytest.mark.slow
def test_flow_wrapper_runs_torch_and_onnxruntime_alike(dilepton_events):
    import pickle

    pytest.importorskip("onnxruntime")
    from nuanalysis.columnar import NeutrinoFlowWrapper

    events = dilepton_events[:30]
    torch_wrapper = NeutrinoFlowWrapper(method="flow-sample")
    onnx_wrapper = pickle.loads(
        pickle.dumps(NeutrinoFlowWrapper(method="flow-sample", backend="onnx"))
    )
    assert onnx_wrapper.backend == "onnx" and onnx_wrapper.model is None
    by_torch = torch_wrapper(events, seed=SEED)
    by_onnx = onnx_wrapper(events, seed=SEED)
    # the same noise through two runtimes: the same samples up to float32 rounding
    np.testing.assert_allclose(_momenta(by_onnx), _momenta(by_torch), rtol=1e-3, atol=0.05)
    assert not ak.array_equal(by_onnx, by_torch)  # two runtimes did run
    assert ak.array_equal(by_torch, reconstruct("flow-sample", events, seed=SEED))
    with pytest.raises(OptionError, match="'ellipse' has no model"):
        NeutrinoFlowWrapper(method="ellipse")
    with pytest.raises(OptionError, match="backend 'tensorrt' unknown"):
        NeutrinoFlowWrapper(backend="tensorrt")
