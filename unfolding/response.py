"""A RooUnfoldResponse-like response matrix built on :mod:`hist`.

The response is filled event by event from (reco, truth, weight):

- an event with both a reco and a truth value inside the binning fills the
  migration matrix ``A[reco_bin, truth_bin]``, the reco and the truth spectra;
- a **fake** (reco in the binning, no truth or truth outside it) fills only the
  reco spectrum;
- a **miss** (truth in the binning, no reco — a method's failure, an event
  failing the selection, or reco outside the binning) fills only the truth
  spectrum.

This is RooUnfoldResponse's ``Fill``/``Fake``/``Miss`` bookkeeping, so the truth
spectrum counts every generated event of the phase space and the efficiency
``sum_i A_ij / truth_j`` includes the misses.

Multi-dimensional observables (m_tt × pT_t) are flattened for the matrix in
C order of the axes: for axes ``(m_tt, pT_t)`` the flat index is
``i_mtt * n_ptt + i_ptt`` ("m_tt-major"); spectra are returned reshaped to the
axes for plots. Bins are half-open ``[low, high)``; values outside the edges
belong to no bin (no under/overflow bins are unfolded).
"""

from __future__ import annotations

from collections.abc import Sequence

import hist
import numpy as np

from unfolding.errors import UnfoldingError

Edges = Sequence[float] | np.ndarray


def _as_axis(axis: hist.axis.Variable | Edges, index: int) -> hist.axis.Variable:
    if isinstance(axis, hist.axis.AxesMixin):
        return hist.axis.Variable(
            np.asarray(axis.edges), name=axis.name or f"x{index}", label=axis.label, flow=False
        )
    edges = np.asarray(axis, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise UnfoldingError(
            f"axis {index}: edges must be increasing and at least two, got {edges}"
        )
    return hist.axis.Variable(edges, name=f"x{index}", flow=False)


class Response:
    """Response matrix, truth and reco spectra of one observable (1-D or N-D).

    ``axes`` are :class:`hist.axis.Variable` objects (or plain edge arrays);
    reco and truth share the binning, as SVD unfolding needs a square matrix.
    """

    def __init__(self, *axes: hist.axis.Variable | Edges):
        if not axes:
            raise UnfoldingError("a response needs at least one axis")
        self.axes = tuple(_as_axis(a, i) for i, a in enumerate(axes))
        self.shape = tuple(len(a) for a in self.axes)
        n = int(np.prod(self.shape))
        self.n_bins = n
        self.truth = np.zeros(n)
        self.truth_w2 = np.zeros(n)
        self.reco = np.zeros(n)
        self.reco_w2 = np.zeros(n)
        self.matrix = np.zeros((n, n))
        self.matrix_w2 = np.zeros((n, n))

    # ---------------------------------------------------------------- binning
    def flat_index(self, values, valid: np.ndarray | None = None) -> np.ndarray:
        """Flattened bin index of each entry; -1 where invalid or outside the binning.

        ``values`` is an ``(n,)`` array for a 1-D response, or an ``(n, ndim)``
        array / a sequence of ``ndim`` arrays for an N-D one.
        """
        columns = self._columns(values)
        n = len(columns[0])
        valid = np.ones(n, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        if valid.shape != (n,):
            raise UnfoldingError(f"valid mask has shape {valid.shape}, expected ({n},)")
        for d, column in enumerate(columns):
            bad = valid & ~np.isfinite(column)
            if bad.any():
                raise UnfoldingError(
                    f"axis {self.axes[d].name!r}: non-finite value at entry "
                    f"{int(np.flatnonzero(bad)[0])} marked valid"
                )
        indices = []
        inside = valid.copy()
        for axis, column in zip(self.axes, columns, strict=True):
            edges = axis.edges
            index = np.searchsorted(edges, np.where(valid, column, edges[0]), side="right") - 1
            inside &= (index >= 0) & (index < len(axis))
            indices.append(np.clip(index, 0, len(axis) - 1))
        flat = np.ravel_multi_index(tuple(indices), self.shape)
        return np.where(inside, flat, -1)

    def _columns(self, values) -> list[np.ndarray]:
        if isinstance(values, np.ndarray) and values.ndim == 2:
            columns = [values[:, d] for d in range(values.shape[1])]
        elif len(self.axes) == 1 and np.ndim(values) == 1:
            columns = [values]
        else:
            columns = list(values)
        columns = [np.asarray(c, dtype=np.float64) for c in columns]
        if len(columns) != len(self.axes):
            raise UnfoldingError(
                f"got {len(columns)} coordinate(s) for a {len(self.axes)}-D response "
                f"(axes {[a.name for a in self.axes]})"
            )
        if any(c.shape != columns[0].shape or c.ndim != 1 for c in columns):
            raise UnfoldingError("coordinates must be 1-D arrays of equal length")
        return columns

    # ---------------------------------------------------------------- filling
    def fill(self, reco, truth, weight=None, *, reco_valid=None, truth_valid=None) -> Response:
        """Fill events; ``reco_valid`` False marks a miss, ``truth_valid`` False a fake.

        Entries with neither reco nor truth in the binning are ignored.
        """
        reco_index = self.flat_index(reco, reco_valid)
        truth_index = self.flat_index(truth, truth_valid)
        if reco_index.shape != truth_index.shape:
            raise UnfoldingError(
                f"{len(reco_index)} reco entries but {len(truth_index)} truth entries"
            )
        weight = self._weights(weight, len(reco_index))
        has_reco, has_truth = reco_index >= 0, truth_index >= 0
        n = self.n_bins
        self.reco += np.bincount(reco_index[has_reco], weight[has_reco], n)
        self.reco_w2 += np.bincount(reco_index[has_reco], weight[has_reco] ** 2, n)
        self.truth += np.bincount(truth_index[has_truth], weight[has_truth], n)
        self.truth_w2 += np.bincount(truth_index[has_truth], weight[has_truth] ** 2, n)
        both = has_reco & has_truth
        pair = reco_index[both] * n + truth_index[both]
        self.matrix += np.bincount(pair, weight[both], n * n).reshape(n, n)
        self.matrix_w2 += np.bincount(pair, weight[both] ** 2, n * n).reshape(n, n)
        return self

    def fill_fake(self, reco, weight=None) -> Response:
        """Reco entries without a truth partner (RooUnfoldResponse::Fake)."""
        return self.fill(
            reco, reco, weight, truth_valid=np.zeros(len(self._columns(reco)[0]), bool)
        )

    def fill_miss(self, truth, weight=None) -> Response:
        """Truth entries without a reco partner (RooUnfoldResponse::Miss)."""
        return self.fill(
            truth, truth, weight, reco_valid=np.zeros(len(self._columns(truth)[0]), bool)
        )

    @staticmethod
    def _weights(weight, n: int) -> np.ndarray:
        if weight is None:
            return np.ones(n)
        weight = np.broadcast_to(np.asarray(weight, dtype=np.float64), (n,))
        if not np.isfinite(weight).all():
            raise UnfoldingError(
                f"non-finite weight at entry {int(np.flatnonzero(~np.isfinite(weight))[0])}"
            )
        return weight

    def spectrum(self, values, weight=None, valid=None) -> tuple[np.ndarray, np.ndarray]:
        """Bin a measured sample with this binning: flattened (counts, sum of w²)."""
        index = self.flat_index(values, valid)
        weight = self._weights(weight, len(index))
        inside = index >= 0
        return (
            np.bincount(index[inside], weight[inside], self.n_bins),
            np.bincount(index[inside], weight[inside] ** 2, self.n_bins),
        )

    # ---------------------------------------------------------- bookkeeping
    @property
    def fakes(self) -> np.ndarray:
        """Reco spectrum of entries without a truth in the binning."""
        return self.reco - self.matrix.sum(axis=1)

    @property
    def misses(self) -> np.ndarray:
        """Truth spectrum of entries without a reco in the binning."""
        return self.truth - self.matrix.sum(axis=0)

    @property
    def efficiency(self) -> np.ndarray:
        """Per truth bin: fraction reconstructed in any reco bin (0 for an empty truth bin)."""
        return _ratio(self.matrix.sum(axis=0), self.truth)

    @property
    def purity(self) -> np.ndarray:
        """Per reco bin: fraction of its reco entries whose truth lies in the same bin."""
        return _ratio(np.diag(self.matrix), self.reco)

    @property
    def fake_fraction(self) -> np.ndarray:
        """Per reco bin: fraction of its reco entries that are fakes."""
        return _ratio(self.fakes, self.reco)

    @property
    def migration(self) -> np.ndarray:
        """P(reco bin i | truth bin j) = A_ij / truth_j (columns sum to the efficiency)."""
        return _ratio(self.matrix, self.truth[None, :])

    # -------------------------------------------------------------- views
    def reshape(self, flat: np.ndarray) -> np.ndarray:
        """A flattened per-bin array back on the axes' shape."""
        return np.asarray(flat).reshape(self.shape)

    def to_hist(self, values: np.ndarray, variances: np.ndarray | None = None) -> hist.Hist:
        """A flattened spectrum as an N-D :class:`hist.Hist` (Weight storage) on the axes."""
        h = hist.Hist(*self.axes, storage=hist.storage.Weight())
        view = h.view()
        view["value"] = self.reshape(values)
        view["variance"] = self.reshape(np.zeros(self.n_bins) if variances is None else variances)
        return h

    def truth_hist(self) -> hist.Hist:
        return self.to_hist(self.truth, self.truth_w2)

    def reco_hist(self) -> hist.Hist:
        return self.to_hist(self.reco, self.reco_w2)

    def matrix_hist(self) -> hist.Hist:
        """The migration matrix over flattened bins: axes ``reco_bin`` × ``truth_bin``."""
        h = hist.Hist(
            hist.axis.Integer(0, self.n_bins, name="reco_bin", label="reco bin", flow=False),
            hist.axis.Integer(0, self.n_bins, name="truth_bin", label="truth bin", flow=False),
            storage=hist.storage.Weight(),
        )
        view = h.view()
        view["value"] = self.matrix
        view["variance"] = self.matrix_w2
        return h

    def check_compatible(self, values: np.ndarray, what: str = "measured spectrum") -> np.ndarray:
        """``values`` flattened to this binning, or an error naming the mismatch."""
        if isinstance(values, hist.Hist):
            edges = [np.asarray(a.edges) for a in values.axes]
            mine = [np.asarray(a.edges) for a in self.axes]
            if len(edges) != len(mine) or any(
                e.shape != m.shape or not np.allclose(e, m)
                for e, m in zip(edges, mine, strict=False)
            ):
                raise UnfoldingError(f"{what} binning {edges} differs from the response's {mine}")
            values = values.values(flow=False)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != (self.n_bins,):
            raise UnfoldingError(
                f"{what} has {values.size} bins, the response {self.n_bins} (shape {self.shape})"
            )
        return values

    def to_root(self, name: str = "response"):
        """Flattened ROOT objects ``{"measured", "truth", "fakes": TH1D, "response": TH2D}``.

        The TH2D has reco on x and truth on y (the TSVDUnfold / RooUnfold
        convention). Needs PyROOT.
        """
        from unfolding.pyroot import root_module, th1, th2

        ROOT = root_module()

        def errors(w2: np.ndarray) -> np.ndarray:
            return np.sqrt(np.clip(w2, 0.0, None))

        fakes_w2 = self.reco_w2 - self.matrix_w2.sum(axis=1)
        return {
            "measured": th1(ROOT, f"{name}_measured", self.reco, errors(self.reco_w2)),
            "truth": th1(ROOT, f"{name}_truth", self.truth, errors(self.truth_w2)),
            "fakes": th1(ROOT, f"{name}_fakes", self.fakes, errors(fakes_w2)),
            "response": th2(ROOT, f"{name}_matrix", self.matrix, errors(self.matrix_w2)),
        }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator, denominator = np.broadcast_arrays(numerator, denominator)
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)
