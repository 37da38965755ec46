"""``nuanalysis train``: fit ν-Flows / ν²-Flows or the ν-FF regression on generated events."""

from __future__ import annotations

import platform
import shlex
import time
from pathlib import Path

import click

from nuanalysis.flows.presets import PRESETS
from nuanalysis.padded import CHANNELS


def checkpoint_path(out: Path) -> Path:
    """The resumable training state kept next to the model file."""
    return out.with_name(out.name + ".ckpt")


def command_line(ctx: click.Context) -> str:
    """The equivalent ``nuanalysis <command> ...`` call, every option spelled out (provenance)."""
    words = ["nuanalysis", ctx.command.name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or value == ():
            continue
        option = param.opts[0]
        if value is True:
            words.append(option)
        else:
            for item in value if isinstance(value, tuple) else (value,):
                words += [option, str(item)]
    return shlex.join(words)


@click.command(name="train")
@click.option("--channel", type=click.Choice(CHANNELS), help="Default: read from the input.")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False),
    help="Training ntuple(s) with truth neutrinos; repeat for several files.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Model file (.pt).")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="default", show_default=True)
@click.option("--epochs", type=int, help="Maximum epochs (default: the preset's).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--model-type",
    type=click.Choice(["flow", "ff"]),
    default="flow",
    show_default=True,
    help="flow = ν-Flows / ν²-Flows; ff = ν-FF regression.",
)
@click.option(
    "--encoder",
    type=click.Choice(["deepset", "transformer"]),
    help="Default: deepset (semileptonic, ν-Flows), transformer (dilepton, ν²-Flows).",
)
@click.option(
    "--frame",
    type=click.Choice(["canonical", "lab"]),
    help="What the network sees: canonical = every event rotated so that the leading lepton "
    "is at φ = 0 with η ≥ 0 (exactly rotation and z-reflection equivariant); lab = as "
    "measured. Default: --init's frame, else canonical.",
)
@click.option(
    "--charge-conjugation",
    is_flag=True,
    help="Dilepton: charge-conjugate a random half of every batch (ℓ⁺ ↔ ℓ⁻ with ν ↔ ν̄).",
)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint next to --out.")
@click.option(
    "--init",
    "init_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Start from this model's weights and scalers (same channel, type and preset), "
    "e.g. to train a shipped model longer or fine-tune it on your sample.",
)
@click.option("--max-events", type=int, help="Use only the first N events.")
@click.option("--max-minutes", type=float, help="Stop after the epoch exceeding this time.")
@click.option("--seed", type=int, default=0, show_default=True, help="Initialisation and split.")
@click.option("--threads", type=int, help="torch CPU threads (default: torch's choice).")
@click.pass_context
def command(
    ctx,
    channel,
    inputs,
    out,
    preset,
    epochs,
    device,
    model_type,
    encoder,
    frame,
    charge_conjugation,
    resume,
    init_path,
    max_events,
    max_minutes,
    seed,
    threads,
) -> None:
    """Train a model on simulated events and save it, with its scalers, to --out.

    The best hold-out epoch is kept; a checkpoint (--out + '.ckpt') is written
    after every epoch so that an interrupted run continues with --resume. The
    model file keeps the history of every training call that shaped it (with
    --init, the initial model's history too): commands, input files and how
    they were generated, seeds, epochs and losses.
    """
    import torch

    from nuanalysis.errors import ModelError
    from nuanalysis.flows.history import extend_history, sample_records
    from nuanalysis.flows.model_io import build_model, load_model, save_model
    from nuanalysis.flows.presets import preset as preset_values
    from nuanalysis.flows.training import train, training_arrays
    from nuanalysis.generation.record import source_groups
    from nuanalysis.io import load_padded
    from nuanalysis.outputs import check_outputs

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was requested but torch sees no CUDA device")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out = Path(out)
    check_outputs([("--out", out, False)], inputs)  # first: '' or '/' names no checkpoint
    written = [("--out", out, False), ("--out (its checkpoint)", checkpoint_path(out), False)]
    check_outputs(written, inputs)  # --init may be --out: it is read before
    events = load_padded(list(inputs), channel=channel, max_events=max_events)
    features, targets = training_arrays(events)
    hp = preset_values(preset)
    initial = None if init_path is None else load_model(init_path, events.channel, model_type)
    if frame is None:
        frame = "canonical" if initial is None else initial.frame
    model = build_model(model_type, events.channel, hp.architecture, encoder, frame)
    if initial is not None:
        if initial.config() != model.config():
            raise ModelError(
                f"--init {init_path} is a differently configured model (preset, encoder, frame "
                f"or features) than --preset {preset} --frame {frame} builds"
            )
        model = initial
    click.echo(
        f"training {model_type} ({model.encoder_kind}) on {len(events)} {events.channel} events, "
        f"preset {preset}, {sum(p.numel() for p in model.parameters())} parameters",
        err=True,
    )
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = train(
        model,
        features,
        targets,
        hp.training,
        checkpoint_path(out),
        resume=resume,
        epochs=epochs,
        max_seconds=None if max_minutes is None else 60.0 * max_minutes,
        seed=seed,
        device=device,
        fit_scalers=init_path is None,
        charge_conjugation=charge_conjugation,
        groups=source_groups(list(inputs), len(events)),
        sources=[str(Path(p).resolve()) for p in inputs],
    )
    record = {
        "command": command_line(ctx),
        "inputs": sample_records(list(inputs)),
        "n_events": len(events),
        "preset": preset,
        "frame": frame,
        "charge_conjugation": charge_conjugation,
        "seed": seed,
        "init": None if init_path is None else str(Path(init_path).resolve()),
        "resumed": resume,
        "started": started,
        "training": result.summary(),
        "epochs": result.history,
    }
    save_model(
        model.cpu(),
        out,
        metadata={
            "preset": preset,
            "command": command_line(ctx),
            "inputs": [str(Path(p).resolve()) for p in inputs],
            "n_events": len(events),
            "seed": seed,
            "started": started,
            "torch_version": str(torch.__version__),
            "python": platform.python_version(),
            "training": result.summary(),
            "history": extend_history(None if initial is None else initial.metadata, record),
        },
    )
    click.echo(
        f"saved {out}: best hold-out loss {result.best_valid_loss:.4f} at epoch "
        f"{result.best_epoch + 1} of {result.epochs}, {result.seconds / 60:.1f} min "
        f"({result.n_train} train / {result.n_valid} hold-out events)",
        err=True,
    )
