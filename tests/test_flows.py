"""ν-Flows, ν²-Flows, ν-FF: density, sampling, invertibility, encoders, model files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_branches

from nuanalysis import kinematics
from nuanalysis.errors import InputError, ModelError
from nuanalysis.flows import model_io
from nuanalysis.flows.deepset import DeepSetEncoder
from nuanalysis.flows.features import (
    EventFeatures,
    event_features,
    momenta_from_targets,
    neutrino_targets,
)
from nuanalysis.flows.flow import ConditionalFlow, longitudinal_mask
from nuanalysis.flows.inference import flow_mode, regress, sample_posterior
from nuanalysis.flows.model_io import build_model, load_model, save_model
from nuanalysis.flows.presets import preset
from nuanalysis.flows.transformer import TransformerEncoderNet
from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.methods.registry import reconstruct

torch.set_num_threads(1)


def randomise(module: torch.nn.Module, scale: float = 0.4, seed: int = 1) -> None:
    """Give every parameter random values, so the flow is far from the identity it starts as."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Synthetic semileptonic and dilepton events (exact tt̄ decay chains, smeared MET)."""
    out = {}
    for channel in ("semileptonic", "dilepton"):
        path = tmp_path_factory.mktemp("flows") / f"{channel}.root"
        write_ntuple(path, make_branches(channel, 300, seed=3, met_resolution=10.0))
        out[channel] = load_padded(path)
    return out


@pytest.fixture(scope="module")
def models(samples, tmp_path_factory):
    """Untrained tiny flow and ff models of each channel with fitted scalers, saved to disk."""
    directory = tmp_path_factory.mktemp("models")
    out = {}
    for channel, events in samples.items():
        for model_type in ("flow", "ff"):
            torch.manual_seed(0)
            model = build_model(model_type, channel, preset("tiny").architecture)
            model.fit_scalers(event_features(events), neutrino_targets(events.truth_nu))
            randomise(model, 0.1)
            path = save_model(model.eval(), directory / f"{model_type}_{channel}.pt")
            out[model_type, channel] = (model, path)
    return out


# --------------------------------------------------------------- the flow as a density


def two_dimensional_flow() -> tuple[ConditionalFlow, torch.Tensor]:
    torch.manual_seed(0)
    masks = [torch.tensor([1, 0]), torch.tensor([0, 1]), torch.tensor([1, 0])]
    flow = ConditionalFlow(masks, context_features=3, hidden_features=16, spline_bins=6)
    randomise(flow)
    return flow.eval(), torch.tensor([[0.3, -1.0, 0.5]])


def grid(limit: float = 12.0, points: int = 481):
    axis = torch.linspace(-limit, limit, points, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([xx.flatten(), yy.flatten()], dim=1).float()


def test_conditional_density_integrates_to_one():
    flow, context = two_dimensional_flow()
    axis, points = grid()
    with torch.no_grad():
        density = flow.log_prob(points, context.expand(len(points), -1)).exp().double()
    density = density.view(len(axis), len(axis))
    integral = torch.trapezoid(torch.trapezoid(density, axis), axis)
    assert float(integral) == pytest.approx(1.0, abs=0.01)
    # the randomised flow is far from its standard-normal base density
    normal = torch.distributions.Normal(0.0, 1.0).log_prob(points.double()).sum(1).exp()
    assert float((density.flatten() - normal).abs().max()) > 0.01


def test_samples_follow_the_density():
    flow, context = two_dimensional_flow()
    torch.manual_seed(5)
    with torch.no_grad():
        drawn, log_prob = flow.sample_and_log_prob(20000, context)
        recomputed = flow.log_prob(drawn[0], context.expand(20000, -1))
    assert drawn.shape == (1, 20000, 2) and log_prob.shape == (1, 20000)
    torch.testing.assert_close(log_prob[0], recomputed, atol=1e-4, rtol=1e-4)

    axis, points = grid()
    with torch.no_grad():
        density = flow.log_prob(points, context.expand(len(points), -1)).exp().double()
    density = density.view(len(axis), len(axis))
    weights = torch.trapezoid(torch.trapezoid(density, axis), axis)
    xx, yy = (points[:, i].double().view(len(axis), len(axis)) for i in range(2))
    for coordinate, column in ((xx, 0), (yy, 1)):
        mean = torch.trapezoid(torch.trapezoid(coordinate * density, axis), axis) / weights
        second = torch.trapezoid(torch.trapezoid(coordinate**2 * density, axis), axis) / weights
        values = drawn[0, :, column].double()
        std = float(values.std())
        assert float(values.mean()) == pytest.approx(float(mean), abs=4 * std / np.sqrt(20000))
        assert float(values.var()) == pytest.approx(float(second - mean**2), rel=0.05)


def test_latent_round_trip_inverts():
    torch.manual_seed(0)
    masks = [longitudinal_mask(2, i) for i in range(4)]
    flow = ConditionalFlow(masks, context_features=5, hidden_features=16, spline_bins=6)
    randomise(flow)
    flow.double()
    x = torch.randn(64, 6, dtype=torch.float64) * 2.0
    context = torch.randn(64, 5, dtype=torch.float64)
    with torch.no_grad():
        z = flow.to_latent(x, context)
        back = flow.from_latent(z, context)
    assert float((z - x).abs().max()) > 0.1
    torch.testing.assert_close(back, x, atol=1e-8, rtol=1e-8)


def test_first_coupling_transforms_only_the_longitudinal_coordinates():
    assert longitudinal_mask(1, 0).tolist() == [0, 0, 1]
    assert longitudinal_mask(1, 1).tolist() == [1, 1, 0]
    assert longitudinal_mask(2, 0).tolist() == [0, 0, 1, 0, 0, 1]


# --------------------------------------------------------------- encoders


def padded_batch(n_lep: int, n_lep_features: int, seed: int = 0) -> EventFeatures:
    generator = torch.Generator().manual_seed(seed)
    n_jets = torch.tensor([2, 5, 10, 4])
    mask = torch.arange(10)[None, :] < n_jets[:, None]
    jets = torch.randn(4, 10, 5, generator=generator) * mask[..., None]
    return EventFeatures(
        met=torch.randn(4, 2, generator=generator),
        leptons=torch.randn(4, n_lep, n_lep_features, generator=generator),
        jets=jets,
        jet_mask=mask,
        misc=torch.randn(4, 2, generator=generator),
    )


def encoders():
    torch.manual_seed(0)
    deepset = DeepSetEncoder(2 + 5 + 2, 5, 8, hidden_features=16, deepset_features=8, heads=2)
    transformer = TransformerEncoderNet(6, 5, 2, 2, 2 + 12 + 2, 8, width=16, heads=2)
    return [(deepset, 1, 5), (transformer, 2, 6)]


@pytest.mark.parametrize("index", [0, 1], ids=["deepset", "transformer"])
def test_jet_encoder_is_permutation_invariant_and_ignores_padding(index):
    encoder, n_lep, n_lep_features = encoders()[index]
    encoder.eval()
    batch = padded_batch(n_lep, n_lep_features)
    with torch.no_grad():
        reference = encoder(batch)

        permuted = EventFeatures(**vars(batch))
        jets = batch.jets.clone()
        jets[2] = jets[2, torch.randperm(10)]  # event 2 has all 10 slots filled
        jets[1, :5] = jets[1, torch.tensor([3, 0, 4, 2, 1])]
        permuted.jets = jets
        torch.testing.assert_close(encoder(permuted), reference, atol=1e-5, rtol=1e-5)

        garbage = EventFeatures(**vars(batch))
        garbage.jets = torch.where(batch.jet_mask[..., None], batch.jets, 1e3)
        torch.testing.assert_close(encoder(garbage), reference, atol=1e-5, rtol=1e-5)

        changed = EventFeatures(**vars(batch))
        changed.jets = batch.jets.clone()
        changed.jets[0, 1] += 1.0  # a real jet does matter
        difference = (encoder(changed) - reference).abs().sum(dim=1)
    assert float(difference[0]) > 1e-4
    assert float(difference[1:].max()) < 1e-5


# --------------------------------------------------------------- features


def test_targets_are_px_py_eta_and_convert_back_to_momenta(samples):
    truth = samples["dilepton"].truth_nu
    targets = neutrino_targets(truth)
    assert targets.shape == (len(truth), 6)
    np.testing.assert_allclose(targets[:, 2], kinematics.eta(truth[:, 0]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(momenta_from_targets(targets, 2), truth, rtol=1e-4, atol=1e-3)


def test_features_follow_table_1(samples):
    events = samples["semileptonic"]
    features = event_features(events)
    assert features.leptons.shape == (len(events), 1, 5)
    assert features.jets.shape == (len(events), 10, 5)
    np.testing.assert_allclose(features.met, events.met, rtol=1e-6)
    np.testing.assert_allclose(
        features.jets[..., 3][events.jet_mask],
        np.log(events.jets[..., 3][events.jet_mask]),
        rtol=1e-5,
    )
    assert (features.jets[~events.jet_mask] == 0).all()
    np.testing.assert_array_equal(features.misc[:, 1], (events.jet_btag & events.jet_mask).sum(1))
    assert event_features(samples["dilepton"]).leptons.shape[-1] == 6  # + charge


def test_non_finite_inputs_raise_input_error(samples, models):
    events = samples["semileptonic"].select(slice(0, 20))
    events.met = events.met.copy()
    events.met[7, 0] = np.nan
    with pytest.raises(InputError, match=r"event 7 is not physical \(met: NaN or inf\)"):
        reconstruct("flow-sample", events, model=models["flow", "semileptonic"][1])


# --------------------------------------------------------------- methods and model files


@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_posterior_samples_shapes_seeds_and_mode(samples, models, channel):
    events = samples[channel].select(slice(0, 40))
    path = models["flow", channel][1]
    drawn, log_prob = sample_posterior(events, 32, model=path, seed=3)
    n_nu = events.n_neutrinos
    assert drawn.shape == (40, 32, n_nu, 3) and log_prob.shape == (40, 32)
    assert np.isfinite(drawn).all() and np.isfinite(log_prob).all()
    again, _ = sample_posterior(events, 32, model=path, seed=3)
    np.testing.assert_array_equal(drawn, again)
    other, _ = sample_posterior(events, 32, model=path, seed=4)
    assert not np.allclose(drawn, other)

    mode, mode_log_prob = flow_mode(events, model=path, n_samples=32, seed=3, estimator="draws")
    np.testing.assert_allclose(mode_log_prob, log_prob.max(axis=1))
    np.testing.assert_allclose(mode, drawn[np.arange(40), log_prob.argmax(axis=1)])

    result = reconstruct("flow", events, model=path, n_samples=32, seed=3, estimator="draws")
    assert result.valid.all()
    np.testing.assert_allclose(result.momenta, mode)
    np.testing.assert_allclose(result.weight, mode_log_prob)


def test_log_prob_of_samples_matches_model_log_prob(samples, models):
    model = models["flow", "dilepton"][0]
    events = samples["dilepton"].select(slice(0, 10))
    features = event_features(events)
    torch.manual_seed(0)
    with torch.no_grad():
        drawn, log_prob = model.sample(features.to_torch(), 8)
        repeated = features.to_torch().select(torch.arange(10).repeat_interleave(8))
        recomputed = model.log_prob(repeated, drawn.reshape(80, 6))
    torch.testing.assert_close(log_prob.reshape(80), recomputed, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("model_type", ["flow", "ff"])
def test_save_load_gives_identical_outputs(samples, models, model_type):
    model, path = models[model_type, "dilepton"]
    loaded = load_model(path)
    assert loaded.config() == model.config()
    events = samples["dilepton"].select(slice(0, 25))
    features = event_features(events).to_torch()
    with torch.no_grad():
        if model_type == "flow":
            targets = torch.as_tensor(neutrino_targets(events.truth_nu))
            torch.testing.assert_close(
                loaded.log_prob(features, targets), model.log_prob(features, targets)
            )
            a, _ = sample_posterior(events, 4, model=model, seed=9)
            b, _ = sample_posterior(events, 4, model=path, seed=9)
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_array_equal(regress(events, model), regress(events, path))


def test_wrong_channel_or_type_or_version_is_refused(samples, models, tmp_path):
    semileptonic_model = models["flow", "semileptonic"][1]
    with pytest.raises(ModelError, match="semileptonic events and cannot reconstruct dilepton"):
        reconstruct("flow", samples["dilepton"], model=semileptonic_model)
    with pytest.raises(ModelError, match="'ff' model"):
        reconstruct("flow-sample", samples["dilepton"], model=models["ff", "dilepton"][1])
    with pytest.raises(ModelError, match="semileptonic"):
        load_model(semileptonic_model, channel="dilepton")

    payload = torch.load(semileptonic_model, weights_only=True)
    payload["format_version"] = model_io.FORMAT_VERSION + 1
    future = tmp_path / "future.pt"
    torch.save(payload, future)
    with pytest.raises(ModelError, match="retrain"):
        load_model(future)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable"):
        load_model(garbage)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_any_jet_multiplicity_is_accepted(samples, models):
    events = samples["dilepton"].select(slice(0, 6))
    events.jet_mask = events.jet_mask.copy()
    events.jet_mask[1] = True  # every slot filled (with copies of the leading jet)
    events.jets = events.jets.copy()
    events.jets[1] = events.jets[1, 0]
    model = models["flow", "dilepton"][1]
    result = reconstruct("flow-sample", events, model=model, seed=0)
    assert result.valid.all() and np.isfinite(result.momenta).all()
    events.jet_mask[0] = False  # an event without jets is not a tt̄ event: refused
    with pytest.raises(InputError, match=r"event 0 is not physical \(no jets"):
        reconstruct("flow-sample", events, model=model, seed=0)


@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_shipped_models_reconstruct_the_demo_sample(channel):
    """The pretrained models learned the physics: MET balance, the W mass, better than a guess."""
    from nuanalysis.io import demo_sample_path
    from nuanalysis.metrics import leptonic_masses, width68

    events = load_padded(demo_sample_path(channel), max_events=400)
    sample = reconstruct("flow-sample", events, seed=0)
    regression = reconstruct("ff", events)
    mode = reconstruct("flow", events.select(slice(0, 50)), n_samples=32, seed=0)
    assert mode.valid.all() and sample.valid.all() and regression.valid.all()
    assert (mode.weight > sample.weight[:50]).mean() > 0.8  # the mode is the likelier draw
    for result in (sample, regression):
        # Σ p_T(ν) follows the MET far better than the MET's own spread
        balance = result.momenta[:, :, :2].sum(axis=1) - events.met
        assert width68(balance[:, 0]) < 0.5 * width68(events.met[:, 0])
    # p_x of the first neutrino beats the trivial guess (the sample mean); with two
    # neutrinos a single posterior draw need not (it scatters over the allowed split)
    for result in (sample, regression) if channel == "semileptonic" else (regression,):
        residual = result.momenta[:, 0, 0] - events.truth_nu[:, 0, 0]
        assert width68(residual) < 0.8 * width68(events.truth_nu[:, 0, 0])
        # and p_z, which the MET does not give (measured: 0.67–0.76 of the spread; p_z = 0
        # is 1.0)
        for nu in range(events.n_neutrinos):
            residual = result.momenta[:, nu, 2] - events.truth_nu[:, nu, 2]
            assert width68(residual) < 0.85 * width68(events.truth_nu[:, nu, 2])
    # posterior draws put the leptonic W near its mass (the flow was never told m_W)
    masses = leptonic_masses(events, sample.momenta)["mlnu"]
    assert np.nanmedian(masses) == pytest.approx(80.4, abs=8)
