"""examples/unfolding.ipynb runs on the shipped demo sample and its numbers make sense."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "unfolding.ipynb"


def test_unfolding_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nuanalysis.io import demo_sample_path

    demo_sample_path("dilepton")  # a clear error if the demo sample is missing
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
    assert "events of channel dilepton" in outputs
    assert "chi2 to the odd half's truth" in outputs
    assert "m_tt × pT_t SVD unfolding" in outputs
    # the unfolding closes on the odd half's truth: chi2 per bin of order one
    chi2 = float(outputs.split("chi2 to the odd half's truth: ")[1].split()[0])
    assert chi2 < 3 * 12
