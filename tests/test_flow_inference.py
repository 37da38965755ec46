"""Flow inference: per-event noise (results independent of chunking), the latent-mode
estimator, the ONNX export and its onnxruntime backend (parity with torch, metadata,
refusals), ``nuanalysis export``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import awkward as ak
import numpy as np
import onnx
import pytest
import torch
import uproot

from nuanalysis.cli import main
from nuanalysis.errors import InputError, ModelError, OptionError
from nuanalysis.flows.features import event_features, neutrino_targets
from nuanalysis.flows.inference import flow_mode, regress, sample_posterior
from nuanalysis.flows.model_io import build_model, resolve_model, shipped_model_path
from nuanalysis.flows.noise import event_noise
from nuanalysis.flows.onnx_export import METADATA_KEY, export_metadata, export_onnx
from nuanalysis.flows.presets import preset
from nuanalysis.flows.runtime import OnnxRunner, TorchRunner
from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods import flows as flow_methods
from nuanalysis.methods.flows import draw_mtt, posterior_point
from nuanalysis.methods.registry import NeutrinoResult, reconstruct
from nuanalysis.observables import reco_observables
from nuanalysis.runner import concatenate_results, iter_chunks

torch.set_num_threads(1)
CHANNELS = ("semileptonic", "dilepton")


@pytest.fixture(scope="module")
def demo():
    return {c: load_padded(demo_sample_path(c), channel=c, max_events=300) for c in CHANNELS}


@pytest.fixture(scope="module")
def graphs():
    """The shipped models of both channels, flow and ν-FF, exported once."""
    return {
        (channel, kind): export_onnx(resolve_model(None, channel, kind))
        for channel in CHANNELS
        for kind in ("flow", "ff")
    }


# ------------------------------------------------------------------ per-event noise


def test_event_noise_depends_only_on_seed_and_global_index():
    whole = event_noise(7, 0, 20, 3, 6)
    np.testing.assert_array_equal(event_noise(7, 5, 10, 3, 6), whole[5:15])
    assert not np.allclose(event_noise(8, 0, 20, 3, 6), whole)
    many = event_noise(1, 0, 2000, 8, 6)
    assert abs(many.mean()) < 0.01 and abs(many.std() - 1) < 0.01
    assert abs(np.corrcoef(many[:, 0, 0], many[:, 0, 1])[0, 1]) < 0.05


def test_flow_results_do_not_depend_on_chunking_and_follow_the_seed():
    """Issue 13 §4: chunk sizes 100 and 5000 give the same flow-sample and flow (seeded
    per chunk before, 103 of 200 events differed)."""
    path = demo_sample_path("dilepton")
    methods = ["flow-sample", "flow"]
    options = {"flow": {"n_samples": 8}}

    def run(chunk_size, seed):
        chunks = list(
            iter_chunks(path, methods, options, chunk_size=chunk_size, max_events=250, seed=seed)
        )
        return {m: concatenate_results([c.results[m] for c in chunks]) for m in methods}

    small, large = run(100, seed=3), run(5000, seed=3)
    for method in methods:  # the same draws; batch shapes move float32 rounding only
        np.testing.assert_allclose(small[method].momenta, large[method].momenta, rtol=1e-5)
    reseeded = run(5000, seed=4)
    for method in methods:
        assert not np.array_equal(reseeded[method].momenta, large[method].momenta), method


def test_the_seed_reaches_neutrino_weighting(demo):
    events = demo["dilepton"].select(slice(0, 40))
    options = {"preset": "grid", "eta_sampling": "gaussian", "n_smearings": 2}
    first = reconstruct("nw", events, seed=3, **options)
    assert first.valid.mean() > 0.5
    np.testing.assert_array_equal(
        reconstruct("nw", events, seed=3, **options).momenta, first.momenta
    )
    assert not np.array_equal(reconstruct("nw", events, seed=4, **options).momenta, first.momenta)


def test_first_event_index_offsets_the_draws(demo):
    events = demo["semileptonic"]
    whole, whole_log_prob = sample_posterior(events, 4, seed=2)
    tail, tail_log_prob = sample_posterior(
        events.select(slice(100, None)), 4, seed=2, first_event_index=100
    )
    # the same noise; the flow's float32 matrix products and reductions depend on the batch
    # shape, so samples and densities are equal up to float rounding (1e-7 relative seen)
    np.testing.assert_allclose(tail, whole[100:], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(tail_log_prob, whole_log_prob[100:], rtol=1e-5)
    unshifted, _ = sample_posterior(events.select(slice(100, None)), 4, seed=2)
    assert not np.allclose(unshifted, whole[100:])
    with pytest.raises(OptionError, match="first_event_index"):
        sample_posterior(events, 1, first_event_index=-1)


# ------------------------------------------------------------------ estimators


def test_latent_estimator_is_the_image_of_zero_noise(demo):
    events = demo["dilepton"].select(slice(0, 50))
    model = resolve_model(None, "dilepton", "flow")
    momenta, log_prob = flow_mode(events, estimator="latent", seed=1)
    again, _ = flow_mode(events, estimator="latent", seed=2)
    np.testing.assert_array_equal(momenta, again)  # no noise: the seed does not enter
    with torch.inference_mode():
        _, expected = model.sample_from_noise(
            event_features(events).to_torch(), torch.zeros(50, 1, model.n_targets)
        )
    np.testing.assert_allclose(log_prob, expected[:, 0].numpy(), rtol=1e-6)
    drawn, _ = flow_mode(events, n_samples=16, seed=1)
    assert not np.allclose(drawn, momenta)
    with pytest.raises(OptionError, match="estimator"):
        flow_mode(events, estimator="newton")


def test_posterior_estimators_pick_the_stated_draw(demo):
    """mtt-mean / mtt-median: the most probable of the window of draws nearest the posterior's
    mean / median m_tt; a window of every draw is the mode, a window of one the nearest draw."""
    events = demo["dilepton"].select(slice(0, 30))
    rng = np.random.default_rng(1)
    draws = events.truth_nu[:, None] + 40.0 * rng.normal(size=(30, 41, 2, 3))  # odd: one median
    log_prob = rng.normal(size=(30, 41))
    mtt, has_two = draw_mtt(events, draws)
    assert has_two.all()
    expected, _, ok = reco_observables(events, NeutrinoResult(draws[:, 3], np.ones(30, bool)))
    np.testing.assert_allclose(mtt[ok, 3], expected[ok])
    rows = np.arange(30)
    for estimator, centre in (("mtt-mean", mtt.mean(1)), ("mtt-median", np.median(mtt, 1))):
        nearest = np.argmin(np.abs(mtt - centre[:, None]), axis=1)
        one, one_log_prob = posterior_point(events, draws, log_prob, estimator, mtt_window=1)
        np.testing.assert_array_equal(one, draws[rows, nearest])
        np.testing.assert_array_equal(one_log_prob, log_prob[rows, nearest])
        window, _ = posterior_point(events, draws, log_prob, estimator, mtt_window=8)
        chosen = np.array(
            [np.flatnonzero((draws[i] == window[i]).all(axis=(1, 2)))[0] for i in rows]
        )
        rank = np.argsort(np.argsort(np.abs(mtt - centre[:, None]), axis=1), axis=1)
        assert (rank[rows, chosen] < 8).all()
        best_in_window = np.where(rank < 8, log_prob, -np.inf).max(axis=1)
        np.testing.assert_array_equal(log_prob[rows, chosen], best_in_window)
        every, _ = posterior_point(events, draws, log_prob, estimator, mtt_window=41)
        np.testing.assert_array_equal(every, draws[rows, np.argmax(log_prob, axis=1)])
    mean, no_log_prob = posterior_point(events, draws, log_prob, "mean")
    np.testing.assert_allclose(mean, draws.mean(axis=1))
    assert no_log_prob is None
    with pytest.raises(OptionError, match="mtt_window"):
        posterior_point(events, draws, log_prob, "mtt-mean", mtt_window=42)
    with pytest.raises(OptionError, match="dilepton"):
        reconstruct("flow", demo["semileptonic"].select(slice(0, 5)), estimator="mtt-mean")


def test_posterior_estimators_do_not_depend_on_blocks_or_chunks(demo, monkeypatch):
    events = demo["dilepton"].select(slice(0, 30))
    options = {"estimator": "mtt-mean", "n_samples": 16, "mtt_window": 4, "seed": 2}
    whole = reconstruct("flow", events, **options)
    tail = reconstruct("flow", events.select(slice(10, None)), first_event_index=10, **options)
    np.testing.assert_allclose(tail.momenta, whole.momenta[10:], rtol=1e-5, atol=1e-4)
    monkeypatch.setattr(flow_methods, "EVENTS_PER_BLOCK", 7)
    blocked = reconstruct("flow", events, **options)
    np.testing.assert_allclose(blocked.momenta, whole.momenta, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(blocked.weight, whole.weight, rtol=1e-5)


# ------------------------------------------------------------------ ONNX


def _relative_close(actual, expected, scale):
    """|Δ| ≤ 1e-4 · (|expected| + scale): 1e-4 relative, floored at 1e-4 of a typical size."""
    assert np.all(np.abs(actual - expected) <= 1e-4 * (np.abs(expected) + scale))


@pytest.mark.parametrize("channel", CHANNELS)
def test_onnx_flow_matches_torch_on_the_demo_sample(demo, graphs, channel):
    events = demo[channel]
    model = resolve_model(None, channel, "flow")
    features = event_features(events)
    noise = event_noise(0, 0, len(events), 4, model.n_targets)
    runner = OnnxRunner(graphs[channel, "flow"], "test", channel, "flow")
    samples, log_prob = runner.sample_from_noise(features, noise)
    expected, expected_log_prob = TorchRunner(model).sample_from_noise(features, noise)
    _relative_close(samples, expected, model.standardiser.target_std.numpy())
    _relative_close(log_prob, expected_log_prob, 1.0)
    # through the method options: same draws from the same (seed, index)
    torch_result = reconstruct("flow-sample", events, seed=5)
    onnx_result = reconstruct("flow-sample", events, seed=5, backend="onnx")
    np.testing.assert_allclose(onnx_result.weight, torch_result.weight, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("channel", CHANNELS)
def test_onnx_regression_matches_torch_on_the_demo_sample(demo, graphs, channel):
    events = demo[channel]
    model = resolve_model(None, channel, "ff")
    features = event_features(events)
    prediction = OnnxRunner(graphs[channel, "ff"], "test", channel, "ff").predict(features)
    expected = TorchRunner(model).predict(features)
    _relative_close(prediction, expected, model.standardiser.target_std.numpy())
    np.testing.assert_allclose(
        regress(events, backend="onnx"), regress(events), rtol=1e-4, atol=1e-2
    )


@pytest.mark.parametrize("channel", CHANNELS)
def test_onnx_export_carries_the_canonical_frame(demo, channel):
    """A model in the canonical frame (rotated and reflected inside the model) exports whole."""
    events = demo[channel].select(slice(0, 100))
    features = event_features(events)
    torch.manual_seed(0)
    model = build_model("flow", channel, preset("tiny").architecture, frame="canonical")
    model.fit_scalers(features, neutrino_targets(events.truth_nu))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape))
    model.eval()
    noise = event_noise(0, 0, len(events), 4, model.n_targets)
    runner = OnnxRunner(export_onnx(model), "canonical", channel, "flow")
    samples, log_prob = runner.sample_from_noise(features, noise)
    expected, expected_log_prob = TorchRunner(model).sample_from_noise(features, noise)
    _relative_close(samples, expected, model.standardiser.target_std.numpy())
    _relative_close(log_prob, expected_log_prob, 1.0)


@pytest.mark.parametrize("channel", CHANNELS)
def test_onnx_metadata_declares_the_graph_inputs(graphs, channel):
    for kind in ("flow", "ff"):
        proto = onnx.load_from_string(graphs[channel, kind])
        declared = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
        assert declared["config"]["channel"] == channel
        graph_inputs = [
            (i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in proto.graph.input
        ]
        assert graph_inputs == [(i["name"], i["shape"]) for i in declared["inputs"]]
        assert [o.name for o in proto.graph.output] == [o["name"] for o in declared["outputs"]]


def test_onnx_refuses_other_channel_older_format_and_foreign_graphs(graphs, tmp_path):
    with pytest.raises(ModelError, match="dilepton events and cannot reconstruct semileptonic"):
        OnnxRunner(graphs["dilepton", "flow"], "dl.onnx", "semileptonic", "flow")
    with pytest.raises(ModelError, match="'ff' model"):
        OnnxRunner(graphs["dilepton", "ff"], "ff.onnx", "dilepton", "flow")
    proto = onnx.load_from_string(graphs["semileptonic", "ff"])
    metadata = json.loads(proto.metadata_props[0].value)
    proto.metadata_props[0].value = json.dumps(metadata | {"format_version": 0})
    with pytest.raises(ModelError, match="export the model again"):
        OnnxRunner(proto.SerializeToString(), "old.onnx", "semileptonic", "ff")
    del proto.metadata_props[:]
    with pytest.raises(ModelError, match="not written by `nuanalysis export`"):
        OnnxRunner(proto.SerializeToString(), "foreign.onnx", "semileptonic", "ff")


def test_onnx_non_finite_input_is_the_torch_error(demo, graphs, tmp_path):
    events = demo["semileptonic"].select(slice(0, 20))
    events.met = events.met.copy()
    events.met[7, 0] = np.nan
    path = tmp_path / "flow.onnx"
    path.write_bytes(graphs["semileptonic", "flow"])
    with pytest.raises(InputError) as torch_error:
        sample_posterior(events, 1)
    with pytest.raises(InputError) as onnx_error:
        sample_posterior(events, 1, model=path)
    assert str(onnx_error.value) == str(torch_error.value)
    assert "event index 7" in str(onnx_error.value)


def test_export_command_writes_the_graph_and_its_description(tmp_path, demo):
    out = tmp_path / "ff.onnx"
    main(["export", "--model", str(shipped_model_path("dilepton", "ff")), "--out", str(out)])
    described = json.loads(out.with_suffix(".json").read_text())
    model = resolve_model(None, "dilepton", "ff")
    assert described["inputs"] == export_metadata(model)["inputs"]
    events = demo["dilepton"].select(slice(0, 30))
    np.testing.assert_allclose(regress(events, model=out), regress(events), rtol=1e-4, atol=1e-2)
    # the exported file as --model of a command: read as an ff model, run in onnxruntime
    reco = tmp_path / "reco.root"
    demo_path = str(demo_sample_path("dilepton"))
    command = ["reconstruct", "--input", demo_path, "--methods", "ff", "--model", str(out)]
    main([*command, "--max-events", "30", "--out", str(reco)])
    with uproot.open(reco) as file:
        pz = ak.to_numpy(file["events"]["ff_nu_pz"].array())
    np.testing.assert_allclose(pz, regress(events)[..., 2], rtol=1e-4, atol=1e-2)


def test_cpp_example_feeds_the_declared_layout(graphs):
    """examples/onnx_inference.cpp (not built here) uses the dilepton metadata's inputs."""
    source = (Path(__file__).parents[1] / "examples" / "onnx_inference.cpp").read_text()
    proto = onnx.load_from_string(graphs["dilepton", "flow"])
    declared = json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])
    names = re.search(r"input_names\[\] = \{([^}]*)\}", source).group(1)
    assert re.findall(r'"(\w+)"', names) == [i["name"] for i in declared["inputs"]]
    constants = dict(re.findall(r"(k\w+) = (\d+)", source))
    shapes = {i["name"]: i["shape"] for i in declared["inputs"]}
    assert shapes["leptons"][1:] == [int(constants["kLeptons"]), int(constants["kLeptonFeatures"])]
    assert shapes["jets"][1:] == [int(constants["kMaxJets"]), int(constants["kJetFeatures"])]
    assert shapes["noise"][2] == int(constants["kTargets"])
