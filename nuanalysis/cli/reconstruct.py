"""``nuanalysis reconstruct``: every requested method's neutrinos, written to a ROOT file.

One TTree ``events``, entry i ↔ input entry i (docs/outputs.md, "`reconstruct`:
the neutrinos as a TTree"): per method M, ``M_nu_px``, ``M_nu_py``, ``M_nu_pz`` (float32[], ν then
ν̄; counter ``nM_nu`` with ``-`` written ``_``), ``M_valid`` (bool; momenta 0
where False) and ``M_weight`` (float32) when the method gives one. The input
is streamed chunk by chunk (:func:`nuanalysis.runner.iter_chunks`) into a
temporary file renamed to ``--out`` only when every entry is written
(:mod:`nuanalysis.outputs`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
import numpy as np

from nuanalysis.cli.options import RunRequest, run_options
from nuanalysis.methods.registry import NeutrinoResult
from nuanalysis.outputs import atomic_file, check_outputs


def method_branches(name: str, result: NeutrinoResult) -> dict[str, np.ndarray]:
    """The output branches of method ``name`` for one chunk."""
    momenta = np.where(result.valid[:, None, None], result.momenta, 0.0).astype(np.float32)
    branches = {
        f"{name}_nu_{axis}": np.ascontiguousarray(momenta[:, :, i])
        for i, axis in enumerate(("px", "py", "pz"))
    }
    branches[f"{name}_valid"] = result.valid.astype(bool)
    if result.weight is not None:
        branches[f"{name}_weight"] = np.asarray(result.weight, dtype=np.float32)
    return branches


def write_reconstruction(out: str | Path, chunks) -> int:
    """Write the branches of every chunk result to ``out``; returns the number of entries."""
    from nuanalysis.io import NtupleWriter

    with NtupleWriter(out) as writer:
        for chunk in chunks:
            branches = {}
            for name, result in chunk.results.items():
                branches.update(method_branches(name, result))
            writer.extend(branches)
        return writer.num_entries


@click.command(name="reconstruct")
@run_options(default_channel=None)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="output ROOT file (RECO.root)"
)
def command(
    request: RunRequest,
    out,
) -> None:
    """Write every requested method's neutrinos to a ROOT TTree aligned with the input.

    Branches per method M: M_nu_px, M_nu_py, M_nu_pz (float32[], ν then ν̄),
    M_valid (bool; momenta 0 where False), M_weight (float32, when the method
    has one: flow log-probability, NW weight).
    """
    check_outputs([("--out", out, False)], request.input_files())
    # closing: a failed write (a full disk) closes the progress bar before the error is shown
    with atomic_file(out) as partial, contextlib.closing(request.chunks()) as chunks:
        n = write_reconstruction(partial, chunks)
    click.echo(f"wrote {n} entries × {len(request.methods)} method(s) to {out}")
