"""``avanon run``, ``avanon recipes`` and ``avanon recipe show``: thin wrappers over the library."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from avanon import recipe as recipes
from avanon.cli.options import grouped
from avanon.cli.quiet import native_output_silenced
from avanon.errors import ParameterError
from avanon.pipeline import DEFAULT_SEGMENT_SECONDS, Execution, People, RunSummary, check_roots, plan, run_study

console = Console(stderr=True)


class RateColumn(TextColumn):
    """Units per second of a task (frames/s for a video), blank until known."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task: Any) -> Any:
        from rich.text import Text

        return Text(f"{task.speed:>7.1f}/s" if task.speed else "", style="progress.data.speed")


class _Display:
    """Rich progress: one bar for the run, one per file in flight with its rate."""

    def __init__(self, progress: Progress, total_files: int):
        self.progress = progress
        self.overall = progress.add_task("[bold]study", total=total_files, rate="")
        self.files: dict[str, TaskID] = {}

    def __call__(self, event: tuple[Any, ...]) -> None:
        kind, rel = event[0], event[1]
        if kind == "executor":
            info = event[1]
            where = f"{info['executor']} executor, {info.get('workers', '?')} workers"
            if info.get("dashboard"):
                where += f"; Dask dashboard: {info['dashboard']}"
            self.progress.console.print(where, highlight=False)
        elif kind == "retry":
            self.progress.console.print(f"[yellow]retrying[/] {escape(rel)} ({escape(str(event[2]))}): {escape(str(event[3]))}", highlight=False)
        elif kind == "start":
            total, unit = event[2], event[3]
            self.files[rel] = self.progress.add_task(escape(rel if len(rel) < 48 else "…" + rel[-47:]), total=total, rate=unit)
        elif kind == "advance" and rel in self.files:
            self.progress.advance(self.files[rel], event[2])
        elif kind in ("done", "skip"):
            task = self.files.pop(rel, None)
            if task is not None:
                self.progress.remove_task(task)
            self.progress.advance(self.overall, 1)


def _summary(summary: RunSummary, quiet: bool) -> None:
    out = Console()
    if not quiet:
        table = Table(title="avanon run", show_header=False)
        table.add_row("anonymized", str(summary.ok))
        table.add_row("already done (resumed)", str(summary.skipped))
        table.add_row("failed", f"[red]{len(summary.failed)}[/]" if summary.failed else "0")
        table.add_row("output", str(summary.out_root))
        table.add_row("manifest", str(summary.out_root / "avanon_manifest.json"))
        out.print(table)
    for rel, reason in summary.failed:
        console.print(f"[red]failed[/] {escape(rel)}: {escape(reason)}", highlight=False, soft_wrap=True)  # names may hold [markup]


EXECUTION_OPTIONS = {
    "workers": (int, typer.Option(max(1, os.cpu_count() or 1), "--workers", "-w", help="Local worker processes (default: all cores).")),
    "executor": (
        str,
        typer.Option(
            "local",
            "--executor",
            "-e",
            help="Where tasks run: local (worker processes), dask-local (a Dask LocalCluster of --workers "
            "single-threaded workers) or dask (a running Dask cluster, see --scheduler).",
        ),
    ),
    "scheduler": (Optional[str], typer.Option(None, "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786 (with --executor dask).")),
    "segment_seconds": (
        float,
        typer.Option(
            DEFAULT_SEGMENT_SECONDS,
            "--segment-seconds",
            min=0.0,
            help="Split videos at least twice this long (seconds) at keyframes and process the pieces in parallel (0: never).",
        ),
    ),
}


def read_people(roster: Optional[Path] = None, speakers: Optional[Path] = None) -> People:
    """Read the roster (:func:`avanon.annotations.pseudonymize.load_roster`) and the speaker mapping file."""
    from avanon.annotations.pseudonymize import load_roster

    return People(list(load_roster(roster)) if roster is not None else None, read_speaker_map(speakers) if speakers is not None else None)


PEOPLE_OPTIONS = {
    "roster": (
        Optional[Path],
        typer.Option(
            None,
            "--roster",
            help="Participant names: a text file with one name per line ('#' starts a comment) "
            "or a CSV/TSV with a 'name' column; file and folder names holding one get keyed pseudonyms, annotation text too.",
        ),
    ),
    "speakers": (
        Optional[Path],
        typer.Option(
            None,
            "--speakers",
            help="Speaker mapping file: lines 'relative/path<TAB>speaker' (a file name or stem also matches); recordings of one speaker get one pseudo-voice.",
        ),
    ),
}


@grouped("people", read_people, PEOPLE_OPTIONS)
@grouped("execution", Execution, EXECUTION_OPTIONS)
def run(
    study: Path = typer.Argument(
        ..., help="Study folder with videos, audio, photos and annotations (read only); with --from-vault, the study's name in the vault."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="New output folder (refused if inside the study or non-empty, unless resuming the same run)."),
    recipe: str = typer.Option("default", "--recipe", "-r", help="Built-in recipe name or path to a recipe YAML file."),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Derive the study secret from this number (reproducible); default: a random secret kept in OUT.steward/."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary table; failures are still printed."),
    from_vault: Optional[Path] = typer.Option(
        None,
        "--from-vault",
        help="Read the originals from this vault (key from $AVANON_VAULT_PASSPHRASE or $AVANON_VAULT_KEY_FILE); they are decrypted to memory only.",
    ),
    execution: Execution = Execution(workers=1),
    people: People = People(),
) -> None:
    """Anonymize every media file of STUDY into OUT and write OUT/avanon_manifest.json."""
    chosen = recipes.load(recipe)
    if from_vault is not None:
        from avanon.vault import unlock
        from avanon.vault.staging import study_from_vault

        with study_from_vault(unlock(from_vault), str(study)) as plain:
            _run(plain, out, chosen, seed, execution, people, quiet=quiet)
    else:
        _run(study, out, chosen, seed, execution, people, quiet=quiet)


def read_speaker_map(path: Path) -> dict[str, str]:
    """A speaker mapping file (see :func:`avanon.audio.turns.read_speaker_map`), with a clear error if unreadable."""
    from avanon.audio.turns import read_speaker_map as read_map

    try:
        return read_map(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"Speaker mapping file {path}: cannot be read as UTF-8 text ({exc}).") from None


def _run(study: Path, out: Path, chosen: recipes.Recipe, seed: Optional[int], execution: Execution, people: People, *, quiet: bool) -> None:
    check_roots(study, out)  # fail before any progress is drawn

    if quiet:
        with native_output_silenced():
            summary = run_study(study, out, recipe=chosen, seed=seed, execution=execution, people=people)
    else:
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            RateColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=False) as progress:
            display = _Display(progress, len(plan(study)) if study.is_dir() else 0)
            summary = run_study(study, out, recipe=chosen, seed=seed, on_event=display, execution=execution, people=people)
    _summary(summary, quiet)
    raise typer.Exit(summary.exit_code)


def list_recipes() -> None:
    """List the built-in recipes."""
    table = Table("recipe", "description")
    for name in recipes.builtin_names():
        table.add_row(name, recipes.load(name).description.strip())
    Console().print(table)


def show_recipe(name: str = typer.Argument(..., help="Built-in recipe name or YAML path.")) -> None:
    """Print one recipe as YAML (a starting point for your own)."""
    typer.echo(recipes.load(name).to_yaml(), nl=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("recipes")(list_recipes)
    recipe_app = typer.Typer(help="Inspect recipes.", no_args_is_help=True)
    recipe_app.command("show")(show_recipe)
    app.add_typer(recipe_app, name="recipe")
