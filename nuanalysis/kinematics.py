"""Vectorised four-momentum helpers on ``(..., 4) = (px, py, pz, E)`` arrays."""

from __future__ import annotations

import numpy as np


def from_pt_eta_phi_m(pt, eta, phi, mass) -> np.ndarray:
    """Cartesian (px, py, pz, E) from collider coordinates; shapes broadcast."""
    pt, eta, phi, mass = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi, mass))
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return np.stack([px, py, pz, energy], axis=-1)


def massless_from_momentum(p3: np.ndarray) -> np.ndarray:
    """(px, py, pz, E) of massless particles (neutrinos) from ``(..., 3)`` momenta."""
    energy = np.sqrt(np.sum(p3**2, axis=-1, keepdims=True))
    return np.concatenate([p3, energy], axis=-1)


def pt(p: np.ndarray) -> np.ndarray:
    return np.hypot(p[..., 0], p[..., 1])


def eta(p: np.ndarray) -> np.ndarray:
    """Pseudorapidity; ±inf never occurs for pT > 0, and pT = 0 gives η = 0."""
    transverse = pt(p)
    return np.arcsinh(
        np.divide(p[..., 2], transverse, out=np.zeros_like(transverse), where=transverse > 0)
    )


def phi(p: np.ndarray) -> np.ndarray:
    return np.arctan2(p[..., 1], p[..., 0])


def mass(p: np.ndarray) -> np.ndarray:
    """Invariant mass, with negative m² (numerical noise) returned as -sqrt(-m²)."""
    m2 = p[..., 3] ** 2 - np.sum(p[..., :3] ** 2, axis=-1)
    return np.sign(m2) * np.sqrt(np.abs(m2))
