"""SVD backends by name: ``roounfold`` (RooUnfoldSvd), ``root`` (TSVDUnfold) and ``numpy``.

All three implement :class:`unfolding.svd_backend.SvdBackend` with the same
inputs (the fake-subtracted spectrum, its covariance, the response matrix and
the MC truth) and agree to rounding. ``auto`` picks the first available of
roounfold, root, numpy; finding out loads neither ROOT's nor RooUnfold's
libraries beyond ``import ROOT``.
"""

from __future__ import annotations

from unfolding.errors import UnfoldingError
from unfolding.root_backend import RootBackend
from unfolding.roounfold_backend import RooUnfoldBackend
from unfolding.svd import solve_svd
from unfolding.svd_backend import SvdBackend


class NumpyBackend(SvdBackend):
    """SVD unfolding in numpy (:mod:`unfolding.svd`); always available."""

    name = "numpy"
    grid_curvature = True

    def _svd_unfold(self, signal, covariance, matrix, truth, k, shape):
        return solve_svd(signal, covariance, matrix, truth, k, shape)


SVD_BACKENDS: dict[str, SvdBackend] = {
    backend.name: backend for backend in (RooUnfoldBackend(), RootBackend(), NumpyBackend())
}
"""The backends by name, in the order ``auto`` prefers them."""

BACKENDS = ("auto", *SVD_BACKENDS)


def resolve_backend(name: str) -> str:
    """The concrete backend for ``name`` (``auto`` → best available), or an error if unavailable."""
    if name not in BACKENDS:
        raise UnfoldingError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        return next(key for key, backend in SVD_BACKENDS.items() if backend.available())
    reason = SVD_BACKENDS[name].unavailable_reason()
    if reason is not None:
        raise UnfoldingError(reason)
    return name


def get_backend(name: str) -> SvdBackend:
    """The backend object for ``name`` (``auto`` resolved), or an error if unavailable."""
    return SVD_BACKENDS[resolve_backend(name)]
