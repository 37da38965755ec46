"""ν-Flows event encoder: attention Deep Set over the jets + Embedding Network (paper §3.2, App. A).

Each jet's features, concatenated with the event-level context (MET, lepton,
misc), pass through the Feature Net (per-jet representation fᵢ) and the
Attention Net (per-jet weight wᵢ, exponential activation); the pooled
``F = Σᵢ wᵢ fᵢ`` goes through the Final Net. The weights are normalised over
the real jets of the event (a masked softmax, i.e. ``exp`` divided by the sum),
which keeps F bounded; padded jets get weight exactly zero, so the encoder is
permutation invariant and blind to padding. The Embedding Network then maps
MET, lepton, misc and the jet summary to the context of every flow layer.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper");
M. Zaheer et al., "Deep Sets", NeurIPS 2017, https://arxiv.org/abs/1703.06114.
"""

from __future__ import annotations

import torch
from torch import nn

from nuanalysis.flows.features import EventFeatures
from nuanalysis.flows.networks import DenseNetwork


def event_level_inputs(features: EventFeatures) -> torch.Tensor:
    """(n, k) MET, flattened leptons and misc: the per-event part of Table 1."""
    return torch.cat([features.met, features.leptons.flatten(1), features.misc], dim=-1)


class AttentionDeepSet(nn.Module):
    """Permutation-invariant summary of a padded jet set given the event (App. A, Fig. 9)."""

    def __init__(
        self,
        jet_features: int,
        context_features: int,
        out_features: int,
        hidden_features: int,
        hidden_layers: int,
        heads: int = 1,
    ) -> None:
        super().__init__()
        width = hidden_features
        self.heads = heads
        self.feature_net = DenseNetwork(
            jet_features, width * heads, context_features, hidden_features, hidden_layers
        )
        self.attention_net = DenseNetwork(
            jet_features, heads, context_features, hidden_features, hidden_layers
        )
        self.final_net = DenseNetwork(
            width * heads, out_features, context_features, hidden_features, hidden_layers
        )

    def forward(
        self, jets: torch.Tensor, mask: torch.Tensor, context: torch.Tensor
    ) -> torch.Tensor:
        n, n_jets, _ = jets.shape
        per_jet_context = context[:, None, :].expand(n, n_jets, context.shape[-1])
        representations = self.feature_net(jets, per_jet_context).view(n, n_jets, self.heads, -1)
        logits = self.attention_net(jets, per_jet_context)
        logits = logits.masked_fill(~mask[..., None], float("-inf"))
        # exp activation, normalised over the real jets; events without jets pool to zero
        shift = logits.amax(dim=1, keepdim=True).clamp_min(-1e4).detach()
        weights = torch.exp(logits - shift)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-12)
        pooled = (weights[..., None] * representations).sum(dim=1).flatten(1)
        return self.final_net(pooled, context)


class DeepSetEncoder(nn.Module):
    """Table 1 features → flow context: Deep Set on jets, then the Embedding Network (Fig. 3)."""

    def __init__(
        self,
        event_features: int,
        jet_features: int,
        context_features: int,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        deepset_features: int = 64,
        heads: int = 1,
        embedding_layers: int | None = None,
    ) -> None:
        super().__init__()
        self.out_features = context_features
        self.deep_set = AttentionDeepSet(
            jet_features, event_features, deepset_features, hidden_features, hidden_layers, heads
        )
        self.embedding_net = DenseNetwork(
            event_features + deepset_features,
            context_features,
            hidden_features=hidden_features,
            hidden_layers=embedding_layers or hidden_layers,
        )

    def forward(self, features: EventFeatures) -> torch.Tensor:
        event = event_level_inputs(features)
        jets = self.deep_set(features.jets, features.jet_mask, event)
        return self.embedding_net(torch.cat([event, jets], dim=-1))
