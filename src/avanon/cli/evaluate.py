"""``avanon evaluate`` and ``avanon pilot``: thin wrappers over :mod:`avanon.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from avanon.cli.options import grouped

console = Console(stderr=True)

EVALUATION_OPTIONS = {
    "every": (int, typer.Option(10, "--every", min=1, help="Check every n-th video frame (frames).")),
    "max_seconds": (Optional[float], typer.Option(None, "--max-seconds", help="Evaluate only the first seconds of each file (s).")),
    "no_voice_attacks": (bool, typer.Option(False, "--no-voice-attacks", help="Skip the speaker-verification attacks.")),
}


def _settings(every: int = 10, max_seconds: Optional[float] = None, no_voice_attacks: bool = False) -> Any:
    from avanon.pilot import EvaluationSettings

    return EvaluationSettings.from_options(every, max_seconds, no_voice_attacks)


@grouped("evaluation", _settings, EVALUATION_OPTIONS)
def evaluate(
    original_dir: Path = typer.Argument(..., help="The original study folder."),
    anonymized_dir: Path = typer.Argument(..., help="The folder written by `avanon run` (holds avanon_manifest.json)."),
    out: Path = typer.Option(..., "-o", "--out", help="Report folder: metrics.json and report.html are written here."),
    evaluation: Any = None,
) -> None:
    """Measure privacy (residual faces, re-identification, speaker verification, metadata) and utility."""
    from avanon.evaluate.study import evaluate_study, write_metrics
    from avanon.report.html import render, write_report

    measured = evaluate_study(original_dir, anonymized_dir, **evaluation.study_options(), progress=lambda rel: console.print(f"evaluating {rel}"))
    metrics = write_metrics(measured, out)
    report = write_report(out, render([("evaluation", measured)], title=f"avanon evaluation of {anonymized_dir.name}"))
    console.print(f"wrote {metrics} and {report}")


_THRESHOLD_HELP = (
    "A threshold a level must meet, NAME=VALUE (repeat the option for several); NAME=none drops a default. "
    "Names: min_eer (lazy-informed speaker-verification EER, 0-1; default 0.3), min_eer_ignorant, "
    "max_leak_rate (share of residual faces, 0-1; default 0), max_reid_rank1 (face re-identification rank-1 rate, 0-1), "
    "max_metadata (metadata findings; default 0), min_f0_corr (-1-1), min_pck (pose PCK@0.05, 0-1), max_wer (word error rate)."
)


@grouped("evaluation", _settings, EVALUATION_OPTIONS)
def pilot(
    study: Path = typer.Argument(..., help="The study folder to sample (never modified)."),
    out: Path = typer.Option(..., "-o", "--out", help="New pilot folder (sample, runs, metrics.json, report.html)."),
    levels: str = typer.Option("light,medium,strong", help="Comma-separated built-in recipe names or recipe YAML files, lightest first."),
    sample: str = typer.Option("10%", help="Share of each participant's files per modality, e.g. 10% or 0.1."),
    seed: int = typer.Option(0, help="Seed of the sample and of the runs."),
    threshold: Optional[list[str]] = typer.Option(None, "--threshold", "-t", help=_THRESHOLD_HELP),
    evaluation: Any = None,
) -> None:
    """Run several anonymization levels on a sample, evaluate each and recommend the lightest safe one."""
    from avanon.pilot import parse_fraction, parse_thresholds, run_pilot
    from avanon.report.pilot import write_pilot

    chosen = [s.strip() for s in levels.split(",") if s.strip()]
    result = run_pilot(
        study,
        out,
        levels=chosen,
        fraction=parse_fraction(sample),
        thresholds=parse_thresholds(threshold or []),
        seed=seed,
        evaluation=evaluation,
        progress=console.print,
    )
    metrics, report = write_pilot(result, out)
    console.print(f"recommended: {result.recommended or 'none'} ({result.reason})")
    console.print(f"wrote {metrics} and {report}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``pilot`` to the application."""
    app.command("evaluate")(evaluate)
    app.command("pilot")(pilot)
