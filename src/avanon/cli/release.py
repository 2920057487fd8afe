"""``avanon release OUT`` and ``avanon verify OUT``: thin wrappers over :mod:`avanon.provenance.release`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from avanon.provenance.release import freeze_release, verify_release

console = Console()


def release(
    out_dir: Path = typer.Argument(..., help="Output folder of 'avanon run' to freeze as the next release version."),
    notes: str = typer.Option("", "--notes", help="A line about this version for CHANGES.md."),
) -> None:
    """Freeze OUT_DIR as a versioned release: data dictionary, provenance, checksums and the list of changes."""
    result = freeze_release(out_dir, notes=notes)
    if result.unchanged:
        console.print(f"Nothing changed since v{result.version}; the release stays v{result.version}.")
        return
    console.print(f"Release v{result.version}: {len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed.")


def verify(
    out_dir: Path = typer.Argument(..., help="A release folder (made by 'avanon release')."),
) -> None:
    """Re-hash every file of a release and check checksums, manifest, provenance, data dictionary and annotation alignment."""
    report = verify_release(out_dir)
    if report.ok:
        console.print(f"OK: release v{report.version}, {report.checked} files verified.")
        return
    for problem in report.problems:
        console.print(f"[red]✗[/] {problem}", highlight=False)
    console.print(f"{len(report.problems)} problem(s) in {out_dir}.")
    raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the release and verify commands."""
    app.command(name="release")(release)
    app.command(name="verify")(verify)
