"""A test double of PyROOT with RooUnfold, in each generation's interface (no ROOT needed).

What it mimics (RooUnfold sources, https://gitlab.cern.ch/RooUnfold/RooUnfold):

- ``RooUnfoldResponse(measured, truth, response)``: the fakes are the measured
  spectrum minus the response's projection on reco (x);
- ``RooUnfoldSvd(response, data, k)``, ``SetVerbose``, ``SetMeasuredCov``
  (otherwise the covariance is the data's squared bin errors);
- 3.x: ``Vunfold()`` / ``Eunfold(RooUnfolding.kCovariance)``, no fake subtraction;
- 2.x: ``Vreco()`` / ``Ereco(RooUnfold.kCovariance)``, fakes subtracted after
  scaling them by measured / MC reco totals;
- PyROOT's autoload: the first lookup of a RooUnfold class on the module loads
  libRooUnfold if it lies on the library path (recorded in ``autoloads``), and
  ``gSystem.GetLibraries()`` lists what was loaded.

The SVD itself is :func:`unfolding.svd.svd_unfold` on what the double received,
so a result equals numpy's exactly when the backend handed over the right
spectrum, covariance, response orientation and truth, and read the right results.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from unfolding.svd import svd_unfold


class Histogram:
    """TH1D(name, title, nx, lo, hi) and TH2D(name, title, nx, lo, hi, ny, lo, hi)."""

    def __init__(self, name, title, nx, xlo, xhi, ny=None, ylo=None, yhi=None):
        shape = (nx,) if ny is None else (nx, ny)
        self.contents = np.zeros(shape)
        self.errors = np.zeros(shape)

    def SetDirectory(self, directory):
        pass

    def SetBinContent(self, *bins_and_value):
        *bins, value = bins_and_value
        self.contents[tuple(b - 1 for b in bins)] = value

    def SetBinError(self, *bins_and_error):
        *bins, error = bins_and_error
        self.errors[tuple(b - 1 for b in bins)] = error


class Matrix:
    """TMatrixD(rows, columns) with ``m[i][j]`` access."""

    def __init__(self, n_rows, n_columns):
        self.values = np.zeros((n_rows, n_columns))

    def __getitem__(self, i):
        return self.values[i]


class Response:
    """RooUnfoldResponse(measured, truth, response): the histograms' contents, copied."""

    def __init__(self, measured, truth, response):
        self.measured = measured.contents.copy()
        self.truth = truth.contents.copy()
        self.matrix = response.contents.copy()  # [reco (x), truth (y)]
        self.fakes = self.measured - self.matrix.sum(axis=1)


class Svd:
    """RooUnfoldSvd's behaviour common to both generations; records what it unfolded."""

    subtracts_fakes: bool

    def __init__(self, response, data, k):
        self.response = response
        self.data = data.contents.copy()
        self.covariance = np.diag(data.errors**2)
        self.k = k

    def SetVerbose(self, level):
        pass

    def SetMeasuredCov(self, matrix):
        self.covariance = matrix.values.copy()

    def _result(self):
        self.unfolded_input = self.data.copy()
        if self.subtracts_fakes and np.any(self.response.fakes != 0):
            scale = self.data.sum() / self.response.measured.sum()
            self.unfolded_input -= scale * self.response.fakes
        return svd_unfold(
            self.unfolded_input, self.covariance, self.response.matrix, self.response.truth, self.k
        )

    def _covariance(self, kind, expected):
        assert kind is expected, f"error treatment {kind!r} instead of kCovariance"
        matrix = Matrix(*self.response.truth.shape * 2)
        matrix.values[:] = self._result().covariance
        return matrix


COVARIANCE_3X = object()
COVARIANCE_2X = object()


class Svd3(Svd):
    """RooUnfold 3.x: Vunfold/Eunfold, the response's fakes are not subtracted."""

    subtracts_fakes = False

    def Vunfold(self):
        return list(self._result().unfolded)

    def Eunfold(self, kind):
        return self._covariance(kind, COVARIANCE_3X)


class Svd2(Svd):
    """RooUnfold 2.x: Vreco/Ereco, the response's fakes are subtracted."""

    subtracts_fakes = True

    def Vreco(self):
        return list(self._result().unfolded)

    def Ereco(self, kind):
        return self._covariance(kind, COVARIANCE_2X)


class SvdOther(Svd):
    """A RooUnfoldSvd with neither generation's result methods."""

    subtracts_fakes = False

    def GetUnfolded(self):
        return list(self._result().unfolded)


GENERATIONS = {
    "3.x": {
        "RooUnfoldSvd": Svd3,
        "RooUnfolding": SimpleNamespace(kCovariance=COVARIANCE_3X),
        "RooUnfold": SimpleNamespace(),
    },
    "2.x": {"RooUnfoldSvd": Svd2, "RooUnfold": SimpleNamespace(kCovariance=COVARIANCE_2X)},
    "other": {"RooUnfoldSvd": SvdOther, "RooUnfold": SimpleNamespace()},
}


class System:
    """gSystem: DynamicPathName searches ``directory``; Load and GetLibraries keep a list."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.loaded: list[str] = []

    def DynamicPathName(self, library, quiet=False):
        path = None if self.directory is None else self.directory / f"{library}.so"
        return str(path) if path is not None and path.exists() else ""

    def GetLibraries(self, regexp="", option="", is_regexp=True):
        return " ".join(["/opt/root/lib/libCore.so", "/opt/root/lib/libHist.so", *self.loaded])

    def Load(self, path):
        self.loaded.append(path)
        return 0


class FakeROOT:
    """The PyROOT module with the RooUnfold ``generation`` installed in ``library_dir``."""

    kWarning = 2000
    gROOT = SimpleNamespace(GetVersion=lambda: "6.99/01")
    TH1D = Histogram
    TH2D = Histogram
    TMatrixD = Matrix

    def __init__(self, generation: str, library_dir: Path | None):
        self.gErrorIgnoreLevel = 0
        self.gSystem = System(library_dir)
        self.autoloads: list[str] = []
        self._roounfold = {"RooUnfoldResponse": Response, **GENERATIONS[generation]}

    def __getattr__(self, name):
        if name not in self._roounfold:
            raise AttributeError(name)
        if not any("libRooUnfold" in path for path in self.gSystem.loaded):
            library = self.gSystem.DynamicPathName("libRooUnfold", True)
            if not library:
                raise AttributeError(name)
            self.autoloads.append(name)
            self.gSystem.Load(library)
        return self._roounfold[name]


def install_library(directory: Path) -> Path:
    """An (empty) libRooUnfold.so in ``directory``, as a RooUnfold build leaves it."""
    path = directory / "libRooUnfold.so"
    path.write_bytes(b"")
    return path
