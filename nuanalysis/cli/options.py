"""Options shared by ``reconstruct``, ``compare``, ``assign`` and ``unfold``.

:func:`run_options` adds ``--methods`` and the input, model, method-option,
chunking, seed and dask options to a command and hands the command one
:class:`RunRequest`, which runs the methods through :mod:`nuanalysis.runner`.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nuanalysis.mapping import shipped_mappings
from nuanalysis.padded import CHANNELS

if TYPE_CHECKING:
    from nuanalysis.methods.resolution import ResolvedMethod

METHOD_HELP = "comma-separated method names, e.g. truth,flow,nw,ellipse"


def parse_methods(text: str) -> list[str]:
    """Method names from ``a,b,c``; unknown names are a usage error listing the known ones."""
    from nuanalysis.methods.registry import available_methods

    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    known = available_methods()
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise click.BadParameter(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"available: {', '.join(known)}",
            param_hint="--methods",
        )
    return names


def resolved_methods(
    methods: list[str], models: tuple[str, ...], settings: tuple[str, ...]
) -> dict[str, ResolvedMethod]:
    """``--methods`` with their ``--model`` and ``--option`` values, resolved once
    (:func:`~nuanalysis.methods.resolution.resolve_methods`); a misplaced option is a usage
    error naming it, every bad value one line of the :class:`~nuanalysis.errors.OptionError`."""
    from nuanalysis.methods.resolution import MisplacedOptionError, resolve_methods

    try:
        return resolve_methods(methods, models, settings)
    except MisplacedOptionError as error:
        raise click.BadParameter(str(error), param_hint=error.option) from None


def method_options(
    methods: list[str], models: tuple[str, ...], settings: tuple[str, ...]
) -> dict[str, dict]:
    """Per-method keyword options from ``--model`` and ``--option`` (methods given none are
    left out): the options of :func:`resolved_methods`."""
    resolved = resolved_methods(methods, models, settings)
    return {name: dict(method.options) for name, method in resolved.items() if method.options}


@dataclass
class RunRequest:
    """What the shared options ask for: the methods, the files and how to run them.

    ``paths`` are the ``--input`` files, or the shipped demo sample of the
    command's default channel; ``channel`` is ``--channel``, that default
    channel for the demo sample, or None (read from the file).
    """

    methods: list[str]
    paths: list[str]
    channel: str | None
    mapping: str | None
    models: tuple[str, ...]
    settings: tuple[str, ...]
    max_events: int | None
    chunk_size: int
    seed: int
    jobs: int
    scheduler: str | None
    _resolved: dict[tuple[str, ...], dict[str, ResolvedMethod]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def resolve(self, methods: list[str] | None = None) -> dict[str, ResolvedMethod]:
        """``methods`` (default: ``--methods``) with their options, resolved once per list
        (:func:`resolved_methods`): the runner and provenance read the same value."""
        names = tuple(self.methods if methods is None else methods)
        if names not in self._resolved:
            self._resolved[names] = resolved_methods(list(names), self.models, self.settings)
        return self._resolved[names]

    def input_files(self) -> list[str]:
        """Every file the run reads: ``--input`` (globs expanded), ``--model`` and ``--mapping``.

        Outputs are checked against them (:func:`nuanalysis.outputs.check_outputs`);
        a missing input is an :class:`~nuanalysis.errors.InputError` here, before any work.
        """
        from nuanalysis.io import expand_paths

        files = [str(path) for path in expand_paths(self.paths)]
        files += [item.partition("=")[2] or item for item in self.models]
        if self.mapping is not None:
            files.append(str(self.mapping))
        return files

    def _runner_arguments(self, methods: list[str] | None) -> dict:
        """Keyword arguments of :func:`nuanalysis.runner.iter_chunks` (and ``run_methods``)."""
        resolved = self.resolve(methods)
        return dict(
            paths=self.paths,
            methods=list(resolved),
            options={name: dict(m.options) for name, m in resolved.items() if m.options},
            channel=self.channel,
            mapping=self.mapping,
            chunk_size=self.chunk_size,
            max_events=self.max_events,
            seed=self.seed,
            threads=1,
            jobs=self.jobs,
            scheduler=self.scheduler,
            progress=True,
        )

    def chunks(self, methods: list[str] | None = None):
        """The chunk results of ``methods`` (default: ``--methods``) in input order."""
        from nuanalysis.runner import iter_chunks

        return iter_chunks(**self._runner_arguments(methods))

    def run(self, methods: list[str] | None = None):
        """All chunks joined (:class:`nuanalysis.runner.RunResult`)."""
        from nuanalysis.runner import run_methods

        return run_methods(**self._runner_arguments(methods))


SHARED_PARAMETERS = (
    "methods",
    "inputs",
    "channel",
    "mapping",
    "models",
    "settings",
    "max_events",
    "chunk_size",
    "seed",
    "jobs",
    "scheduler",
)


def _mapping_file(ctx, param, value: str | None) -> str | None:
    """``--mapping``: a mapping file's path, or a shipped mapping's name, as a file path."""
    if value is None:
        return None
    from nuanalysis.errors import InputError
    from nuanalysis.mapping import mapping_path

    try:
        return str(mapping_path(value))
    except InputError as error:
        raise click.BadParameter(str(error)) from None


def _converted(
    items: list[str], file_format: str, channel: str | None, scratch: Path, labelled: bool
) -> list[str]:
    """``items`` with every NanoAOD/PHYSLITE file replaced by its ntuple in ``scratch``
    (:func:`nuanalysis.formats.convert.ntuple_inputs`); a ``LABEL=`` prefix of a
    ``labelled`` item is kept."""
    from nuanalysis.formats.convert import ntuple_inputs

    if not labelled:
        return ntuple_inputs(items, file_format, channel, scratch)
    converted = []
    for index, item in enumerate(items):
        label, sep, path = item.partition("=")
        if not sep:
            label, path = "", item
        folder = scratch / str(index)
        folder.mkdir()
        paths = ntuple_inputs([path], file_format, channel, folder)
        converted += [f"{label}{sep}{p}" for p in paths]
    return converted


def run_options(
    default_channel: str | None,
    default_methods: str | None = None,
    labelled_inputs: bool = False,
):
    """Decorator adding the shared options; the command receives ``request: RunRequest``.

    ``default_channel``: the channel of the demo sample used without
    ``--input``; None makes ``--input`` required. ``default_methods``: ``--methods``
    without the option; None makes it required. ``labelled_inputs``: an ``--input``
    may be ``LABEL=PATH`` (masscan's ``MASS=PATH``); the label is kept and only the
    path is read (and converted from NanoAOD/PHYSLITE).
    """

    def decorate(function):
        @functools.wraps(function)
        def command(**kwargs):
            shared = {name: kwargs.pop(name) for name in SHARED_PARAMETERS}
            inputs, channel = shared.pop("inputs"), shared.pop("channel")
            if inputs:
                paths = list(inputs)
            elif default_channel is None:
                raise click.UsageError("--input is required")
            else:
                from nuanalysis.io import demo_sample_path

                channel = channel or default_channel
                paths = [str(demo_sample_path(channel))]
            file_format = kwargs.pop("file_format")
            with tempfile.TemporaryDirectory(prefix="nuanalysis-") as scratch:
                if inputs and (shared["mapping"] is None or file_format != "auto"):
                    paths = _converted(paths, file_format, channel, Path(scratch), labelled_inputs)
                request = RunRequest(
                    methods=parse_methods(shared.pop("methods")),
                    paths=paths,
                    channel=channel,
                    **shared,
                )
                return function(request=request, **kwargs)

        options = [
            click.option(
                "--methods",
                required=default_methods is None,
                default=default_methods,
                show_default=default_methods is not None,
                help=METHOD_HELP,
            ),
            click.option(
                "--input",
                "inputs",
                multiple=True,
                help="ntuple file(s) or glob(s), repeatable "
                + (
                    f"(default: the shipped {default_channel} demo sample)"
                    if default_channel
                    else "(required)"
                ),
            ),
            click.option(
                "--channel",
                type=click.Choice(CHANNELS),
                default=None,
                help=(
                    f"channel (default: {default_channel}; with --input read from the file)"
                    if default_channel
                    else "channel (default: read from the file)"
                ),
            ),
            click.option(
                "--format",
                "file_format",
                type=click.Choice(["auto", "ntuple", "nanoaod", "physlite"]),
                default="auto",
                show_default=True,
                help="input format: our ntuple, CMS NanoAOD or ATLAS PHYSLITE (read with the "
                "default object and --channel selection of nuanalysis.formats)",
            ),
            click.option(
                "--mapping",
                default=None,
                metavar="FILE|NAME",
                callback=_mapping_file,
                help="branch mapping for foreign ntuples: a .toml/.yaml file or a shipped "
                f"mapping's name ({', '.join(sorted(shipped_mappings()))})",
            ),
            click.option(
                "--model",
                "models",
                multiple=True,
                help="model for the learned methods: PATH (every method reading that model "
                "type) or METHOD=PATH, repeatable (default: the shipped models)",
            ),
            click.option(
                "--option",
                "settings",
                multiple=True,
                metavar="METHOD.KEY=VALUE",
                help="a method option, repeatable: e.g. nw.preset=grid, nw.n_smearings=10, "
                "flow.n_samples=64, quadratic.solution=larger",
            ),
            click.option(
                "--max-events",
                type=click.IntRange(min=1),
                default=None,
                help="use at most N events",
            ),
            click.option(
                "--chunk-size",
                type=click.IntRange(min=1),
                default=5000,
                show_default=True,
                help="events per work unit (fixes the per-chunk seeds)",
            ),
            click.option(
                "--seed",
                type=int,
                default=0,
                show_default=True,
                help="base seed of the stochastic methods (per chunk: from its first entry)",
            ),
            click.option(
                "--jobs",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                help="worker processes of a local dask cluster (1: run here)",
            ),
            click.option(
                "--scheduler", default=None, help="address of a running dask scheduler to use"
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
