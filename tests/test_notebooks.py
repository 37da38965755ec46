"""The notebooks in examples/ run on the shipped demo samples and their numbers make sense.

Their saved outputs are what the current code prints: re-executing a notebook
reproduces the key numbers stored in it, and the stored outputs hold no paths
of the machine that ran them and no warnings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = ("chi2_assignment.ipynb", "unfolding.ipynb", "top_mass.ipynb", "coffea_ttbar.ipynb")

KEY_NUMBERS = {
    "chi2_assignment.ipynb": (
        r"fully matched fraction: ([\d.]+)",
        r"sigma (\S+)\s+lnu\s+([\d.]+)\s+blnu\s+([\d.]+)",
        r"b_lep accuracy overall \((\S+)\): ([\d.]+)",
    ),
    "unfolding.ipynb": (
        r"chi2 to the odd half's truth: ([\d.]+)",
        r"ratio to truth, median \(mean\) over bins: (.*)",
        r"valid fraction: (.*)",
    ),
    "top_mass.ipynb": (r"slope \S+: (-?[\d.]+); fit at ([\d.]+): ([\d.]+) ± ([\d.]+)",),
    "coffea_ttbar.ipynb": (
        r"(\d+) of (\d+) events pass the dilepton selection",
        r"valid for ([\d.]+)% of the events",
        r"χ² to truth\s+([\d.]+)",
    ),
}
"""What each notebook prints that its saved outputs must show as the code prints it now."""

MACHINE_PATH = re.compile(r"(/work/|/home/|/Users/|/tmp/|/usr/|/opt/|site-packages|[A-Z]:\\)")


def saved_outputs(name: str) -> str:
    """The text of every saved output of ``examples/<name>`` (streams and plain-text data)."""
    notebook = json.loads((EXAMPLES / name).read_text())
    return "".join(
        "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )


def key_numbers(name: str, text: str) -> list[float]:
    """The numbers of :data:`KEY_NUMBERS` in ``text``, in order."""
    found = [match for pattern in KEY_NUMBERS[name] for match in re.findall(pattern, text)]
    assert found, f"{name}: none of its key numbers printed"
    flat = " ".join(" ".join(m) if isinstance(m, tuple) else m for m in found)
    return [float(x) for x in re.findall(r"-?\d+\.\d+|-?\d+", flat)]


def assert_saved_outputs_are_current(name: str, executed: str) -> None:
    saved, now = key_numbers(name, saved_outputs(name)), key_numbers(name, executed)
    assert len(saved) == len(now) and np.allclose(saved, now, rtol=0.02, atol=0.015), (
        f"{name}: saved outputs are stale (re-execute the notebook and save it): "
        f"saved {saved}, now {now}"
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saved_outputs_hold_no_machine_paths_and_no_warnings(name):
    notebook = json.loads((EXAMPLES / name).read_text())
    outputs = saved_outputs(name)
    assert not MACHINE_PATH.search(outputs), MACHINE_PATH.search(outputs)
    assert "Warning" not in outputs
    errors = [
        output
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error" or output.get("name") == "stderr"
    ]
    assert not errors, errors


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
    assert_saved_outputs_are_current("chi2_assignment.ipynb", outputs)
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
    assert_saved_outputs_are_current("unfolding.ipynb", outputs)
    # the last cell ends on a result: every method it unfolds is unfolded
    assert "not unfolded" not in outputs
    assert "ratio to truth, median (mean) over bins: ellipse" in outputs
    assert "events of channel dilepton" in outputs
    assert "chi2 to the odd half's truth" in outputs
    assert "m_tt × pT_t SVD unfolding" in outputs
    # the unfolding closes on the odd half's truth: chi2 per bin of order one
    chi2 = float(outputs.split("chi2 to the odd half's truth: ")[1].split()[0])
    assert chi2 < 3 * 12


def test_top_mass_notebook():
    outputs = executed_outputs("top_mass.ipynb", "dilepton")
    assert_saved_outputs_are_current("top_mass.ipynb", outputs)
    assert "masses read from the files: [166.0, 172.5, 179.0]" in outputs
    slopes = {m: float(s) for m, s in re.findall(r"slope (\S+): (-?[\d.]+);", outputs)}
    # truth-ν follows the true mass; the ellipse solves with m_t = 172.5 GeV and cannot
    assert 0.2 < slopes["truth"] < 1.1
    assert abs(slopes["ellipse"]) < 0.1 < slopes["truth"] - slopes["ellipse"]


def test_coffea_notebook():
    """The coffea processor on a local dask cluster: the selection, every method's valid
    fraction and the unfolded spectra's χ² to truth as saved."""
    pytest.importorskip("coffea")
    outputs = executed_outputs("coffea_ttbar.ipynb", "dilepton")
    assert_saved_outputs_are_current("coffea_ttbar.ipynb", outputs)
    valid = dict(re.findall(r"(\S+): valid for ([\d.]+)% of the events", outputs))
    assert float(valid["flow-posterior"]) == 100.0
    assert 50 < float(valid["ellipse"]) < float(valid["nw"]) < 100
    chi2 = [float(x) for x in re.findall(r"χ² to truth\s+([\d.]+) / (?:12) bins", outputs)]
    assert len(chi2) == 3 and all(value < 3 * 12 for value in chi2)
