"""Unfolding a sample too small for its binning: bins merged for every method, with a warning.

A fine binning on a few hundred events leaves bins empty or with a handful of
events; the study merges adjacent bins (one binning for every method), says
which edges it removed and how many events the requested binning needs, and
does not let a method that fails in a whole region collapse the binning.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_branches

from unfolding import Response, UnfoldingError
from unfolding.binning import coarsen, coarsen_responses, merge_bins, sparsest_bin

MTT, PTT = (300.0, 450.0, 600.0, 800.0, 1200.0), (0.0, 100.0, 200.0, 400.0)


def _smeared(n: int, seed: int, resolution: float = 0.1):
    """Falling m_tt and pT_t spectra (more events at low values, a sparse high corner)."""
    rng = np.random.default_rng(seed)
    true = (300.0 + rng.exponential(200.0, n), rng.exponential(90.0, n))
    reco = tuple(t * (1.0 + resolution * rng.normal(size=n)) for t in true)
    return reco, true


def _response(edges, n: int, seed: int = 1, valid=None) -> Response:
    reco, true = _smeared(n, seed)
    return Response(*edges).fill(reco, true, reco_valid=valid)


def test_merged_bins_hold_what_the_coarse_binning_would_have_filled():
    fine = _response((MTT, PTT), 4000)
    coarse_edges = ((300.0, 600.0, 1200.0), (0.0, 200.0, 400.0))
    merged = merge_bins(fine, coarse_edges)
    direct = _response(coarse_edges, 4000)
    for name in ("truth", "truth_w2", "reco", "reco_w2", "matrix", "matrix_w2"):
        np.testing.assert_allclose(getattr(merged, name), getattr(direct, name), err_msg=name)
    with pytest.raises(UnfoldingError, match="subset"):
        merge_bins(fine, ((300.0, 500.0, 1200.0), PTT))


def test_a_large_sample_keeps_the_requested_binning():
    result = coarsen((MTT, PTT), lambda grid: [merge_bins(_response((MTT, PTT), 40000), grid)], 10)
    assert not result.merged and result.edges == (MTT, PTT)


def test_a_small_sample_merges_until_every_bin_has_enough_events():
    fine = _response((MTT, PTT), 400)
    assert sparsest_bin(fine) < 10
    result = coarsen((MTT, PTT), lambda grid: [merge_bins(fine, grid)], 10)
    assert result.merged and result.sparsest >= 10 > result.sparsest_requested
    coarse = merge_bins(fine, result.edges)
    assert sparsest_bin(coarse) >= 10
    # only interior edges go, one at a time: the outer edges and the removal order are kept
    for axis, requested in enumerate((MTT, PTT)):
        assert result.edges[axis][0] == requested[0] and result.edges[axis][-1] == requested[-1]
    assert sorted(e for _, e in result.removed) == sorted(
        set(MTT + PTT) - set(result.edges[0] + result.edges[1])
    )
    # no edge was removed needlessly: putting back the last one removed breaks the criterion
    axis, edge = result.removed[-1]
    back = tuple(
        tuple(sorted((*edges, edge))) if a == axis else edges
        for a, edges in enumerate(result.edges)
    )
    assert sparsest_bin(merge_bins(fine, back)) < 10


def test_a_method_failing_in_a_region_does_not_steer_the_merging():
    reco, true = _smeared(20000, 2)
    good = Response(MTT, PTT).fill(reco, true)
    low_only = Response(MTT, PTT).fill(reco, true, reco_valid=true[0] < 450.0)
    sparse = Response(MTT, PTT).fill(*_smeared(600, 3))
    result = coarsen_responses({"good": good, "low-only": low_only}, 10)
    assert not result.merged and "never reconstructed" in result.ignored["low-only"]
    result = coarsen_responses({"good": good, "sparse": sparse}, 10)
    assert result.merged and not result.ignored and result.sample_factor > 1


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    from nuanalysis.io import load_padded, write_ntuple

    path = tmp_path_factory.mktemp("small") / "dilepton.root"
    write_ntuple(path, make_branches("dilepton", 300, seed=7))
    return load_padded(path)


def test_the_study_unfolds_every_method_of_a_small_sample_on_merged_bins(small_sample):
    from nuanalysis.methods.registry import NeutrinoResult
    from nuanalysis.unfold_study import format_table, unfold_methods

    events = small_sample
    truth = NeutrinoResult(events.truth_nu.copy(), np.ones(len(events), dtype=bool))
    half = NeutrinoResult(events.truth_nu.copy(), np.arange(len(events)) % 4 < 2)
    study = unfold_methods(events, {"truth": truth, "half": half}, backend="numpy", progress=False)
    assert set(study.methods) == {"truth", "half"} and not study.failures
    assert study.binning.merged
    assert len(study.mtt_edges) < len(MTT) or len(study.ptt_edges) < len(PTT)
    text = format_table(study)
    assert text.startswith("warning: bins merged for every method")
    assert "--mtt-edges" in text and "ratio to truth, median (mean) over bins: half" in text
    bins = study.to_json()["bins"]
    assert bins["requested"] == {"mtt": list(MTT), "ptt": list(PTT)}
    assert {e["edge"] for e in bins["removed_edges"]} == set(MTT + PTT) - set(
        bins["mtt"] + bins["ptt"]
    )
    # the same sample with merging switched off loses its bins to the checks, as before
    with pytest.raises(UnfoldingError):
        unfold_methods(events, {"truth": truth}, backend="numpy", progress=False, min_bin_events=0)


def test_unfold_cli_takes_bin_edges_and_refuses_bad_ones(tmp_path):
    from click.testing import CliRunner

    from nuanalysis.cli import cli
    from nuanalysis.cli.unfold import DEFAULT_MIN_BIN_EVENTS, DEFAULT_MTT_EDGES, DEFAULT_PTT_EDGES
    from nuanalysis.unfold_study import MIN_BIN_EVENTS, MTT_EDGES, PTT_EDGES

    # the command's defaults are the study's (kept apart so that --help needs no heavy import)
    assert tuple(float(e) for e in DEFAULT_MTT_EDGES.split(",")) == MTT_EDGES
    assert tuple(float(e) for e in DEFAULT_PTT_EDGES.split(",")) == PTT_EDGES
    assert DEFAULT_MIN_BIN_EVENTS == MIN_BIN_EVENTS
    result = CliRunner().invoke(cli, ["unfold", "--methods", "truth", "--ptt-edges", "0,x"])
    assert result.exit_code != 0 and "--ptt-edges" in result.output
