"""``nuanalysis generate``: Pythia 8 tt̄ ▸ FastJet ▸ parametric detector ▸ selection.

Tiny samples (a few dozen selected events per channel) checked for physics:
the truth record (W and top masses, decay-product bookkeeping, neutrino order),
jet–parton matching, lepton charges, MET vs neutrinos, the selections, the
top-mass option, reproducibility, bad input and the CLI round trip.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from click.testing import CliRunner

from baselines.constants import TOP_MASS, W_MASS
from nuanalysis.errors import ChannelError, InputError
from nuanalysis.generation import generate
from nuanalysis.generation.runner import job_quotas
from nuanalysis.kinematics import from_pt_eta_phi_m, mass

N_EVENTS = 40


def _generate(channel, n=N_EVENTS, **options):
    return generate(channel, n, progress_bar=False, **options)


@pytest.fixture(scope="module", params=["semileptonic", "dilepton"])
def sample(request):
    result = _generate(request.param, seed=11)
    return request.param, result.columns


def _partons(columns):
    p = from_pt_eta_phi_m(*(columns[f"truth_parton_{q}"] for q in ("pt", "eta", "phi", "mass")))
    return p, columns["truth_parton_pid"].astype(int)


def _dr(eta1, phi1, eta2, phi2):
    return np.hypot(eta1 - eta2, (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi)


def test_writes_requested_number_of_events(sample):
    _, columns = sample
    assert all(len(values) == N_EVENTS for values in columns.values())
    assert np.all(columns["weight"] == 1)


def test_truth_w_mass_and_parton_order(sample):
    channel, columns = sample
    p, pid = _partons(columns)
    assert np.mean(pid[:, 0] == 5) > 0.95  # t → b W⁺ (rarely d or s)
    assert np.all((pid[:, 0] > 0) & (pid[:, 0] <= 5) & (pid[:, 1] < 0) & (pid[:, 1] >= -5))
    masses = []
    for first, second, sign in ((2, 3, 1), (4, 5, -1)):
        # W⁺ daughters: down-type (odd |pid|) first; total charge +1 (W⁻: -1)
        assert np.all(np.abs(pid[:, first]) % 2 == 1)
        assert np.all(np.abs(pid[:, second]) % 2 == 0)
        leptonic = np.isin(np.abs(pid[:, first]), (11, 13))
        # a charged lepton of a W⁺ is ℓ⁺ (negative pid), its partner a ν (positive pid)
        assert np.all(np.sign(pid[leptonic, first]) == -sign)
        assert np.all(np.sign(pid[leptonic, second]) == sign)
        masses.append(mass(p[:, first] + p[:, second]))
    n_leptonic = np.isin(np.abs(pid[:, [2, 4]]), (11, 13)).sum(axis=1)
    assert np.all(n_leptonic == (1 if channel == "semileptonic" else 2))
    m_w = np.concatenate(masses)
    assert abs(np.median(m_w) - W_MASS) < 1.0
    assert np.mean(np.abs(m_w - W_MASS) < 10) > 0.9


def test_top_is_sum_of_its_decay_products(sample):
    _, columns = sample
    p, _ = _partons(columns)
    for name, products in (("top", (0, 2, 3)), ("antitop", (1, 4, 5))):
        top = from_pt_eta_phi_m(
            *(columns[f"truth_{name}_{q}"] for q in ("pt", "eta", "phi", "mass"))
        )
        total = p[:, products].sum(axis=1)
        residual = np.abs(top - total)
        # equal up to the W's shower recoil against b radiation (truth.py docstring):
        # typically below 1 GeV, O(10 GeV) in a few per cent of events
        assert np.all(np.median(residual, axis=0) < 1.5)
        assert np.mean(np.all(residual[:, :2] < 10.0, axis=1)) > 0.85
        assert np.mean(np.abs(mass(top) - mass(total)) < 5.0) > 0.8


def test_truth_neutrinos_are_the_w_neutrinos(sample):
    channel, columns = sample
    p, pid = _partons(columns)
    nu_pid = columns["truth_nu_pid"]
    expected = 2 if channel == "dilepton" else 1
    assert np.all(ak.num(nu_pid) == expected)
    for k in range(N_EVENTS):
        # the neutrino slots of the leptonic W's, W⁺ (ν, slot 3) before W⁻ (ν̄, slot 5)
        slots = [s for s in (3, 5) if abs(pid[k, s]) in (12, 14)]
        assert nu_pid[k].tolist() == [pid[k, s] for s in slots]
        for entry, slot in enumerate(slots):
            parton_pt = np.hypot(p[k, slot, 0], p[k, slot, 1])
            assert columns["truth_nu_pt"][k][entry] == pytest.approx(parton_pt, rel=0.05, abs=1.0)
    if channel == "dilepton":
        assert ak.all(nu_pid[:, 0] > 0) and ak.all(nu_pid[:, 1] < 0)


def test_jet_match_points_at_distinct_close_quarks(sample):
    _, columns = sample
    _, pid = _partons(columns)
    matched_any = 0
    for k in range(N_EVENTS):
        match = np.asarray(columns["jet_match"][k], dtype=int)
        used = match[match >= 0]
        assert len(set(used)) == len(used)  # one-to-one
        for j in np.flatnonzero(match >= 0):
            parton = match[j]
            assert 1 <= abs(pid[k, parton]) <= 5
            dr = _dr(
                columns["jet_eta"][k][j],
                columns["jet_phi"][k][j],
                columns["truth_parton_eta"][k, parton],
                columns["truth_parton_phi"][k, parton],
            )
            assert dr < 0.4
        matched_any += len(used)
    assert matched_any > N_EVENTS  # most b quarks (and W quarks) do end up in jets


def test_lepton_charges_and_flavours_follow_the_partons(sample):
    _, columns = sample
    _, pid = _partons(columns)
    agree = 0
    for k in range(N_EVENTS):
        charged = [q for q in pid[k, 2:] if abs(q) in (11, 13)]
        truth = sorted((-int(np.sign(q)), abs(int(q))) for q in charged)
        reco = sorted(
            zip(columns["lep_charge"][k].tolist(), columns["lep_pid"][k].tolist(), strict=True)
        )
        agree += truth == reco
    assert agree >= 0.9 * N_EVENTS


def test_met_follows_the_neutrinos(sample):
    _, columns = sample
    nu_pt, nu_phi = columns["truth_nu_pt"], columns["truth_nu_phi"]
    nu_x = ak.to_numpy(ak.sum(nu_pt * np.cos(nu_phi), axis=1))
    nu_y = ak.to_numpy(ak.sum(nu_pt * np.sin(nu_phi), axis=1))
    met_x = columns["met"] * np.cos(columns["met_phi"])
    met_y = columns["met"] * np.sin(columns["met_phi"])
    residual = np.concatenate([met_x - nu_x, met_y - nu_y])
    assert abs(np.median(residual)) < 8.0
    assert np.percentile(np.abs(residual), 68) < 30.0
    assert np.corrcoef(np.concatenate([met_x, met_y]), np.concatenate([nu_x, nu_y]))[0, 1] > 0.8


def test_selection_holds_on_every_event(sample):
    channel, columns = sample
    jet_pt, lep_pt = columns["jet_pt"], columns["lep_pt"]
    assert ak.all(jet_pt > 25) and ak.all(abs(columns["jet_eta"]) < 2.5)
    assert ak.all(lep_pt > 15) and ak.all(abs(columns["lep_eta"]) < 2.5)
    assert ak.all(jet_pt[:, :-1] >= jet_pt[:, 1:])  # pT-ordered
    assert ak.all(lep_pt[:, :-1] >= lep_pt[:, 1:])
    assert set(ak.flatten(columns["lep_pid"]).tolist()) <= {11, 13}
    n_jets, n_btags = ak.num(jet_pt), ak.sum(columns["jet_btag"], axis=1)
    if channel == "semileptonic":
        assert ak.all(ak.num(lep_pt) == 1) and ak.all(n_jets >= 4) and ak.all(n_btags >= 2)
    else:
        assert ak.all(ak.num(lep_pt) == 2) and ak.all(n_jets >= 2) and ak.all(n_btags >= 1)
        assert ak.all(ak.sum(columns["lep_charge"], axis=1) == 0)


def test_same_seed_same_events_other_seed_other_events():
    first = _generate("dilepton", 12, seed=5, jobs=2).columns
    again = _generate("dilepton", 12, seed=5, jobs=2).columns
    other = _generate("dilepton", 12, seed=6, jobs=2).columns
    for name in first:
        assert ak.all(ak.Array(first[name]) == ak.Array(again[name])), name
    assert not np.array_equal(first["met"], other["met"])


def test_top_mass_option_moves_the_top_peak():
    columns = _generate("dilepton", 20, seed=3, top_mass=160.0).columns
    masses = np.concatenate([columns["truth_top_mass"], columns["truth_antitop_mass"]])
    assert abs(np.median(masses) - 160.0) < 2.0


def test_job_quotas_add_up():
    assert job_quotas(10, 3) == [4, 3, 3]
    assert sum(job_quotas(40001, 2)) == 40001


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"channel": "hadronic"}, ChannelError),
        ({"n_events": 0}, InputError),
        ({"top_mass": 20.0}, InputError),
        ({"jobs": 0}, InputError),
    ],
)
def test_bad_options_raise_clear_errors(options, error):
    arguments = {"channel": "dilepton", "n_events": 5, **options}
    with pytest.raises(error):
        generate(progress_bar=False, **arguments)


def test_cli_writes_a_readable_schema_v1_file(tmp_path):
    from nuanalysis.cli import cli
    from nuanalysis.io import detect_channel, read_events

    out = tmp_path / "sub" / "tiny.root"
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--channel",
            "semileptonic",
            "--events",
            "6",
            "--seed",
            "4",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "selected events/s" in result.output
    events = read_events(out)
    assert len(events) == 6
    assert detect_channel(events) == "semileptonic"
    assert ak.all(ak.num(events.truth.partons) == 6)


def test_detector_b_tagging_working_point_before_selection():
    from nuanalysis.generation.detector import ATLAS_LIKE
    from nuanalysis.generation.pythia import make_pythia, next_batch
    from nuanalysis.generation.reconstruction import reconstruct

    events = next_batch(make_pythia("both", 17, TOP_MASS), 200)
    objects = reconstruct(events, np.random.default_rng(17), ATLAS_LIKE)
    b_jets = objects.jet_flavour == 5
    light_jets = objects.jet_flavour == 0
    assert b_jets.sum() > 150  # two b quarks per event, most of them in stored jets
    efficiency = objects.jet_btag[b_jets].mean()
    assert abs(efficiency - ATLAS_LIKE.btag_efficiency_b) < 4 * np.sqrt(0.21 / b_jets.sum())
    assert objects.jet_btag[light_jets].mean() < 0.03


def test_detector_resolutions_have_calorimeter_behaviour():
    from nuanalysis.generation.detector import ATLAS_LIKE

    energy = np.array([20.0, 50.0, 200.0, 1000.0])
    central = ATLAS_LIKE.jet_energy_resolution(energy, np.zeros(4))
    forward = ATLAS_LIKE.jet_energy_resolution(energy, np.full(4, 4.0))
    assert np.all(np.diff(central) < 0) and np.all(forward > central)
    assert central[-1] == pytest.approx(ATLAS_LIKE.jet_resolution_central[2], rel=0.3)
    assert np.all(ATLAS_LIKE.lepton_efficiency(np.array([11, 13]), np.array([2.6, 2.6])) == 0)
    tag = ATLAS_LIKE.btag_efficiency(np.array([5, 4, 0, 5]), np.array([0.0, 0.0, 0.0, 3.0]))
    assert tag[0] > tag[1] > tag[2] and tag[3] == 0
