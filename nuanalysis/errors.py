"""Exceptions raised for bad input. Each message names the file, branch, event or model at fault.

``exit_code`` is the command line's exit status for the error: 2 for a wrong
command line (an option or output location that cannot work), 1 for input
that cannot be used.
"""


class NuAnalysisError(Exception):
    """Base class of every error the toolkit raises on purpose."""

    exit_code = 1


class InputError(NuAnalysisError, ValueError):
    """An ntuple cannot be used: missing branch, empty, corrupt, NaN/inf momenta."""


class ChannelError(NuAnalysisError, ValueError):
    """Events, a method or a model belong to another channel."""


class ModelError(NuAnalysisError, ValueError):
    """A saved model cannot be used: other channel, incompatible version, corrupt file."""


class OptionError(NuAnalysisError, ValueError):
    """A method option has an unknown name or an impossible value."""

    exit_code = 2


class OutputError(NuAnalysisError, ValueError):
    """An output cannot be written where asked: not writable, or the path of an input."""

    exit_code = 2


class MissingExtraError(NuAnalysisError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the
    extra to install."""


class WriteError(NuAnalysisError, OSError):
    """An output failed while being written for want of space, quota or a writable device;
    the earlier output, if any, is kept."""


class OptionWarning(UserWarning):
    """A method option was given that does not apply to these events (and is ignored)."""


def first_line(error: BaseException) -> str:
    """The first sentence of ``error``'s message (its type name if empty): the cause of a
    foreign library's failure, quoted in a one-line error."""
    text = str(error).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".,;:") if text else type(error).__name__
