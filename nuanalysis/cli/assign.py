"""``nuanalysis assign``: χ² jet–parton assignment accuracy per method (ν-Flows Tables 2–5).

The σ of eq. 4 are calibrated per method on the even entries of the input
(Table 3) and the accuracies measured on the odd entries, so no event is used
for both. See :mod:`nuanalysis.assignment` (the study) and
:mod:`nuanalysis.assignment_report` (tables, report).
"""

from __future__ import annotations

import click

from nuanalysis.assignment_report import (
    TITLES,
    accuracy_intervals,
    accuracy_tables,
    flow_over_quadratic,
    posterior_lines,
    ratio_line,
    write_assignment_report,
)
from nuanalysis.cli.driver import ReportOutputs, report_options
from nuanalysis.cli.options import RunRequest, run_options


@click.command(name="assign")
@run_options(default_channel="semileptonic")
@report_options(default_out="nuanalysis-assign", report_contents="accuracy plots")
@click.option(
    "--sigmas",
    "sigmas_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="use these σ (JSON {method: {lnu, blnu, qq, bqq}}, or an earlier --json) instead "
    "of calibrating; then every entry is evaluated",
)
def command(request: RunRequest, outputs: ReportOutputs, sigmas_path) -> None:
    """χ² jet assignment accuracy per neutrino method (ν-Flows eq. 4, Tables 2–5).

    Semileptonic: every assignment of the 9 leading jets to (b_lep, b_had, q1,
    q2) is tried and the lowest χ² kept; printed are the fractions of correct
    b_lep, b_had and q per jet multiplicity, among events whose four partons
    are matched to jets. Dilepton: the b ↔ lepton pairing. σ are calibrated on
    the even entries (RMS of the masses under the true assignment), accuracies
    measured on the odd ones.
    """
    import numpy as np

    from nuanalysis.assignment import assignment_study, load_posterior_rules, load_sigmas
    from nuanalysis.provenance import display_path, provenance

    names, paths = request.methods, request.paths
    inputs = request.input_files() + ([] if sigmas_path is None else [sigmas_path])
    outputs.check(inputs)
    given = None if sigmas_path is None else load_sigmas(sigmas_path)
    rules = None if sigmas_path is None else load_posterior_rules(sigmas_path)
    missing = [name for name in names if given is not None and name not in given]
    if missing:
        raise click.BadParameter(
            f"{sigmas_path} has no σ for {', '.join(missing)}", param_hint="--sigmas"
        )
    run = request.run()
    entries = np.arange(len(run.events))
    calibration = entries % 2 == 0 if given is None else np.zeros(len(entries), dtype=bool)
    study = assignment_study(run.events, run.results, calibration, given, rules)
    inputs = [display_path(path) for path in paths]
    study["input"] = inputs[0] if len(inputs) == 1 else inputs
    study["accuracy_interval"] = accuracy_intervals(study)
    ratio = flow_over_quadratic(study)
    if ratio is not None:
        study["flow_over_quadratic_blep"], study["flow_over_quadratic_blep_err"] = ratio
    study["provenance"] = provenance(request, "assign", run.events.channel)
    source = f"{sigmas_path}" if sigmas_path else f"{study['n_calibration']} even entries"
    click.echo(
        f"{study['channel']}: σ from {source}, accuracy on {study['n_evaluation']} "
        f"{'odd ' if sigmas_path is None else ''}entries of {study['input']}"
    )
    tables = accuracy_tables(study)
    for key, table in tables.items():
        click.echo(f"\n{TITLES.get(key, 'χ² σ (Table 3)')}\n{table.text()}")
    from nuanalysis.assignment_report import table_notes

    for note in table_notes(study):
        click.echo(note)
    if ratio is not None:
        click.echo("\n" + ratio_line(*ratio, study["n_events"]))
    for line in posterior_lines(study):
        click.echo(line)
    outputs.write(study, lambda folder: write_assignment_report(study, tables, folder))
