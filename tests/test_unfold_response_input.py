"""Closure against an independent response sample (``--response-input``) and the bias's error.

With the response and prior from the even half and the odd half as pseudo-data, the prior's
own fluctuation reads as bias; an analysis fills its response from separate MC. The RMS
bias is then reported with its uncertainty, and the response's MC statistics enter the total.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_branches

from nuanalysis.cli import cli
from nuanalysis.io import write_ntuple
from nuanalysis.unfold_scan import rms_bias

EDGES = ["--mtt-edges", "300,450,600,1200", "--ptt-edges", "0,100,400"]


def test_rms_bias_recovers_a_known_bias_within_its_error():
    rng = np.random.default_rng(5)
    truth = np.full(400, 100.0)
    variance = np.full(400, 25.0)
    for true_bias in (0.0, 0.08):
        difference = true_bias * truth + rng.normal(0.0, 5.0, 400)
        bias, error = rms_bias(difference, variance, truth)
        assert abs(bias - true_bias) < 3 * error
        assert error < 0.02
    bias, error = rms_bias(0.2 * truth[:4] + 0.0, variance[:4], truth[:4])
    assert bias == pytest.approx(np.sqrt(0.04 - 25.0 / 1e4), rel=1e-12)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    folder = tmp_path_factory.mktemp("response_input")
    data, response, small = folder / "data.root", folder / "mc.root", folder / "small.root"
    write_ntuple(data, make_branches("dilepton", 1500, seed=31))
    write_ntuple(response, make_branches("dilepton", 6000, seed=32))
    write_ntuple(small, make_branches("dilepton", 3000, seed=33))
    return data, response, small


def _unfold(data, response, tmp_path, *extra):
    out = tmp_path / "u.json"
    args = ["unfold", "--methods", "truth", "--input", str(data), "--backend", "numpy"]
    result = CliRunner().invoke(
        cli, [*args, "--response-input", str(response), *EDGES, "--json", str(out), *extra]
    )
    return result, (json.loads(out.read_text()) if out.exists() else None)


def test_an_independent_response_sample_unfolds_all_the_pseudo_data(samples, tmp_path):
    data, response, _ = samples
    result, summary = _unfold(data, response, tmp_path)
    assert result.exit_code == 0, result.output
    assert "mc.root (6000 events), all 1500 events unfolded" in summary["split"]
    entry = summary["methods"]["truth"]
    assert sum(entry["truth"]) > 0.9 * 1500  # every pseudo-data event, not one half
    scan = entry["scan"]
    rows = zip(scan["rms_bias"], scan["rms_bias_error"], scan["closure_chi2"], strict=True)
    for bias, error, chi2 in rows:
        if chi2 < 100:  # k ≥ 2: consistent with zero within its error
            assert bias < 3 * error + 0.01
    assert all(
        total >= stat
        for total, stat in zip(
            scan["mean_rel_uncertainty_total"], scan["mean_rel_uncertainty"], strict=True
        )
    )
    assert "warning: the response sample" not in result.output
    # the response's MC statistics (50 replicas by default) are in every per-bin total
    assert entry["uncertainty"].startswith("pseudo-data stat ⊕ response MC stat")
    assert all(
        total > stat
        for total, stat in zip(entry["rel_uncertainty"], entry["rel_uncertainty_stat"], strict=True)
    )


def test_response_sample_must_be_another_and_larger_file(samples, tmp_path):
    data, _, small = samples
    same, _ = _unfold(data, data, tmp_path)
    assert same.exit_code == 2 and "independent" in same.output
    result, _ = _unfold(data, small, tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning: the response sample" in result.output and "under 4 ×" in result.output
