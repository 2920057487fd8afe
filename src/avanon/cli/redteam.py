"""``avanon redteam RELEASE``: a thin wrapper over :mod:`avanon.evaluate.redteam`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from avanon.cli.evaluate import EVALUATION_OPTIONS, _settings
from avanon.cli.options import grouped

console = Console(stderr=True)


@grouped("evaluation", _settings, EVALUATION_OPTIONS)
def redteam(
    release: Path = typer.Argument(..., help="The folder written by `avanon run` (holds avanon_manifest.json)."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder of the governance record: redteam-DATE.json and .md are added here."),
    original: Optional[Path] = typer.Option(None, "--original", help="The original study folder (needed unless --metrics is given)."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="metrics.json of `avanon evaluate` of this release (skips running the attacks again)."),
    against: Optional[Path] = typer.Option(
        None, "--against", help="A second release of the study made with another secret: voice linkage of the audio recordings across the two."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the attackers' random guesses."),
    evaluation: Any = None,
) -> None:
    """Run every attack against a release and add a dated red-team report (Markdown + JSON) to a governance folder."""
    from avanon.errors import ParameterError
    from avanon.evaluate.redteam import red_team, write_red_team

    if metrics is None:
        if original is None:
            raise ParameterError("Give --original (the study folder, to run the attacks) or --metrics (an earlier evaluation of this release).")
        from avanon.evaluate.study import evaluate_study, write_metrics

        measured = evaluate_study(original, release, **evaluation.study_options(), progress=lambda rel: console.print(f"attacking {rel}"))
        metrics = write_metrics(measured, out)
    if metrics.is_dir():
        metrics = metrics / "metrics.json"
    if not metrics.is_file():
        raise ParameterError(f"The --metrics file {metrics} does not exist.")
    data = json.loads(metrics.read_text(encoding="utf-8"))
    report = red_team(release, data, source=metrics.name, against=against, seed=seed)
    for path in write_red_team(report, out):
        console.print(str(path), highlight=False, soft_wrap=True)
    console.print(f"{len(report.succeeded)} of {len(report.findings)} attacks succeeded")


def register(app: typer.Typer) -> None:
    """Add ``redteam`` to the application."""
    app.command("redteam")(redteam)
