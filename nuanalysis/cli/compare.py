"""``nuanalysis compare``: resolutions, failures and speed of neutrino methods, with a report.

The study (numbers, table, report) is :mod:`nuanalysis.comparison`; definitions in
:mod:`nuanalysis.metrics`; running (chunks, seeds, dask,
timing) in :mod:`nuanalysis.runner`. The options shared with ``reconstruct``,
``assign`` and ``unfold`` are in :mod:`nuanalysis.cli.options`.
"""

from __future__ import annotations

import click

from nuanalysis.cli.driver import ReportOutputs, report_options
from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.comparison import comparison, comparison_table, write_comparison_report
from nuanalysis.errors import InputError


@click.command(name="compare")
@run_options(default_channel="dilepton")
@report_options(default_out="nuanalysis-report", report_contents="figures")
def command(request: RunRequest, outputs: ReportOutputs) -> None:
    """Compare neutrino methods on the same events: valid fraction, speed, resolutions, plots.

    Resolution = median and width68 (half the 16–84 % range) of reco − true on
    valid events, for each neutrino's px, py, pz, η, E and m_tt, pT_t, m(ℓν),
    m(bℓν). Speed = events per second per CPU core (torch and numba on one
    thread, compilation and model loading excluded). With --jobs or
    --scheduler the chunks run on dask, with results identical to one process.
    """
    outputs.check(request.input_files())
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
    outputs.write(summary, lambda folder: write_comparison_report(run, summary, folder))
