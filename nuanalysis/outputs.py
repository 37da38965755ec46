"""Outputs that never destroy an input and never look complete when they are not.

Every file or folder a command writes (ROOT ntuple, ``--json``, report or plot
folder, model) is written under a temporary name beside its target,
``.NAME.partial-PID``, and renamed into place only when it is complete. On an
error, Ctrl-C or SIGTERM (:func:`termination_as_exception`) the temporary is
removed and whatever the target held before is kept; after a SIGKILL, which
no process can catch, the temporary is what is left and the target is
untouched. A rename within one folder is atomic (POSIX ``rename(2)``), so a
reader sees the old output or the new one, never half of one.

:func:`check_output` runs before any work starts: the location must be
writable, and it must not be (or, for a folder, contain) one of the command's
inputs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from nuanalysis.errors import OutputError

MARKER = ".nuanalysis-output"
"""File written into every output folder: a later run may replace such a folder whole."""

REPORT_SUFFIXES = {".png", ".pdf", ".svg", ".md", ".html", ".json"}
"""Files a folder may hold, besides :data:`MARKER`, to be replaced whole by a new report."""


class Terminated(SystemExit):
    """Raised in the main thread when the process receives SIGTERM (exit status 128 + 15)."""


def partial_path(target: str | Path) -> Path:
    """The temporary name beside ``target`` that the output is written under."""
    target = Path(target)
    return target.with_name(f".{target.name}.partial-{os.getpid()}")


def _resolved(path: str | Path) -> Path:
    return Path(path).expanduser().resolve()


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _foreign_entries(folder: Path) -> list[str]:
    """Entries of an existing folder that a new report must not delete: anything but
    figures and pages, and a ROOT file only as the histograms of a PNG figure beside it."""
    entries = list(folder.iterdir())
    if any(entry.name == MARKER for entry in entries):
        return []
    figures = {entry.stem for entry in entries if entry.suffix.lower() == ".png"}

    def part_of_report(entry: Path) -> bool:
        suffix = entry.suffix.lower()
        return entry.is_file() and (
            suffix in REPORT_SUFFIXES or (suffix == ".root" and entry.stem in figures)
        )

    return sorted(entry.name for entry in entries if not part_of_report(entry))


def check_output(
    path: str | Path, option: str, inputs: Sequence[str | Path] = (), folder: bool = False
) -> Path:
    """Refuse, before any work, an output ``path`` (given as ``option``) that cannot be written.

    Refused: a folder where a file is wanted and the reverse; a location whose
    nearest existing folder is not writable; the path of one of ``inputs``
    (for ``folder=True``, a folder containing one); an existing folder holding
    anything but an earlier report (figures and pages), which replacing it
    would delete. Missing folders on the way are created when the output is
    written. Returns the resolved path.
    """
    target = _resolved(path)
    if target.exists():
        if folder and not target.is_dir():
            raise OutputError(f"{option} {path}: is a file; give a folder for the report")
        if not folder and target.is_dir():
            raise OutputError(f"{option} {path}: is a folder; give a file name")
    for item in inputs:
        source = _resolved(item)
        if _same_file(target, source):
            raise OutputError(
                f"{option} {path}: is also an input ({item}); writing it would destroy the "
                "input: choose another output path"
            )
        if folder and target in source.parents:
            raise OutputError(
                f"{option} {path}: contains the input {item}, which replacing the folder would "
                "delete: choose another folder"
            )
    if folder and target.is_dir():
        foreign = _foreign_entries(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", …" if len(foreign) > 5 else "")
            raise OutputError(
                f"{option} {path}: the folder exists and holds {shown}, which are not part of "
                "a nuanalysis report; the report replaces the whole folder: choose a new one"
            )
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write into {existing} (permission denied)")
    return target


def check_outputs(
    outputs: Sequence[tuple[str, str | Path | None, bool]], inputs: Sequence[str | Path] = ()
) -> None:
    """:func:`check_output` for each ``(option, path, folder)`` given (path not None);
    two outputs at one path are refused too."""
    seen: dict[Path, str] = {}
    for option, path, folder in outputs:
        if path is None:
            continue
        target = check_output(path, option, inputs, folder)
        if target in seen:
            raise OutputError(f"{option} {path}: is also {seen[target]}; give two different paths")
        seen[target] = option


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, deepest first."""
    created = []
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    for path in reversed(created):
        path.mkdir()
    return created


def _remove_folders(created: list[Path]) -> None:
    for path in created:
        with contextlib.suppress(OSError):
            path.rmdir()


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield the temporary path to write; it replaces ``path`` only if the block succeeds.

    On any exception (including KeyboardInterrupt and :class:`Terminated`) the
    temporary is deleted, folders created for it are removed, and ``path``
    keeps its earlier content.
    """
    target = Path(path)
    created = _make_folders(target.parent)
    partial = partial_path(target)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        _remove_folders(created)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder to fill; it replaces the folder ``path`` only on success.

    The folder gets a :data:`MARKER` file so that the next run may replace it
    whole. An earlier folder is moved aside, the new one renamed into place and
    the old one deleted; if the rename fails the old folder is put back.
    """
    target = Path(path)
    created = _make_folders(target.parent)
    partial = partial_path(target)
    try:
        partial.mkdir()
        (partial / MARKER).write_text(
            "Written by nuanalysis: the next run writing here replaces this whole folder.\n"
        )
        yield partial
        _swap_in(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        _remove_folders(created)
        raise


def _swap_in(partial: Path, target: Path) -> None:
    if not target.exists():
        os.replace(partial, target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    try:
        os.replace(partial, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def json_safe(value):
    """``value`` with NaN/inf floats replaced by None (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data) -> Path:
    """Write ``data`` as strict JSON (NaN/inf as null) to ``path``, atomically."""
    with atomic_file(path) as partial:
        partial.write_text(json.dumps(json_safe(data), indent=1))
    return Path(path)


@contextlib.contextmanager
def termination_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` so that cleanups run.

    Only the main thread can install a handler; in another thread the block changes nothing.
    """

    def terminate(signum, frame):
        raise Terminated(128 + signum)

    installed = threading.current_thread() is threading.main_thread()
    if installed:
        previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous)
