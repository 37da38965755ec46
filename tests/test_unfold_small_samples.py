"""``unfold`` on samples too small for its binning: a flagged result or a one-line refusal.

Tens to hundreds of events merge the 4 × 3 m_tt × pT_t binning down to a few bins, force
k = 1 or leave a large closure bias; such a result must say so in the table, the JSON and
the figures, and a sample that leaves a single bin is refused in one line (issue 20, item 3).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nuanalysis.cli import cli
from nuanalysis.io import demo_sample_path, load_padded
from nuanalysis.methods.registry import reconstruct
from nuanalysis.unfold_study import DEGENERATE_BIAS, unfold_methods
from unfolding import UnfoldingError


@pytest.mark.parametrize("n_events", [20, 60, 100, 300])
def test_small_samples_give_a_flagged_result_or_a_one_line_refusal(n_events, tmp_path):
    out, figures = tmp_path / "u.json", tmp_path / "figures"
    args = ["unfold", "--methods", "truth", "--max-events", str(n_events), "--backend", "numpy"]
    result = CliRunner().invoke(cli, [*args, "--json", str(out), "--out", str(figures)])
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert n_events < 300, "300 demo events are enough for a (flagged) m_tt × pT_t result"
        assert isinstance(result.exception, SystemExit) and result.exit_code == 1
        message = [line for line in result.output.splitlines() if "rror: " in line]
        assert len(message) == 1 and "events" in message[0], result.output
        assert not out.exists() and not figures.exists()
        return
    data = json.loads(out.read_text())
    bins = data["bins"]
    entry = data["methods"]["truth"]
    single_axis = min(len(bins["mtt"]), len(bins["ptt"])) == 2
    biased = entry["scan"]["rms_bias"][entry["k"] - 1] > DEGENERATE_BIAS
    assert len(entry["unfolded"]) > 1
    reasons = data["degenerate"]
    assert any("single" in reason for reason in reasons) == single_axis
    assert any(reason.startswith("k = 1:") for reason in reasons) == (entry["k"] == 1)
    assert any("closure bias" in reason for reason in reasons) == biased
    assert ("DEGENERATE RESULT" in result.output) == bool(reasons)
    assert (figures / "unfolded_truth.png").stat().st_size > 0


def test_a_single_bin_is_refused_not_unfolded():
    """Every edge merged (or given so) leaves no spectrum: a refusal naming the sample size
    needed, never a one-bin scan (formerly numpy's 'Input must be 1- or 2-d.')."""
    events = load_padded(demo_sample_path("dilepton"), max_events=400)
    truth = {"truth": reconstruct("truth", events)}
    settings = {"backend": "numpy", "progress": False}
    with pytest.raises(
        UnfoldingError, match=r"single m_tt × pT_t bin.*binning needs (about|more than)"
    ):
        unfold_methods(events, truth, min_bin_events=80, **settings)
    with pytest.raises(UnfoldingError, match="single m_tt × pT_t bin: give more"):
        unfold_methods(events, truth, mtt_edges=(300, 1200), ptt_edges=(0, 400), **settings)
