"""The one interface every SVD backend implements (as pyhf's tensor backends share one).

Every backend receives the same, already prepared inputs:

- ``signal``: the measured spectrum **with the fakes already subtracted**
  (:func:`unfolding.api.subtract_fakes`), over the flattened bins;
- ``covariance``: its covariance matrix (or a vector of variances);
- ``matrix``: the response ``A[reco, truth]`` of matched events (counts), so
  that its row sums are the fake-free MC reco spectrum;
- ``truth``: the MC truth spectrum (misses included);
- ``k``: the regularisation, ``τ = s_k²`` (Höcker & Kartvelishvili §3, eq. 41);
- ``shape``: the grid the flattened bins come from (None: one axis). Only a backend with
  :attr:`SvdBackend.grid_curvature` regularises along each axis of it; ROOT's TSVDUnfold
  and RooUnfoldSvd always build their curvature over the flattened bins, coupling the last
  pT_t bin of one m_tt row to the first of the next (RooUnfold's README: RooUnfoldSvd is
  not correct for multi-dimensional distributions), and no option of theirs changes it.

No backend sees a fake, so none can subtract them twice or not at all, whatever
its own convention. Inputs are checked once here, so a bad ``k`` or an empty
truth bin fails with the same :class:`~unfolding.errors.UnfoldingError` for
every backend; results are :class:`~unfolding.result.UnfoldResult` with the
``X_τ`` covariance (eq. 47).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from unfolding.result import UnfoldResult
from unfolding.validation import check_svd_inputs


class SvdBackend(ABC):
    """An implementation of SVD unfolding, picked by :attr:`name`."""

    name: ClassVar[str]
    grid_curvature: ClassVar[bool] = False
    """Whether the curvature follows the axes of ``shape`` (module docstring)."""

    def available(self) -> bool:
        """True if this backend can run in this process; finding out loads no library but PyROOT."""
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (a sentence for the user), or None if it can."""
        return None

    def provenance(self) -> dict[str, str]:
        """What ran: the backend and, for the ROOT ones, the ROOT version and the libraries'
        paths (recorded in the ``unfold`` JSON)."""
        return {"backend": self.name}

    def svd_unfold(
        self, signal, covariance, matrix, truth, k: int, shape: tuple[int, ...] | None = None
    ) -> UnfoldResult:
        """Unfold the fake-subtracted ``signal`` (module docstring for the inputs)."""
        return self._svd_unfold(*check_svd_inputs(signal, covariance, matrix, truth, k), shape)

    @abstractmethod
    def _svd_unfold(
        self,
        signal: np.ndarray,
        covariance: np.ndarray,
        matrix: np.ndarray,
        truth: np.ndarray,
        k: int,
        shape: tuple[int, ...] | None,
    ) -> UnfoldResult:
        """:meth:`svd_unfold` on checked inputs: float arrays of matching shapes, 1 ≤ k ≤ n;
        ``shape`` is used only where :attr:`grid_curvature`."""
