"""``nuanalysis calibrate``: is a flow's posterior calibrated on a sample with truth, and a fix.

Prints, and writes to ``--out`` (``calibrate.json`` and ``calibration.png``), the
coverage of the 68 % and 95 % central intervals of ``--draws`` posterior draws
and the PIT histogram of every neutrino component and of m_tt, pT_t and m(bℓν)
(:mod:`nuanalysis.calibration`). With ``--save-model OUT.pt`` it fits the
latent temperature that makes the neutrino components' PITs uniform on this
sample, stores it in a copy of the model (used by ``flow-sample`` and
``flow-posterior``) and reports the coverage with it; measure that model on
another sample with truth to see what the recalibration does for it.
"""

from __future__ import annotations

from pathlib import Path

import click

from nuanalysis.padded import CHANNELS

DEFAULT_EVENTS = 2000
DEFAULT_DRAWS = 256


@click.command(name="calibrate")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ntuple with truth (truth_nu_*), e.g. from `nuanalysis generate`",
)
@click.option("--model", type=click.Path(exists=True, dir_okay=False), help="flow model (.pt)")
@click.option("--channel", type=click.Choice(CHANNELS), help="default: detected from the input")
@click.option(
    "--events",
    type=click.IntRange(min=10),
    default=DEFAULT_EVENTS,
    show_default=True,
    help="events read from the input",
)
@click.option(
    "--draws",
    type=click.IntRange(min=10),
    default=DEFAULT_DRAWS,
    show_default=True,
    help="posterior draws per event",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--save-model",
    "save_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="fit the latent temperature on this sample and write the recalibrated model here",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="nuanalysis-calibrate",
    show_default=True,
    help="folder for calibrate.json and calibration.png (replaced whole)",
)
def command(input_path, model, channel, events, draws, seed, save_path, out_dir) -> None:
    """Coverage and PIT of a flow's posterior on a sample with truth; --save-model recalibrates."""
    from nuanalysis.calibration import (
        calibration_report,
        fit_temperature,
        format_report,
        plot_report,
    )
    from nuanalysis.errors import InputError
    from nuanalysis.flows.inference import sample_posterior
    from nuanalysis.flows.model_io import (
        CALIBRATION_KEY,
        latent_temperature,
        resolve_model,
        save_model,
    )
    from nuanalysis.io import load_padded
    from nuanalysis.outputs import atomic_folder, check_outputs, write_json
    from nuanalysis.provenance import display_path, sha256

    inputs = [input_path] + ([model] if model else [])
    check_outputs([("--out", out_dir, True), ("--save-model", save_path, False)], inputs)
    sample = load_padded(input_path, channel=channel, max_events=events)
    if not sample.has_truth:
        raise InputError(f"{input_path}: calibration needs the truth_nu_* branches")
    flow = resolve_model(model, sample.channel, "flow")

    def draw(temperature: float | None):
        return sample_posterior(sample, draws, flow, seed, temperature=temperature)[0]

    def measure(label: str, temperature: float | None) -> dict:
        report = calibration_report(sample, draw(temperature))
        click.echo(f"\n{label}\n{format_report(report)}")
        return report

    summary = {
        "input": display_path(input_path),
        "input_sha256": sha256(input_path),
        "model": display_path(flow.source),
        "channel": sample.channel,
        "n_events": len(sample),
        "draws": draws,
        "seed": seed,
    }
    click.echo(f"{sample.channel}: {len(sample)} events of {input_path}, {draws} draws, "
               f"model {summary['model']}")  # fmt: skip
    current = latent_temperature(flow.metadata)
    reports = {"model": measure(f"as the model draws (T = {current:.3f})", None)}
    if save_path is not None:
        temperature = fit_temperature(sample, draw)
        record = {"temperature": temperature} | {
            k: summary[k] for k in ("input", "input_sha256", "n_events", "draws", "seed")
        }
        reports["recalibrated"] = measure(f"recalibrated (T = {temperature:.3f})", temperature)
        save_model(flow, save_path, metadata=flow.metadata | {CALIBRATION_KEY: record})
        summary["recalibration"] = record | {"saved": display_path(save_path)}
        click.echo(f"\nwrote {save_path} (latent temperature {temperature:.3f})")
    summary["reports"] = reports
    with atomic_folder(out_dir) as folder:
        write_json(folder / "calibrate.json", summary)
        for label, report in reports.items():
            name = "calibration.png" if label == "model" else f"calibration_{label}.png"
            plot_report(report, folder / name, f"{sample.channel}: {display_path(input_path)}")
    click.echo(f"wrote {out_dir}/calibrate.json and figures")
