"""Input guards of the kernels: an event with unusable momenta is skipped (not valid), never
a numba ``SystemError`` or a NaN passed off as a solution.

Callers should refuse such input before calling (:mod:`nuanalysis.validation` does, for every
method of the toolkit); the guards keep the kernels safe when used directly.
"""

from __future__ import annotations

import numba
import numpy as np

from baselines.constants import MAX_COLLISION_ENERGY


@numba.njit(cache=True)
def usable_momenta(values: np.ndarray) -> bool:
    """True if every value is finite and within ±:data:`~baselines.constants.MAX_COLLISION_ENERGY`
    GeV (so that squares and products of momenta cannot overflow)."""
    for value in values.flat:
        if not abs(value) <= MAX_COLLISION_ENERGY:  # False for NaN
            return False
    return True


def bounded(values: np.ndarray) -> np.ndarray:
    """Elementwise :func:`usable_momenta` for Python wrappers: finite and within the bound."""
    return np.abs(values) <= MAX_COLLISION_ENERGY
