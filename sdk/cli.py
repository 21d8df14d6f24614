"""The ``sdk`` command line: a thin layer over the Python API.

Subcommands are loaded lazily (a missing optional dependency breaks only its own command,
and ``sdk --help`` stays instant). A user error prints one line and exits 1.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sdk.errors import Interrupted, SdkError

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, tuple[str, str]] = {
    "deploy": ("sdk.commands.deploy:deploy", "Convert, bundle, push, run and benchmark a model on a board."),
    "bench": ("sdk.commands.bench:bench", "Profile a model on a board: a sweep, statistics, a verdict."),
    "convert": ("sdk.commands.convert:convert", "Convert a model for ncnn and MNN, validate on host."),
    "quantize": ("sdk.commands.quantize:quantize", "int8 for ncnn and MNN with per-layer analysis."),
    "report": ("sdk.commands.report:report", "Results kept in the history: list, compare (a CI gate), HTML."),
    "board": ("sdk.commands.board:board", "Board profiles, the inventory of boards, emulated boards."),
    "app": ("sdk.commands.app:app", "Applications on a board: frame in, result out, per-stage time."),
    "doctor": ("sdk.commands.doctor:doctor", "Check host requirements, print the fix for each (--fix)."),
    "kernels": ("sdk.kernels.cli:kernels", "The project's NEON kernels: which variant runs, benchmarks."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        target, _ = COMMANDS[cmd_name]
        mod_name, attr = target.split(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            msg = f"'sdk {cmd_name}' is unavailable: {exc}"

            @click.command(cmd_name, help=f"(unavailable: {exc})")
            def broken() -> None:
                raise SdkError(msg, fix="reinstall the SDK with 'pip install .'")

            return broken
        cmd: click.Command = getattr(mod, attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-sdk", prog_name="sdk")
def cli() -> None:
    """Deploy vision models to ARM boards (real or emulated)."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="sdk", standalone_mode=False)
    except Interrupted as exc:
        click.echo(exc.one_line(), err=True)
        sys.exit(130)
    except SdkError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # bad option values, unknown options: one line, exit 1
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        click.echo(f"error: {' '.join(exc.format_message().split())}{where}", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
