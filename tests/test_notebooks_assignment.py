"""examples/chi2_assignment.ipynb runs on the shipped demo sample and its numbers make sense."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "chi2_assignment.ipynb"


def test_chi2_assignment_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nuanalysis.io import demo_sample_path

    demo_sample_path("semileptonic")  # a clear error if the demo sample is missing
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
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
