"""Dense building block shared by every ν-Flows network (ν-Flows paper, Appendix A).

"All dense networks have two hidden layers of 64 nodes each. Each hidden layer
applies the LeakyReLU activation function with a slope parameter of 0.1 and
Layer-Normalisation. Additive residual connections are used between each
hidden layer. Conditional information is injected into the dense networks by
concatenating the context tensors to the inputs."

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


class DenseNetwork(nn.Module):
    """``inputs [+ context] → hidden (Linear, LayerNorm, LeakyReLU(0.1), residual) → outputs``.

    ``forward(inputs, context=None)`` matches the signature nflows expects of a
    coupling layer's parameter network, so the same class serves as Feature,
    Attention, Final, Embedding and Spline Net.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        context_features: int = 0,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        zero_init_output: bool = False,
    ) -> None:
        super().__init__()
        if hidden_layers < 1:
            raise ValueError("a dense network needs at least one hidden layer")
        self.context_features = context_features
        self.hidden_features = hidden_features  # nflows scales spline logits by its √
        self.input_layer = nn.Linear(in_features + context_features, hidden_features)
        self.hidden = nn.ModuleList(
            nn.Linear(hidden_features, hidden_features) for _ in range(hidden_layers - 1)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden_features) for _ in range(hidden_layers))
        self.activation = nn.LeakyReLU(0.1)
        self.output_layer = nn.Linear(hidden_features, out_features)
        if zero_init_output:
            # a coupling layer starts as (nearly) the identity: stable first epochs
            nn.init.zeros_(self.output_layer.weight)
            nn.init.zeros_(self.output_layer.bias)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.context_features:
            if context is None:
                raise ValueError("this network is conditional: pass a context tensor")
            inputs = torch.cat([inputs, context], dim=-1)
        return self._from_first_layer(self.input_layer(inputs))

    def context_term(self, context: torch.Tensor) -> torch.Tensor:
        """The first layer's share of ``context`` plus its bias: computed once per event,
        it serves every input of that event (:meth:`from_context_term`)."""
        weight = self.input_layer.weight[:, self.input_layer.in_features - self.context_features :]
        return functional.linear(context, weight, self.input_layer.bias)

    def from_context_term(self, inputs: torch.Tensor, term: torch.Tensor) -> torch.Tensor:
        """``forward(inputs, context)`` given ``term = context_term(context)`` (row for row)."""
        weight = self.input_layer.weight[:, : self.input_layer.in_features - self.context_features]
        return self._from_first_layer(functional.linear(inputs, weight) + term)

    def _from_first_layer(self, first: torch.Tensor) -> torch.Tensor:
        hidden = self.activation(self.norms[0](first))
        for layer, norm in zip(self.hidden, self.norms[1:], strict=True):
            hidden = hidden + self.activation(norm(layer(hidden)))
        return self.output_layer(hidden)
