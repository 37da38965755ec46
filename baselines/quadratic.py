"""The m_W constraint on the neutrino p_z: ν-Flows paper, eq. 3.

Requiring (ℓ + ν)² = m_W² with the neutrino's transverse momentum set to the
missing transverse momentum gives a quadratic in p_z^ν,

    a p_z² + b p_z + c = 0,   a = (p_z^ℓ)² − (E^ℓ)²,   b = α p_z^ℓ,
    c = α²/4 − (E^ℓ)² (p_T^ν)²,   α = m_W² − m_ℓ² + 2 (p_x^ℓ p_x^ν + p_y^ℓ p_y^ν).

When resolution or the W width makes the discriminant b² − 4ac negative,
the paper's convention is to drop the imaginary part: both solutions become
−b / 2a and the event is flagged. The smaller-|p_z| solution is the usual
choice (paper §2); both are returned, smaller first.
"""

from __future__ import annotations

import numba
import numpy as np

from baselines.guards import usable_momenta


@numba.njit(cache=True, parallel=True)
def quadratic_pz(
    lepton: np.ndarray, met: np.ndarray, w_mass: np.ndarray, lepton_mass: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both p_z solutions of eq. 3 for every event.

    Parameters: ``lepton`` (n, 4) px, py, pz, E; ``met`` (n, 2); ``w_mass`` and
    ``lepton_mass`` (n,) in GeV (one value per event, so truth masses can be
    passed for closure tests).

    Returns ``pz`` (n, 2) ordered by |p_z| (smaller first), ``complex_`` (n,)
    True where the discriminant was negative (both entries then hold the real
    part −b/2a), and ``solved`` (n,) False where the equation degenerates
    (a = b = 0: a massless lepton along the beam) or an input is not finite or
    beyond the collision energy (:func:`baselines.guards.usable_momenta`); ``pz``
    is 0 there.
    """
    n = lepton.shape[0]
    pz = np.zeros((n, 2))
    complex_ = np.zeros(n, dtype=np.bool_)
    solved = np.ones(n, dtype=np.bool_)
    for i in numba.prange(n):
        if not (usable_momenta(lepton[i]) and usable_momenta(met[i])):
            solved[i] = False
            continue
        lx, ly, lz, le = lepton[i, 0], lepton[i, 1], lepton[i, 2], lepton[i, 3]
        nx, ny = met[i, 0], met[i, 1]
        alpha = w_mass[i] ** 2 - lepton_mass[i] ** 2 + 2.0 * (lx * nx + ly * ny)
        a = lz * lz - le * le
        b = alpha * lz
        c = 0.25 * alpha * alpha - le * le * (nx * nx + ny * ny)
        if a == 0.0:
            if b == 0.0:
                solved[i] = False
                continue
            pz[i, 0] = pz[i, 1] = -c / b
            continue
        discriminant = b * b - 4.0 * a * c
        if discriminant < 0.0:
            complex_[i] = True
            pz[i, 0] = pz[i, 1] = -b / (2.0 * a)
            continue
        # numerically stable pair of roots: q = −(b + sign(b)·√Δ)/2, roots q/a and c/q
        root = np.sqrt(discriminant)
        q = -0.5 * (b + root) if b >= 0.0 else -0.5 * (b - root)
        first = q / a
        second = c / q if q != 0.0 else -first
        if abs(first) <= abs(second):
            pz[i, 0], pz[i, 1] = first, second
        else:
            pz[i, 0], pz[i, 1] = second, first
    return pz, complex_, solved
