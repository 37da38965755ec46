"""``nuanalysis compare``: resolutions, failures and speed of neutrino methods, with a report.

The study (numbers, table, report) is :mod:`nuanalysis.comparison`; definitions in
:mod:`nuanalysis.metrics`; running (chunks, seeds, dask,
timing) in :mod:`nuanalysis.runner`. The options shared with ``reconstruct``,
``assign`` and ``unfold`` are in :mod:`nuanalysis.cli.options`.
"""

from __future__ import annotations

from pathlib import Path

import click

from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.comparison import comparison, comparison_table, write_comparison_report
from nuanalysis.errors import InputError
from nuanalysis.outputs import atomic_folder, check_outputs, write_json


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
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the numbers (with errors and provenance) as JSON",
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
    summary = comparison(run, request)
    click.echo(f"{summary['channel']}: {summary['n_events']} events from {summary['input']}")
    click.echo(comparison_table(summary).text())
    from nuanalysis.comparison import table_notes

    for note in table_notes(summary):
        click.echo(note)
    if not no_report:
        with atomic_folder(out_dir) as folder:
            html_path = write_comparison_report(run, summary, folder)
        click.echo(f"wrote {Path(out_dir) / html_path.name}")
    if json_path is not None:
        write_json(json_path, summary)
        click.echo(f"wrote {json_path}")
