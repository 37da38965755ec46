"""Importing this module registers every built-in method. Add new method modules here."""

from nuanalysis.methods import truth  # noqa: F401
from nuanalysis.methods import flows  # noqa: F401
from nuanalysis.methods import quadratic  # noqa: F401
from nuanalysis.methods import ellipse  # noqa: F401
from nuanalysis.methods import neutrino_weighting  # noqa: F401
