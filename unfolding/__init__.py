"""Response matrices and SVD unfolding; independent of :mod:`nuanalysis` (hist objects or arrays in, arrays out)."""
