"""Reference neutrino reconstruction methods as numba kernels over padded numpy arrays.

This package knows nothing about :mod:`nuanalysis`: every function takes plain
arrays of four-momenta laid out as ``(..., 4) = (px, py, pz, E)`` in GeV and
returns plain arrays.
"""
