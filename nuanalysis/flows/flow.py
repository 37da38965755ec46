"""The conditional invertible network of ν-Flows / ν²-Flows (paper §3.2, App. A, Fig. 10).

A stack of rational-quadratic spline coupling layers (nflows), each followed
by an LU-decomposed linear layer, maps the standardised target
``(p_x, p_y, η)`` per neutrino to a standard normal. The first coupling layer
keeps the transverse coordinates (X_A) and transforms the longitudinal ones
(X_B); the split alternates from layer to layer. The spline parameters come
from a dense Spline Net fed with the identity half and the event context.
Training maximises ``log p(x | c) = log N(f(x|c)) + log |det J|`` (eq. 2).
"""

from __future__ import annotations

import warnings

import torch
from nflows.distributions import StandardNormal
from nflows.flows import Flow
from nflows.transforms import CompositeTransform, LULinear
from nflows.transforms.coupling import PiecewiseRationalQuadraticCouplingTransform
from torch import nn

from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import EventFeatures
from nuanalysis.flows.networks import DenseNetwork
from nuanalysis.padded import N_NEUTRINOS

# nflows 0.14's LU layer calls a torch function deprecated in favour of solve_triangular
warnings.filterwarnings("ignore", message="torch.triangular_solve is deprecated")


def longitudinal_mask(n_neutrinos: int, layer: int) -> torch.Tensor:
    """nflows coupling mask (1 = transformed): every η in even layers, (px, py) in odd ones."""
    longitudinal = torch.tensor([0, 0, 1] * n_neutrinos)
    return longitudinal if layer % 2 == 0 else 1 - longitudinal


class ConditionalFlow(nn.Module):
    """RQ-spline coupling + LU linear blocks, one block per coupling mask, given a context.

    ``masks`` are nflows coupling masks (1 = transformed), all of the flow's
    dimension; :func:`longitudinal_mask` gives the ν-Flows ones.
    """

    def __init__(
        self,
        masks: list[torch.Tensor],
        context_features: int,
        hidden_features: int = 64,
        hidden_layers: int = 2,
        spline_bins: int = 10,
        tail_bound: float = 5.0,
    ) -> None:
        super().__init__()
        dimension = len(masks[0])

        def spline_net(in_features: int, out_features: int) -> DenseNetwork:
            return DenseNetwork(
                in_features,
                out_features,
                context_features,
                hidden_features,
                hidden_layers,
                zero_init_output=True,
            )

        transforms = []
        for mask in masks:
            transforms.append(
                PiecewiseRationalQuadraticCouplingTransform(
                    mask=mask,
                    transform_net_create_fn=spline_net,
                    num_bins=spline_bins,
                    tails="linear",
                    tail_bound=tail_bound,
                )
            )
            transforms.append(LULinear(dimension, identity_init=True))
        self.dimension = dimension
        self.flow = Flow(CompositeTransform(transforms), StandardNormal([dimension]))

    def log_prob(self, inputs: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.flow.log_prob(inputs, context=context)

    def sample_and_log_prob(
        self, n_samples: int, context: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, D) samples and (B, S) log-densities; the context is encoded once per event."""
        return self.flow.sample_and_log_prob(n_samples, context=context)

    def to_latent(self, inputs: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        latent, _ = self.flow._transform(inputs, context=context)
        return latent

    def from_latent(self, latent: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        inputs, _ = self.flow._transform.inverse(latent, context=context)
        return inputs


class NeutrinoFlowModel(EventModel):
    """ν-Flows (semileptonic, Deep Set) or ν²-Flows (dilepton, transformer): p(ν | event)."""

    model_type = "flow"

    def __init__(self, channel: str, hyper_parameters: dict, encoder: str | None = None) -> None:
        super().__init__(
            channel,
            hyper_parameters,
            encoder,
            out_features=hyper_parameters["context_features"],
            embedding_layers=hyper_parameters["hidden_layers"],
        )
        hp = self.hyper_parameters
        masks = [longitudinal_mask(N_NEUTRINOS[channel], i) for i in range(hp["flow_layers"])]
        self.flow = ConditionalFlow(
            masks,
            hp["context_features"],
            hp["hidden_features"],
            hp["hidden_layers"],
            hp["spline_bins"],
            hp["tail_bound"],
        )

    def loss(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the standardised targets (eq. 2), batch mean."""
        scaled = self.standardiser.target(targets)
        return -self.flow.log_prob(scaled, self.encode(features)).mean()

    def log_prob(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """log p(px, py, η | event) in physical units (GeV⁻² per neutrino)."""
        scaled = self.standardiser.target(targets)
        log_prob = self.flow.log_prob(scaled, self.encode(features))
        return log_prob + self.standardiser.target_log_jacobian()

    def sample(self, features: EventFeatures, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, 3 n_nu) physical (px, py, η) samples and their (B, S) log-densities."""
        scaled, log_prob = self.flow.sample_and_log_prob(n_samples, self.encode(features))
        samples = self.standardiser.target_inverse(scaled)
        return samples, log_prob + self.standardiser.target_log_jacobian()
