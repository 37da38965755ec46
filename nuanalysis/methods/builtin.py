"""Importing this module registers every built-in method. Add new method modules here."""

from nuanalysis.methods import (
    ellipse,  # noqa: F401
    flows,  # noqa: F401
    neutrino_weighting,  # noqa: F401
    quadratic,  # noqa: F401
    truth,  # noqa: F401
)
