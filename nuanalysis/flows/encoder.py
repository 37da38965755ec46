"""What ν-Flows and ν-FF share: scalers, event encoder, feature definitions (paper Fig. 3, 4).

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper");
J. A. Raine, M. Leigh, K. Zoch and T. Golling, "ν²-Flows: Fast and improved neutrino
reconstruction in multi-neutrino final states with conditional normalizing flows",
https://arxiv.org/abs/2307.02405.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nuanalysis.errors import ModelError
from nuanalysis.flows.deepset import DeepSetEncoder
from nuanalysis.flows.features import (
    JET_FEATURES,
    LEPTON_FEATURES,
    MET_FEATURES,
    MISC_FEATURES,
    TARGET_FEATURES,
    EventFeatures,
    Standardiser,
    feature_definitions,
)
from nuanalysis.flows.frame import EventFrame, LabFrame, check_frame, event_frame
from nuanalysis.flows.presets import DEFAULT_ENCODER, Architecture
from nuanalysis.flows.transformer import TransformerEncoderNet
from nuanalysis.padded import CHANNELS, N_LEPTONS, N_NEUTRINOS


def build_encoder(
    channel: str, kind: str, architecture: Architecture, out_features: int, embedding_layers: int
) -> nn.Module:
    """The Deep Set (ν-Flows) or transformer (ν²-Flows) encoder for ``channel``'s features.

    ``out_features`` and ``embedding_layers`` size the final Embedding Network:
    the flow context (2 hidden layers), or ν-FF's prediction (4 hidden layers, §3.3).
    """
    n_lepton_features = len(LEPTON_FEATURES[channel])
    event_features = len(MET_FEATURES) + N_LEPTONS[channel] * n_lepton_features + len(MISC_FEATURES)
    if kind == "deepset":
        return DeepSetEncoder(
            event_features,
            len(JET_FEATURES),
            out_features,
            architecture.hidden_features,
            architecture.hidden_layers,
            architecture.deepset_features,
            architecture.deepset_heads,
            embedding_layers,
        )
    if kind == "transformer":
        return TransformerEncoderNet(
            n_lepton_features,
            len(JET_FEATURES),
            len(MET_FEATURES),
            len(MISC_FEATURES),
            event_features,
            out_features,
            width=architecture.transformer_width,
            heads=architecture.transformer_heads,
            layers=architecture.transformer_layers,
            class_attention_layers=architecture.class_attention_layers,
            hidden_features=architecture.hidden_features,
            hidden_layers=architecture.hidden_layers,
            embedding_layers=embedding_layers,
        )
    raise ModelError(f"unknown encoder {kind!r}; choose 'deepset' or 'transformer'")


class EventModel(nn.Module):
    """Base of the trained models: channel, hyper-parameters, scalers and the event encoder.

    Subclasses set ``model_type``, the encoder's output size and depth, and
    ``loss(features, targets)`` (the training objective on unscaled torch inputs).
    ``config()`` is everything needed to rebuild the model before loading weights.
    Every public method takes lab-frame features and targets and returns lab-frame
    neutrinos; ``frame`` ('canonical' or 'lab', :mod:`nuanalysis.flows.frame`) is
    what the network sees in between.
    """

    model_type = ""

    def __init__(
        self,
        channel: str,
        architecture: Architecture,
        encoder: str | None,
        out_features: int,
        embedding_layers: int,
        frame: str = "canonical",
    ) -> None:
        super().__init__()
        if channel not in CHANNELS:
            raise ModelError(f"unknown channel {channel!r}; choose one of {', '.join(CHANNELS)}")
        self.channel = channel
        self.encoder_kind = encoder or DEFAULT_ENCODER[channel]
        self.frame = check_frame(frame)
        self.architecture = architecture
        self.n_neutrinos = N_NEUTRINOS[channel]
        self.n_targets = len(TARGET_FEATURES) * self.n_neutrinos
        self.standardiser = Standardiser(len(LEPTON_FEATURES[channel]), self.n_targets)
        self.encoder = build_encoder(
            channel, self.encoder_kind, architecture, out_features, embedding_layers
        )
        self.metadata: dict = {}
        self.source = "in memory"

    def config(self) -> dict:
        return {
            "channel": self.channel,
            "model_type": self.model_type,
            "encoder": self.encoder_kind,
            "frame": self.frame,
            "hyper_parameters": self.architecture.as_config(),
            "features": {k: list(v) for k, v in feature_definitions(self.channel).items()},
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def fit_scalers(self, features: EventFeatures, targets: np.ndarray) -> None:
        """Fit the scalers on numpy lab-frame training data, seen in the model's frame."""
        lab = features.to_torch()
        frame = self.event_frame(lab)
        seen = frame.features(lab)
        in_frame = EventFeatures(*(getattr(seen, name).numpy() for name in seen._names()))
        targets = frame.targets(torch.as_tensor(targets, dtype=torch.float32)).numpy()
        self.standardiser.fit(in_frame, targets)

    def event_frame(self, features: EventFeatures) -> EventFrame | LabFrame:
        """The per-event frame this model sees torch lab-frame ``features`` in."""
        return event_frame(self.frame, features)

    def encode(self, features: EventFeatures, frame: EventFrame | LabFrame) -> torch.Tensor:
        """Encoder output (flow context, or ν-FF prediction) for torch lab-frame ``features``."""
        return self.encoder(self.standardiser.features(frame.features(features)))
