"""The ``nuanalysis`` command line (DESIGN.md, "Command line").

Each sub-command lives in its own module ``nuanalysis/cli/<name>.py`` exposing a
``click.Command`` called ``command``; they are imported only when used so that
``nuanalysis --help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

from nuanalysis.errors import NuAnalysisError

COMMANDS = {
    "generate": "Generate tt̄ events with Pythia 8, FastJet and a parametric detector.",
    "train": "Train a ν-Flows / ν²-Flows model (or the ν-FF regression).",
    "reconstruct": "Write every requested method's neutrinos to a ROOT file.",
    "compare": "Compare neutrino methods: resolutions, failures, speed, plots.",
    "assign": "χ² jet–parton assignment accuracy per method (ν-Flows Tables 2, 4, 5).",
    "unfold": "SVD-unfold m_tt × pT_t with each method's neutrinos.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(f"nuanalysis.cli.{name}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


@click.group(cls=LazyGroup)
@click.version_option(package_name="nuanalysis")
def cli() -> None:
    """nuanalysis: the neutrinos of tt̄ events, reconstructed every way analysts do."""


def main() -> None:
    """Console entry point: toolkit errors become one clear line and exit status 2."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        raise SystemExit(130) from None
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    except NuAnalysisError as error:
        click.echo(f"nuanalysis: error: {error}", err=True)
        raise SystemExit(2) from None
