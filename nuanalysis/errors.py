"""Exceptions raised for bad input. Each message names the file, branch, event or model at fault."""


class NuAnalysisError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputError(NuAnalysisError, ValueError):
    """An ntuple cannot be used: missing branch, empty, corrupt, NaN/inf momenta."""


class ChannelError(NuAnalysisError, ValueError):
    """Events, a method or a model belong to another channel."""


class ModelError(NuAnalysisError, ValueError):
    """A saved model cannot be used: other channel, incompatible version, corrupt file."""


class OptionError(NuAnalysisError, ValueError):
    """A method option has an unknown name or an impossible value."""
