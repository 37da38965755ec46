"""The canonical event frame: exact rotation and reflection symmetry inside the models.

The physics and the detector are invariant under a rotation of the whole event
about the beam axis and under the reflection z → −z. A model that sees every
event in a canonical orientation cannot learn anything else, so its neutrinos
rotate and reflect with the event exactly (up to float rounding):

* rotate every momentum by −φ₀, where φ₀ is the azimuth of the leading lepton,
  so that this lepton lies at φ = 0 (p_y = 0, p_x = p_T > 0);
* reflect z (η → −η) when the leading lepton has η < 0, so that its η ≥ 0.

Features are mapped into the frame, the network predicts the neutrinos there,
and the prediction is mapped back. Both maps are a rotation in (p_x, p_y) and a
sign on η, so their Jacobian determinant is ±1 and a log-density in
(p_x, p_y, η) is the same in either frame. Everything is plain torch, so a
traced or exported model (ONNX) carries the frame with it.

``lab`` (no frame) is what models trained before the frame existed use.
Measured gain: docs/methods.md, "Learned methods: the canonical frame".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nuanalysis.errors import ModelError
from nuanalysis.flows.features import EventFeatures

FRAMES = ("lab", "canonical")
"""``lab``: features as measured; ``canonical``: leading lepton at φ = 0 with η ≥ 0."""

MOMENTUM_COLUMNS = 3
"""Every feature group with momenta starts with (p_x, p_y, η); so do the targets per ν."""


def transverse(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """p_T written with ONNX-exportable operators (opset 17 has no ``hypot``)."""
    return torch.sqrt(px * px + py * py)


def check_frame(name: str) -> str:
    if name not in FRAMES:
        raise ModelError(f"unknown frame {name!r}; choose one of {', '.join(FRAMES)}")
    return name


class LabFrame:
    """No frame: features and targets pass unchanged (models trained before frames existed)."""

    def features(self, features: EventFeatures) -> EventFeatures:
        return features

    def targets(self, targets: torch.Tensor) -> torch.Tensor:
        return targets

    def targets_inverse(self, targets: torch.Tensor) -> torch.Tensor:
        return targets


@dataclass(frozen=True)
class EventFrame:
    """Per-event rotation (cos φ₀, sin φ₀) about the beam axis and z sign (±1), shape (B,)."""

    cos: torch.Tensor
    sin: torch.Tensor
    z_sign: torch.Tensor

    @classmethod
    def canonical(cls, features: EventFeatures) -> EventFrame:
        """The frame of each event's leading lepton (index 0 of the pT-ordered leptons)."""
        px, py, eta = (features.leptons[:, 0, i] for i in range(MOMENTUM_COLUMNS))
        pt = transverse(px, py)
        positive = pt > 0
        safe_pt = torch.where(positive, pt, torch.ones_like(pt))
        cos = torch.where(positive, px / safe_pt, torch.ones_like(pt))
        sin = torch.where(positive, py / safe_pt, torch.zeros_like(pt))
        z_sign = torch.where(eta < 0, -torch.ones_like(eta), torch.ones_like(eta))
        return cls(cos, sin, z_sign)

    def _per_event(self, value: torch.Tensor, dims: int) -> torch.Tensor:
        """``value`` (B,) shaped to broadcast against a (B, ...) array of ``dims`` dimensions."""
        return value.reshape((-1,) + (1,) * (dims - 1))

    def _rotate(
        self, px: torch.Tensor, py: torch.Tensor, direction: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate by −φ₀ (``direction`` +1, into the frame) or +φ₀ (−1, back to the lab)."""
        cos = self._per_event(self.cos, px.dim())
        sin = direction * self._per_event(self.sin, px.dim())
        return cos * px + sin * py, cos * py - sin * px

    def _map_momenta(self, values: torch.Tensor, direction: float) -> torch.Tensor:
        """Map every consecutive (p_x, p_y, η) triple of ``values`` (B, ..., 3k).

        The z reflection is its own inverse, so only the rotation has a direction.
        """
        shape = values.shape
        triples = values.reshape(*shape[:-1], shape[-1] // MOMENTUM_COLUMNS, MOMENTUM_COLUMNS)
        px, py = self._rotate(triples[..., 0], triples[..., 1], direction)
        eta = self._per_event(self.z_sign, triples.dim() - 1) * triples[..., 2]
        return torch.stack([px, py, eta], dim=-1).reshape(shape)

    def _map_objects(self, values: torch.Tensor) -> torch.Tensor:
        """An object group (B, n, F) whose first columns are (p_x, p_y, η), into the frame."""
        head = self._map_momenta(values[..., :MOMENTUM_COLUMNS], 1.0)
        return torch.cat([head, values[..., MOMENTUM_COLUMNS:]], dim=-1)

    def features(self, features: EventFeatures) -> EventFeatures:
        """``features`` seen in this frame: MET (p_x, p_y), leptons and jets (p_x, p_y, η)."""
        met_px, met_py = self._rotate(features.met[:, 0], features.met[:, 1], 1.0)
        leptons = self._map_objects(features.leptons)
        # the leading lepton is (p_T, 0, |η|) by construction: written exactly, so that
        # rounding (~1e-6 GeV) never reaches the network through a zero-width scaler
        pt = transverse(features.leptons[:, 0, 0], features.leptons[:, 0, 1])
        leading = torch.stack([pt, torch.zeros_like(pt), features.leptons[:, 0, 2].abs()], dim=-1)
        leading = torch.cat([leading, leptons[:, 0, MOMENTUM_COLUMNS:]], dim=-1)
        leptons = torch.cat([leading[:, None], leptons[:, 1:]], dim=1)
        return EventFeatures(
            met=torch.stack([met_px, met_py], dim=-1),
            leptons=leptons,
            jets=self._map_objects(features.jets),
            jet_mask=features.jet_mask,
            misc=features.misc,
        )

    def targets(self, targets: torch.Tensor) -> torch.Tensor:
        """Lab (p_x, p_y, η) per neutrino, (B, ..., 3 n_ν) → this frame."""
        return self._map_momenta(targets, 1.0)

    def targets_inverse(self, targets: torch.Tensor) -> torch.Tensor:
        """This frame's (p_x, p_y, η) per neutrino, (B, ..., 3 n_ν) → the lab."""
        return self._map_momenta(targets, -1.0)


def event_frame(name: str, features: EventFeatures) -> EventFrame | LabFrame:
    """The frame ``name`` (one of :data:`FRAMES`) of every event of torch ``features``."""
    if check_frame(name) == "canonical":
        return EventFrame.canonical(features)
    return LabFrame()
