"""``nuanalysis export``: a trained model as an ONNX graph for C++ frameworks.

Writes ``--out`` (the graph: standardisation, frame, encoder, flow sampling
with its log-density or the ν-FF head; :mod:`nuanalysis.flows.onnx_export`)
and ``<out stem>.json``, the input layout a framework must feed. Both files
appear only when the export succeeded (:mod:`nuanalysis.outputs`); an existing
``<out stem>.json`` is replaced only if it is an earlier export's description.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from nuanalysis.errors import OutputError
from nuanalysis.flows.model_io import MODEL_TYPES, resolve_model
from nuanalysis.outputs import atomic_file, check_outputs
from nuanalysis.padded import CHANNELS

DESCRIPTION_KEYS = {"format_version", "inputs"}
"""Keys every input description written by export carries."""


def check_description(sidecar: Path) -> None:
    """Refuse to replace an existing ``sidecar`` that is not an earlier export's input
    description (a user's ``results.json`` beside ``--out results.onnx``)."""
    if not sidecar.exists():
        return
    try:
        earlier = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and DESCRIPTION_KEYS <= earlier.keys()):
        raise OutputError(
            f"--out (metadata) {sidecar}: exists and is not an earlier export's input "
            "description; replacing it would delete it: choose another --out name"
        )


@click.command(name="export")
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False),
    help="model file (.pt); default: the one shipped for --channel and --model-type",
)
@click.option("--channel", type=click.Choice(CHANNELS), help="channel of the shipped model")
@click.option(
    "--model-type",
    type=click.Choice(list(MODEL_TYPES)),
    default="flow",
    show_default=True,
    help="shipped model to export: the flow or ν-FF",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="output .onnx file")
def command(model, channel, model_type, out) -> None:
    """Export a trained model to ONNX (with a JSON description of its inputs)."""
    from nuanalysis.flows.model_io import read_model_file
    from nuanalysis.flows.onnx_export import export_metadata, export_onnx

    if model is None and channel is None:
        raise click.UsageError("give --model MODEL, or --channel for the shipped model")
    out = Path(out)
    inputs = [model] if model is not None else []
    check_outputs([("--out", out, False)], inputs)  # first: '' or '/' has no stem to name
    sidecar = out.with_suffix(".json")
    check_outputs([("--out", out, False), ("--out (metadata)", sidecar, False)], inputs)
    check_description(sidecar)
    if model is not None:
        config = read_model_file(model)["config"]
        channel, model_type = config["channel"], config["model_type"]
    loaded = resolve_model(model, channel, model_type)
    graph = export_onnx(loaded)
    with atomic_file(out) as graph_path, atomic_file(sidecar) as metadata_path:
        graph_path.write_bytes(graph)
        metadata_path.write_text(json.dumps(export_metadata(loaded), indent=1) + "\n")
    click.echo(f"wrote {out} ({len(graph) / 1e6:.1f} MB) and its input description {sidecar}")
