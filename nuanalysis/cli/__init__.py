"""The ``nuanalysis`` command line (README.md, "Usage"; outputs: docs/outputs.md).

Each sub-command lives in its own module ``nuanalysis/cli/<name>.py`` exposing a
``click.Command`` called ``command``; they are imported only when used so that
``nuanalysis --help`` stays fast.
"""

from __future__ import annotations

import difflib
import importlib
import warnings

import click

from nuanalysis.errors import NuAnalysisError, OptionWarning
from nuanalysis.interrupts import signals_outside_kernels
from nuanalysis.outputs import Terminated, termination_as_exception

COMMANDS = {
    "generate": "Generate tt̄ events with Pythia 8, FastJet and a parametric detector.",
    "train": "Train a ν-Flows / ν²-Flows model (or the ν-FF regression).",
    "reconstruct": "Write every requested method's neutrinos to a ROOT file.",
    "compare": "Compare neutrino methods: resolutions, failures, speed, plots.",
    "assign": "χ² jet–parton assignment accuracy per method (ν-Flows Tables 2, 4, 5).",
    "unfold": "SVD-unfold m_tt × pT_t with each method's neutrinos.",
    "masscan": "Top-mass templates, calibration slope and template fit per method.",
    "export": "Export a trained model to ONNX for C++ frameworks (onnxruntime).",
    "calibrate": "Coverage and PIT of a flow's posterior; fit and store a latent temperature.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"nuanalysis.cli.{name}").command

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """click's resolution, with the closest command suggested for a misspelt one."""
        name = args[0] if args else ""
        if name in COMMANDS or name.startswith("-"):
            return super().resolve_command(ctx, args)
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = (
            f"; did you mean {close[0]!r}?" if close else f"; choose one of {', '.join(COMMANDS)}"
        )
        ctx.fail(f"no such command {name!r}{hint}")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


@click.group(cls=LazyGroup)
@click.version_option(package_name="nuanalysis")
def cli() -> None:
    """nuanalysis: the neutrinos of tt̄ events, reconstructed every way analysts do."""


def _error(message: str) -> None:
    """Print ``message`` in the one style of every command-line error, one line per problem."""
    for line in message.splitlines():
        click.echo(f"nuanalysis: error: {line}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Option warnings in the style of the errors; other warnings as Python shows them."""
    if issubclass(category, OptionWarning):
        click.echo(f"nuanalysis: warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning
NO_ARGUMENTS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _interruption_status(error: BaseException) -> int | None:
    """The exit status of a run stopped by Ctrl-C or SIGTERM, else None.

    A signal arriving inside a numba kernel is held back until the kernel returns
    (:mod:`nuanalysis.interrupts`); where it cannot be (no ``setitimer``) it surfaces as
    a SystemError caused, one or more SystemErrors down, by the KeyboardInterrupt or
    :class:`~nuanalysis.outputs.Terminated`."""
    while isinstance(error, SystemError):
        error = error.__cause__ or error.__context__
    if isinstance(error, Terminated):
        return error.code
    if isinstance(error, KeyboardInterrupt | click.exceptions.Abort):
        return 130
    return None


def main(args: list[str] | None = None) -> None:
    """Console entry point: every error is one line ``nuanalysis: error: …``, no traceback.

    Exit status: 2 for a wrong command line (click's usage errors, bad
    ``--option`` values, unusable output locations), 1 for input that cannot
    be used, 130 after Ctrl-C and 143 after SIGTERM (outputs not written:
    :mod:`nuanalysis.outputs`).
    """
    warnings.showwarning = _show_warning
    try:
        with termination_as_exception(), signals_outside_kernels():
            cli(args=args, prog_name="nuanalysis", standalone_mode=False)
    except (Terminated, click.exceptions.Abort, SystemError) as error:
        status = _interruption_status(error)
        if status is None:
            raise
        stop = "terminated (SIGTERM)" if status != 130 else "interrupted"
        _error(f"{stop}: unfinished outputs were not written")
        raise SystemExit(status) from None
    except NO_ARGUMENTS as error:  # a bare `nuanalysis`: the help, as click <8.2 gave it
        click.echo(error.ctx.get_help())
    except click.UsageError as error:
        message = error.format_message().rstrip(".")
        _error(message[:1].lower() + message[1:])
        if error.ctx is not None:
            click.echo(f"(see '{error.ctx.command_path} --help')", err=True)
        raise SystemExit(error.exit_code) from None
    except click.ClickException as error:
        _error(error.format_message())
        raise SystemExit(error.exit_code) from None
    except NuAnalysisError as error:
        _error(str(error))
        raise SystemExit(error.exit_code) from None
    finally:
        warnings.showwarning = _python_show_warning
