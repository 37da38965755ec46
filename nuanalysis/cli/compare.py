"""``nuanalysis compare``: resolutions, failures and speed of neutrino methods, with a report.

Definitions in :mod:`nuanalysis.metrics`; running (chunks, seeds, dask,
timing) in :mod:`nuanalysis.runner`. The options shared with ``reconstruct``
and ``assign`` are defined here.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import click
import yaml

from nuanalysis.errors import InputError

METHOD_HELP = "comma-separated method names, e.g. truth,flow,nw,ellipse"
CHANNELS = ["semileptonic", "dilepton"]


def parse_methods(text: str) -> list[str]:
    """Method names from ``a,b,c``; unknown names are a usage error listing the known ones."""
    from nuanalysis.methods.registry import available_methods

    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    known = available_methods()
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise click.BadParameter(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"available: {', '.join(known)}",
            param_hint="--methods",
        )
    return names


def method_options(
    methods: list[str], models: tuple[str, ...], settings: tuple[str, ...]
) -> dict[str, dict]:
    """Per-method keyword options from ``--model`` and ``--option``.

    ``--model PATH`` goes to every learned method reading that file's model
    type (a ``flow`` file to ``flow`` and ``flow-sample``, an ``ff`` file to
    ``ff``); ``--model METHOD=PATH`` to one method. ``--option METHOD.KEY=VALUE``
    sets any keyword of the method (``nw.preset=grid``, ``flow.n_samples=64``);
    VALUE is read as YAML (numbers, booleans, strings, lists).
    """
    from nuanalysis.flows.model_io import read_model_file
    from nuanalysis.methods.registry import get_method

    options: dict[str, dict] = {}
    for item in models:
        name, sep, path = item.partition("=")
        path = path if sep else item
        if sep and name not in methods:
            raise click.BadParameter(f"{name!r} is not among --methods", param_hint="--model")
        if not Path(path).is_file():
            raise click.BadParameter(f"model file {path} does not exist", param_hint="--model")
        if sep:
            targets = [name]
        else:
            model_type = read_model_file(path)["config"]["model_type"]
            targets = [m for m in methods if get_method(m).model_type == model_type]
            if not targets:
                raise click.BadParameter(
                    f"{path} is a {model_type!r} model, but none of --methods reads one",
                    param_hint="--model",
                )
        for target in targets:
            options.setdefault(target, {})["model"] = path
    for item in settings:
        target, dot, assignment = item.partition(".")
        key, equals, text = assignment.partition("=")
        if not (dot and equals and key):
            raise click.BadParameter(
                f"{item!r} is not METHOD.KEY=VALUE (e.g. nw.preset=grid)", param_hint="--option"
            )
        if target not in methods:
            raise click.BadParameter(f"{target!r} is not among --methods", param_hint="--option")
        parameters = inspect.signature(get_method(target).function).parameters.values()
        named = [p.name for p in parameters if p.kind != p.VAR_KEYWORD][1:]  # after events
        open_ended = any(p.kind == p.VAR_KEYWORD for p in parameters)
        if key not in named and not open_ended:
            known = ", ".join(named)
            raise click.BadParameter(
                f"method {target!r} has no option {key!r}; its options: {known}",
                param_hint="--option",
            )
        options.setdefault(target, {})[key] = yaml.safe_load(text)
    return options


def resolve_inputs(inputs: tuple[str, ...], channel: str | None, default_channel: str):
    """The files to read (default: the demo sample of ``channel`` or ``default_channel``)."""
    from nuanalysis.io import demo_sample_path

    if inputs:
        return list(inputs)
    return [str(demo_sample_path(channel or default_channel))]


def input_options(default_channel: str | None):
    """Decorator adding --input/--channel/--mapping/--model/--max-events/chunking/dask/seed;
    ``default_channel`` None: --input is required."""

    def decorate(function):
        options = [
            click.option(
                "--input",
                "inputs",
                multiple=True,
                help="ntuple file(s) or glob(s), repeatable "
                + (
                    f"(default: the shipped {default_channel} demo sample)"
                    if default_channel
                    else "(required)"
                ),
            ),
            click.option(
                "--channel",
                type=click.Choice(CHANNELS),
                default=None,
                help=(
                    f"channel (default: {default_channel}; with --input read from the file)"
                    if default_channel
                    else "channel (default: read from the file)"
                ),
            ),
            click.option(
                "--mapping",
                type=click.Path(exists=True, dir_okay=False),
                default=None,
                help="branch mapping file for foreign ntuples",
            ),
            click.option(
                "--model",
                "models",
                multiple=True,
                help="model for the learned methods: PATH (every method reading that model "
                "type) or METHOD=PATH, repeatable (default: the shipped models)",
            ),
            click.option(
                "--option",
                "settings",
                multiple=True,
                metavar="METHOD.KEY=VALUE",
                help="a method option, repeatable: e.g. nw.preset=grid, nw.n_smearings=10, "
                "flow.n_samples=64, quadratic.solution=larger",
            ),
            click.option(
                "--max-events",
                type=click.IntRange(min=1),
                default=None,
                help="use at most N events",
            ),
            click.option(
                "--chunk-size",
                type=click.IntRange(min=1),
                default=5000,
                show_default=True,
                help="events per work unit (fixes the per-chunk seeds)",
            ),
            click.option(
                "--seed",
                type=int,
                default=0,
                show_default=True,
                help="base seed of the stochastic methods (per chunk: from its first entry)",
            ),
            click.option(
                "--jobs",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                help="worker processes of a local dask cluster (1: run here)",
            ),
            click.option(
                "--scheduler", default=None, help="address of a running dask scheduler to use"
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def json_safe(value):
    """``value`` with NaN/inf floats replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
@click.option("--methods", required=True, help=METHOD_HELP)
@input_options(default_channel="dilepton")
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
def command(
    methods,
    inputs,
    channel,
    mapping,
    models,
    settings,
    max_events,
    chunk_size,
    seed,
    jobs,
    scheduler,
    out_dir,
    no_report,
    json_path,
) -> None:
    """Compare neutrino methods on the same events: valid fraction, speed, resolutions, plots.

    Resolution = median and width68 (half the 16–84 % range) of reco − true on
    valid events, for each neutrino's px, py, pz, η, E and m_tt, pT_t, m(ℓν),
    m(bℓν). Speed = events per second per CPU core (torch and numba on one
    thread, compilation and model loading excluded). With --jobs or
    --scheduler the chunks run on dask, with results identical to one process.
    """
    from nuanalysis.runner import run_methods

    names = parse_methods(methods)
    paths = resolve_inputs(inputs, channel, "dilepton")
    if channel is None and not inputs:
        channel = "dilepton"
    run = run_methods(
        paths,
        names,
        options=method_options(names, models, settings),
        channel=channel,
        mapping=mapping,
        chunk_size=chunk_size,
        max_events=max_events,
        seed=seed,
        threads=1,
        jobs=jobs,
        scheduler=scheduler,
        progress=True,
    )
    if not run.events.has_truth:
        raise InputError(f"{', '.join(paths)}: no truth_nu_* branches, nothing to compare against")
    summary = comparison(run, paths)
    click.echo(f"{summary['channel']}: {summary['n_events']} events from {summary['input']}")
    click.echo(comparison_table(summary).text())
    if not no_report:
        html_path = write_comparison_report(run, summary, Path(out_dir))
        click.echo(f"wrote {html_path}")
    if json_path is not None:
        Path(json_path).write_text(json.dumps(json_safe(summary), indent=1))
        click.echo(f"wrote {json_path}")
