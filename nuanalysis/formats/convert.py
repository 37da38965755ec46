"""Experiment files as schema-v1 ntuples, so every command reads NanoAOD and PHYSLITE.

The command line's ``--format`` (default ``auto``: :func:`~nuanalysis.formats.detect.detect_format`)
hands each NanoAOD or PHYSLITE input to its event builder and writes the channel's
selected events as a schema-v1 ntuple in a scratch folder that lives as long as
the command; the command then reads those as it reads any ntuple. Entry i of its
outputs is the i-th selected event.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nuanalysis.errors import ChannelError, InputError
from nuanalysis.formats.detect import FORMATS, detect_format
from nuanalysis.io import expand_paths, write_ntuple
from nuanalysis.io.padding import columns_of_records

READERS = {
    "nanoaod": ("nuanalysis.formats.nanoaod", "read_nanoaod"),
    "physlite": ("nuanalysis.formats.physlite", "read_physlite"),
}


def read_experiment_file(path: str | Path, fmt: str, channel: str):
    """Event records of ``channel`` from a NanoAOD or PHYSLITE file."""
    import importlib

    module, name = READERS[fmt]
    return getattr(importlib.import_module(module), name)(str(path), channel)


def _format_of(path: Path, requested: str) -> str:
    found = detect_format(path)
    if requested not in ("auto", found):
        raise InputError(f"{path}: --format {requested} given, but the file is {found}")
    return found


def ntuple_inputs(
    paths: Sequence[str], requested: str, channel: str | None, folder: Path
) -> list[str]:
    """``paths`` with every NanoAOD/PHYSLITE file replaced by its ntuple written in ``folder``."""
    if requested not in ("auto", *FORMATS):
        raise InputError(f"unknown format {requested!r}; choose auto or one of {FORMATS}")
    inputs = []
    for index, path in enumerate(expand_paths(paths)):
        fmt = _format_of(path, requested)
        if fmt == "ntuple":
            inputs.append(str(path))
            continue
        if channel is None:
            raise ChannelError(
                f"{path}: {fmt} files hold every channel; give --channel "
                "(semileptonic or dilepton) to select one"
            )
        records = read_experiment_file(path, fmt, channel)
        columns, _ = columns_of_records(records)
        out = folder / f"{index}_{path.stem}_{channel}.root"
        inputs.append(str(write_ntuple(out, columns)))
    return inputs
