"""ν-FF: the regression baseline of the ν-Flows paper (§3.3, Fig. 4).

The same encoder as the flow, but its Embedding Network has four hidden
layers and outputs the standardised ``(p_x, p_y, η)`` of each neutrino
directly; trained with the Smooth-L1 loss on the same data, optimiser,
schedule, clipping and early stopping as the flow.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

import torch
from torch.nn import functional

from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import TARGET_FEATURES, EventFeatures
from nuanalysis.flows.presets import Architecture
from nuanalysis.padded import N_NEUTRINOS


class NeutrinoRegressionModel(EventModel):
    """Deterministic point estimate of the neutrino momenta."""

    model_type = "ff"

    def __init__(
        self,
        channel: str,
        architecture: Architecture,
        encoder: str | None = None,
        frame: str = "canonical",
    ) -> None:
        super().__init__(
            channel,
            architecture,
            encoder,
            out_features=len(TARGET_FEATURES) * N_NEUTRINOS[channel],
            embedding_layers=architecture.regression_layers,
            frame=frame,
        )

    def loss(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """Smooth-L1 loss in standardised target space, in the model's frame."""
        frame = self.event_frame(features)
        scaled = self.standardiser.target(frame.targets(targets))
        return functional.smooth_l1_loss(self.encode(features, frame), scaled)

    def predict(self, features: EventFeatures) -> torch.Tensor:
        """(B, 3 n_nu) physical lab-frame (px, py, η)."""
        frame = self.event_frame(features)
        return frame.targets_inverse(self.standardiser.target_inverse(self.encode(features, frame)))
