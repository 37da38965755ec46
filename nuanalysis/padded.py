"""Padded numpy view of an event sample: the one hand-over from awkward to numba and torch.

:func:`nuanalysis.io.iterate_padded` (or :func:`~nuanalysis.io.to_padded` for
awkward events) builds a :class:`PaddedEvents` once per chunk, after the checks;
every neutrino method, the χ² assignment and the flows read these arrays and
never touch awkward. Four-momenta are Cartesian ``(px, py, pz, E)`` in GeV,
float64; absent objects are zero with their mask False.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

CHANNELS = ("semileptonic", "dilepton")
"""Supported tt̄ decay channels, named by their lepton multiplicity (1 or 2)."""

N_NEUTRINOS = {"semileptonic": 1, "dilepton": 2}
N_LEPTONS = {"semileptonic": 1, "dilepton": 2}

MAX_JETS = 10
"""Leading jets kept per event (ν-Flows paper §3.1: up to 10 jets, pT-ordered)."""

N_PARTONS = 6
"""Truth decay products in schema order: b, b̄, W⁺ daughters (2, 3), W⁻ daughters (4, 5)."""


@dataclass
class PaddedEvents:
    """Fixed-shape arrays of one channel's events.

    Leptons keep the file's pT order. For dilepton events, :attr:`lep_pos_index`
    gives the index of ℓ⁺ (paired with ν, from W⁺) and ``1 - lep_pos_index``
    that of ℓ⁻ (paired with ν̄).
    """

    channel: str
    jets: np.ndarray  # (n, MAX_JETS, 4) px, py, pz, E
    jet_btag: np.ndarray  # (n, MAX_JETS) bool
    jet_mask: np.ndarray  # (n, MAX_JETS) bool
    jet_match: np.ndarray  # (n, MAX_JETS) int8, -1 unmatched or unknown
    leptons: np.ndarray  # (n, n_lep, 4)
    lep_charge: np.ndarray  # (n, n_lep) int8
    lep_pid: np.ndarray  # (n, n_lep) int8, 11 or 13
    met: np.ndarray  # (n, 2) px, py
    weight: np.ndarray  # (n,)
    n_jets: np.ndarray  # (n,) int64: all selected jets, also those beyond MAX_JETS
    truth_nu: np.ndarray | None = None  # (n, n_nu, 3) px, py, pz; ν then ν̄
    truth_partons: np.ndarray | None = None  # (n, 6, 4)
    truth_parton_pid: np.ndarray | None = None  # (n, 6) int8
    truth_top: np.ndarray | None = None  # (n, 4)
    truth_antitop: np.ndarray | None = None  # (n, 4)

    def __len__(self) -> int:
        return len(self.met)

    @property
    def n_neutrinos(self) -> int:
        return N_NEUTRINOS[self.channel]

    @property
    def has_truth(self) -> bool:
        return self.truth_nu is not None

    @property
    def lep_pos_index(self) -> np.ndarray:
        """Index (0 or 1) of the positive lepton in each dilepton event."""
        return np.where(self.lep_charge[:, 0] > 0, 0, 1)

    @property
    def lepton_pos(self) -> np.ndarray:
        """(n, 4) ℓ⁺ of dilepton events."""
        return np.take_along_axis(self.leptons, self.lep_pos_index[:, None, None], axis=1)[:, 0]

    @property
    def lepton_neg(self) -> np.ndarray:
        """(n, 4) ℓ⁻ of dilepton events."""
        idx = 1 - self.lep_pos_index
        return np.take_along_axis(self.leptons, idx[:, None, None], axis=1)[:, 0]

    def select(self, index: np.ndarray | slice) -> PaddedEvents:
        """The same events restricted to ``index`` (a mask, indices or a slice)."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = value[index] if isinstance(value, np.ndarray) else value
        return PaddedEvents(**values)

    @staticmethod
    def concatenate(parts: list[PaddedEvents]) -> PaddedEvents:
        """Join chunks of the same channel into one sample."""
        if not parts:
            raise ValueError("no chunks to concatenate")
        values = {}
        for f in fields(PaddedEvents):
            items = [getattr(p, f.name) for p in parts]
            if f.name == "channel":
                if len(set(items)) != 1:
                    raise ValueError(f"cannot concatenate channels {sorted(set(items))}")
                values[f.name] = items[0]
            elif any(item is None for item in items):
                values[f.name] = None
            else:
                values[f.name] = np.concatenate(items)
        return PaddedEvents(**values)
