"""``nuanalysis unfold``: SVD-unfold m_tt × pT_t with each method's neutrinos.

See DESIGN.md, "Command line", and :mod:`nuanalysis.unfold_study`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nuanalysis.errors import ChannelError

METHOD_HELP = "comma-separated method names, e.g. truth,flow,nw,ellipse"


@click.command(name="unfold")
@click.option("--methods", required=True, help=METHOD_HELP)
@click.option(
    "--channel",
    type=click.Choice(["semileptonic", "dilepton"]),
    default=None,
    help="channel (default: dilepton demo sample; with --input read from the file)",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="ntuple to use (default: the shipped demo sample)",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "roounfold", "root", "numpy"]),
    default="auto",
    show_default=True,
    help="SVD implementation: RooUnfoldSvd, ROOT TSVDUnfold or numpy",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="directory for the figures (none written without it)",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the printed figures as JSON",
)
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=None,
    help="SVD regularisation for every method (default: chosen by --k-rule)",
)
@click.option(
    "--k-rule",
    type=click.Choice(["global-correlation", "d"]),
    default="global-correlation",
    show_default=True,
    help="how k is chosen on the truth-neutrino unfolding when --k is not given",
)
@click.option(
    "--response-toys",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="toys of the response to add its statistical uncertainty (0: off)",
)
@click.option(
    "--model",
    type=click.Path(exists=True),
    default=None,
    help="model file for the learned methods (default: the shipped one)",
)
@click.option(
    "--max-events", type=click.IntRange(min=2), default=None, help="read at most this many events"
)
def command(
    methods,
    channel,
    input_path,
    backend,
    out_dir,
    json_path,
    k,
    k_rule,
    response_toys,
    model,
    max_events,
) -> None:
    """SVD-unfold m_tt × pT_t with each method's neutrinos.

    Each method's response is filled from the even entries of the dilepton
    sample; its reco m_tt × pT_t of the odd entries is unfolded. Prints the
    per-bin relative statistical uncertainty and its ratio to the
    truth-neutrino result (bins m_tt-major).
    """
    from nuanalysis.io import demo_sample_path, load_padded
    from nuanalysis.methods.registry import available_methods, get_method
    from nuanalysis.unfold_study import format_table, plot_study, run_study
    from unfolding import UnfoldingError

    names = [name.strip() for name in methods.split(",") if name.strip()]
    known = available_methods()
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise click.BadParameter(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"available: {', '.join(known)}",
            param_hint="--methods",
        )
    if input_path is None:
        input_path = demo_sample_path(channel or "dilepton")
    if channel not in (None, "dilepton"):
        raise ChannelError(
            "unfold reconstructs m_tt and pT_t from two leptons, two b-jets and two neutrinos: "
            f"it needs dilepton events, not {channel}"
        )
    events = load_padded(input_path, channel=channel, max_events=max_events)
    if events.channel != "dilepton":
        raise ChannelError(
            f"{input_path} holds {events.channel} events; unfold needs dilepton events"
        )
    options = {
        name: {"model": model}
        for name in names
        if model is not None and get_method(name).needs_model
    }
    try:
        study = run_study(
            events,
            names,
            backend=backend,
            k=k,
            k_rule=k_rule,
            response_toys=response_toys,
            method_options=options,
        )
    except UnfoldingError as error:
        raise click.ClickException(f"unfolding failed: {error}") from None
    click.echo(format_table(study))
    if out_dir is not None:
        for path in plot_study(study, out_dir):
            click.echo(f"wrote {path}")
    if json_path is not None:
        Path(json_path).write_text(json.dumps(study.to_json(str(input_path)), indent=1))
        click.echo(f"wrote {json_path}")
