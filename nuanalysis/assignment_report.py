"""Tables and report of the χ² assignment study (ν-Flows Tables 2–5) behind ``nuanalysis assign``.

:func:`nuanalysis.assignment.assignment_study` measures the accuracies; here
they become 68 % intervals, tables, the flow/quadratic ratio line, the
posterior-rule summary and the report pages.
"""

from __future__ import annotations

import math
from pathlib import Path

TITLES = {
    "blep": "correct b_lep (Table 2)",
    "bhad": "correct b_had (Table 4)",
    "q": "leading q among the chosen pair (Table 5)",
    "qq": "both q correct",
    "pairing": "correct pairing of b-jets with leptons (dilepton)",
}


def accuracy_intervals(study: dict) -> dict:
    """Per role, method and jet multiplicity: the 68 % Wilson interval [low, high] of the
    accuracy (None without events), from the accuracy and the column's event count."""
    from nuanalysis.statistics import binomial_fraction

    def interval(value, n: int):
        if not n or value is None or not math.isfinite(value):
            return None
        figure = binomial_fraction(round(value * n), n)
        return [figure["low"], figure["high"]]

    counts = study["n_events"]
    return {
        role: {
            m: {c: interval(v, counts[c]) for c, v in by_n.items()} for m, by_n in by_method.items()
        }
        for role, by_method in study["accuracy"].items()
    }


def accuracy_tables(study: dict) -> dict:
    """A :class:`~nuanalysis.report.Table` per role (methods × jet multiplicity, accuracy with
    its 68 % interval — one-sided at 0 and 1 —, † under 30 events, — without any) and of
    the σ."""
    from nuanalysis.report import Table
    from nuanalysis.statistics import SMALL_SAMPLE, format_interval

    columns = list(study["n_events"])
    intervals = study.get("accuracy_interval") or accuracy_intervals(study)

    def cell(role: str, method: str, column: str) -> str:
        value = study["accuracy"][role][method][column]
        interval = intervals[role][method][column]
        if value is None or not math.isfinite(value) or interval is None:
            return "—"
        mark = "†" if study["n_events"][column] < SMALL_SAMPLE else ""
        return f"{format_interval(value, *interval)}{mark}"

    tables = {}
    for role, by_method in study["accuracy"].items():
        rows = [[m] + [cell(role, m, c) for c in columns] for m in by_method]
        rows.append(["events", *(str(study["n_events"][c]) for c in columns)])
        tables[role] = Table(["method / jets", *(c if c != "9" else "≥9" for c in columns)], rows)
    keys = list(next(iter(study["sigmas"].values())))
    tables["sigmas"] = Table(
        ["σ [GeV]", *keys],
        [[m, *(f"{s[k]:.2f}" for k in keys)] for m, s in study["sigmas"].items()],
    )
    return tables


def table_notes(study: dict) -> list[str]:
    """The legend of † and — for the terminal, where the tables show them."""
    from nuanalysis.statistics import SMALL_SAMPLE

    counts = study["n_events"].values()
    notes = []
    if any(0 < n < SMALL_SAMPLE for n in counts):
        notes.append(
            f"† a column of fewer than {SMALL_SAMPLE} events: statistically unreliable; "
            "intervals are 68 % Wilson intervals, one-sided (+x −0) at 0 and 1"
        )
    if any(n == 0 for n in counts):
        notes.append("— no fully matched event at that jet multiplicity")
    return notes


def flow_over_quadratic(study: dict) -> tuple[dict[str, float], dict[str, float]] | None:
    """b_lep accuracy ratio ν-Flows(mode) / m_W constraint per multiplicity (paper: 1.03 → 1.41)
    and its error (relative errors in quadrature: conservative, as both methods see the same
    events); NaN where the quadratic accuracy is 0 or the column is empty."""
    from nuanalysis.methods.defaults import ANALYTIC_BASELINE, FLOW_MODE

    flow_method, analytic_method = FLOW_MODE, ANALYTIC_BASELINE
    blep = study["accuracy"].get("blep", {})
    if flow_method not in blep or analytic_method not in blep:
        return None
    errors = study["uncertainty"]["blep"]
    ratio, ratio_err = {}, {}
    for n, flow in blep[flow_method].items():
        quadratic = blep[analytic_method][n]
        if not (
            quadratic and flow is not None and math.isfinite(flow) and math.isfinite(quadratic)
        ):
            ratio[n] = ratio_err[n] = float("nan")
            continue
        ratio[n] = flow / quadratic
        ratio_err[n] = ratio[n] * math.hypot(
            errors[flow_method][n] / flow if flow else 0.0,
            errors[analytic_method][n] / quadratic,
        )
    return ratio, ratio_err


def ratio_line(ratio: dict[str, float], ratio_err: dict[str, float], counts: dict) -> str:
    """``b_lep flow / quadratic: 4: 1.05 ± 0.04 …``, † under 30 events, — where undefined."""
    from nuanalysis.statistics import SMALL_SAMPLE

    cells = []
    for n, value in ratio.items():
        column = "≥9" if n == "9" else n
        if not math.isfinite(value):
            cells.append(f"{column}: — ({counts[n]} ev.)")
            continue
        mark = "†" if counts[n] < SMALL_SAMPLE else ""
        cells.append(f"{column}: {value:.2f} ± {ratio_err[n]:.2f}{mark}")
    return "b_lep flow / quadratic: " + "  ".join(cells)


def posterior_lines(study: dict) -> list[str]:
    """The posterior rules used (λ, T; :mod:`nuanalysis.posterior`) and, per method, the pooled
    b_lep accuracy and the share of the truth − quadratic gap closed at 4–6 and 7–9 jets."""
    lines = [
        f"\n{name}: posterior rule λ = {rule['log_prob_weight']:g}, T = {rule['temperature']:g}"
        + (" (calibrated)" if rule["calibration_accuracy"] else " (given)")
        for name, rule in study.get("posterior_rule", {}).items()
    ]
    gaps = study.get("blep_gap_closed", {})
    if gaps:
        lines.append(
            "\nb_lep pooled: accuracy ± binomial, share of the truth − quadratic gap closed"
        )
    for name, groups in gaps.items():
        cells = []
        for group, entry in groups.items():
            cell = f"{group} jets {entry['accuracy']:.3f} ± {entry['uncertainty']:.3f}"
            if "gap_closed" in entry:
                cell += f" (gap {entry['gap_closed']:+.2f} ± {entry['gap_closed_uncertainty']:.2f})"
            cells.append(cell)
        lines.append(f"  {name:15s} " + "   ".join(cells))
    return lines


def write_assignment_report(study: dict, tables: dict, out_dir: Path) -> Path:
    """Accuracy figures and tables per role, the σ and the provenance as report pages."""
    from nuanalysis import plotting
    from nuanalysis.provenance import provenance_rows
    from nuanalysis.report import Figure, Section, Table, write_report
    from nuanalysis.statistics import SMALL_SAMPLE

    sample = plotting.sample_label(study["channel"], study["input"])
    sections = []
    for role, by_method in study["accuracy"].items():
        figure = plotting.plot_accuracy(
            by_method,
            list(study["n_events"]),
            "fraction correct",
            out_dir,
            f"accuracy_{role}",
            title=TITLES[role],
            intervals=study["accuracy_interval"][role],
            counts=study["n_events"],
            sample=sample,
        )
        caption = (
            f"Fraction of events with {TITLES[role].split(' (')[0]} per jet multiplicity (the "
            "last column: that many or more), among the evaluation events whose partons are all "
            "matched to jets; error bars: 68 % Wilson intervals (one-sided at 0 and 1); shaded, "
            f"and † in the table: fewer than {SMALL_SAMPLE} events."
        )
        sections.append(
            Section(TITLES[role], tables=[tables[role]], figures=[Figure(figure, caption)])
        )
    sections.append(
        Section(
            "χ² σ (Table 3)",
            "RMS of each mass about m_W / m_t under the true assignment, from the even entries.",
            tables=[tables["sigmas"]],
        )
    )
    sections.append(
        Section(
            "Provenance",
            tables=[
                Table(["item", "value"], numeric=False, rows=provenance_rows(study["provenance"]))
            ],
        )
    )
    _, html_path = write_report(out_dir, f"χ² jet assignment: {study['channel']}", sections)
    return html_path
