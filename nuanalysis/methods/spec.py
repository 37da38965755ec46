"""What the toolkit knows of a neutrino method, given once where the method is registered.

A method module declares its function with :func:`register`; everything else
(the command line, the studies, the plots, provenance) reads the method's
:class:`MethodSpec` through :mod:`nuanalysis.methods.registry` and never names
a method itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nuanalysis.neutrino_result import NeutrinoResult

MethodFunction = Callable[..., NeutrinoResult]


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its function and what the rest of the toolkit reads about it.

    ``label`` and ``color`` are how figures show it (matplotlib mathtext and colour);
    ``model_type`` the model file type a learned method reads (``"flow"``, ``"ff"``);
    ``config`` the dataclass whose fields are its further ``**options``;
    ``reference``: the method every other is measured against (the generator's
    neutrinos); ``weighted``: its result carries a per-event figure of merit (``weight``:
    flow log-density, NW weight); ``keeps_posterior``: its result carries posterior draws
    (:class:`nuanalysis.posterior.Posterior`), their number set by ``n_samples``.
    """

    name: str
    channels: tuple[str, ...]
    function: MethodFunction
    description: str
    label: str
    color: str
    model_type: str | None = None
    config: type | None = None
    reference: bool = False
    weighted: bool = False
    keeps_posterior: bool = False


REGISTERED: dict[str, MethodSpec] = {}
"""Method name → spec, in registration order (read through :mod:`nuanalysis.methods.registry`)."""


def register(
    name: str,
    channels: tuple[str, ...],
    description: str,
    *,
    label: str,
    color: str,
    model_type: str | None = None,
    config: type | None = None,
    reference: bool = False,
    weighted: bool = False,
    keeps_posterior: bool = False,
) -> Callable[[MethodFunction], MethodFunction]:
    """Decorator registering ``function`` as neutrino method ``name`` (:class:`MethodSpec`).

    Options are typed in the function's signature (:mod:`nuanalysis.methods.option_types`).
    """

    def decorate(function: MethodFunction) -> MethodFunction:
        REGISTERED[name] = MethodSpec(
            name, channels, function, description, label, color,
            model_type, config, reference, weighted, keeps_posterior,
        )  # fmt: skip
        return function

    return decorate
