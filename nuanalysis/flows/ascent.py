"""The flow's most probable solution by a few draws and gradient ascent in latent space.

ν-Flows(mode) keeps the best of 256 draws (paper §4): brute force, and still
short of the density's maximum. Here the event is encoded once, a few draws
``x = f⁻¹(z | c)`` are made (:func:`~nuanalysis.flows.noise.event_noise`; a
single one is the latent mode ``z = 0``,
:mod:`nuanalysis.flows.inference`), the ``starts`` most probable are kept,
and each climbs

    L(z) = log p(f⁻¹(z | c) | c) = log N(z) − log |det ∂f⁻¹/∂z|      (eq. 2)

by steps of length r along ∇_z L (a trust region per start: a step is kept
only if L rises, r grows ×1.5 after a kept step and shrinks ×0.3 after a
refused one). The latent space is where the flow makes the density nearly
standard normal, so steps there are well scaled; in the standardised target
space the same budget found lower log p and worse resolutions
(``benchmarks/flows.py``). The best start after climbing is the solution;
its log p is never below the best draw's (a refused step keeps the point),
and non-finite steps are refused, so the result is always finite.

An exported graph has no autograd: :func:`ascend_mode_by_differences` climbs
the same way with ∇_z L from forward differences over the graph's sampling pass.

Every choice depends on the event's own draws only, so results are
deterministic at a fixed seed, and a canonical-frame model stays exactly
equivariant. They are independent of batching to the last bit: a matrix
product computes the rows of a short last block of rows (fewer than the CPU
kernel's tile) by another path, with other float rounding, and an accepted or
refused step turns such a 1e-7 difference into up to 1e-3 GeV. So the events
are padded (the last repeated) to a multiple of :data:`ROW_BLOCK`, and every
row of every product sits in a full block whatever the batch.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from nuanalysis.flows.features import EventFeatures
from nuanalysis.flows.flow import NeutrinoFlowModel
from nuanalysis.flows.frame import EventFrame, LabFrame

FIRST_STEP = 0.5
"""Initial step length in latent space (the latent noise has unit variance)."""
GROW = 1.5
"""Step-length factor after a step that raised log p."""
SHRINK = 0.3
"""Step-length factor after a refused step."""
DIFFERENCE_STEP = 1e-2
"""Latent offset of the forward differences of :func:`ascend_mode_by_differences`."""
ROW_BLOCK = 16
"""Events per block of rows: batches are padded to a multiple (module docstring)."""


def padded_rows(n: int) -> torch.Tensor:
    """Indices 0 … n − 1 and the last one repeated up to a multiple of :data:`ROW_BLOCK`."""
    return torch.arange(-(-n // ROW_BLOCK) * ROW_BLOCK).clamp(max=n - 1)


Evaluate = Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""(N, D) latent points, whether ∇_z L is wanted → the (N, P) points they map to (in
whatever coordinates the caller keeps), their (N,) L(z) and (N, D) ∇_z L (zeros unless wanted)."""


def _latent_log_prob(
    model: NeutrinoFlowModel, terms: list[torch.Tensor], latent: torch.Tensor, gradient: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:data:`Evaluate` by autograd: standardised targets, L(z) and ∇_z L for (N, D)
    latent points (``terms``: the context,
    :meth:`~nuanalysis.flows.flow.ConditionalFlow.context_terms`)."""
    if not gradient:
        with torch.no_grad():
            scaled, log_prob = model.flow.from_terms(latent, terms)
        return scaled, log_prob, torch.zeros_like(latent)
    latent = latent.detach().requires_grad_(True)
    scaled, log_prob = model.flow.from_terms(latent, terms)
    (slope,) = torch.autograd.grad(log_prob.sum(), latent)
    return scaled.detach(), log_prob.detach(), slope


def _climb(
    evaluate: Evaluate,
    latent: torch.Tensor,
    points: torch.Tensor,
    log_prob: torch.Tensor,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` trust-region ascent steps from (N, D) ``latent`` (module docstring)."""
    if steps == 0:
        return points, log_prob
    radius = torch.full_like(log_prob, FIRST_STEP)
    _, _, gradient = evaluate(latent, True)
    for step in range(steps):
        norm = gradient.norm(dim=1, keepdim=True).clamp_min(torch.finfo(gradient.dtype).tiny)
        proposal = latent + radius[:, None] * gradient / norm
        last = step == steps - 1  # its gradient would never be used
        new_points, new_log_prob, new_gradient = evaluate(proposal, not last)
        kept = torch.isfinite(new_log_prob) & (new_log_prob > log_prob)
        kept &= torch.isfinite(new_points).all(dim=1) & torch.isfinite(new_gradient).all(dim=1)
        latent = torch.where(kept[:, None], proposal, latent)
        points = torch.where(kept[:, None], new_points, points)
        gradient = torch.where(kept[:, None], new_gradient, gradient)
        log_prob = torch.where(kept, new_log_prob, log_prob)
        radius = torch.where(kept, radius * GROW, radius * SHRINK)
    return points, log_prob


def _climb_best_draws(
    evaluate: Evaluate,
    noise: torch.Tensor,
    points: torch.Tensor,
    log_prob: torch.Tensor,
    starts: int,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per event, the ``starts`` most probable of the (B, K, D) ``noise`` draws (mapped to
    (B, K, D) ``points`` with (B, K) ``log_prob``) climb ``steps`` steps; the best climbed
    (B, D) point, its (B,) log p and the (B,) log p of the best draw."""
    batch, _, dimension = noise.shape
    top = log_prob.topk(starts, dim=1).indices
    rows = torch.arange(batch)[:, None]
    climbed, climbed_log_prob = _climb(
        evaluate,
        noise[rows, top].reshape(-1, dimension),
        points[rows, top].reshape(-1, dimension),
        log_prob[rows, top].reshape(-1),
        steps,
    )
    climbed_log_prob = climbed_log_prob.reshape(batch, starts)
    best = climbed_log_prob.argmax(dim=1)
    index = torch.arange(batch)
    chosen = climbed.reshape(batch, starts, dimension)[index, best]
    return chosen, climbed_log_prob[index, best], log_prob.max(dim=1).values


def ascend_mode(
    model: NeutrinoFlowModel,
    features: EventFeatures,
    noise: torch.Tensor,
    starts: int,
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The most probable solution of each event from (B, K, D) latent ``noise``.

    Returns (B, D) physical lab-frame (p_x, p_y, η) per neutrino, their (B,)
    log-densities and the (B,) log-density of the best of the K draws (where
    the climb started). ``features`` are torch lab-frame features.
    """
    batch = noise.shape[0]
    rows = padded_rows(batch)
    features, noise = features.select(rows), noise[rows.to(noise.device)]
    padded, n_draws, dimension = noise.shape
    with torch.no_grad():  # not inference_mode: the climb differentiates through these
        frame = model.event_frame(features)
        context = model.encode(features, frame)
        scaled, log_prob = model.flow.from_noise(noise.reshape(-1, dimension), context, n_draws)
        terms = model.flow.context_terms(context, starts)
    with torch.enable_grad():
        chosen, chosen_log_prob, best_draw = _climb_best_draws(
            functools.partial(_latent_log_prob, model, terms),
            noise,
            scaled.reshape(padded, n_draws, dimension),
            log_prob.reshape(padded, n_draws),
            starts,
            steps,
        )
    log_jacobian = model.standardiser.target_log_jacobian()
    mode = _to_lab(model, frame, chosen)
    return mode[:batch], chosen_log_prob[:batch] + log_jacobian, best_draw[:batch] + log_jacobian


def _to_lab(
    model: NeutrinoFlowModel, frame: EventFrame | LabFrame, scaled: torch.Tensor
) -> torch.Tensor:
    """Standardised targets in the model's frame → physical lab (p_x, p_y, η)."""
    with torch.no_grad():
        return frame.targets_inverse(model.standardiser.target_inverse(scaled))


def ascend_mode_by_differences(
    sample_from_noise: Callable[[EventFeatures, np.ndarray], tuple[np.ndarray, np.ndarray]],
    features: EventFeatures,
    noise: np.ndarray,
    starts: int,
    steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ascend_mode` for a flow known only by its sampling pass (an ONNX graph):
    ``sample_from_noise(features, (B, S, D) noise) → (B, S, D) samples, (B, S) log p``.

    ∇_z L comes from forward differences, (L(z + h e_i) − L(z)) / h with h =
    :data:`DIFFERENCE_STEP`, evaluated in the same pass as L(z): each step is one
    call of ``starts × (1 + D)`` rows per event. numpy (B, D) mode, (B,) log p
    and (B,) log p of the best draw, as :func:`ascend_mode` (padded the same way).
    """
    original = noise.shape[0]
    rows = padded_rows(original).numpy()
    features, noise = features.select(rows), noise[rows]
    batch, _, dimension = noise.shape
    offsets = torch.cat([torch.zeros(1, dimension), DIFFERENCE_STEP * torch.eye(dimension)])

    def evaluate(latent: torch.Tensor, gradient: bool):
        latent = latent.reshape(batch, -1, 1, dimension)
        if gradient:
            latent = latent + offsets
        rows = latent.shape[1]
        points, values = sample_from_noise(features, latent.reshape(batch, -1, dimension).numpy())
        points = torch.from_numpy(points).reshape(batch, rows, -1, dimension)[:, :, 0]
        values = torch.from_numpy(values).reshape(batch, rows, -1)
        slope = (values[..., 1:] - values[..., :1]) / DIFFERENCE_STEP
        if not gradient:
            slope = torch.zeros(batch, rows, dimension)
        return (
            points.reshape(-1, dimension),
            values[..., 0].reshape(-1),
            slope.reshape(-1, dimension),
        )

    latent = torch.from_numpy(np.ascontiguousarray(noise, dtype=np.float32))
    points, log_prob, _ = evaluate(latent, False)
    mode, mode_log_prob, best_draw = _climb_best_draws(
        evaluate,
        latent,
        points.reshape(noise.shape),
        log_prob.reshape(noise.shape[:2]),
        starts,
        steps,
    )
    return mode[:original].numpy(), mode_log_prob[:original].numpy(), best_draw[:original].numpy()
