"""ν²-Flows event encoder: the event as a point cloud of typed objects (ν²-Flows slides).

Leptons, jets, the MET and the misc observables each get their own embedding
network into a common width; the objects form one sequence (padded jets are
masked out with ``src_key_padding_mask``) that runs through a
:class:`torch.nn.TransformerEncoder`; a learned class token then attends to
the encoded objects (class-attention pooling) to give one vector per event,
which the Embedding Network turns into the flow context. No positional
encoding is used, so the encoder is invariant under jet (and lepton)
permutations and accepts any object multiplicity.

References: J. A. Raine, M. Leigh, K. Zoch and T. Golling, "ν²-Flows: Fast and improved
neutrino reconstruction in multi-neutrino final states with conditional normalizing flows",
https://arxiv.org/abs/2307.02405.
"""

from __future__ import annotations

import torch
from torch import nn

from nuanalysis.flows.deepset import event_level_inputs
from nuanalysis.flows.features import EventFeatures
from nuanalysis.flows.networks import DenseNetwork


class ClassAttentionBlock(nn.Module):
    """Cross-attention of the class token onto the objects, then a residual feed-forward."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(width)
        self.norm_objects = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(width)
        self.feed_forward = nn.Sequential(
            nn.Linear(width, 2 * width), nn.LeakyReLU(0.1), nn.Linear(2 * width, width)
        )

    def forward(self, token: torch.Tensor, objects: torch.Tensor, padding: torch.Tensor):
        keys = self.norm_objects(objects)
        attended, _ = self.attention(
            self.norm_query(token), keys, keys, key_padding_mask=padding, need_weights=False
        )
        token = token + attended
        return token + self.feed_forward(self.norm_ff(token))


class TransformerEncoderNet(nn.Module):
    """Typed objects → per-type embedding → transformer encoder → class attention → context."""

    def __init__(
        self,
        lepton_features: int,
        jet_features: int,
        met_features: int,
        misc_features: int,
        event_features: int,
        context_features: int,
        width: int = 64,
        heads: int = 4,
        layers: int = 2,
        class_attention_layers: int = 2,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        embedding_layers: int | None = None,
    ) -> None:
        super().__init__()
        self.out_features = context_features

        def embed(n_in: int) -> DenseNetwork:
            return DenseNetwork(n_in, width, hidden_features=hidden_features, hidden_layers=1)

        self.embed_lepton = embed(lepton_features)
        self.embed_jet = embed(jet_features)
        self.embed_met = embed(met_features)
        self.embed_misc = embed(misc_features)
        layer = nn.TransformerEncoderLayer(
            width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.class_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.class_attention = nn.ModuleList(
            ClassAttentionBlock(width, heads) for _ in range(class_attention_layers)
        )
        self.embedding_net = DenseNetwork(
            width + event_features,
            context_features,
            hidden_features=hidden_features,
            hidden_layers=embedding_layers or hidden_layers,
        )

    def forward(self, features: EventFeatures) -> torch.Tensor:
        n = features.met.shape[0]  # not len(): an ONNX trace keeps shape[0] symbolic
        objects = torch.cat(
            [
                self.embed_met(features.met)[:, None],
                self.embed_misc(features.misc)[:, None],
                self.embed_lepton(features.leptons),
                self.embed_jet(features.jets),
            ],
            dim=1,
        )
        n_fixed = objects.shape[1] - features.jets.shape[1]
        always = torch.zeros(n, n_fixed, dtype=torch.bool, device=objects.device)
        padding = torch.cat([always, ~features.jet_mask], dim=1)
        encoded = self.encoder(objects, src_key_padding_mask=padding)
        token = self.class_token.expand(n, 1, -1)
        for block in self.class_attention:
            token = block(token, encoded, padding)
        return self.embedding_net(torch.cat([token[:, 0], event_level_inputs(features)], dim=-1))
