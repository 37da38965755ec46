"""Detector variations of reco objects (nuanalysis.variations): jets and MET move together,
the same seed gives the same sample."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_branches

from nuanalysis.errors import InputError
from nuanalysis.io import load_padded, write_ntuple
from nuanalysis.variations import (
    BTAG_UNCERTAINTY,
    GROUPS,
    jes_uncertainty,
    pair_shift,
    parse_groups,
    vary,
)


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("variations") / "di.root"
    write_ntuple(path, make_branches("dilepton", 3000, seed=12))
    return load_padded(path)


def balance(events) -> np.ndarray:
    """MET plus the transverse momenta of the padded jets: what a jet change must not move."""
    return events.met + (events.jets[..., :2] * events.jet_mask[..., None]).sum(axis=1)


@pytest.mark.parametrize("name", ["jes_up", "jes_down", "jer"])
def test_jet_variations_move_the_met_to_balance_the_jets(events, name):
    varied = vary(events, name, seed=4)
    changed = np.abs(varied.jets - events.jets).max(axis=-1)[events.jet_mask]
    assert (changed > 0).mean() > 0.99
    np.testing.assert_allclose(balance(varied), balance(events), atol=1e-6)
    assert not np.allclose(varied.met, events.met)
    np.testing.assert_array_equal(varied.leptons, events.leptons)
    np.testing.assert_array_equal(varied.jet_btag, events.jet_btag)


def test_jes_is_pt_and_eta_dependent_and_symmetric(events):
    u = jes_uncertainty(events)[events.jet_mask]
    assert 0.005 < u.min() and u.max() < 0.1 and u.std() > 0.001
    pt = np.hypot(*np.moveaxis(events.jets[..., :2], -1, 0))[events.jet_mask]
    assert np.corrcoef(pt, u)[0, 1] < 0  # better known at high pT
    up, down = vary(events, "jes_up"), vary(events, "jes_down")
    np.testing.assert_allclose(
        (up.jets + down.jets)[events.jet_mask], 2 * events.jets[events.jet_mask], rtol=1e-12
    )
    np.testing.assert_allclose(
        up.jets[..., 3][events.jet_mask] / events.jets[..., 3][events.jet_mask], 1 + u
    )


def test_variations_are_reproducible_by_seed(events):
    for name in ("jer", "btag_up", "btag_down", "met"):
        first, again = vary(events, name, seed=7), vary(events, name, seed=7)
        other = vary(events, name, seed=8)
        for field in ("jets", "met", "jet_btag"):
            np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
        assert any(
            not np.array_equal(getattr(first, f), getattr(other, f))
            for f in ("jets", "met", "jet_btag")
        )


def test_btag_moves_the_tagged_fraction_by_its_uncertainty(events):
    tagged = events.jet_btag[events.jet_mask].sum()
    down = vary(events, "btag_down", seed=1).jet_btag[events.jet_mask].sum()
    up = vary(events, "btag_up", seed=1).jet_btag
    assert (up >= events.jet_btag).all()  # up only adds tags
    assert 1 - down / tagged == pytest.approx(BTAG_UNCERTAINTY, abs=0.01)
    assert up[events.jet_mask].sum() > tagged
    met = vary(events, "met", seed=1)
    np.testing.assert_array_equal(met.jets, events.jets)
    assert 3.0 < np.std(met.met - events.met) < 9.0


def test_groups_and_symmetrised_shifts():
    assert parse_groups("jes,met") == ("jes_up", "jes_down", "met")
    assert set(parse_groups(",".join(GROUPS))) == {v for g in GROUPS.values() for v in g}
    with pytest.raises(InputError, match="unknown variation jec"):
        parse_groups("jes,jec")
    shifts = pair_shift(
        {
            "jes_up": np.array([2.0, -1.0]),
            "jes_down": np.array([-1.0, 1.0]),
            "jer": np.array([-0.5, 0.2]),
        }
    )
    np.testing.assert_allclose(shifts["jes"], [1.5, 1.0])
    np.testing.assert_allclose(shifts["jer"], [0.5, 0.2])


def test_unfold_carries_each_variation_into_the_total(events):
    """Varied pseudo-data unfolded with the nominal response: the truth-ν m_tt does not read
    the MET, so its MET shift is exactly zero while the jet scale moves it; the shifts enter
    the total uncertainty and the equal-bias scan."""
    from nuanalysis.methods.registry import reconstruct
    from nuanalysis.unfold_study import unfold_methods

    varied = {}
    for name in ("jes_up", "jes_down", "met"):
        sample = vary(events, name, seed=3)
        varied[name] = (sample, {"truth": reconstruct("truth", sample)})
    settings = {
        "backend": "numpy",
        "progress": False,
        "mtt_edges": (300.0, 450.0, 600.0, 1200.0),
        "ptt_edges": (0.0, 100.0, 400.0),
    }
    nominal = {"truth": reconstruct("truth", events)}
    study = unfold_methods(events, nominal, variations=varied, **settings)
    without = unfold_methods(events, nominal, **settings).methods["truth"].scan
    truth = study.methods["truth"]
    assert set(truth.systematics) == {"jes", "met"}
    np.testing.assert_array_equal(truth.systematics["met"], 0.0)
    assert np.mean(truth.systematics["jes"] / truth.result.unfolded) > 1e-3
    assert (truth.rel_uncertainty > truth.rel_uncertainty_stat).all()
    scan = truth.scan
    assert all(s > 0 for s in scan.mean_rel_systematic)
    pairs = zip(scan.mean_rel_uncertainty_total, without.mean_rel_uncertainty_total, strict=True)
    assert all(with_syst > stat for with_syst, stat in pairs)  # same bootstrap replicas
    summary = study.to_json()["methods"]["truth"]
    assert set(summary["variation_shifts"]) == {"jes_up", "jes_down", "met"}
    assert "syst jes+met" in summary["uncertainty"]


def test_cli_refuses_an_unknown_variation_before_any_work():
    from click.testing import CliRunner

    from nuanalysis.cli import cli

    args = ["unfold", "--methods", "truth", "--max-events", "50", "--variations", "jes,jec"]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, InputError)  # one line from the entry point
    assert "unknown variation jec" in str(result.exception)
    assert "reconstructing" not in result.output
