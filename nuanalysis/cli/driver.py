"""The outputs of a study command that writes a report folder and a JSON file.

:func:`report_options` declares ``--out``, ``--no-report`` and ``--json`` once
and hands the command one :class:`ReportOutputs`, which checks the locations
before any work (:func:`nuanalysis.outputs.check_outputs`) and writes the
report (atomically, the folder replaced whole) and the JSON at the end.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from nuanalysis.outputs import atomic_folder, check_outputs, write_json


@dataclass(frozen=True)
class ReportOutputs:
    """``--out`` (None with ``--no-report``) and ``--json`` (None without)."""

    report_dir: str | None
    json_path: str | None

    def check(self, inputs: Sequence[str | Path]) -> None:
        """Refuse unusable locations, or one that is an input, before any work."""
        outputs = [("--out", self.report_dir, True), ("--json", self.json_path, False)]
        check_outputs(outputs, inputs)

    def write(self, summary: dict, draw_report: Callable[[Path], Path]) -> None:
        """The report drawn by ``draw_report(folder) -> page`` into ``--out``, then the
        ``summary`` as ``--json``, each said on the terminal."""
        if self.report_dir is not None:
            with atomic_folder(self.report_dir) as folder:
                page = draw_report(folder)
            click.echo(f"wrote {Path(self.report_dir) / page.name}")
        if self.json_path is not None:
            write_json(self.json_path, summary)
            click.echo(f"wrote {self.json_path}")


def report_options(default_out: str, report_contents: str):
    """Decorator adding ``--out`` (default ``default_out``, a folder of
    ``report_contents``), ``--no-report`` and ``--json``; the command receives
    ``outputs: ReportOutputs``."""

    def decorate(function):
        @functools.wraps(function)
        def command(out_dir: str, no_report: bool, json_path: str | None, **kwargs):
            outputs = ReportOutputs(None if no_report else out_dir, json_path)
            return function(outputs=outputs, **kwargs)

        options = [
            click.option(
                "--out",
                "out_dir",
                type=click.Path(file_okay=False),
                default=default_out,
                show_default=True,
                help=f"report folder ({report_contents}, report.md, index.html)",
            ),
            click.option("--no-report", is_flag=True, help="print and write JSON only, no figures"),
            click.option(
                "--json",
                "json_path",
                type=click.Path(dir_okay=False),
                default=None,
                help="write the numbers (with errors and provenance) as JSON",
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
