"""nuanalysis: neutrino reconstruction in tt̄ events with normalizing flows and standard methods."""

import baselines  # noqa: F401  (first: numba's kernel cache goes to a per-user folder)

__version__ = "0.1.0"
