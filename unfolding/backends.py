"""SVD backends: ``roounfold``, ``root`` (TSVDUnfold) and ``numpy`` (:mod:`unfolding.svd`).

``roounfold`` is RooUnfoldSvd, ``root`` ROOT's own TSVDUnfold (libHist).

``auto`` picks the first available of roounfold, root, numpy. PyROOT is
imported lazily (it takes about a second). RooUnfold ships its own copy of
TSVDUnfold behind a ``#define TSVDUnfold`` in its headers, so once libRooUnfold
is loaded in a process the ``root`` backend refuses to run (the two classes
must never be mixed in one process); use separate processes to compare them.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.result import UnfoldResult
from unfolding.validation import as_covariance, as_vector, check_response

BACKENDS = ("auto", "roounfold", "root", "numpy")


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
    try:
        root_module()
    except UnfoldingError:
        return False
    return True


def roounfold_loaded() -> bool:
    """True once RooUnfold's classes are known to this process's ROOT."""
    if not root_available():
        return False
    return hasattr(root_module(), "RooUnfoldSvd")


def roounfold_available() -> bool:
    """Load libRooUnfold if the user's ROOT can find it; True if RooUnfoldSvd is then usable."""
    if not root_available():
        return False
    ROOT = root_module()
    if roounfold_loaded():
        return True
    if not ROOT.gSystem.DynamicPathName("libRooUnfold", True):
        return False
    return ROOT.gSystem.Load("libRooUnfold") >= 0 and hasattr(ROOT, "RooUnfoldSvd")


def resolve_backend(name: str) -> str:
    """The concrete backend for ``name`` (``auto`` → best available), or an error if unavailable."""
    if name not in BACKENDS:
        raise UnfoldingError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        if roounfold_available():
            return "roounfold"
        return "root" if root_available() else "numpy"
    if name == "roounfold" and not roounfold_available():
        raise UnfoldingError(
            "backend 'roounfold' needs RooUnfold: build it against your ROOT and put libRooUnfold "
            "on the library path, or use --backend root/numpy"
        )
    if name == "root":
        root_module()
        if roounfold_loaded():
            raise UnfoldingError(
                "backend 'root' cannot run after RooUnfold was loaded in this process (RooUnfold "
                "redefines TSVDUnfold); use backend 'roounfold' or a fresh process"
            )
    return name


@contextlib.contextmanager
def _quiet_root():
    ROOT = root_module()
    level = ROOT.gErrorIgnoreLevel
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    try:
        yield ROOT
    finally:
        ROOT.gErrorIgnoreLevel = level


def _th1(ROOT, name: str, values: np.ndarray, errors: np.ndarray):
    h = ROOT.TH1D(name, name, len(values), 0.0, float(len(values)))
    h.SetDirectory(0)
    for i, (value, error) in enumerate(zip(values, errors, strict=True)):
        h.SetBinContent(i + 1, float(value))
        h.SetBinError(i + 1, float(error))
    return h


def _th2(ROOT, name: str, matrix: np.ndarray):
    n = matrix.shape[0]
    h = ROOT.TH2D(name, name, n, 0.0, float(n), n, 0.0, float(n))
    h.SetDirectory(0)
    for i in range(n):
        for j in range(n):
            h.SetBinContent(i + 1, j + 1, float(matrix[i, j]))
    return h


def _th2_values(h) -> np.ndarray:
    n_x, n_y = h.GetNbinsX(), h.GetNbinsY()
    return np.array([[h.GetBinContent(i + 1, j + 1) for j in range(n_y)] for i in range(n_x)])


def _th1_values(h) -> np.ndarray:
    return np.array([h.GetBinContent(i + 1) for i in range(h.GetNbinsX())])


def root_svd_unfold(measured, covariance, matrix, truth, k: int) -> UnfoldResult:
    """The same computation as :func:`unfolding.svd.svd_unfold` with ROOT's TSVDUnfold."""
    matrix, truth = check_response(matrix, truth)
    n = len(truth)
    measured = as_vector(measured, n, "measured spectrum")
    covariance = as_covariance(covariance, n)
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= n:
        raise UnfoldingError(f"regularisation k must be an integer in [1, {n}], got {k!r}")
    with _quiet_root() as ROOT:
        bdat = _th1(ROOT, "nuanalysis_bdat", measured, np.sqrt(np.diag(covariance)))
        bini = _th1(ROOT, "nuanalysis_bini", matrix.sum(axis=1), np.zeros(n))
        xini = _th1(ROOT, "nuanalysis_xini", truth, np.zeros(n))
        adet = _th2(ROOT, "nuanalysis_adet", matrix)
        bcov = _th2(ROOT, "nuanalysis_bcov", covariance)
        ROOT.SetOwnership(bcov, False)  # TSVDUnfold deletes its Bcov
        tsvd = ROOT.TSVDUnfold(bdat, bcov, bini, xini, adet)
        unfolded = _th1_values(tsvd.Unfold(int(k)))
        result = UnfoldResult(
            unfolded=unfolded,
            covariance=_th2_values(tsvd.GetXtau()),
            algorithm="svd",
            regularisation=int(k),
            backend="root",
            diagnostics={
                "d": _th1_values(tsvd.GetD()),
                "singular_values": _th1_values(tsvd.GetSV()),
                "inverse_covariance": _th2_values(tsvd.GetXinv()),
            },
        )
        result.diagnostics["tau"] = float(result.diagnostics["singular_values"][int(k) - 1] ** 2)
    return result


def roounfold_svd_unfold(measured, covariance, response, k: int) -> UnfoldResult:
    """RooUnfoldSvd on the response's flattened histograms (RooUnfold subtracts the fakes itself).

    The measured covariance's diagonal is passed as the data histogram's errors.
    """
    ROOT = root_module()
    n = response.n_bins
    measured = as_vector(measured, n, "measured spectrum")
    covariance = as_covariance(covariance, n)
    histograms = response.to_root("nuanalysis_roounfold")
    with _quiet_root():
        roo_response = ROOT.RooUnfoldResponse(
            histograms["measured"], histograms["truth"], histograms["response"]
        )
        data = _th1(ROOT, "nuanalysis_data", measured, np.sqrt(np.diag(covariance)))
        svd = ROOT.RooUnfoldSvd(roo_response, data, int(k))
        svd.SetVerbose(0)
        unfolded = np.array([svd.Vunfold()[i] for i in range(n)])
        kinds = getattr(ROOT, "RooUnfolding", ROOT.RooUnfold)
        error_matrix = svd.Eunfold(kinds.kCovariance)
        cov = np.array([[error_matrix(i, j) for j in range(n)] for i in range(n)])
    return UnfoldResult(unfolded, cov, "svd", int(k), "roounfold")
