"""Options shared by ``reconstruct``, ``compare``, ``assign`` and ``unfold``.

:func:`run_options` adds ``--methods`` and the input, model, method-option,
chunking, seed and dask options to a command and hands the command one
:class:`RunRequest`, which runs the methods through :mod:`nuanalysis.runner`.
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from nuanalysis.errors import OptionError
from nuanalysis.mapping import shipped_mappings
from nuanalysis.methods.option_types import alternatives, base_type
from nuanalysis.padded import CHANNELS

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


RUNNER_KEYS = {
    "seed": "use --seed (each event's random numbers derive from it and the event's entry)",
    "first_event_index": "each chunk passes its first global entry",
    "model": "use --model",
}


def method_options(
    methods: list[str], models: tuple[str, ...], settings: tuple[str, ...]
) -> dict[str, dict]:
    """Per-method keyword options from ``--model`` and ``--option``.

    ``--model PATH`` goes to every learned method reading that file's model
    type (a ``flow`` file to ``flow`` and ``flow-sample``, an ``ff`` file to
    ``ff``); ``--model METHOD=PATH`` to one method. ``--option METHOD.KEY=VALUE``
    sets any keyword of the method (``nw.preset=grid``, ``flow.n_samples=64``),
    VALUE read as the option's type (:func:`parse_option_value`) and checked
    like the Python API checks it (:func:`~nuanalysis.methods.option_types.check_options`);
    every bad value is one line of the :class:`~nuanalysis.errors.OptionError`.
    """
    from nuanalysis.flows.runtime import model_file_config
    from nuanalysis.methods.option_types import (
        check_options,
        describe,
        option_hints,
        unknown_option,
    )
    from nuanalysis.methods.registry import get_method

    options: dict[str, dict] = {}
    problems: list[str] = []
    for item in models:
        name, sep, path = item.partition("=")
        path = path if sep else item
        if sep and name not in methods:
            raise click.BadParameter(f"{name!r} is not among --methods", param_hint="--model")
        if not Path(path).is_file():
            raise click.BadParameter(f"model file {path} does not exist", param_hint="--model")
        if sep:
            targets = [name]
        else:
            model_type = model_file_config(path)["model_type"]
            targets = [m for m in methods if get_method(m).model_type == model_type]
            if not targets:
                raise click.BadParameter(
                    f"{path} is a {model_type!r} model, but none of --methods reads one",
                    param_hint="--model",
                )
        for target in targets:
            options.setdefault(target, {})["model"] = path
    for item in settings:
        target, dot, assignment = item.partition(".")
        key, equals, text = assignment.partition("=")
        if not (dot and equals and key):
            raise click.BadParameter(
                f"{item!r} is not METHOD.KEY=VALUE (e.g. nw.preset=grid)", param_hint="--option"
            )
        if target not in methods:
            raise click.BadParameter(f"{target!r} is not among --methods", param_hint="--option")
        if key in RUNNER_KEYS:
            raise click.BadParameter(
                f"{key!r} is set by the runner: {RUNNER_KEYS[key]}", param_hint="--option"
            )
        hints = option_hints(target)
        if key not in hints:
            problems.append(unknown_option(target, key, hidden=RUNNER_KEYS))
            continue
        try:
            options.setdefault(target, {})[key] = parse_option_value(text, hints[key])
        except ValueError:
            problems.append(f"option {target}.{key}={text}: must be {describe(hints[key])}")
    for target, values in options.items():
        try:
            check_options(target, values)
        except OptionError as error:
            problems.append(str(error))
    if problems:
        raise OptionError("\n".join(problems))
    return options


TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


def _parse_as(kind, text: str):
    """``text`` as a value of the plain type ``kind``; ValueError if it is not one."""
    word = text.strip().lower()
    if kind is type(None) and word in ("none", "null"):
        return None
    if kind is bool and word in TRUE_WORDS + FALSE_WORDS:
        return word in TRUE_WORDS
    if kind is int and re.fullmatch(r"[+-]?\d+", word):
        return int(word)
    if kind is float and math.isfinite(number := float(word)):  # ValueError if not a number
        return number
    if typing.get_origin(kind) in (list, tuple):
        values = yaml.safe_load(text)
        numeric = [isinstance(v, int | float) and not isinstance(v, bool) for v in values or ()]
        if isinstance(values, list) and values and all(numeric):
            return typing.get_origin(kind)(float(v) for v in values)
    if kind is str:
        return text
    if kind is Any:
        return yaml.safe_load(text)
    raise ValueError(text)


def parse_option_value(text: str, hint):
    """The value of ``--option METHOD.KEY=text`` for an option typed ``hint``, strictly:
    booleans only true/false/yes/no/1/0, integers only integers, numbers finite, lists
    of numbers as ``[a, b]``, ``none`` where None is allowed; ValueError otherwise.
    Per-event arrays cannot be given on the command line."""
    kinds = [base_type(member) for member in alternatives(hint)]
    order = (type(None), bool, int, float)  # "1" is an integer before it is a number or text
    kinds.sort(key=lambda kind: order.index(kind) if kind in order else len(order))
    for kind in kinds:
        try:
            return _parse_as(kind, text)
        except (ValueError, TypeError, yaml.YAMLError):
            continue
    raise ValueError(text)


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
        methods = self.methods if methods is None else methods
        return dict(
            paths=self.paths,
            methods=methods,
            options=method_options(methods, self.models, self.settings),
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


def run_options(default_channel: str | None, default_methods: str | None = None):
    """Decorator adding the shared options; the command receives ``request: RunRequest``.

    ``default_channel``: the channel of the demo sample used without
    ``--input``; None makes ``--input`` required. ``default_methods``: ``--methods``
    without the option; None makes it required.
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
                    from nuanalysis.formats.convert import ntuple_inputs

                    paths = ntuple_inputs(paths, file_format, channel, Path(scratch))
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
