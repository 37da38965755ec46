"""χ² jet assignment (ν-Flows eq. 4) and σ calibration (Table 3) on exact and synthetic events."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_branches

from baselines.constants import TOP_MASS, W_MASS
from nuanalysis.assignment import (
    MassSigmas,
    assign_semileptonic,
    calibrate_dilepton_sigma,
    calibrate_sigmas,
    correct_roles,
    fully_matched,
    load_sigmas,
    pair_dilepton,
    rms_about,
    save_sigmas,
    true_assignment,
    true_dilepton_pairing,
)
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.methods.registry import NeutrinoResult, reconstruct

SIGMAS = MassSigmas(lnu=10.0, blnu=20.0, qq=10.0, bqq=20.0)


@pytest.fixture(scope="module")
def exact_semileptonic(tmp_path_factory):
    """Unsmeared events (jets = quarks, MET = ν pT) with 0–3 extra jets."""
    path = tmp_path_factory.mktemp("exact") / "semi.root"
    write_ntuple(path, make_branches("semileptonic", 400, seed=3, jet_resolution=0.0))
    return load_padded(path)


@pytest.fixture(scope="module")
def exact_dilepton(tmp_path_factory):
    path = tmp_path_factory.mktemp("exact") / "di.root"
    write_ntuple(path, make_branches("dilepton", 400, seed=4, jet_resolution=0.0))
    return load_padded(path)


def test_true_assignment_follows_lepton_charge(exact_semileptonic):
    events = exact_semileptonic
    truth = true_assignment(events)
    assert fully_matched(truth).all()
    rows = np.arange(len(events))
    match = events.jet_match
    positive = events.lep_charge[:, 0] > 0
    # ℓ⁺ comes from t → b W⁺: b_lep is the b (parton 0), the light quarks are W⁻'s (4, 5)
    np.testing.assert_array_equal(match[rows, truth[:, 0]], np.where(positive, 0, 1))
    np.testing.assert_array_equal(match[rows, truth[:, 1]], np.where(positive, 1, 0))
    q = np.sort(match[rows[:, None], truth[:, 2:]], axis=1)
    np.testing.assert_array_equal(q[:, 0], np.where(positive, 4, 2))
    assert (truth[:, 2] < truth[:, 3]).all()


def test_chi2_picks_true_assignment_on_exact_kinematics(exact_semileptonic):
    events = exact_semileptonic
    result = reconstruct("truth", events)
    assigned = assign_semileptonic(events, result, SIGMAS)
    truth = true_assignment(events)
    np.testing.assert_array_equal(assigned.jets, truth)
    assert np.all(assigned.chi2 < 1e-3)
    assert (events.jet_mask.sum(axis=1) > 4).any()  # extra jets were there to confuse it


def test_chi2_blep_depends_on_the_neutrino(exact_semileptonic):
    """A wrong neutrino moves b_lep, not the hadronic side (its terms are neutrino-free)."""
    events = exact_semileptonic
    truth = true_assignment(events)
    wrong = events.truth_nu.copy()
    wrong[:, 0, 2] = -3 * wrong[:, 0, 2] + 150.0
    good = correct_roles(assign_semileptonic(events, events.truth_nu, SIGMAS).jets, truth)
    bad = correct_roles(assign_semileptonic(events, wrong, SIGMAS).jets, truth)
    assert good["blep"].mean() == 1.0
    assert bad["blep"].mean() < 0.9
    # the true hadronic top keeps χ²_had = 0: b_had is lost only where b_lep took a hadronic jet
    assert bad["bhad"].mean() > bad["blep"].mean()


def test_invalid_neutrino_leaves_blep_unassigned(exact_semileptonic):
    events = exact_semileptonic
    valid = np.arange(len(events)) % 3 != 0
    result = NeutrinoResult(events.truth_nu.copy(), valid)  # it zeroes invalid rows in place
    assigned = assign_semileptonic(events, result, SIGMAS)
    assert (assigned.jets[~valid, 0] == -1).all()
    truth = true_assignment(events)
    roles = correct_roles(assigned.jets, truth)
    assert roles["blep"][valid].all() and not roles["blep"][~valid].any()
    assert roles["bhad"].all() and roles["qq"].all()


def test_max_jets_limits_the_permutations(exact_semileptonic):
    events = exact_semileptonic
    assigned = assign_semileptonic(events, events.truth_nu, SIGMAS, max_jets=4)
    assert assigned.jets.max() <= 3
    truth = true_assignment(events, max_jets=4)
    complete = fully_matched(truth)
    np.testing.assert_array_equal(assigned.jets[complete], truth[complete])


def test_rms_about_gaussian():
    rng = np.random.default_rng(1)
    values = rng.normal(W_MASS + 3.0, 12.0, 200_000)
    assert rms_about(values, W_MASS) == pytest.approx(np.hypot(12.0, 3.0), rel=5e-3)


def test_calibration_reproduces_known_rms(exact_semileptonic):
    """Scale the hadronic-W jets by k ~ N(1, 0.1): m_qq = k m_W exactly, so σ_qq = m_W RMS(k − 1);
    scale the neutrino by k': m_ℓν ≈ √k' m_W (massless ℓ)."""
    events = exact_semileptonic.select(slice(None))
    events.jets = events.jets.copy()
    rng = np.random.default_rng(7)
    k = rng.normal(1.0, 0.1, len(events))
    truth = true_assignment(events)
    rows = np.arange(len(events))
    for column in (2, 3):
        events.jets[rows, truth[:, column]] *= k[:, None]
    k_nu = rng.normal(1.0, 0.05, len(events)) ** 2
    sigmas = calibrate_sigmas(events, events.truth_nu * k_nu[:, None, None])
    assert sigmas.qq == pytest.approx(W_MASS * np.sqrt(np.mean((k - 1) ** 2)), rel=1e-4)
    assert sigmas.lnu == pytest.approx(
        W_MASS * np.sqrt(np.mean((np.sqrt(k_nu) - 1) ** 2)), rel=1e-3
    )
    # untouched b-jets: m_bqq moves only through the scaled W; exact ν would give σ_blnu ≈ 0
    exact = calibrate_sigmas(exact_semileptonic, exact_semileptonic.truth_nu)
    assert exact.blnu < 0.05 and exact.bqq < 0.05
    assert sigmas.bqq > 10 * exact.bqq


def test_sigmas_round_trip(tmp_path):
    path = save_sigmas(tmp_path / "s.json", {"truth": SIGMAS})
    assert {m: MassSigmas.from_dict(s) for m, s in load_sigmas(path).items()} == {"truth": SIGMAS}
    with pytest.raises(ValueError, match="σ_qq"):
        MassSigmas(lnu=1, blnu=1, qq=0.0, bqq=1)
    (tmp_path / "bad.json").write_text('{"truth": {"lnu": 1}}')
    with pytest.raises(InputError, match="blnu"):
        load_sigmas(tmp_path / "bad.json")
    with pytest.raises(InputError, match="bqq"):
        MassSigmas.from_dict({"lnu": 1, "blnu": 1, "qq": 1})


def test_dilepton_pairing(exact_dilepton):
    events = exact_dilepton
    truth = true_dilepton_pairing(events)
    known = truth >= 0
    assert known.mean() > 0.3
    result = reconstruct("truth", events)
    pairing = pair_dilepton(events, result)
    np.testing.assert_array_equal(pairing[known], truth[known])
    sigma = calibrate_dilepton_sigma(events, result)
    assert sigma < 0.05  # exact kinematics: both m(bℓν) = m_t under the true pairing
    own = NeutrinoResult(result.momenta, result.valid, extras={"b_pairing": 1 - truth.clip(0)})
    np.testing.assert_array_equal(pair_dilepton(events, own)[known], 1 - truth[known])


def test_channel_errors(exact_semileptonic, exact_dilepton):
    with pytest.raises(ChannelError, match="semileptonic"):
        assign_semileptonic(exact_dilepton, exact_dilepton.truth_nu, SIGMAS)
    with pytest.raises(ChannelError, match="dilepton"):
        pair_dilepton(exact_semileptonic, reconstruct("truth", exact_semileptonic))
    with pytest.raises(InputError, match=r"\(n_events, 3\)"):
        assign_semileptonic(exact_semileptonic, np.zeros((3, 3)), SIGMAS)


def test_reference_masses_are_the_constants(exact_semileptonic):
    events = exact_semileptonic
    shifted = calibrate_sigmas(events, events.truth_nu, top_mass=TOP_MASS + 5.0)
    assert shifted.blnu == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize("channel", ["semileptonic", "dilepton"])
def test_assign_command_on_exact_events(synthetic_ntuple, tmp_path, channel):
    """With exact jets and the true neutrino every assignable event is assigned right; the JSON
    has the keys of docs/outputs.md, σ from the even entries and event counts of the odd ones."""
    import json

    from click.testing import CliRunner

    from nuanalysis.cli.assign import command

    path = synthetic_ntuple(channel, 300, jet_resolution=0.0, seed=8)
    out = tmp_path / "a.json"
    report = str(tmp_path / "report")  # not the folder holding the input, which --out replaces
    args = ["--methods", "truth", "--input", str(path), "--json", str(out), "--out", report]
    result = CliRunner().invoke(command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    study = json.loads(out.read_text())
    assert study["channel"] == channel
    assert study["n_calibration"] == 150 and study["n_evaluation"] == 150
    events = load_padded(path).select(slice(1, None, 2))
    if channel == "semileptonic":
        assert set(study["accuracy"]) >= {"blep", "bhad", "q"}
        assert list(study["n_events"]) == ["4", "5", "6", "7", "8", "9"]
        selected = fully_matched(true_assignment(events))
        assert sum(study["n_events"].values()) == selected.sum()
        assert set(study["sigmas"]["truth"]) == {"lnu", "blnu", "qq", "bqq"}
        roles = ("blep", "bhad", "q")
    else:
        assert sum(study["n_events"].values()) == (true_dilepton_pairing(events) >= 0).sum()
        roles = ("pairing",)
    for role in roles:
        by_n = study["accuracy"][role]["truth"]
        filled = [n for n, count in study["n_events"].items() if count]
        assert filled and all(by_n[n] == 1.0 for n in filled)
    assert (tmp_path / "report" / "index.html").is_file()
    # fixed σ from that JSON: no calibration, every entry evaluated, the same σ reported
    again = tmp_path / "b.json"
    args = [*args[:-4], "--sigmas", str(out), "--json", str(again), "--no-report"]
    result = CliRunner().invoke(command, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    fixed = json.loads(again.read_text())
    assert fixed["sigmas"] == study["sigmas"]
    assert fixed["n_calibration"] == 0 and fixed["n_evaluation"] == 300


def test_fully_matched_needs_four_distinct_jets():
    truth = np.array([[0, 1, 2, 3], [0, 0, 2, 3], [0, 1, -1, 3], [4, 1, 2, 8]])
    np.testing.assert_array_equal(fully_matched(truth), [True, False, False, True])
