"""What each option of a neutrino method accepts, declared once in its signature and checked once.

A method states its options' types in its signature; ranges, choices and
channel restrictions ride along as :data:`typing.Annotated` metadata::

    def ellipse_method(
        events,
        top_mass: TopMasses = TOP_MASS,
        closest_approach: Annotated[bool, OnlyFor("dilepton")] = False,
    ): ...

A method whose extra keywords (``**options``) are the fields of a
configuration dataclass names it in ``register(config=...)``; the dataclass
checks its own values (``__post_init__``), so the Python API refuses them too.

:func:`check_options` runs for every :func:`~nuanalysis.methods.registry.reconstruct`
call and in the command line before any work: unknown keys (with the nearest
valid one), values of the wrong type and values out of range are one
:class:`~nuanalysis.errors.OptionError` with one line per bad value; an
option given for events it does not apply to is an
:class:`~nuanalysis.errors.OptionWarning`. :func:`parse_option_value` reads an option's
value from text (``--option METHOD.KEY=VALUE``) as its type.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import math
import numbers
import re
import types
import typing
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import yaml

from baselines.constants import B_MASS_RANGE, MAX_COLLISION_ENERGY, TOP_MASS_RANGE, W_MASS_RANGE
from nuanalysis.errors import OptionError, OptionWarning

if TYPE_CHECKING:
    from nuanalysis.methods.spec import MethodSpec

MAX_DRAWS = 4096
"""Most flow draws (or ascent starts) per event an option may ask for: 16 × the paper's 256."""
MAX_STEPS = 1000
"""Most gradient steps of the flow's ascent: 250 × the default (a 10⁸ asked for ran for
minutes on 20 events)."""
MAX_MET = MAX_COLLISION_ENERGY / 2


@dataclass(frozen=True)
class Range:
    """Every value (a number or each element of an array) is finite, above ``minimum``
    (or equal to it where ``inclusive``) and at most ``maximum``: the physical or
    computational range of the option, said in ``meaning``."""

    minimum: float
    inclusive: bool
    meaning: str
    maximum: float = math.inf

    def holds(self, value) -> bool:
        array = np.asarray(value, dtype=np.float64)
        above = array >= self.minimum if self.inclusive else array > self.minimum
        return bool(np.all(np.isfinite(array) & above & (array <= self.maximum)))


@dataclass(frozen=True)
class OneOf:
    """The value is one of ``choices``."""

    choices: tuple[str, ...]


@dataclass(frozen=True)
class OnlyFor:
    """The option only affects events of ``channel``; elsewhere it is ignored with a warning."""

    channel: str


def _mass_range(particle: str, bounds: tuple[float, float], inclusive: bool = True) -> Range:
    low, high = bounds
    return Range(low, inclusive, f"a {particle} mass from {low:g} to {high:g} GeV", high)


TopMasses = Annotated[float | np.ndarray, _mass_range("top", TOP_MASS_RANGE)]
"""A top mass in GeV (:data:`~baselines.constants.TOP_MASS_RANGE`): one number, or (Python
API) one per event."""
WMasses = Annotated[float | np.ndarray, _mass_range("W", W_MASS_RANGE)]
"""A W mass in GeV (:data:`~baselines.constants.W_MASS_RANGE`), one or one per event."""
BMass = Annotated[float, _mass_range("b-jet", B_MASS_RANGE)]
"""A b-jet mass in GeV (:data:`~baselines.constants.B_MASS_RANGE`)."""
Resolution = Annotated[
    float,
    Range(0.0, False, f"a positive number of GeV up to {MAX_MET:g}", MAX_MET),
]
"""A resolution in GeV: positive, at most the largest MET a collision can have."""
SampleCount = Annotated[int, Range(1, True, f"an integer from 1 to {MAX_DRAWS}", MAX_DRAWS)]
"""Posterior draws or climbing starts per event: each costs a flow evaluation."""
StepCount = Annotated[int, Range(0, True, f"an integer from 0 to {MAX_STEPS}", MAX_STEPS)]
"""Gradient steps per event: each costs a flow evaluation and its gradient."""


def option_hints(spec: MethodSpec) -> dict[str, Any]:
    """Option name → type hint (``Annotated`` kept) of method ``spec``; ``Any`` if untyped."""
    return dict(_option_hints(spec))


@functools.cache
def _option_hints(spec: MethodSpec) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(spec.function, include_extras=True)
    parameters = list(inspect.signature(spec.function).parameters.values())[1:]  # after events
    named = [(p.name, hints.get(p.name, Any)) for p in parameters if p.kind != p.VAR_KEYWORD]
    return tuple(named) + tuple(
        (key, hint) for key, hint in config_hints(spec).items() if key not in dict(named)
    )


def config_hints(spec: MethodSpec) -> dict[str, Any]:
    """Type hints of the fields of the method's configuration dataclass (empty without)."""
    if spec.config is None:
        return {}
    hints = typing.get_type_hints(spec.config, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(spec.config)}


def alternatives(hint, carried: tuple = ()) -> list:
    """The members of a (nested) union, each with the ``Annotated`` metadata around it."""
    extra = tuple(carried)
    if typing.get_origin(hint) is Annotated:
        hint, *more = typing.get_args(hint)
        extra += tuple(more)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [member for m in typing.get_args(hint) for member in alternatives(m, extra)]
    return [Annotated[(hint, *extra)] if extra else hint]


def metadata(hint) -> list:
    """The ``Annotated`` metadata of ``hint`` (empty without)."""
    return list(typing.get_args(hint)[1:]) if typing.get_origin(hint) is Annotated else []


def base_type(hint):
    """``hint`` without its ``Annotated`` metadata."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def describe(hint) -> str:
    """What a value of ``hint`` is, in words (for messages): "a positive mass in GeV"."""
    words = []
    for member in alternatives(hint):
        kind = base_type(member)
        if kind is np.ndarray:
            continue
        extra = {type(m): m for m in metadata(member)}
        if Range in extra:
            text = extra[Range].meaning
        elif OneOf in extra:
            text = "one of " + ", ".join(extra[OneOf].choices)
        elif kind is bool:
            text = "true or false"
        elif kind is int:
            text = "an integer"
        elif kind is float:
            text = "a finite number"
        elif kind is str:
            text = "text"
        elif kind is type(None):
            text = "none"
        elif typing.get_origin(kind) in (list, tuple):
            text = "a list of numbers, e.g. [-2, 0, 2]"
        elif kind is Any:
            text = "any value"
        else:
            text = getattr(kind, "__name__", str(kind))
        if text not in words:
            words.append(text)
    return " or ".join(words)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _accepts(member, value) -> bool:
    """Whether ``value`` is of the type of one union member, metadata included."""
    kind = base_type(member)
    if kind is Any:
        return True
    if kind is type(None):
        ok = value is None
    elif kind is bool:
        ok = isinstance(value, bool | np.bool_)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    elif kind is float:
        ok = _is_number(value) and bool(np.isfinite(value))
    elif kind is np.ndarray or typing.get_origin(kind) in (list, tuple):
        array = np.asarray(value) if isinstance(value, list | tuple | np.ndarray) else None
        ok = array is not None and array.ndim >= 1 and array.size > 0
        ok = ok and array.dtype.kind in "iuf"
    elif isinstance(kind, type):
        ok = isinstance(value, kind)
    else:
        ok = True
    if not ok or value is None:
        return ok
    for extra in metadata(member):
        if isinstance(extra, Range) and not extra.holds(value):
            return False
        if isinstance(extra, OneOf) and value not in extra.choices:
            return False
    return True


def shown(value) -> str:
    """A value as a message quotes it: numbers as %g, arrays by their shape."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"<array of shape {value.shape}>"
    if _is_number(value):
        return f"{value:g}"
    return str(value)


def unknown_option(spec: MethodSpec, key: str, hidden: Collection[str] = ()) -> str:
    """The message for an option ``key`` that the method ``spec`` does not have, listing its
    options but ``hidden`` ones (those the command line sets itself)."""
    name = spec.name
    known = [option for option in option_hints(spec) if option not in hidden]
    if not known:
        return f"unknown option {key!r} for method {name}; it takes no options"
    message = f"unknown option {key!r} for method {name}; valid options: {', '.join(known)}"
    close = difflib.get_close_matches(key, known, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def check_options(spec: MethodSpec, options: Mapping[str, Any], channel: str | None = None) -> None:
    """Refuse bad ``options`` of the method ``spec`` (one line per bad value); warn about
    options that do not apply to ``channel`` events (when given)."""
    name = spec.name
    hints = option_hints(spec)
    problems = []
    for key, value in options.items():
        if key not in hints:
            problems.append(unknown_option(spec, key))
        elif not any(_accepts(member, value) for member in alternatives(hints[key])):
            problems.append(f"option {name}.{key}={shown(value)}: must be {describe(hints[key])}")
    config = spec.config
    named = inspect.signature(spec.function).parameters
    settings = {k: v for k, v in options.items() if k in config_hints(spec) and k not in named}
    if settings and not problems:
        try:
            config(**settings)
        except (TypeError, ValueError) as error:
            given = ", ".join(f"{name}.{k}={shown(v)}" for k, v in settings.items())
            problems.append(f"option {given}: {error}")
    if problems:
        raise OptionError("\n".join(problems))
    for key in options if channel is not None else ():
        only = sorted(
            {
                m.channel
                for a in alternatives(hints[key])
                for m in metadata(a)
                if isinstance(m, OnlyFor)
            }
        )
        if only and channel not in only:
            warnings.warn(
                f"option {name}.{key} applies to {' and '.join(only)} events only; "
                f"ignored on these {channel} events",
                OptionWarning,
                stacklevel=3,
            )


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
