"""``nuanalysis masscan``: top-mass templates, calibration slope and template fit per method.

See :mod:`nuanalysis.masscan` for the study. Inputs are dilepton samples at
several true top masses: ``--input PATH`` (the mass from the file's generation
record) or ``--input MASS=PATH``. Model, method-option, chunking, seed and dask
options are those shared with ``compare`` (:func:`nuanalysis.cli.options.run_options`).
"""

from __future__ import annotations

from dataclasses import replace

import click

from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.errors import ChannelError
from nuanalysis.methods.defaults import MASSCAN_METHODS
from nuanalysis.methods.registry import posterior_methods
from nuanalysis.outputs import atomic_folder, check_outputs, write_json

# the study's defaults (nuanalysis.masscan, not imported here to keep --help fast;
# tests/test_masscan.py checks they agree)
DEFAULT_METHODS = ",".join(MASSCAN_METHODS)
DEFAULT_MBLNU_WINDOW = "120,230"
DEFAULT_MBL_WINDOW = "30,170"
DEFAULT_BIN_WIDTH = 10.0
DEFAULT_DRAWS = 32
DEFAULT_LUMI_EVENTS = 10_000
DEFAULT_REPLICAS = 200


def parse_window(
    _context: click.Context, parameter: click.Parameter, text: str
) -> tuple[float, float]:
    """click callback: ``LOW,HIGH`` in GeV with LOW < HIGH."""
    option = parameter.opts[0]
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not LOW,HIGH in GeV", param_hint=option) from None
    if not high > low:
        raise click.BadParameter(f"{text!r}: LOW must be below HIGH", param_hint=option)
    return low, high


def with_draws(request: RunRequest, draws: int) -> RunRequest:
    """``request`` with ``n_samples=draws`` for each method keeping posterior draws
    (``flow-posterior``) unless ``--option`` set it."""
    keys = [f"{name}.n_samples=" for name in posterior_methods() if name in request.methods]
    added = [
        f"{key}{draws}" for key in keys if not any(s.startswith(key) for s in request.settings)
    ]
    return replace(request, settings=(*request.settings, *added)) if added else request


@click.command(name="masscan")
@run_options(default_channel=None, default_methods=DEFAULT_METHODS, labelled_inputs=True)
@click.option(
    "--draws",
    type=click.IntRange(min=1),
    default=DEFAULT_DRAWS,
    show_default=True,
    help="posterior draws per event of the oversampled flow templates (flow-posterior), each "
    "at weight 1/S",
)
@click.option(
    "--mblnu-window",
    callback=parse_window,
    default=DEFAULT_MBLNU_WINDOW,
    show_default=True,
    help="m(bℓν) window in GeV: LOW,HIGH",
)
@click.option(
    "--mbl-window",
    callback=parse_window,
    default=DEFAULT_MBL_WINDOW,
    show_default=True,
    help="m_bℓ window in GeV: LOW,HIGH",
)
@click.option(
    "--bin-width",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_BIN_WIDTH,
    show_default=True,
    help="template bin width in GeV",
)
@click.option(
    "--interpolation",
    type=click.Choice(["linear", "quadratic"]),
    default="linear",
    show_default=True,
    help="per-bin template interpolation in m_t (least squares over all masses)",
)
@click.option(
    "--lumi-events",
    type=click.IntRange(min=1),
    default=DEFAULT_LUMI_EVENTS,
    show_default=True,
    help="selected events the statistical precision is scaled to",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=2),
    default=DEFAULT_REPLICAS,
    show_default=True,
    help="bootstrap replicas of the pseudo-data (and templates) for the fit's σ",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="nuanalysis-masscan",
    show_default=True,
    help="folder for masscan.json and the figures (replaced whole)",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="also write the numbers (with provenance) to this JSON file",
)
def command(
    request: RunRequest,
    draws,
    mblnu_window,
    mbl_window,
    bin_width,
    interpolation,
    lumi_events,
    replicas,
    out_dir,
    json_path,
) -> None:
    """Top-mass study on dilepton samples at several true m_t.

    Per method, m(bℓν) (the mean of both tops, with the method's neutrinos) and
    the neutrino-free m_bℓ: templates at each mass (flow-posterior: S draws per
    event at weight 1/S), the slope of the window mean against the true m_t
    and its ratio to truth-ν's, and the template fit of m_t on the other half of
    each sample, with its statistical uncertainty (bootstrap) and that
    uncertainty scaled to --lumi-events selected events. Inputs: --input PATH
    (mass from the file's generation record) or --input MASS=PATH, repeatable.
    """
    from nuanalysis.masscan import (
        MBL,
        Binning,
        format_table,
        mass_sample,
        resolve_inputs,
        run_masscan,
    )
    from nuanalysis.plotting import (
        plot_mass_calibration,
        plot_mass_likelihood,
        plot_mass_templates,
    )
    from nuanalysis.provenance import display_path, provenance
    from nuanalysis.unfold_study import with_reference

    if request.channel not in (None, "dilepton"):
        raise ChannelError(f"masscan needs dilepton events, not {request.channel}")
    inputs = resolve_inputs(request.paths)
    names = with_reference(request.methods)
    request = with_draws(replace(request, paths=[path for _, path in inputs]), draws)
    check_outputs([("--out", out_dir, True), ("--json", json_path, False)], request.input_files())
    samples = []
    for true_mass, path in inputs:
        click.echo(f"m_t = {true_mass:g} GeV: {display_path(path)}")
        run = replace(request, paths=[path], channel="dilepton").run(names)
        samples.append(mass_sample(true_mass, path, run))
    study = run_masscan(
        samples,
        mblnu_binning=Binning("mblnu", mblnu_window, bin_width),
        mbl_binning=Binning(MBL, mbl_window, bin_width),
        interpolation=interpolation,
        lumi_events=lumi_events,
        replicas=replicas,
        seed=request.seed,
    )
    click.echo(format_table(study))
    summary = study.to_json()
    summary["provenance"] = provenance(request, "masscan", "dilepton", names)
    shown = f"{len(inputs)} samples"
    with atomic_folder(out_dir) as folder:
        write_json(folder / "masscan.json", summary)
        for plot in (plot_mass_templates, plot_mass_calibration, plot_mass_likelihood):
            plot(study, folder, sample=rf"dilepton $t\bar{{t}}$, {shown}")
    click.echo(f"wrote {out_dir}/masscan.json and figures")
    if json_path is not None:
        write_json(json_path, summary)
        click.echo(f"wrote {json_path}")
