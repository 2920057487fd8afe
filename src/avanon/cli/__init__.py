"""Command-line entry point: thin wrappers over library calls.

Each command module under :mod:`avanon.cli` defines ``register(app)``, which adds its commands to
the main Typer application. Only the module that owns the command being run is imported (with
:mod:`avanon.cli.run`, which keeps the application a command group), so ``avanon run`` does not pay
for importing the vault, the access database or the portal; ``--help`` and unknown commands import
them all. Library errors (:class:`~avanon.errors.AvanonError`) are printed as one
clear line; no logic lives here.

Exit statuses (:data:`EXIT_CODES`): 0 everything ok; 1 the command ran but some files failed (each
is listed, with its reason, and recorded in the manifest); 2 a usage, option, recipe or input error
(nothing or not everything was attempted); 3 an internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.markup import escape

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
    "avanon.cli.methods",
    "avanon.cli.synth",
    "avanon.cli.redteam",
]

# The module that adds each top-level command or group (tests/test_cli.py checks this against what
# the modules register).
COMMAND_OWNERS = {
    "run": "avanon.cli.run",
    "recipes": "avanon.cli.run",
    "recipe": "avanon.cli.run",
    "release": "avanon.cli.release",
    "verify": "avanon.cli.release",
    "evaluate": "avanon.cli.evaluate",
    "pilot": "avanon.cli.evaluate",
    "vault": "avanon.cli.vault",
    "access": "avanon.cli.access",
    "audit": "avanon.cli.access",
    "serve": "avanon.cli.access",
    "portal": "avanon.cli.access",
    "features": "avanon.cli.features",
    "transcribe": "avanon.cli.voice",
    "redact-speech": "avanon.cli.voice",
    "methods": "avanon.cli.methods",
    "synth": "avanon.cli.synth",
    "redteam": "avanon.cli.redteam",
}

app = typer.Typer(
    name="avanon",
    help="Anonymize audio and video recordings from behavioural research while keeping what researchers analyse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)

EXIT_OK, EXIT_FILES_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_CODES = {EXIT_OK: "all ok", EXIT_FILES_FAILED: "some files failed", EXIT_USAGE: "usage, recipe or input error", EXIT_INTERNAL: "internal error"}


_registered: set[str] = set()


def _register(modules: list[str]) -> None:
    for module in modules:
        if module not in _registered:
            importlib.import_module(module).register(app)
            _registered.add(module)


def _register_all() -> None:
    _register(COMMAND_MODULES)


def _register_for(argv: list[str]) -> None:
    """Import the command modules ``argv`` needs: its command's owner, or all of them."""
    first = argv[0] if argv else ""
    owner = COMMAND_OWNERS.get(first)  # options before the command (only --help) list every command
    if owner is None:
        _register_all()
    else:
        _register(["avanon.cli.run", owner])  # avanon.cli.run adds several commands: the app stays a group


def _is_usage_error(exc: Exception) -> bool:
    """Whether ``exc`` is a click usage error (from click, or from the copy of click typer vendors)."""
    import click

    classes: list[type] = [click.exceptions.ClickException]
    try:
        from typer._click.exceptions import ClickException as VendoredClickException
    except ImportError:  # typer releases that use click itself
        pass
    else:
        classes.append(VendoredClickException)
    return isinstance(exc, tuple(classes))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    _register_for(sys.argv[1:] if argv is None else list(argv))
    try:
        code = app(args=argv, standalone_mode=False)
    except AvanonError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors (typer vendors its own copy of click), else a bug
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            status = int(exc.exit_code)  # type: ignore[attr-defined]
            return EXIT_USAGE if status == EXIT_FILES_FAILED else status  # 1 is kept for "some files failed"
        import traceback

        traceback.print_exc()
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} (a bug in avanon; please report it with the traceback above)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
