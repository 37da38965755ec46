"""Reference neutrino reconstruction methods as numba kernels over padded numpy arrays.

This package knows nothing about :mod:`nuanalysis`: every function takes plain
arrays of four-momenta laid out as ``(..., 4) = (px, py, pz, E)`` in GeV and
returns plain arrays.
"""

import os

from baselines.kernel_cache import use_user_cache

# After a parallel kernel, numba's OpenMP workers busy-wait for the next one and
# take the cores from whatever runs next in the process: a flow evaluated after
# `nw` or `ellipse` on a loaded 2-core machine ran 10x slower (39 instead of 410
# events/s). Passive waiting costs our kernels nothing (one parallel loop per
# call). Set before numba starts its thread pool; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# compiled kernels go to a per-user cache, never into the installed package
use_user_cache()
