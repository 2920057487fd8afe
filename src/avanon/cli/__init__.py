"""Command-line entry point: thin wrappers over library calls.

Each command module under :mod:`avanon.cli` defines ``register(app)``, which adds its commands to
the main Typer application. Library errors (:class:`~avanon.errors.AvanonError`) are printed as one
clear line and exit with status 2; no logic lives here.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from avanon.errors import AvanonError

# Modules that add commands; each defines register(app: typer.Typer) -> None.
COMMAND_MODULES = [
    "avanon.cli.run",
    "avanon.cli.release",
    "avanon.cli.evaluate",
    "avanon.cli.vault",
    "avanon.cli.access",
    "avanon.cli.features",
    "avanon.cli.voice",
]

app = typer.Typer(
    name="avanon",
    help="Anonymize audio and video recordings from behavioural research while keeping what researchers analyse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register_all() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(app)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    _register_all()
    try:
        code = app(args=argv, standalone_mode=False)
    except AvanonError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
