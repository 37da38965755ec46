"""``nuanalysis unfold``: unfold m_tt × pT_t (SVD, TUnfold or D'Agostini) with each method's
neutrinos.

See README.md, "Usage", docs/outputs.md, and :mod:`nuanalysis.unfold_study`. Input,
model, chunking, seed and dask options are those shared with ``compare``
(:func:`nuanalysis.cli.options.run_options`).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import click

from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.errors import ChannelError
from nuanalysis.outputs import atomic_folder, check_outputs, write_json

# the study's defaults (nuanalysis.unfold_study, not imported here to keep --help fast;
# tests/test_unfold_binning.py checks they agree)
DEFAULT_MTT_EDGES = "300,450,600,800,1200"
DEFAULT_PTT_EDGES = "0,100,200,400"
DEFAULT_MIN_BIN_EVENTS = 10


def parse_edges(
    _context: click.Context, parameter: click.Parameter, text: str
) -> tuple[float, ...]:
    """click callback: comma-separated increasing bin edges (at least two) in GeV."""
    option = parameter.opts[0]
    try:
        edges = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a comma-separated list of numbers", param_hint=option
        ) from None
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise click.BadParameter(f"{text!r}: give at least two increasing edges", param_hint=option)
    return edges


@click.command(name="unfold")
@run_options(default_channel="dilepton")
@click.option(
    "--algorithm",
    type=click.Choice(["svd", "tunfold", "bayes"]),
    default="svd",
    show_default=True,
    help="SVD (Höcker–Kartvelishvili), TUnfold's Tikhonov least squares in numpy (curvature "
    "along each axis, area constraint) or D'Agostini's iterative Bayesian unfolding",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "roounfold", "root", "numpy"]),
    default="auto",
    show_default=True,
    help="SVD implementation: RooUnfoldSvd, ROOT's TSVDUnfold or numpy (numpy alone "
    "regularises along each axis of the m_tt × pT_t grid)",
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
    help="write the numbers (with provenance) as JSON",
)
@click.option(
    "--k",
    type=click.IntRange(min=1),
    default=None,
    help="SVD regularisation for every method (default: chosen by --k-rule)",
)
@click.option(
    "--k-rule",
    type=click.Choice(["half", "global-correlation", "d"]),
    default="half",
    show_default=True,
    help="k when --k is not given: n/2 (RooUnfoldSvd's default), minimum global correlation "
    "or the |d_i| > 1 count, on the truth-neutrino unfolding",
)
@click.option(
    "--tau",
    type=click.FloatRange(min=0),
    default=None,
    help="TUnfold regularisation strength τ for every method (default: chosen by --tau-rule)",
)
@click.option(
    "--tau-rule",
    type=click.Choice(["l-curve", "global-correlation", "equal-bias"]),
    default="l-curve",
    show_default=True,
    help="τ when --tau is not given: the L-curve's corner, the minimum mean global "
    "correlation, or the smallest √(σ² + bias²) of the closure scan, on the truth-neutrino "
    "unfolding",
)
@click.option(
    "--iterations",
    type=click.IntRange(min=1),
    default=None,
    help="D'Agostini iterations for every method (default: the smallest √(σ² + bias²) of the "
    "truth-neutrino closure scan, the equal-bias rule)",
)
@click.option(
    "--response-input",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="ntuple whose events fill every response and give the prior (as an analysis's MC), "
    "statistically independent of --input and at least 4× larger; --input is then the "
    "pseudo-data, unfolded whole (default: the even entries of --input fill the responses, "
    "the odd entries are unfolded)",
)
@click.option(
    "--variations",
    default=None,
    help="detector variations of the pseudo-data, comma-separated from jes,jer,btag,met: each "
    "varied sample is reconstructed with every method and unfolded with the nominal response; "
    "the shifts enter every total and the equal-bias scan",
)
@click.option(
    "--response-toys",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Poisson bootstrap replicas of the response's events, whose spread (the response's "
    "MC statistical uncertainty) is added to every per-bin uncertainty (0: the pseudo-data's "
    "statistics alone)",
)
@click.option(
    "--mtt-edges",
    callback=parse_edges,
    default=DEFAULT_MTT_EDGES,
    show_default=True,
    help="m_tt bin edges in GeV, comma-separated",
)
@click.option(
    "--ptt-edges",
    callback=parse_edges,
    default=DEFAULT_PTT_EDGES,
    show_default=True,
    help="top pT bin edges in GeV, comma-separated",
)
@click.option(
    "--min-bin-events",
    type=click.FloatRange(min=0),
    default=DEFAULT_MIN_BIN_EVENTS,
    show_default=True,
    help="merge adjacent bins (the same for every method, with a warning) until every bin of "
    "every response holds this many events and every response can be inverted (0: never merge)",
)
@click.option(
    "--stress",
    type=float,
    default=0.0,
    show_default=True,
    help="reweight the unfolded (odd) entries by (true m_tt / mean)^STRESS, so that the "
    "equal-bias comparison sees the regularisation bias (0: plain closure)",
)
def command(
    request: RunRequest,
    algorithm,
    backend,
    out_dir,
    json_path,
    k,
    k_rule,
    tau,
    tau_rule,
    iterations,
    response_input,
    variations,
    response_toys,
    mtt_edges,
    ptt_edges,
    min_bin_events,
    stress,
) -> None:
    """Unfold m_tt × pT_t with each method's neutrinos (dilepton events).

    Each method's response is filled from the even entries of the sample and
    its reco m_tt × pT_t of the odd entries is unfolded (fakes subtracted,
    misses = failures and events outside the binning). Prints the per-bin
    relative statistical uncertainty and its ratio to the truth-neutrino
    result; bins are m_tt-major (index = i_mtt * n_ptt + i_ptt). Bins too
    sparse for a method's response are merged for every method, with a
    warning (--min-bin-events). The truth method is always run as the
    reference.
    """
    from nuanalysis.plotting import plot_study, sample_label
    from nuanalysis.provenance import display_path, provenance
    from nuanalysis.unfold_study import (
        ResponseSample,
        format_table,
        unfold_methods,
        with_reference,
    )
    from unfolding import UnfoldingError

    if request.channel not in (None, "dilepton"):
        raise ChannelError(
            "unfold reconstructs m_tt and pT_t from two leptons, two b-jets and two neutrinos: "
            f"it needs dilepton events, not {request.channel}"
        )
    names = with_reference(request.methods)
    paths = request.paths
    inputs = request.input_files()
    if response_input is not None and any(
        Path(response_input).resolve() == Path(path).resolve() for path in request.paths
    ):
        raise click.BadParameter(
            "the response sample must be independent of the pseudo-data: give another file",
            param_hint="--response-input",
        )
    check_outputs(
        [("--out", out_dir, True), ("--json", json_path, False)],
        [*inputs, *([response_input] if response_input else [])],
    )
    from nuanalysis.variations import parse_groups, vary

    variation_names = () if variations is None else parse_groups(variations)  # before any work
    run = request.run(names)
    response_sample = None
    if response_input is not None:
        response_run = replace(request, paths=[response_input], max_events=None).run(names)
        response_sample = ResponseSample.of(
            response_run.events, dict(response_run.results), display_path(response_input)
        )
    for where, events in (
        (", ".join(paths), run.events),
        (response_input, None if response_sample is None else response_sample.events),
    ):
        if events is not None and events.channel != "dilepton":
            raise ChannelError(
                f"{where} holds {events.channel} events; unfold needs dilepton events"
            )
    varied = {}
    if variation_names:
        from nuanalysis.cli.options import method_options
        from nuanalysis.methods.registry import reconstruct

        options = method_options(names, request.models, request.settings)
        for index, variation in enumerate(variation_names):
            events = vary(run.events, variation, seed=request.seed + index)
            click.echo(f"reconstructing the {variation} variation", err=True)
            varied[variation] = (
                events,
                {name: reconstruct(name, events, **options.get(name, {})) for name in names},
            )
    try:
        study = unfold_methods(
            run.events,
            run.results,
            algorithm=algorithm,
            backend=backend,
            k=k,
            k_rule=k_rule,
            tau=tau,
            tau_rule=tau_rule,
            iterations=iterations,
            response_toys=response_toys,
            seed=request.seed,
            stress=stress,
            mtt_edges=mtt_edges,
            ptt_edges=ptt_edges,
            min_bin_events=min_bin_events,
            response_sample=response_sample,
            variations=varied,
        )
    except UnfoldingError as error:
        raise click.ClickException(f"unfolding failed: {error}") from None
    click.echo(format_table(study))
    if out_dir is not None:
        with atomic_folder(out_dir) as folder:
            figures = plot_study(study, folder, sample=sample_label("dilepton", paths))
        for path in figures:
            click.echo(f"wrote {Path(out_dir) / path.relative_to(folder)}")
    if json_path is not None:
        summary = study.to_json(", ".join(display_path(path) for path in paths))
        summary["provenance"] = provenance(request, "unfold", run.events.channel, names)
        write_json(json_path, summary)
        click.echo(f"wrote {json_path}")
