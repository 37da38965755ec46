"""Methods and their options resolved once: each method's spec with its checked options.

The command line's ``--methods``, ``--model`` and ``--option METHOD.KEY=VALUE``
become one ``{name: ResolvedMethod}`` (:func:`resolve_methods`), parsed as each
option's type (:func:`~nuanalysis.methods.option_types.parse_option_value`) and
checked like the Python API checks them
(:func:`~nuanalysis.methods.option_types.check_options`). The runner, provenance
and the plots read that value; nothing parses an option again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nuanalysis.errors import OptionError
from nuanalysis.methods.option_types import (
    check_options,
    describe,
    option_hints,
    parse_option_value,
    unknown_option,
)
from nuanalysis.methods.registry import get_method
from nuanalysis.methods.spec import MethodSpec

RUNNER_KEYS = {
    "seed": "use --seed (each event's random numbers derive from it and the event's entry)",
    "first_event_index": "each chunk passes its first global entry",
    "model": "use --model",
}
"""Options the runner sets itself, with what to use instead."""


class MisplacedOptionError(OptionError):
    """A ``--model`` or ``--option`` that names no method of the run, is malformed, or sets
    what the runner sets; ``option`` is the command-line option at fault."""

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class ResolvedMethod:
    """A method of a run: its :class:`~nuanalysis.methods.spec.MethodSpec` and its checked
    ``options`` (the keyword arguments of :func:`~nuanalysis.methods.registry.reconstruct`,
    ``model`` the path of a ``--model`` file)."""

    spec: MethodSpec
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def settings(self) -> dict[str, Any]:
        """The options but the model file (provenance lists the model with its hash)."""
        return {key: value for key, value in self.options.items() if key != "model"}


def resolve_methods(
    methods: Iterable[str], models: Iterable[str] = (), settings: Iterable[str] = ()
) -> dict[str, ResolvedMethod]:
    """``methods`` with the options of ``--model`` and ``--option``, checked.

    ``--model PATH`` goes to every learned method reading that file's model
    type (a ``flow`` file to every method of ``model_type="flow"``);
    ``--model METHOD=PATH`` to one method. ``--option METHOD.KEY=VALUE`` sets
    any keyword of the method (``nw.preset=grid``), VALUE read as the option's
    type. A misplaced ``--model``/``--option`` is a :class:`MisplacedOptionError`;
    every bad value is one line of one :class:`~nuanalysis.errors.OptionError`.
    """
    from nuanalysis.flows.runtime import model_file_config

    specs = {name: get_method(name) for name in methods}
    options: dict[str, dict[str, Any]] = {}  # in the order the options name them
    problems: list[str] = []
    for item in models:
        name, sep, path = item.partition("=")
        path = path if sep else item
        if sep and name not in specs:
            raise MisplacedOptionError(f"{name!r} is not among --methods", "--model")
        if not Path(path).is_file():
            raise MisplacedOptionError(f"model file {path} does not exist", "--model")
        if sep:
            targets = [name]
        else:
            model_type = model_file_config(path)["model_type"]
            targets = [m for m, spec in specs.items() if spec.model_type == model_type]
            if not targets:
                raise MisplacedOptionError(
                    f"{path} is a {model_type!r} model, but none of --methods reads one",
                    "--model",
                )
        for target in targets:
            options.setdefault(target, {})["model"] = path
    for item in settings:
        target, dot, assignment = item.partition(".")
        key, equals, text = assignment.partition("=")
        if not (dot and equals and key):
            raise MisplacedOptionError(
                f"{item!r} is not METHOD.KEY=VALUE (e.g. nw.preset=grid)", "--option"
            )
        if target not in specs:
            raise MisplacedOptionError(f"{target!r} is not among --methods", "--option")
        if key in RUNNER_KEYS:
            raise MisplacedOptionError(
                f"{key!r} is set by the runner: {RUNNER_KEYS[key]}", "--option"
            )
        hints = option_hints(specs[target])
        if key not in hints:
            problems.append(unknown_option(specs[target], key, hidden=RUNNER_KEYS))
            continue
        try:
            options.setdefault(target, {})[key] = parse_option_value(text, hints[key])
        except ValueError:
            problems.append(f"option {target}.{key}={text}: must be {describe(hints[key])}")
    for target, values in options.items():
        try:
            check_options(specs[target], values)
        except OptionError as error:
            problems.append(str(error))
    if problems:
        raise OptionError("\n".join(problems))
    return {name: ResolvedMethod(spec, options.get(name, {})) for name, spec in specs.items()}
