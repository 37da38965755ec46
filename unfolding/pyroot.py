"""PyROOT, imported lazily (about a second), and the conversions the ROOT backends share.

Histograms carry the flattened bins ``0 … n-1`` (bin ``i`` is ROOT bin ``i + 1``,
no under/overflow). A response ``TH2D`` has reco on x and truth on y, the
TSVDUnfold / RooUnfoldResponse convention.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.svd_backend import SvdBackend


@functools.cache
def root_module():
    """The PyROOT module, or :class:`UnfoldingError` if ``import ROOT`` fails."""
    try:
        with warnings.catch_warnings():
            # the PyPI build of ROOT warns on import that it is an alpha release
            warnings.filterwarnings(
                "ignore", r"\s*This distribution of ROOT is in alpha", UserWarning
            )
            import ROOT
    except ImportError as error:
        raise UnfoldingError(
            f"this backend needs PyROOT, which cannot be imported ({error})"
        ) from None
    ROOT.TH1.AddDirectory(False)
    return ROOT


def root_available() -> bool:
    """True if PyROOT imports."""
    try:
        root_module()
    except UnfoldingError:
        return False
    return True


@contextlib.contextmanager
def quiet(ROOT):
    """Silence ROOT's Info messages (TSVDUnfold prints one per call) inside the block."""
    level = ROOT.gErrorIgnoreLevel
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    try:
        yield ROOT
    finally:
        ROOT.gErrorIgnoreLevel = level


def th1(ROOT, name: str, values: np.ndarray, errors: np.ndarray):
    """A TH1D with bin contents ``values`` and bin errors ``errors``."""
    n = len(values)
    h = ROOT.TH1D(name, name, n, 0.0, float(n))
    h.SetDirectory(0)
    for i, (value, error) in enumerate(zip(values, errors, strict=True)):
        h.SetBinContent(i + 1, float(value))
        h.SetBinError(i + 1, float(error))
    return h


def th2(ROOT, name: str, matrix: np.ndarray, errors: np.ndarray | None = None):
    """A TH2D with ``matrix[x, y]`` (and bin errors ``errors[x, y]`` if given)."""
    n_x, n_y = matrix.shape
    h = ROOT.TH2D(name, name, n_x, 0.0, float(n_x), n_y, 0.0, float(n_y))
    h.SetDirectory(0)
    for i in range(n_x):
        for j in range(n_y):
            h.SetBinContent(i + 1, j + 1, float(matrix[i, j]))
            if errors is not None:
                h.SetBinError(i + 1, j + 1, float(errors[i, j]))
    return h


def tmatrix(ROOT, matrix: np.ndarray):
    """A TMatrixD holding ``matrix``."""
    n_rows, n_columns = matrix.shape
    m = ROOT.TMatrixD(n_rows, n_columns)
    for i in range(n_rows):
        for j in range(n_columns):
            m[i][j] = float(matrix[i, j])
    return m


def th1_values(h) -> np.ndarray:
    return np.array([h.GetBinContent(i + 1) for i in range(h.GetNbinsX())])


def th2_values(h) -> np.ndarray:
    n_x, n_y = h.GetNbinsX(), h.GetNbinsY()
    return np.array([[h.GetBinContent(i + 1, j + 1) for j in range(n_y)] for i in range(n_x)])


def tvector_values(vector, n: int) -> np.ndarray:
    return np.array([vector[i] for i in range(n)])


def tmatrix_values(matrix, n: int) -> np.ndarray:
    return np.array([[matrix[i][j] for j in range(n)] for i in range(n)])


class PyRootBackend(SvdBackend):
    """An SVD backend running in PyROOT; ``root`` returns the PyROOT module (or a test double)."""

    def __init__(self, root: Callable[[], object] = root_module) -> None:
        self._root = root

    def provenance(self) -> dict[str, str]:
        ROOT = self._root()
        return {
            **super().provenance(),
            "root_version": str(ROOT.gROOT.GetVersion()),
            "root_module": str(getattr(ROOT, "__file__", "")),
        }

    def _root_or_reason(self) -> tuple[object | None, str | None]:
        """(the PyROOT module, None), or (None, why this backend cannot run without it)."""
        try:
            return self._root(), None
        except UnfoldingError as error:
            return None, f"backend {self.name!r} is not available: {error}"
