"""The conditional invertible network of ν-Flows / ν²-Flows (paper §3.2, App. A, Fig. 10).

A stack of rational-quadratic spline coupling layers (nflows), each followed
by an LU-decomposed linear layer, maps the standardised target
``(p_x, p_y, η)`` per neutrino to a standard normal. The first coupling layer
keeps the transverse coordinates (X_A) and transforms the longitudinal ones
(X_B); the split alternates from layer to layer. The spline parameters come
from a dense Spline Net fed with the identity half and the event context.
Training maximises ``log p(x | c) = log N(f(x|c)) + log |det J|`` (eq. 2).

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper");
J. A. Raine, M. Leigh, K. Zoch and T. Golling, "ν²-Flows: Fast and improved neutrino
reconstruction in multi-neutrino final states with conditional normalizing flows",
https://arxiv.org/abs/2307.02405; C. Durkan, A. Bekasov, I. Murray and G. Papamakarios,
"Neural Spline Flows", NeurIPS 2019, https://arxiv.org/abs/1906.04032.
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
from nuanalysis.flows.lean_inverse import context_terms, lean_inverse
from nuanalysis.flows.networks import DenseNetwork
from nuanalysis.flows.presets import Architecture
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

    def from_noise(
        self, noise: torch.Tensor, context: torch.Tensor, repeats: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N·R, D) samples for given (N·R, D) standard-normal ``noise``, ``repeats`` = R
        rows per row of the (N, C) ``context``, and their (N·R,) log-densities.

        The change of variables of eq. 2 read backwards:
        ``log p(x | c) = log N(z) − log |det ∂x/∂z|`` with ``x = f⁻¹(z | c)``,
        evaluated by :func:`~nuanalysis.flows.lean_inverse.lean_inverse` (nflows'
        numbers with a fraction of its operators).
        """
        return self.from_terms(noise, self.context_terms(context, repeats))

    def context_terms(self, context: torch.Tensor, repeats: int = 1) -> list[torch.Tensor]:
        """The context as :func:`~nuanalysis.flows.lean_inverse.lean_inverse` takes it,
        each of the (N, C) rows repeated ``repeats`` times."""
        return context_terms(self.flow._transform, context, repeats)

    def from_terms(
        self, noise: torch.Tensor, terms: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`from_noise` with the context given as its :meth:`context_terms`."""
        inputs, log_det = lean_inverse(self.flow._transform, noise, terms)
        return inputs, self.flow._distribution.log_prob(noise) - log_det

    def to_latent(self, inputs: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        latent, _ = self.flow._transform(inputs, context=context)
        return latent

    def from_latent(self, latent: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        inputs, _ = self.flow._transform.inverse(latent, context=context)
        return inputs


class NeutrinoFlowModel(EventModel):
    """ν-Flows (semileptonic, Deep Set) or ν²-Flows (dilepton, transformer): p(ν | event)."""

    model_type = "flow"

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
            out_features=architecture.context_features,
            embedding_layers=architecture.hidden_layers,
            frame=frame,
        )
        masks = [
            longitudinal_mask(N_NEUTRINOS[channel], i) for i in range(architecture.flow_layers)
        ]
        self.flow = ConditionalFlow(
            masks,
            architecture.context_features,
            architecture.hidden_features,
            architecture.hidden_layers,
            architecture.spline_bins,
            architecture.tail_bound,
        )

    def loss(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of the standardised targets (eq. 2), batch mean."""
        return -self._scaled_log_prob(features, targets).mean()

    def log_prob(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """log p(px, py, η | event) in physical units (GeV⁻² per neutrino).

        The frame's map has |det J| = 1, so the density is the same in either frame.
        """
        return self._scaled_log_prob(features, targets) + self.standardiser.target_log_jacobian()

    def _scaled_log_prob(self, features: EventFeatures, targets: torch.Tensor) -> torch.Tensor:
        """log-density of the standardised targets in the model's frame (eq. 2)."""
        frame = self.event_frame(features)
        scaled = self.standardiser.target(frame.targets(targets))
        return self.flow.log_prob(scaled, self.encode(features, frame))

    def sample(self, features: EventFeatures, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, 3 n_nu) physical (px, py, η) samples and their (B, S) log-densities."""
        noise = torch.randn(len(features), n_samples, self.n_targets, device=self.device)
        return self.sample_from_noise(features, noise)

    def sample_from_noise(
        self, features: EventFeatures, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples for given ``noise``: (B, S, 3 n_nu) physical (px, py, η), (B, S) log-densities.

        ``noise`` is (B, S, 3 n_nu) standard normal (the flow's latent space),
        so a caller that fixes it (per-event seeding, the ONNX graph) fixes the
        samples. The event is encoded once and its context repeated for its S draws.
        """
        batch, n_samples, dimension = noise.shape
        frame = self.event_frame(features)
        context = self.encode(features, frame)
        scaled, log_prob = self.flow.from_noise(noise.reshape(-1, dimension), context, n_samples)
        in_frame = self.standardiser.target_inverse(scaled).reshape(batch, n_samples, dimension)
        samples = frame.targets_inverse(in_frame)
        log_prob = log_prob + self.standardiser.target_log_jacobian()
        return samples, log_prob.reshape(batch, n_samples)
