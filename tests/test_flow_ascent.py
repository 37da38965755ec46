"""The ``ascent`` estimator of ``flow`` (issue 11 §1): a few draws climbing log p.

It must climb (never below the draw it starts from, and above it for most events),
report the log-density of the point it returns, be deterministic at a fixed seed,
stay finite, and refuse options it cannot honour. Its rotation/reflection
equivariance is in tests/test_frame.py (``flow`` with its default estimator).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nuanalysis.errors import OptionError
from nuanalysis.flows.ascent import ascend_mode, ascend_mode_by_differences
from nuanalysis.flows.features import event_features, neutrino_targets
from nuanalysis.flows.inference import ASCENT_SETTINGS, flow_mode
from nuanalysis.flows.lean_inverse import context_terms, lean_inverse
from nuanalysis.flows.model_io import build_model, resolve_model
from nuanalysis.flows.noise import event_noise
from nuanalysis.flows.presets import preset
from nuanalysis.flows.runtime import TorchRunner
from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import reconstruct

torch.set_num_threads(1)
CHANNELS = ("semileptonic", "dilepton")


@pytest.fixture(scope="module")
def demo():
    return {c: load_padded(demo_sample_path(c), channel=c, max_events=60) for c in CHANNELS}


@pytest.mark.parametrize("channel", CHANNELS)
def test_ascent_climbs_above_its_best_draw_and_reports_the_density_of_its_point(demo, channel):
    events = demo[channel]
    model = resolve_model(None, channel, "flow")
    features = event_features(events)
    noise = torch.as_tensor(event_noise(3, 0, len(events), 16, model.n_targets))
    mode, log_prob, start = ascend_mode(model, features.to_torch(), noise, starts=4, steps=6)
    assert torch.all(log_prob >= start)
    assert (log_prob > start + 1e-3).float().mean() > 0.5  # it moves, not only keeps
    with torch.no_grad():
        _, drawn = model.sample_from_noise(features.to_torch(), noise)
        expected = model.log_prob(features.to_torch(), mode)
    torch.testing.assert_close(start, drawn.max(dim=1).values, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(log_prob.detach(), expected, rtol=1e-4, atol=1e-3)
    # through flow_mode: never below the best of the same draws
    climbed, climbed_log_prob = flow_mode(events, seed=3, estimator="ascent", ascent_draws=16)
    _, best_draw_log_prob = flow_mode(events, n_samples=16, seed=3, estimator="draws")
    assert np.all(climbed_log_prob >= best_draw_log_prob - 1e-4)
    default = reconstruct(
        "flow", events, seed=3, ascent_draws=16, n_samples=5
    )  # n_samples: 'draws' only
    np.testing.assert_allclose(climbed, default.momenta)


def test_ascent_is_the_default_and_deterministic_at_a_fixed_seed(demo):
    events = demo["dilepton"]
    draws = ASCENT_SETTINGS["dilepton"].draws
    first = reconstruct("flow", events, seed=2)
    again = reconstruct("flow", events, seed=2)
    np.testing.assert_array_equal(first.momenta, again.momenta)
    np.testing.assert_array_equal(first.weight, again.weight)
    assert not np.allclose(reconstruct("flow", events, seed=5).momenta, first.momenta)
    explicit = reconstruct("flow", events, seed=2, estimator="ascent", ascent_draws=draws)
    np.testing.assert_array_equal(explicit.momenta, first.momenta)
    steps_zero = reconstruct("flow", events, seed=2, ascent_steps=0)
    best_draw = reconstruct("flow", events, seed=2, estimator="draws", n_samples=draws)
    np.testing.assert_allclose(steps_zero.momenta, best_draw.momenta, rtol=1e-5, atol=1e-4)


def test_one_draw_climbs_from_the_latent_mode_whatever_the_seed(demo):
    """``ascent_draws=1`` (the semileptonic default) starts at f⁻¹(0 | event): without
    steps it is the ``latent`` estimator, with them it only climbs above it."""
    events = demo["semileptonic"]
    assert ASCENT_SETTINGS["semileptonic"].draws == 1
    latent = reconstruct("flow", events, estimator="latent")
    unclimbed = reconstruct("flow", events, ascent_steps=0, seed=4)
    np.testing.assert_allclose(unclimbed.momenta, latent.momenta, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(unclimbed.weight, latent.weight, rtol=1e-5, atol=1e-4)
    climbed = reconstruct("flow", events, seed=4)
    np.testing.assert_array_equal(climbed.momenta, reconstruct("flow", events, seed=9).momenta)
    assert np.all(climbed.weight >= latent.weight - 1e-4)
    assert np.mean(climbed.weight > latent.weight + 1e-3) > 0.5
    dilepton = demo["dilepton"]
    one = reconstruct("flow", dilepton, ascent_draws=1, ascent_starts=1, ascent_steps=0)
    np.testing.assert_allclose(
        one.momenta, reconstruct("flow", dilepton, estimator="latent").momenta, atol=1e-4
    )


def test_ascent_stays_finite_and_refuses_non_finite_steps(demo, monkeypatch):
    events = demo["semileptonic"]
    torch.manual_seed(1)
    model = build_model("flow", "semileptonic", preset("tiny").architecture, frame="canonical")
    model.fit_scalers(event_features(events), neutrino_targets(events.truth_nu))
    with torch.no_grad():  # wild random weights: steep, badly scaled densities
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape))
    result = reconstruct("flow", events, model=model.eval(), seed=0, ascent_steps=12)
    assert np.isfinite(result.momenta).all() and np.isfinite(result.weight).all()

    # a flow whose every off-draw point has log p = NaN: each step is refused
    draws = reconstruct("flow", events, model=model, seed=0, estimator="draws", n_samples=16)
    original = model.flow.from_terms

    def nan_off_the_draws(noise, terms):
        samples, log_prob = original(noise, terms)
        return samples, log_prob * (torch.nan if noise.requires_grad else 1.0)

    monkeypatch.setattr(model.flow, "from_terms", nan_off_the_draws)
    refused = reconstruct("flow", events, model=model, seed=0, ascent_draws=16)
    np.testing.assert_allclose(refused.momenta, draws.momenta, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(refused.weight, draws.weight, rtol=1e-5, atol=1e-4)


def test_refused_ascent_options_say_why(demo):
    events = demo["semileptonic"].select(slice(0, 5))
    with pytest.raises(
        OptionError, match="ascent_starts must be between 1 and ascent_draws = 8, got 9"
    ):
        reconstruct("flow", events, ascent_draws=8, ascent_starts=9)
    with pytest.raises(OptionError, match=r"ascent_steps.*integer from 0 to 1000"):
        reconstruct("flow", events, ascent_steps=-1)
    with pytest.raises(OptionError, match=r"ascent_starts.*integer from 1 to 4096"):
        reconstruct("flow", events, ascent_starts=0)
    with pytest.raises(OptionError, match="estimator"):
        reconstruct("flow", events, estimator="newton")


@pytest.mark.parametrize("channel", CHANNELS)
def test_forward_differences_climb_as_the_autograd_ascent(demo, channel):
    """The ascent of a flow known only by its sampling pass (an ONNX graph): fed the torch
    model's own pass, it must reach the autograd climb's log p, and in onnxruntime too."""
    events = demo[channel].select(slice(0, 30))
    model = resolve_model(None, channel, "flow")
    features = event_features(events)
    noise = event_noise(3, 0, len(events), 8, model.n_targets)
    autograd = ascend_mode(model, features.to_torch(), torch.as_tensor(noise), starts=2, steps=4)
    by_differences = ascend_mode_by_differences(
        TorchRunner(model).sample_from_noise, features, noise, starts=2, steps=4
    )
    start = autograd[2].numpy()
    np.testing.assert_allclose(by_differences[2], start, rtol=1e-5, atol=1e-4)
    assert np.all(by_differences[1] >= start - 1e-5)
    assert np.mean(by_differences[1] > start + 1e-3) > 0.5
    gap = by_differences[1] - autograd[1].detach().numpy()
    assert abs(np.median(gap)) < 0.01 and np.quantile(np.abs(gap), 0.8) < 0.05

    onnx = reconstruct("flow", events, seed=1, backend="onnx")  # ascent is its default too
    in_torch = reconstruct("flow", events, seed=1)
    gap = onnx.weight - in_torch.weight
    assert abs(np.median(gap)) < 0.01 and np.quantile(np.abs(gap), 0.8) < 0.05


@pytest.mark.parametrize("channel", CHANNELS)
def test_lean_inverse_gives_nflows_numbers_inside_and_beyond_the_tail_bound(demo, channel):
    """The flow's sampling pass (lean_inverse) against nflows' own inverse, with latent
    points out to 4σ so that both the splines and their identity tails are crossed."""
    model = resolve_model(None, channel, "flow")
    features = event_features(demo[channel]).to_torch()
    generator = torch.Generator().manual_seed(0)
    latent = 2.0 * torch.randn(len(features), model.n_targets, generator=generator)
    with torch.no_grad():
        context = model.encode(features, model.event_frame(features))
        expected, expected_log_det = model.flow.flow._transform.inverse(latent, context=context)
        terms = context_terms(model.flow.flow._transform, context)
        inputs, log_det = lean_inverse(model.flow.flow._transform, latent, terms)
    bound = model.architecture.tail_bound
    assert (expected.abs() > bound).any() and (expected.abs() < bound).any()
    torch.testing.assert_close(inputs, expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(log_det, expected_log_det, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_ascent_does_not_depend_on_the_batch_to_the_last_bit(demo, channel, backend):
    """Issue 24 W7: --chunk-size 5000 vs 7 moved 256 of 6000 p_z values by up to 7.9e-4 GeV.
    The 60 events in one call, and cut in batches of 7 (on the global grid, as the runner
    cuts chunks): bit-identical momenta and log-densities."""
    events = demo[channel]
    whole = reconstruct("flow", events, seed=3, backend=backend)
    parts = [
        reconstruct(
            "flow", events.select(slice(a, a + 7)), seed=3, first_event_index=a, backend=backend
        )
        for a in range(0, len(events), 7)
    ]
    np.testing.assert_array_equal(np.concatenate([p.momenta for p in parts]), whole.momenta)
    np.testing.assert_array_equal(np.concatenate([p.weight for p in parts]), whole.weight)
