"""Backend ``root``: ROOT's own TSVDUnfold (libHist), the reference our numpy SVD reproduces.

TSVDUnfold(bdat, Bcov, bini, xini, Adet) gets the fake-subtracted spectrum and
its covariance, the fake-free MC reco spectrum (the response's row sums), the
MC truth and the response with reco on x (:mod:`unfolding.svd_backend`).
RooUnfold carries its own copy of TSVDUnfold behind ``#define TSVDUnfold`` in
its headers, so once libRooUnfold is loaded in a process this backend refuses
to run: use backend ``roounfold`` there, or another process.
"""

from __future__ import annotations

import numpy as np

from unfolding.errors import UnfoldingError
from unfolding.pyroot import PyRootBackend, quiet, th1, th1_values, th2, th2_values
from unfolding.result import UnfoldResult
from unfolding.roounfold_backend import roounfold_loaded


class RootBackend(PyRootBackend):
    """SVD unfolding with ``ROOT.TSVDUnfold``; ``root`` returns the PyROOT module (or a double)."""

    name = "root"

    def unavailable_reason(self) -> str | None:
        ROOT, reason = self._root_or_reason()
        if reason is not None:
            return reason
        if roounfold_loaded(ROOT):
            return (
                "backend 'root' cannot run after RooUnfold was loaded in this process (RooUnfold "
                "redefines TSVDUnfold); use backend 'roounfold' or a fresh process"
            )
        return None

    def _svd_unfold(self, signal, covariance, matrix, truth, k, shape=None) -> UnfoldResult:
        reason = self.unavailable_reason()
        if reason is not None:
            raise UnfoldingError(reason)
        n = len(truth)
        with quiet(self._root()) as ROOT:
            bdat = th1(ROOT, "nuanalysis_bdat", signal, np.sqrt(np.diag(covariance)))
            bini = th1(ROOT, "nuanalysis_bini", matrix.sum(axis=1), np.zeros(n))
            xini = th1(ROOT, "nuanalysis_xini", truth, np.zeros(n))
            adet = th2(ROOT, "nuanalysis_adet", matrix)
            bcov = th2(ROOT, "nuanalysis_bcov", covariance)
            ROOT.SetOwnership(bcov, False)  # TSVDUnfold deletes its Bcov
            tsvd = ROOT.TSVDUnfold(bdat, bcov, bini, xini, adet)
            unfolded = th1_values(tsvd.Unfold(k))
            singular_values = th1_values(tsvd.GetSV())
            return UnfoldResult(
                unfolded=unfolded,
                covariance=th2_values(tsvd.GetXtau()),
                algorithm="svd",
                regularisation=k,
                backend=self.name,
                diagnostics={
                    "d": th1_values(tsvd.GetD()),
                    "singular_values": singular_values,
                    "tau": float(singular_values[k - 1] ** 2),
                    "inverse_covariance": th2_values(tsvd.GetXinv()),
                },
            )
