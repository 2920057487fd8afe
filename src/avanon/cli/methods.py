"""``avanon methods OUT [--evaluation REPORT]``: a thin wrapper over :mod:`avanon.provenance.methods`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def methods(
    out_dir: Path = typer.Argument(..., help="Folder written by `avanon run` (holds avanon_manifest.json)."),
    evaluation: Optional[Path] = typer.Option(None, "--evaluation", help="metrics.json of `avanon evaluate` (or its report folder)."),
    dest: Optional[Path] = typer.Option(
        None, "-o", "--out", help="Where to write the statements (default OUT/methods; run before `avanon release` so they are part of the release)."
    ),
) -> None:
    """Write the methods statement (short and long form; Markdown, LaTeX, plain text) from the manifest, provenance and evaluation."""
    from avanon.provenance.methods import write_methods

    for path in write_methods(out_dir, evaluation=evaluation, dest=dest):
        console.print(str(path), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``methods`` to the application."""
    app.command("methods")(methods)
