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
inputs. An existing folder is replaced only if it carries :data:`MARKER`, the
mark of a folder nuanalysis wrote. An output path that is a symbolic link is
written through: the file or folder it points to is replaced, the link stays.
A write that fails for want of space (or quota, or on a read-only device) is a
one-line :class:`~nuanalysis.errors.WriteError`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from nuanalysis.errors import OutputError, WriteError

MARKER = ".nuanalysis-output"
"""File written into every output folder: a later run may replace such a folder whole
(and no other non-empty folder)."""

DEVICE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
"""``errno`` values of a write that failed for the device, not for the program."""


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


def _unmarked_entries(folder: Path) -> list[str]:
    """The entries of an existing folder that replacing it would delete, unless the folder
    carries :data:`MARKER` (a regular file): then it is an earlier output, replaced whole."""
    marker = folder / MARKER
    if marker.is_file() and not marker.is_symlink():
        return []
    return sorted(entry.name for entry in folder.iterdir())


def _refuse_unnamed(path: str | Path, option: str, target: Path, folder: bool) -> None:
    """Refuse an empty path, ``.``/``..``/``/`` and, for a folder, the current folder or one
    holding it: these have no name to write a temporary beside, or would move the shell's
    working folder away."""
    if not str(path).strip():
        raise OutputError(f"{option}: empty path; give a {'folder' if folder else 'file'} name")
    here = Path.cwd()
    if folder and (Path(path).name in ("", ".", "..") or target == here or target in here.parents):
        raise OutputError(
            f"{option} {path}: is the current folder or holds it, which a report cannot "
            "replace; give a new folder name, e.g. --out report"
        )


def _probe_writable(existing: Path, option: str, path: str | Path) -> None:
    """Create and delete a file in ``existing``: the one test that a write will work there
    (permission bits do not tell for root, read-only mounts or /proc)."""
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".nuanalysis-probe-", dir=existing)
    except OSError as error:
        reason = (error.strerror or type(error).__name__).lower()
        raise OutputError(f"{option} {path}: cannot write into {existing} ({reason})") from None
    os.close(descriptor)
    os.unlink(probe)


def check_output(
    path: str | Path, option: str, inputs: Sequence[str | Path] = (), folder: bool = False
) -> Path:
    """Refuse, before any work, an output ``path`` (given as ``option``) that cannot be written.

    Refused: an empty path, or for a folder ``.`` and the folders holding the
    current one; a folder where a file is wanted and the reverse; a location
    whose nearest existing folder cannot be written into (a file is created
    there and deleted); the path of one of ``inputs`` (for ``folder=True``, a
    folder containing one); an existing, non-empty folder without
    :data:`MARKER`, whose files replacing it would delete. Missing folders on
    the way are created when the output is written. Returns the resolved path
    (through symbolic links: what will be written).
    """
    target = _resolved(path)
    _refuse_unnamed(path, option, target, folder)
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
        unmarked = _unmarked_entries(target)
        if unmarked:
            shown = ", ".join(unmarked[:5]) + (", …" if len(unmarked) > 5 else "")
            raise OutputError(
                f"{option} {path}: the folder exists and holds {shown}, but not the {MARKER} "
                "file of a folder nuanalysis wrote; the report would replace the whole "
                "folder: choose a new one"
            )
    existing = target.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is a file, not a folder")
    _probe_writable(existing, option, path)
    return target


def check_outputs(
    outputs: Sequence[tuple[str, str | Path | None, bool]], inputs: Sequence[str | Path] = ()
) -> None:
    """:func:`check_output` for each ``(option, path, folder)`` given (path not None);
    refused too: two outputs at one path, and an output inside an output folder (replacing
    the folder would delete it, or it would overwrite a file of the report)."""
    seen: dict[Path, str] = {}
    folders: dict[Path, str] = {}
    for option, path, folder in outputs:
        if path is None:
            continue
        target = check_output(path, option, inputs, folder)
        if target in seen:
            raise OutputError(f"{option} {path}: is also {seen[target]}; give two different paths")
        seen[target] = f"{option} {path}"
        if folder:
            folders[target] = f"{option} {path}"
    for target, given in seen.items():
        holder = next((folders[parent] for parent in target.parents if parent in folders), None)
        if holder is not None:
            raise OutputError(
                f"{given}: is inside {holder}, which is replaced whole; write it elsewhere"
            )


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


def _device_failure(error: BaseException, target: Path) -> WriteError | None:
    """A one-line :class:`WriteError` for a write that failed for the device (full disk,
    quota, file size limit, read-only), else None. torch's zip writer reports a full disk
    only as a failed internal check (``inline_container.cc``); the free space tells."""
    if isinstance(error, OSError) and error.errno in DEVICE_ERRORS:
        reason = os.strerror(error.errno).lower()
    elif isinstance(error, RuntimeError) and "inline_container" in str(error):
        folder = next(parent for parent in target.parents if parent.exists())
        full = shutil.disk_usage(folder).free < 1 << 20
        reason = "no space left on device" if full else "torch's file writer failed"
    else:
        return None
    return WriteError(f"{target}: writing failed ({reason}); the output was not written")


@contextlib.contextmanager
def _device_failures_as_errors(target: Path) -> Iterator[None]:
    """Within the block, a write failing for the device is a one-line :class:`WriteError`."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        failure = _device_failure(error, target)
        if failure is None:
            raise
        raise failure from None


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield the temporary path to write; it replaces ``path`` only if the block succeeds.

    On any exception (including KeyboardInterrupt and :class:`Terminated`) the
    temporary is deleted, folders created for it are removed, and ``path``
    keeps its earlier content. A ``path`` that is a symbolic link is written
    through (the file it points to is replaced).
    """
    target = _resolved(path)
    with _device_failures_as_errors(target):
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
    the old one deleted; if the rename fails the old folder is put back. A
    ``path`` that is a symbolic link is written through (the folder it points to
    is replaced, the link stays).
    """
    target = _resolved(path)
    with _device_failures_as_errors(target):
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
