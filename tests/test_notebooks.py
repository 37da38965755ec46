"""The notebooks in examples/ run on the shipped demo samples and their numbers make sense."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def executed_outputs(name: str, channel: str) -> str:
    """Execute ``examples/<name>`` in a fresh kernel; the text of all its outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nuanalysis.io import demo_sample_path

    demo_sample_path(channel)  # a clear error if the demo sample is missing
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    return "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def test_chi2_assignment_notebook():
    outputs = executed_outputs("chi2_assignment.ipynb", "semileptonic")
    assert "events of channel semileptonic" in outputs
    assert "same b_lep table: True" in outputs
    matched = float(re.search(r"fully matched fraction: ([\d.]+)", outputs).group(1))
    assert 0.1 < matched < 1.0
    sigma = {
        m: [float(x) for x in values.split()[1::2]]
        for m, values in re.findall(r"sigma (\S+)\s+(lnu.*)", outputs)
    }
    # σ_qq, σ_bqq do not depend on the neutrino; the true neutrino gives the narrowest m(bℓν).
    # (Not m(ℓν): the quadratic and the flow's mode are pulled onto m_W, narrower than the
    # true W line shape.)
    assert len({tuple(v[2:]) for v in sigma.values()}) == 1
    assert all(sigma["truth"][1] <= v[1] for v in sigma.values())
    overall = {
        m: float(a) for m, a in re.findall(r"b_lep accuracy overall \((\S+)\): ([\d.]+)", outputs)
    }
    # the true neutrino is the best a neutrino can do for b_lep (well above a random pick)
    assert overall["truth"] > 0.6
    assert all(overall["truth"] >= a for a in overall.values())


def test_unfolding_notebook():
    outputs = executed_outputs("unfolding.ipynb", "dilepton")
    assert "events of channel dilepton" in outputs
    assert "chi2 to the odd half's truth" in outputs
    assert "m_tt × pT_t SVD unfolding" in outputs
    # the unfolding closes on the odd half's truth: chi2 per bin of order one
    chi2 = float(outputs.split("chi2 to the odd half's truth: ")[1].split()[0])
    assert chi2 < 3 * 12
