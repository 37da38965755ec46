"""The exception raised for unusable unfolding input (kept free of :mod:`nuanalysis`)."""


class UnfoldingError(ValueError):
    """Inputs that cannot be unfolded: mismatched binning, empty truth bins,
    a singular response, negative counts, a regularisation out of range, or a
    backend that is not available. The message names the bin or object at fault."""
