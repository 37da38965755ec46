"""Provenance of a study: what produced a ``--json`` file and a report, to reproduce it.

:func:`provenance` records the package version, the command line, the date,
the input files as the user gave them (shipped files as ``nuanalysis/data/…``,
never a site-packages path), the model each learned method read (path and
SHA-256), the method options, seed, chunk size and dask settings, and the
hardware (CPU model, cores) and library versions the numbers (speeds above
all) were measured with.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import shlex
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import nuanalysis

if TYPE_CHECKING:
    from nuanalysis.methods.resolution import ResolvedMethod

PACKAGE_ROOT = Path(nuanalysis.__file__).resolve().parent
LIBRARIES = ("numpy", "numba", "torch", "awkward", "uproot", "hist", "matplotlib")


def display_path(path: str | Path) -> str:
    """``path`` as given, or ``nuanalysis/…`` for a file shipped inside the package."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(PACKAGE_ROOT):
        return (Path("nuanalysis") / resolved.relative_to(PACKAGE_ROOT)).as_posix()
    return str(path)


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware() -> dict[str, object]:
    """CPU model, logical cores of the machine and cores this process may use, platform."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
    }


def library_versions() -> dict[str, str]:
    """Python and the numerical libraries' versions (those installed)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def models_used(resolved: Mapping[str, ResolvedMethod], channel: str) -> dict[str, dict[str, str]]:
    """Per learned method: the model file it read (``--model`` or the shipped one) and its hash."""
    from nuanalysis.flows.model_io import shipped_model_path

    used = {}
    for name, method in resolved.items():
        model_type = method.spec.model_type
        if model_type is None:
            continue
        path = method.options.get("model") or shipped_model_path(channel, model_type)
        used[name] = {"path": display_path(path), "sha256": sha256(path)}
    return used


class RunDescription(Protocol):
    """What provenance reads of a run's request (:class:`nuanalysis.cli.options.RunRequest`)."""

    methods: list[str]
    paths: list[str]
    mapping: str | None
    seed: int
    chunk_size: int
    max_events: int | None
    jobs: int
    scheduler: str | None

    def resolve(self, methods: list[str] | None = None) -> dict[str, ResolvedMethod]: ...


def command_line(command: str) -> str:
    """The command line as typed, arguments quoted for a shell (``nuanalysis compare --methods
    flow --input 'my file.root'``), where this process is the ``nuanalysis`` program running
    ``command``; ``nuanalysis COMMAND`` alone where it is not (the Python API, a test's
    ``CliRunner``: then the arguments are not this process's)."""
    program = Path(sys.argv[0]) if sys.argv else Path()
    is_program = program.name == "nuanalysis" or (
        program.name == "__main__.py" and program.parent.name == "nuanalysis"
    )
    if is_program and sys.argv[1:2] == [command]:
        return shlex.join(["nuanalysis", *sys.argv[1:]])
    return f"nuanalysis {command}"


def provenance(
    request: RunDescription, command: str, channel: str, methods: list[str] | None = None
) -> dict[str, object]:
    """The provenance block of the ``command`` (``compare``, …) run by ``request`` on
    ``channel`` events with ``methods`` (default: the request's), their options as the run
    resolved them."""
    resolved = request.resolve(methods)
    return {
        "package": "nuanalysis",
        "version": nuanalysis.__version__,
        "command": command_line(command),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "inputs": [display_path(path) for path in request.paths],
        "mapping": request.mapping,
        "channel": channel,
        "methods": list(resolved),
        "models": models_used(resolved, channel),
        "method_options": {name: m.settings for name, m in resolved.items() if m.settings},
        "seed": request.seed,
        "chunk_size": request.chunk_size,
        "max_events": request.max_events,
        "jobs": request.jobs,
        "scheduler": request.scheduler,
        "hardware": hardware(),
        "software": library_versions(),
    }


def provenance_rows(block: dict[str, object]) -> list[list[str]]:
    """``block`` as (key, value) rows of text for a report table."""
    rows = []
    for key, value in block.items():
        if key == "models":
            text = "; ".join(
                f"{m}: {v['path']} (sha256 {v['sha256'][:16]}…)" for m, v in value.items()
            )
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = "—" if value is None else str(value)
        rows.append([key, text or "—"])
    return rows
