"""``nuanalysis generate``: Pythia 8 tt̄ events through FastJet and a parametric detector."""

from __future__ import annotations

from pathlib import Path

import click

from baselines.constants import TOP_MASS
from nuanalysis.padded import CHANNELS


@click.command(name="generate")
@click.option("--channel", type=click.Choice(CHANNELS), required=True, help="tt̄ decay channel.")
@click.option(
    "--events",
    "n_events",
    type=click.IntRange(min=1),
    required=True,
    help="Number of SELECTED events to write.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output ROOT file (ntuple schema v1, TTree 'events').",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Master seed; the same seed and --jobs give an identical file.",
)
@click.option(
    "--top-mass",
    type=float,
    default=TOP_MASS,
    show_default=True,
    help="Top-quark mass in GeV (Pythia 6:m0).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parallel generator processes (each with its own seeds).",
)
@click.option(
    "--resmear",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Detector passes per Pythia event: N > 1 re-uses each event N times with fresh "
    "smearing and b-tagging, each copy selected on its own (branches source_event, copy_index).",
)
@click.option(
    "--detector",
    type=click.Choice(["nominal", "degraded"]),
    default="nominal",
    show_default=True,
    help="Detector configuration: nominal (ATLAS-like, the models' training) or degraded "
    "(jet and MET resolutions 20 % worse, 60 % b-tag efficiency).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["ntuple", "nanoaod"]),
    default="ntuple",
    show_default=True,
    help="ntuple schema v1, or CMS NanoAOD branches (tree 'Events', nuanalysis.formats).",
)
@click.pass_context
def command(
    ctx: click.Context,
    channel: str,
    n_events: int,
    out: Path,
    seed: int,
    top_mass: float,
    jobs: int,
    resmear: int,
    detector: str,
    file_format: str,
) -> None:
    """Generate pp → tt̄ events at 13 TeV and write the selected ones.

    Pythia 8 (shower, MPI, hadronisation on; W decays forced to the channel,
    no τ), anti-kt R = 0.4 jets, an ATLAS-like parametric detector (70 % b-tag
    working point), and the channel's selection: semileptonic = 1 lepton,
    ≥ 4 jets, ≥ 2 b-tags; dilepton = 2 opposite-charge leptons, ≥ 2 jets,
    ≥ 1 b-tag. The file records how it was made (nuanalysis.generation.record).
    """
    import nuanalysis
    from nuanalysis.cli.train import command_line
    from nuanalysis.generation.detector import DETECTORS
    from nuanalysis.generation.record import write_generation_record
    from nuanalysis.generation.runner import generate
    from nuanalysis.io import write_ntuple
    from nuanalysis.outputs import atomic_file, check_output

    check_output(out, "--out")
    result = generate(
        channel,
        n_events,
        seed=seed,
        top_mass=top_mass,
        jobs=jobs,
        resmear=resmear,
        params=DETECTORS[detector],
    )
    record = {
        "command": command_line(ctx),
        "version": nuanalysis.__version__,
        "channel": channel,
        "seed": seed,
        "top_mass": top_mass,
        "resmear": resmear,
        "detector": detector,
        "n_selected": result.n_selected,
        "n_generated": result.n_generated,
        "seconds": round(result.seconds, 1),
        "jobs": result.jobs,
    }
    with atomic_file(out) as partial:
        if file_format == "nanoaod":
            from nuanalysis.formats.nanoaod_writer import write_nanoaod

            write_nanoaod(partial, result.columns)
        else:
            write_ntuple(partial, result.columns)
        write_generation_record(partial, record)
    click.echo(
        f"{channel}: generated {result.n_generated}, passing {result.n_passing}, "
        f"written {result.n_selected} "
        f"(efficiency {100 * result.efficiency:.1f} %, {resmear} detector pass(es) per "
        f"event) in {result.seconds:.1f} s with "
        f"{result.jobs} job(s): {result.n_selected / result.seconds:.1f} selected events/s, "
        f"{result.events_per_second_per_core:.1f} per core → {out}"
    )
