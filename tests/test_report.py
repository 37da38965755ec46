"""Report pages (nuanalysis.report), their rendering in a browser, the assign tables'
uncertainties and the provenance block."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from nuanalysis import plotting
from nuanalysis.report import Figure, Section, Table, find_browser, render_page, write_report


def small_report(out_dir):
    """A report with one real figure (a bar chart in tab:orange) and a table."""
    png = plotting.plot_bars(
        {"flow": 0.25, "nw": 0.75}, "failure fraction", out_dir, "failures",
        errors={"flow": 0.02, "nw": 0.03}, sample="test sample",
    )  # fmt: skip
    sections = [
        Section(
            "Figures",
            "First paragraph.\n\nSecond paragraph.",
            [Table(["quantity", "flow"], [["p_z [GeV]", "1.0 ± 0.1"]])],
            [Figure(png, "Failure fractions with 68 % Wilson intervals.")],
        )
    ]
    return write_report(out_dir, "Test report", sections)


def test_report_references_only_files_that_exist(tmp_path):
    """Every src/href of index.html exists beside it; each figure has its caption and links
    to its PDF and ROOT siblings, whose histogram holds the plotted values and errors."""
    import uproot
    from test_compare import referenced_files

    md_path, html_path = small_report(tmp_path / "report")
    page = html_path.read_text()
    links = referenced_files(page)
    assert sorted(links) == ["failures.pdf", "failures.png", "failures.root"]
    assert all((html_path.parent / link).is_file() for link in links)
    assert "<figcaption>Failure fractions with 68 % Wilson intervals." in page
    assert page.count("<p>") == 2
    assert "*Failure fractions with 68 % Wilson intervals.*" in md_path.read_text()
    bars = uproot.open(html_path.parent / "failures.root")["failures"].to_hist()
    np.testing.assert_allclose(bars.values(), [0.25, 0.75])
    np.testing.assert_allclose(bars.variances(), [0.02**2, 0.03**2])


@pytest.mark.skipif(find_browser() is None, reason="no Chromium/Chrome to render the page")
def test_report_renders_in_a_browser(tmp_path):
    """Headless Chromium shows the page at the requested width with the figure loaded: the
    orange of the ν-Flows bar appears in the screenshot (a missing image would not)."""
    from PIL import Image

    _, html_path = small_report(tmp_path / "report")
    shot = render_page(html_path, tmp_path / "shot.png", width=1000, height=1200)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (1200, 1000)
    orange = np.array([255, 127, 14])  # matplotlib's tab:orange
    assert (np.abs(image - orange).sum(axis=-1) < 30).sum() > 500
    assert (image.sum(axis=-1) < 200).sum() > 1000  # dark text and axes are drawn


def test_assign_tables_mark_small_columns_and_undefined_ratios():
    """Accuracies carry ± their error, † under 30 events, — without events; the flow /
    quadratic ratio is — (not nan) where the quadratic accuracy is 0, with an error elsewhere."""
    from nuanalysis.assignment_report import (
        accuracy_intervals,
        accuracy_tables,
        flow_over_quadratic,
        ratio_line,
    )

    study = {
        "n_events": {"4": 400, "8": 1, "9": 0},
        "accuracy": {
            "blep": {
                "quadratic": {"4": 0.5, "8": 0.0, "9": math.nan},
                "flow": {"4": 0.6, "8": 1.0, "9": math.nan},
            }
        },
        "uncertainty": {
            "blep": {
                "quadratic": {"4": 0.025, "8": 0.25, "9": math.nan},
                "flow": {"4": 0.024, "8": 0.25, "9": math.nan},
            }
        },
        "sigmas": {"flow": {"lnu": 5.0}, "quadratic": {"lnu": 1.0}},
    }
    rows = accuracy_tables(study)["blep"].rows
    # 0 of 1 event: the interval [0, 0.5] is one-sided, not ± 0.25 around 0
    assert rows[0] == ["quadratic", "0.500 ± 0.025", "0.00 +0.50 −0†", "—"]
    ratio, error = flow_over_quadratic(study)
    assert ratio["4"] == pytest.approx(1.2)
    assert error["4"] == pytest.approx(1.2 * math.hypot(0.024 / 0.6, 0.025 / 0.5))
    line = ratio_line(ratio, error, study["n_events"])
    assert "4: 1.20 ± 0.08" in line and "8: — (1 ev.)" in line and "nan" not in line
    intervals = accuracy_intervals(study)["blep"]["quadratic"]
    assert intervals["8"] == [0.0, 0.5] and intervals["9"] is None


def test_provenance_names_shipped_files_and_hashes_models():
    from nuanalysis.flows.model_io import shipped_model_path
    from nuanalysis.io import demo_sample_path
    from nuanalysis.methods.resolution import resolve_methods
    from nuanalysis.provenance import display_path, models_used

    assert display_path(demo_sample_path("dilepton")) == "nuanalysis/data/demo_dilepton.root"
    assert display_path("samples/x.root") == "samples/x.root"
    used = models_used(resolve_methods(["truth", "flow", "flow-sample", "nw"]), "dilepton")
    shipped = shipped_model_path("dilepton", "flow")
    assert set(used) == {"flow", "flow-sample"}
    assert used["flow"]["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert used["flow"]["path"].startswith("nuanalysis/data/")


def test_assign_report_and_json_carry_intervals_and_provenance(synthetic_ntuple, tmp_path):
    """assign --json holds each accuracy's Wilson interval around it and the provenance; its
    report references only files that exist and names the role in every figure's caption."""
    import json

    from click.testing import CliRunner
    from test_compare import referenced_files

    from nuanalysis.cli.assign import command as assign

    path = synthetic_ntuple("semileptonic", 400, seed=4)
    out_json, out_dir = tmp_path / "a.json", tmp_path / "report"
    args = ["--methods", "truth,quadratic", "--input", str(path), "--json", str(out_json)]
    result = CliRunner().invoke(assign, [*args, "--out", str(out_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "nan" not in result.output.lower()
    study = json.loads(out_json.read_text())
    assert study["provenance"]["inputs"] == [str(path)] and study["provenance"]["models"] == {}
    for role, by_method in study["accuracy"].items():
        for method, by_n in by_method.items():
            for n, value in by_n.items():
                interval = study["accuracy_interval"][role][method][n]
                if study["n_events"][n] == 0:
                    assert value is None and interval is None
                else:
                    assert interval[0] <= value <= interval[1] and interval[1] > interval[0]
    page = (out_dir / "index.html").read_text()
    links = referenced_files(page)
    assert "accuracy_blep.png" in links and "accuracy_blep.root" in links
    assert all((out_dir / link).is_file() for link in links)
    assert "Fraction of events with correct b_lep" in page and "Provenance" in page


def test_values_are_rounded_to_their_error():
    """Issue 20 item 10: ``0.00664 ± 1.2`` printed as ``0.0 ± 1.2``; the value keeps the
    error's last decimal (two significant digits of the error)."""
    from nuanalysis.statistics import format_value_error

    assert format_value_error(0.00664, 1.2) == "0.0 ± 1.2"
    assert format_value_error(91.38, 13.2) == "91 ± 13"
    assert format_value_error(-0.137, 1.74) == "-0.1 ± 1.7"
    assert format_value_error(0.0036, 0.074) == "0.004 ± 0.074"
    assert format_value_error(0.0, 0.0) == "0 ± 0"
    assert format_value_error(math.nan, 1.0) == "—" and format_value_error(None, None) == "—"


def test_fractions_at_a_boundary_get_one_sided_intervals():
    """Every event valid is ``1 +0 −x``, never ``1 ± x``: a fraction cannot exceed 1."""
    from nuanalysis.statistics import binomial_fraction, format_interval

    def shown(passed, total):
        f = binomial_fraction(passed, total)
        return format_interval(f["value"], f["low"], f["high"])

    assert shown(3000, 3000) == "1.00000 +0 −0.00033"
    assert shown(0, 1) == "0.00 +0.50 −0"
    assert shown(7, 8) == "0.875 +0.076 −0.160"  # asymmetric away from the boundary too
    assert shown(1980, 3000) == "0.6600 ± 0.0086"  # about symmetric: ± half-width


def test_terminal_tables_align_rows_with_combining_marks():
    """ν̄ is ν + U+0304 (two code points, one column): its rows line up with ν's."""
    table = Table(["quantity", "flow"], [["ν p_z [GeV]", "1 ± 2"], ["ν̄ p_z [GeV]", "3 ± 4"]])
    lines = table.text().splitlines()
    columns = {
        line.replace("\u0304", "").index(value) for line, value in zip(lines[1:], "13", strict=True)
    }
    assert len(columns) == 1


def test_root_histogram_axis_titles_are_tlatex(tmp_path):
    """The ROOT files of a figure carry axis titles ROOT draws (``#nu``, ``#bar{t}``), not
    matplotlib's ``$…$``."""
    import uproot

    h = plotting.histogram(np.array([80.0, 81.0]), "mlnu")
    h2 = plotting.histogram(np.array([400.0]), "mtt")
    fig = plotting.plt.figure()
    plotting._save(fig, tmp_path, "titles", {"mlnu": h, "mtt": h2})
    with uproot.open(tmp_path / "titles.root") as file:
        assert file["mlnu"].axis(0).member("fTitle") == "m(#font[12]{l}#nu) [GeV]"
        assert file["mtt"].axis(0).member("fTitle") == "m_{t#bar{t}} [GeV]"
    assert h.axes[0].label == "$m(\\ell\\nu)$ [GeV]"  # the figure's own labels unchanged


def test_provenance_command_has_its_arguments(monkeypatch):
    """The command as typed, quoted for a shell, when run as the nuanalysis program."""
    from nuanalysis.provenance import command_line

    argv = ["/venv/bin/nuanalysis", "compare", "--methods", "flow", "--input", "my file.root"]
    monkeypatch.setattr("sys.argv", argv)
    assert command_line("compare") == "nuanalysis compare --methods flow --input 'my file.root'"
    monkeypatch.setattr("sys.argv", ["/repo/nuanalysis/__main__.py", "assign", "--max-events", "9"])
    assert command_line("assign") == "nuanalysis assign --max-events 9"
    monkeypatch.setattr("sys.argv", ["pytest", "-q", "tests"])  # not the program: no arguments
    assert command_line("compare") == "nuanalysis compare"


def test_assign_explains_its_marks():
    from nuanalysis.assignment_report import table_notes

    assert table_notes({"n_events": {"4": 400, "5": 300}}) == []
    notes = table_notes({"n_events": {"4": 400, "8": 3, "9": 0}})
    assert notes[0].startswith("† a column of fewer than 30 events") and notes[1].startswith("—")


def test_failure_bars_take_one_sided_intervals(tmp_path):
    """No failure out of 600: the bar's error runs from 0 up, never below 0; its ROOT file
    keeps the interval's half-width as the bin error."""
    import uproot

    intervals = {"flow": (0.0, 0.0017), "ellipse": (0.33, 0.37)}
    plotting.plot_bars(
        {"flow": 0.0, "ellipse": 0.35}, "failure fraction", tmp_path, "failures",
        intervals=intervals,
    )  # fmt: skip
    with uproot.open(tmp_path / "failures.root") as file:
        errors = file["failures"].errors()
    assert errors == pytest.approx([0.00085, 0.02])
