"""The method comparison study behind ``nuanalysis compare``: figures (numbers) → report.

:func:`comparison` turns a run (every method on the same events,
:mod:`nuanalysis.runner`) into the numbers other tools read (docs/outputs.md,
"`compare --json`"), with the statistical error of each;
:func:`comparison_table` prints them and :func:`write_comparison_report` draws
the paper's Figs. 6–8, failures and timing into report pages. Definitions of
every figure: :mod:`nuanalysis.metrics`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nuanalysis.provenance import RunDescription


def comparison(run, request: RunDescription) -> dict:
    """The ``--json`` content (docs/outputs.md, "`compare --json`"), with the statistical
    errors of every number and a ``provenance`` block."""
    from nuanalysis.metrics import method_figures
    from nuanalysis.provenance import display_path, provenance

    inputs = [display_path(path) for path in request.paths]
    return {
        "channel": run.events.channel,
        "n_events": len(run.events),
        "input": inputs[0] if len(inputs) == 1 else inputs,
        "methods": {
            name: method_figures(run.events, result, run.seconds[name])
            for name, result in run.results.items()
        },
        "provenance": provenance(request, "compare", run.events.channel, list(run.results)),
    }


QUANTITY_TITLES = {
    "px": ("p_x", "GeV"),
    "py": ("p_y", "GeV"),
    "pz": ("p_z", "GeV"),
    "eta": ("η", ""),
    "e": ("E", "GeV"),
    "mtt": ("m_tt", "GeV"),
    "ptt": ("pT_t", "GeV"),
    "mlnu": ("m(ℓν)", "GeV"),
    "mblnu": ("m(bℓν)", "GeV"),
}
NEUTRINO_PREFIXES = {"nu": "ν", "nubar": "ν̄"}


def quantity_title(key: str) -> str:
    """A resolution key as a table row label with its unit: ``nubar_pz`` → ``ν̄ p_z [GeV]``."""
    prefix, _, component = key.rpartition("_")
    symbol, unit = QUANTITY_TITLES.get(component, (component, ""))
    if prefix in NEUTRINO_PREFIXES:
        symbol = f"{NEUTRINO_PREFIXES[prefix]} {symbol}"
    return f"{symbol} [{unit}]" if unit else symbol


def _number(value, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def valid_interval(figures: dict) -> tuple[float, float]:
    """The 68 % Wilson interval of a method's valid fraction (NaN without events)."""
    from nuanalysis.statistics import binomial_fraction

    n, value = figures["n_events"], figures["valid_fraction"]
    if not n or value is None or not math.isfinite(value):
        return math.nan, math.nan
    interval = binomial_fraction(round(value * n), n)
    return interval["low"], interval["high"]


def comparison_table(summary: dict):
    """Methods as columns; valid fraction, speed and every resolution (median / width68) as
    rows, each with its statistical error and rounded to it (valid fraction: its interval,
    one-sided at 0 and 1); † marks figures from fewer than 30 events."""
    from nuanalysis.report import Table
    from nuanalysis.statistics import SMALL_SAMPLE, format_interval, format_value_error

    methods = summary["methods"]
    names = list(methods)
    rows = [
        ["valid fraction"]
        + [
            format_interval(methods[m]["valid_fraction"], *valid_interval(methods[m]))
            for m in names
        ],
        ["time [ms / event]"]
        + [_number(1e3 * (methods[m]["seconds_per_event"] or math.nan)) for m in names],
        ["speed [events / s / core]"]
        + [f"{methods[m]['events_per_second'] or math.nan:,.0f}" for m in names],
    ]
    for key in methods[names[0]]["resolution"]:
        cells = []
        for m in names:
            r = methods[m]["resolution"][key]
            mark = "†" if 0 < r["n"] < SMALL_SAMPLE else ""
            cells.append(
                f"{format_value_error(r['median'], r['median_err'])} / "
                f"{format_value_error(r['width68'], r['width68_err'])}{mark}"
            )
        rows.append([f"{quantity_title(key)}: median / width68", *cells])
    return Table(["quantity (reco − true)", *names], rows)


def truth_offset_note(summary: dict) -> str:
    """Why the truth-ν m_tt and pT_t resolutions are not zero (empty without a truth column)."""
    from nuanalysis.methods.registry import reference_method

    truth = summary["methods"].get(reference_method(), {}).get("resolution", {})
    if "mtt" not in truth or truth["mtt"]["n"] == 0:
        return ""
    mtt, ptt = truth["mtt"], truth["ptt"]
    return (
        f"The truth-ν column is not zero for m_tt (median {mtt['median']:+.1f} ± "
        f"{mtt['median_err']:.1f} GeV, width68 {mtt['width68']:.1f} GeV) and pT_t (median "
        f"{ptt['median']:+.1f} GeV): its neutrinos are the generator's, but the b jets and "
        "leptons are the reconstructed ones — jets lose energy out of the cone and to "
        "neutrinos in b decays, and the b ↔ lepton pairing can be wrong — so m_tt is "
        "reconstructed low even with perfect neutrinos. Judge a method against the truth-ν "
        "column, not against zero."
    )


MTT_MEDIAN_GAP = 20.0
"""GeV: a method's m_tt median this far (and 3σ) from the truth-ν column's — from zero without
a truth column — gets a note (:func:`mtt_median_note`)."""


def mtt_median_note(summary: dict) -> str:
    """Which methods' m_tt median is far from the truth-ν column's, and why that happens to
    the flow's mode (empty when none is)."""
    from nuanalysis.methods.registry import get_method, reference_method

    methods = summary["methods"]
    reference = methods.get(reference_method(), {}).get("resolution", {}).get("mtt")
    has_reference = bool(reference and reference["n"])
    centre, centre_err = (reference["median"], reference["median_err"]) if has_reference else (0, 0)
    far = []
    for name, figures in methods.items():
        r = figures["resolution"].get("mtt")
        if name == reference_method() or not r or not r["n"]:
            continue
        gap = r["median"] - centre
        if abs(gap) > MTT_MEDIAN_GAP and abs(gap) > 3 * math.hypot(r["median_err"], centre_err):
            far.append((name, gap))
    if not far:
        return ""
    listed = ", ".join(f"{name} {gap:+.0f} GeV" for name, gap in far)
    text = (
        f"m_tt median far from {'the truth-ν column' if has_reference else 'zero'}'s: {listed}. "
        "The neutrino components can look unbiased while m_tt is not: m_tt weighs them "
        "through the tops' kinematics and the b ↔ lepton pairing."
    )
    if any(get_method(name).model_type == "flow" for name, _ in far):
        text += (
            " For the flow's mode: the most probable point of the whole neutrino solution (6-D "
            "for two neutrinos) is not the most probable m_tt — where the posterior is broad or "
            "has several solutions the mode sits at low m_tt. unfold and masscan take "
            "flow-posterior with every posterior draw (oversampled), not the mode."
        )
    return text


def table_notes(summary: dict) -> list[str]:
    """Lines printed under the terminal table: the † and — legend where they occur, and
    :func:`mtt_median_note`."""
    from nuanalysis.statistics import SMALL_SAMPLE

    counts = [r["n"] for m in summary["methods"].values() for r in m["resolution"].values()]
    notes = []
    if any(0 < n < SMALL_SAMPLE for n in counts):
        notes.append(f"† from fewer than {SMALL_SAMPLE} events: statistically unreliable")
    if any(n == 0 for n in counts):
        notes.append("— no event to measure it on")
    return [*notes, *filter(None, [mtt_median_note(summary)])]


def write_comparison_report(run, summary: dict, out_dir: Path) -> Path:
    """Figures (paper Figs. 6–8, failures, timing) and the Markdown/HTML pages.

    Methods without a valid event are reported (0 % valid) and left out of the
    distributions, each figure saying so."""
    import numpy as np

    from nuanalysis import plotting
    from nuanalysis.methods.registry import reference_method
    from nuanalysis.metrics import leptonic_masses, top_observables
    from nuanalysis.observables import truth_observables
    from nuanalysis.provenance import provenance_rows
    from nuanalysis.report import Figure, Section, Table, write_report

    events, results = run.events, run.results
    sample = plotting.sample_label(summary["channel"], summary["input"])
    momenta = {m: r.momenta for m, r in results.items()}
    valid = {m: r.valid for m, r in results.items()}
    truth = events.truth_nu
    titles = ["ν (from W⁺)", "ν̄ (from W⁻)"] if truth.shape[1] == 2 else ["the neutrino"]
    figures = [
        Figure(
            path,
            f"{title}: p_x, p_y, p_z, η and E of each method (events where it found a solution) "
            "and of the generator's neutrino (all events), normalised to unit area, per GeV "
            "(per unit η); error bars √N; grey bands: underflow and overflow.",
        )
        for path, title in zip(
            plotting.plot_neutrino_components(momenta, valid, truth, out_dir, sample=sample),
            titles,
            strict=True,
        )
    ]
    figures.append(
        Figure(
            plotting.plot_reco_vs_true(momenta, valid, truth, out_dir, sample=sample),
            f"Reconstructed vs true p_z of {titles[0]}, events with a solution, logarithmic "
            "colour scale; the grey line is reco = true.",
        )
    )
    distributions: dict[str, dict[str, np.ndarray]] = {"mlnu": {}, "mblnu": {}, "mtt": {}}
    true_masses = leptonic_masses(events, truth)
    truth_method = reference_method()
    distributions["mlnu"][truth_method] = true_masses["mlnu"]
    distributions["mblnu"][truth_method] = true_masses["mblnu"]
    if events.truth_top is not None:
        distributions["mtt"][truth_method] = truth_observables(events)[0]
    for m, result in results.items():
        masses = leptonic_masses(events, result.momenta)
        distributions["mlnu"][m] = masses["mlnu"][result.valid]
        distributions["mblnu"][m] = masses["mblnu"][result.valid]
        mtt, _, ok = top_observables(events, result)
        distributions["mtt"][m] = mtt[ok]
    figures.append(
        Figure(
            plotting.plot_distributions(distributions, out_dir, sample=sample),
            "m(ℓν) and m(bℓν) of the t → ℓ⁺νb side (semileptonic: the lepton's side), the b "
            "jet truth-matched; black: the same with the generator's neutrino. m_tt with each "
            "method's neutrinos and b ↔ lepton pairing; black: the generator's tops. "
            "Reconstructed m_tt falls below 2 m_t = 345 GeV, where the generator's hardly "
            "does: a reconstructed top (b jet + lepton + neutrino) is off its mass shell — jet "
            "resolution, a wrong pairing, an approximate neutrino — while the generator's tops "
            "are within their width (1.4 GeV) of it.",
        )
    )
    methods = summary["methods"]
    valid_intervals = {m: valid_interval(methods[m]) for m in methods}
    figures.append(
        Figure(
            plotting.plot_bars(
                {m: 1 - methods[m]["valid_fraction"] for m in methods},
                "failure fraction",
                out_dir,
                "failures",
                sample=sample,
                intervals={m: (1 - high, 1 - low) for m, (low, high) in valid_intervals.items()},
            ),
            "Fraction of events without a solution, with the 68 % Wilson interval (one-sided "
            "at 0).",
        )
    )
    figures.append(
        Figure(
            plotting.plot_bars(
                {m: methods[m]["events_per_second"] for m in methods},
                "events / s / core",
                out_dir,
                "timing",
                log=True,
                sample=sample,
            ),
            "Speed per CPU core (torch and numba on one thread, compilation and model loading "
            "excluded), measured on the same events for every method in this run.",
        )
    )
    text = (
        f"{summary['n_events']} {summary['channel']} events from {summary['input']}. "
        "Resolution: median and width68 (half the 16–84 % range) of reco − true on valid "
        "events, ± their statistical errors (asymptotic errors of sample quantiles); m(ℓν), "
        "m(bℓν) against the same masses with the true neutrino, the b jet truth-matched; "
        "m_tt, pT_t against the generator's tops. Valid fraction ± the 68 % Wilson interval's "
        "half-width. † marks a figure from fewer than 30 events; — a method without any."
    )
    note = "\n\n".join(filter(None, [truth_offset_note(summary), mtt_median_note(summary)]))
    _, html_path = write_report(
        out_dir,
        f"Neutrino methods: {summary['channel']}",
        [
            Section(
                "Figures",
                "\n\n".join(filter(None, [text, note])),
                [comparison_table(summary)],
                figures,
            ),
            Section(
                "Provenance",
                tables=[
                    Table(
                        ["item", "value"],
                        numeric=False,
                        rows=provenance_rows(summary["provenance"]),
                    )
                ],
            ),
        ],
    )
    return html_path
