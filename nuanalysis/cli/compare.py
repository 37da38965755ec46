"""``nuanalysis compare``: resolutions, failures and speed of neutrino methods, with a report.

Definitions in :mod:`nuanalysis.metrics`; running (chunks, seeds, dask,
timing) in :mod:`nuanalysis.runner`. The options shared with ``reconstruct``,
``assign`` and ``unfold`` are in :mod:`nuanalysis.cli.options`.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.errors import InputError
from nuanalysis.outputs import atomic_folder, check_outputs, write_json

# --------------------------------------------------------------------------- comparison


def comparison(run, inputs: list[str]) -> dict:
    """The ``--json`` content (DESIGN.md, "Outputs other tools read")."""
    from nuanalysis.metrics import method_figures

    return {
        "channel": run.events.channel,
        "n_events": len(run.events),
        "input": inputs[0] if len(inputs) == 1 else inputs,
        "methods": {
            name: method_figures(run.events, result, run.seconds[name])
            for name, result in run.results.items()
        },
    }


def comparison_table(summary: dict):
    """Methods as columns; valid fraction, speed and every resolution (median / width68) as rows."""
    from nuanalysis.report import Table

    methods = summary["methods"]
    names = list(methods)

    def number(value, digits=3):
        return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"

    rows = [
        ["valid fraction"] + [number(methods[m]["valid_fraction"]) for m in names],
        ["ms / event"]
        + [number(1e3 * (methods[m]["seconds_per_event"] or math.nan)) for m in names],
        ["events / s / core"]
        + [f"{methods[m]['events_per_second'] or math.nan:,.0f}" for m in names],
    ]
    for key in methods[names[0]]["resolution"]:
        cells = []
        for m in names:
            r = methods[m]["resolution"][key]
            cells.append(f"{number(r['median'])} / {number(r['width68'])}")
        rows.append([f"{key} (median / width68)", *cells])
    return Table(["figure", *names], rows)


def write_comparison_report(run, summary: dict, out_dir: Path) -> Path:
    """Figures (paper Figs. 6–8, failures, timing) and the Markdown/HTML pages."""
    import numpy as np

    from nuanalysis import plotting
    from nuanalysis.metrics import leptonic_masses, top_observables
    from nuanalysis.observables import truth_observables
    from nuanalysis.report import Section, write_report

    events, results = run.events, run.results
    momenta = {m: r.momenta for m, r in results.items()}
    valid = {m: r.valid for m, r in results.items()}
    truth = events.truth_nu
    figures = plotting.plot_neutrino_components(momenta, valid, truth, out_dir)
    figures.append(plotting.plot_reco_vs_true(momenta, valid, truth, out_dir))
    distributions: dict[str, dict[str, np.ndarray]] = {"mlnu": {}, "mblnu": {}, "mtt": {}}
    true_masses = leptonic_masses(events, truth)
    distributions["mlnu"]["truth"] = true_masses["mlnu"]
    distributions["mblnu"]["truth"] = true_masses["mblnu"]
    if events.truth_top is not None:
        distributions["mtt"]["truth"] = truth_observables(events)[0]
    for m, result in results.items():
        masses = leptonic_masses(events, result.momenta)
        distributions["mlnu"][m] = masses["mlnu"][result.valid]
        distributions["mblnu"][m] = masses["mblnu"][result.valid]
        mtt, _, ok = top_observables(events, result)
        distributions["mtt"][m] = mtt[ok]
    figures.append(plotting.plot_distributions(distributions, out_dir))
    methods = summary["methods"]
    figures.append(
        plotting.plot_bars(
            {m: 1 - methods[m]["valid_fraction"] for m in methods},
            "failure fraction",
            out_dir,
            "failures",
        )
    )
    figures.append(
        plotting.plot_bars(
            {m: methods[m]["events_per_second"] for m in methods},
            "events / s / core",
            out_dir,
            "timing",
            log=True,
        )
    )
    text = (
        f"{summary['n_events']} {summary['channel']} events from {summary['input']}. "
        "Resolution: median and width68 (half the 16–84 % range) of reco − true on valid "
        "events; m(ℓν), m(bℓν) against the same masses with the true neutrino, the b jet "
        "truth-matched; m_tt, pT_t against the generator's tops."
    )
    _, html_path = write_report(
        out_dir,
        f"Neutrino methods: {summary['channel']}",
        [Section("Figures", text, [comparison_table(summary)], figures)],
    )
    return html_path


@click.command(name="compare")
@run_options(default_channel="dilepton")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="nuanalysis-report",
    show_default=True,
    help="report folder (figures, report.md, index.html)",
)
@click.option("--no-report", is_flag=True, help="print and write JSON only, no figures")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), default=None, help="write the figures"
)
def command(request: RunRequest, out_dir, no_report, json_path) -> None:
    """Compare neutrino methods on the same events: valid fraction, speed, resolutions, plots.

    Resolution = median and width68 (half the 16–84 % range) of reco − true on
    valid events, for each neutrino's px, py, pz, η, E and m_tt, pT_t, m(ℓν),
    m(bℓν). Speed = events per second per CPU core (torch and numba on one
    thread, compilation and model loading excluded). With --jobs or
    --scheduler the chunks run on dask, with results identical to one process.
    """
    report = None if no_report else out_dir
    check_outputs([("--out", report, True), ("--json", json_path, False)], request.input_files())
    run = request.run()
    paths = request.paths
    if not run.events.has_truth:
        raise InputError(f"{', '.join(paths)}: no truth_nu_* branches, nothing to compare against")
    summary = comparison(run, paths)
    click.echo(f"{summary['channel']}: {summary['n_events']} events from {summary['input']}")
    click.echo(comparison_table(summary).text())
    if not no_report:
        with atomic_folder(out_dir) as folder:
            html_path = write_comparison_report(run, summary, folder)
        click.echo(f"wrote {Path(out_dir) / html_path.name}")
    if json_path is not None:
        write_json(json_path, summary)
        click.echo(f"wrote {json_path}")
