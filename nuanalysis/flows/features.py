"""Conditioning features and neutrino targets of ν-Flows (ν-Flows paper §3.1, Table 1).

Every event becomes four groups of numbers, read from :class:`~nuanalysis.padded.PaddedEvents`:

====== ===================================================== ==========================
group  features                                              shape
====== ===================================================== ==========================
met    p_x^miss, p_y^miss                                    (n, 2)
lepton p_x, p_y, η, log E, flavour (1 = muon) [, charge]     (n, n_lep, 5 or 6)
jets   p_x, p_y, η, log E, isB                               (n, MAX_JETS, 5) + mask
misc   N_jets, N_bjets                                       (n, 2)
====== ===================================================== ==========================

The lepton charge is added in dilepton events (ν²-Flows object features) so
the network can tell which lepton belongs with ν and which with ν̄. The
target is ``(p_x, p_y, η)`` of each neutrino (§3.1: η works better than p_z),
ν then ν̄. :class:`Standardiser` holds the mean and standard deviation of
every feature on the training set (§3.2 "independently normalised").

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper");
J. A. Raine, M. Leigh, K. Zoch and T. Golling, "ν²-Flows: Fast and improved neutrino
reconstruction in multi-neutrino final states with conditional normalizing flows",
https://arxiv.org/abs/2307.02405.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nuanalysis import kinematics
from nuanalysis.errors import InputError
from nuanalysis.padded import MAX_JETS, N_LEPTONS, N_NEUTRINOS, PaddedEvents

MET_FEATURES = ("px", "py")
JET_FEATURES = ("px", "py", "eta", "log_e", "is_b")
MISC_FEATURES = ("n_jets", "n_bjets")
TARGET_FEATURES = ("px", "py", "eta")
LEPTON_FEATURES = {
    "semileptonic": ("px", "py", "eta", "log_e", "is_muon"),
    "dilepton": ("px", "py", "eta", "log_e", "is_muon", "charge"),
}
GROUPS = ("met", "leptons", "jets", "misc")


def feature_definitions(channel: str) -> dict[str, tuple[str, ...]]:
    """Names of the features of each group, as stored in a model file."""
    return {
        "met": MET_FEATURES,
        "leptons": LEPTON_FEATURES[channel],
        "jets": JET_FEATURES,
        "misc": MISC_FEATURES,
        "target": TARGET_FEATURES,
        "n_leptons": (str(N_LEPTONS[channel]),),
        "n_neutrinos": (str(N_NEUTRINOS[channel]),),
    }


@dataclass
class EventFeatures:
    """The conditioning inputs of a batch of events (numpy or torch arrays)."""

    met: np.ndarray | torch.Tensor
    leptons: np.ndarray | torch.Tensor
    jets: np.ndarray | torch.Tensor
    jet_mask: np.ndarray | torch.Tensor
    misc: np.ndarray | torch.Tensor

    def __len__(self) -> int:
        return len(self.met)

    def select(self, index) -> EventFeatures:
        return EventFeatures(*(getattr(self, name)[index] for name in self._names()))

    def to_torch(self, device: str | torch.device = "cpu") -> EventFeatures:
        def convert(value, dtype):
            return torch.as_tensor(value, dtype=dtype, device=device)

        return EventFeatures(
            met=convert(self.met, torch.float32),
            leptons=convert(self.leptons, torch.float32),
            jets=convert(self.jets, torch.float32),
            jet_mask=convert(self.jet_mask, torch.bool),
            misc=convert(self.misc, torch.float32),
        )

    @staticmethod
    def _names() -> tuple[str, ...]:
        return ("met", "leptons", "jets", "jet_mask", "misc")


def _object_kinematics(p4: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(..., 4) (px, py, η, log E) of objects; absent objects are all zero."""
    energy = np.where(present, p4[..., 3], 1.0)
    columns = [p4[..., 0], p4[..., 1], kinematics.eta(p4), np.log(np.maximum(energy, 1e-3))]
    return np.where(present[..., None], np.stack(columns, axis=-1), 0.0)


def event_features(events: PaddedEvents) -> EventFeatures:
    """Table 1 features of ``events``; raises :class:`InputError` on non-finite inputs."""
    n_lep = N_LEPTONS[events.channel]
    if events.leptons.shape[1] != n_lep:
        raise InputError(
            f"{events.channel} events need {n_lep} lepton(s) per event, "
            f"got {events.leptons.shape[1]}"
        )
    lepton_present = np.ones(events.leptons.shape[:2], dtype=bool)
    lepton_columns = [
        _object_kinematics(events.leptons, lepton_present),
        (np.abs(events.lep_pid) == 13)[..., None],
    ]
    if "charge" in LEPTON_FEATURES[events.channel]:
        lepton_columns.append(np.sign(events.lep_charge)[..., None])
    leptons = np.concatenate(lepton_columns, axis=-1)

    jet_mask = events.jet_mask[:, :MAX_JETS]
    jets = np.concatenate(
        [
            _object_kinematics(events.jets[:, :MAX_JETS], jet_mask),
            (events.jet_btag[:, :MAX_JETS] & jet_mask)[..., None],
        ],
        axis=-1,
    )
    misc = np.stack([events.n_jets, (events.jet_btag & events.jet_mask).sum(axis=1)], axis=-1)
    features = EventFeatures(
        met=np.asarray(events.met, dtype=np.float32),
        leptons=leptons.astype(np.float32),
        jets=jets.astype(np.float32),
        jet_mask=np.asarray(jet_mask, dtype=bool),
        misc=misc.astype(np.float32),
    )
    _check_finite(features, events)
    return features


def _check_finite(features: EventFeatures, events: PaddedEvents) -> None:
    bad = ~np.isfinite(features.met).all(axis=1)
    bad |= ~np.isfinite(features.leptons).all(axis=(1, 2))
    bad |= ~np.isfinite(features.jets).all(axis=(1, 2))
    bad |= ~np.isfinite(np.asarray(events.leptons)).all(axis=(1, 2))
    bad |= ~np.isfinite(np.where(events.jet_mask[..., None], events.jets, 0.0)).all(axis=(1, 2))
    if bad.any():
        index = np.flatnonzero(bad)
        raise InputError(
            f"{len(index)} event(s) have non-finite (NaN/inf) MET, lepton or jet momenta, "
            f"first at event index {index[0]}; the flows cannot condition on them"
        )


def neutrino_targets(neutrinos: np.ndarray) -> np.ndarray:
    """(n, n_nu, 3) (px, py, pz) → (n, 3 n_nu) (px, py, η) targets, ν then ν̄."""
    neutrinos = np.asarray(neutrinos, dtype=np.float64)
    eta = kinematics.eta(neutrinos)
    targets = np.stack([neutrinos[..., 0], neutrinos[..., 1], eta], axis=-1)
    return targets.reshape(len(neutrinos), -1).astype(np.float32)


def momenta_from_targets(targets: np.ndarray, n_neutrinos: int) -> np.ndarray:
    """(..., 3 n_nu) (px, py, η) → (..., n_nu, 3) (px, py, pz) with pz = pT sinh η."""
    values = np.asarray(targets, dtype=np.float64).reshape(*targets.shape[:-1], n_neutrinos, 3)
    px, py, eta = values[..., 0], values[..., 1], values[..., 2]
    pz = np.hypot(px, py) * np.sinh(np.clip(eta, -20.0, 20.0))
    return np.stack([px, py, pz], axis=-1)


class Standardiser(nn.Module):
    """Mean/std of every feature group and of the target, fitted on training data (§3.2).

    Stored as buffers, so a saved model carries its scalers. Padded jets are
    ignored in the fit and stay exactly zero after scaling.
    """

    def __init__(self, n_lepton_features: int, n_targets: int) -> None:
        super().__init__()
        sizes = {
            "met": len(MET_FEATURES),
            "leptons": n_lepton_features,
            "jets": len(JET_FEATURES),
            "misc": len(MISC_FEATURES),
            "target": n_targets,
        }
        for name, size in sizes.items():
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_std", torch.ones(size))

    def fit(self, features: EventFeatures, targets: np.ndarray | None) -> Standardiser:
        """Set the scalers from (numpy) training features and targets."""
        values = {
            "met": np.asarray(features.met),
            "leptons": np.asarray(features.leptons).reshape(-1, np.shape(features.leptons)[-1]),
            "jets": np.asarray(features.jets)[np.asarray(features.jet_mask)],
            "misc": np.asarray(features.misc),
        }
        if targets is not None:
            values["target"] = np.asarray(targets)
        for name, array in values.items():
            if len(array) == 0:
                raise InputError(f"cannot fit the {name} scaler on an empty sample")
            std = array.std(axis=0)
            getattr(self, f"{name}_mean").copy_(torch.as_tensor(array.mean(axis=0)))
            getattr(self, f"{name}_std").copy_(torch.as_tensor(np.where(std > 1e-6, std, 1.0)))
        return self

    def _scale(self, name: str, value: torch.Tensor) -> torch.Tensor:
        return (value - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def features(self, features: EventFeatures) -> EventFeatures:
        """Standardised copy of torch ``features``."""
        mask = features.jet_mask
        return EventFeatures(
            met=self._scale("met", features.met),
            leptons=self._scale("leptons", features.leptons),
            jets=torch.where(mask[..., None], self._scale("jets", features.jets), 0.0),
            jet_mask=mask,
            misc=self._scale("misc", features.misc),
        )

    def target(self, targets: torch.Tensor) -> torch.Tensor:
        return self._scale("target", targets)

    def target_inverse(self, scaled: torch.Tensor) -> torch.Tensor:
        return scaled * self.target_std + self.target_mean

    def target_log_jacobian(self) -> torch.Tensor:
        """log |d scaled / d target|: add to a log-density in scaled space to get physical units."""
        return -torch.log(self.target_std).sum()
