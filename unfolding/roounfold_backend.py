"""Backend ``roounfold``: RooUnfoldSvd from the user's own RooUnfold build (not on PyPI).

RooUnfold is found as ROOT finds it: ``libRooUnfold`` on ROOT's dynamic library
path (``LD_LIBRARY_PATH``, ``DYLD_LIBRARY_PATH`` on macOS), with its rootmap and
dictionary beside it, as RooUnfold's own setup script arranges. Whether it is
there is decided by searching that path (``TSystem::DynamicPathName``), never
by asking PyROOT for a RooUnfold class: ``hasattr(ROOT, "RooUnfoldSvd")``
autoloads the library through its rootmap, and a loaded RooUnfold makes
ROOT's own TSVDUnfold unusable in the process (see :mod:`unfolding.root_backend`).
The library is loaded only when this backend unfolds.

Two generations of RooUnfold are supported (RooUnfold, T. Adye et al.,
https://gitlab.cern.ch/RooUnfold/RooUnfold):

- 3.x names the results ``Vunfold()`` / ``Eunfold(RooUnfolding::kCovariance)``
  and its RooUnfoldSvd does **not** subtract the response's fakes;
- 1.x–2.x name them ``Vreco()`` / ``Ereco(RooUnfold::kCovariance)`` and
  RooUnfoldSvd subtracts the fakes, scaled to the measured normalisation.

Neither convention matters here: like every backend it gets the fake-subtracted
spectrum (:mod:`unfolding.svd_backend`) and builds a RooUnfoldResponse without
fakes (its measured spectrum is the response matrix's projection), so both
generations solve the TSVDUnfold system of the ``root`` backend: the measured
covariance is set in full with ``SetMeasuredCov``, the result is the
unfolded vector and ``X_τ``. Any other interface is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.pyroot import (
    PyRootBackend,
    quiet,
    th1,
    th2,
    tmatrix,
    tmatrix_values,
    tvector_values,
)
from unfolding.result import UnfoldResult

LIBRARY = "libRooUnfold"
"""The shared library's name, without the platform suffix."""

SETUP_HINT = (
    "build RooUnfold against this ROOT and put the directory holding libRooUnfold (with its "
    "rootmap and .pcm) on LD_LIBRARY_PATH (DYLD_LIBRARY_PATH on macOS) and its headers on "
    "ROOT_INCLUDE_PATH, or use --backend root/numpy"
)


@dataclass(frozen=True)
class Generation:
    """How one RooUnfold generation names RooUnfoldSvd's results."""

    label: str
    values: str
    """Method returning the unfolded TVectorD."""
    covariance: str
    """Method returning a TMatrixD for an error treatment."""
    treatments: str
    """Scope of the ``kCovariance`` error treatment."""

    def matches(self, svd_class) -> bool:
        return hasattr(svd_class, self.values) and hasattr(svd_class, self.covariance)


GENERATIONS = (
    Generation("RooUnfold 3.x", "Vunfold", "Eunfold", "RooUnfolding"),
    Generation("RooUnfold 1.x-2.x", "Vreco", "Ereco", "RooUnfold"),
)


def generation_of(svd_class) -> Generation:
    """The generation whose interface ``svd_class`` (RooUnfoldSvd) has, or a refusal naming it."""
    for generation in GENERATIONS:
        if generation.matches(svd_class):
            return generation
    known = "; ".join(f"{g.label}: {g.values}/{g.covariance}" for g in GENERATIONS)
    raise UnfoldingError(
        "unsupported RooUnfold version: its RooUnfoldSvd has none of the result methods of the "
        f"supported versions ({known}); use --backend root/numpy"
    )


def roounfold_library(ROOT) -> str | None:
    """Path of libRooUnfold on ROOT's dynamic library path, found without loading it."""
    return ROOT.gSystem.DynamicPathName(LIBRARY, True) or None


def roounfold_loaded(ROOT) -> bool:
    """True if libRooUnfold is loaded in this process (asks ROOT's list; loads nothing)."""
    return any(
        library.rsplit("/", 1)[-1].startswith(LIBRARY + ".")
        for library in str(ROOT.gSystem.GetLibraries()).split()
    )


class RooUnfoldBackend(PyRootBackend):
    """SVD unfolding with RooUnfoldSvd; ``root`` returns the PyROOT module (or a double)."""

    name = "roounfold"

    def unavailable_reason(self) -> str | None:
        ROOT, reason = self._root_or_reason()
        if reason is not None:
            return reason
        if roounfold_loaded(ROOT) or roounfold_library(ROOT):
            return None
        return f"backend 'roounfold' needs RooUnfold, which ROOT cannot find: {SETUP_HINT}"

    def provenance(self) -> dict[str, str]:
        ROOT = self._root()
        return {**super().provenance(), "roounfold_library": str(roounfold_library(ROOT))}

    def _load(self, ROOT):
        """RooUnfoldSvd, loading libRooUnfold explicitly if it is not yet loaded."""
        if not roounfold_loaded(ROOT):
            path = roounfold_library(ROOT)
            if path is None:
                raise UnfoldingError(self.unavailable_reason())
            if ROOT.gSystem.Load(path) < 0:
                raise UnfoldingError(f"ROOT failed to load {path}: {SETUP_HINT}")
        svd_class = getattr(ROOT, "RooUnfoldSvd", None)
        if svd_class is None:
            raise UnfoldingError(
                f"{LIBRARY} is loaded but ROOT knows no RooUnfoldSvd (its dictionary is missing): "
                f"{SETUP_HINT}"
            )
        return svd_class

    def _svd_unfold(self, signal, covariance, matrix, truth, k, shape=None) -> UnfoldResult:
        ROOT = self._root()
        svd_class = self._load(ROOT)
        generation = generation_of(svd_class)
        n = len(truth)
        with quiet(ROOT):
            response = ROOT.RooUnfoldResponse(
                th1(ROOT, "nuanalysis_roounfold_reco", matrix.sum(axis=1), np.zeros(n)),
                th1(ROOT, "nuanalysis_roounfold_truth", truth, np.zeros(n)),
                th2(ROOT, "nuanalysis_roounfold_response", matrix),
            )
            data = th1(ROOT, "nuanalysis_roounfold_data", signal, np.sqrt(np.diag(covariance)))
            svd = svd_class(response, data, k)
            svd.SetVerbose(0)
            svd.SetMeasuredCov(tmatrix(ROOT, covariance))
            unfolded = tvector_values(getattr(svd, generation.values)(), n)
            kind = getattr(ROOT, generation.treatments).kCovariance
            unfolded_covariance = tmatrix_values(getattr(svd, generation.covariance)(kind), n)
        return UnfoldResult(unfolded, unfolded_covariance, "svd", k, self.name)
