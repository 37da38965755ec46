"""nuanalysis: neutrino reconstruction in tt̄ events with normalizing flows and standard methods."""

__version__ = "0.1.0"
