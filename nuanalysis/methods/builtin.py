"""Importing this module registers every built-in method. Add new method modules here."""

from nuanalysis.methods import ellipse, flows, neutrino_weighting, quadratic, truth  # noqa: F401
