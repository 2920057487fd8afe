"""``avanon evaluate`` and ``avanon pilot``: thin wrappers over :mod:`avanon.evaluate`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def evaluate(
    original_dir: Path = typer.Argument(..., help="The original study folder."),
    anonymized_dir: Path = typer.Argument(..., help="The folder written by `avanon run` (holds avanon_manifest.json)."),
    out: Path = typer.Option(..., "-o", "--out", help="Report folder: metrics.json and report.html are written here."),
    every: int = typer.Option(10, help="Check every n-th video frame (frames)."),
    max_seconds: Optional[float] = typer.Option(None, help="Evaluate only the first seconds of each file (s)."),
    no_voice_attacks: bool = typer.Option(False, "--no-voice-attacks", help="Skip the speaker-verification attacks."),
) -> None:
    """Measure privacy (residual faces, re-identification, speaker verification, metadata) and utility."""
    from avanon.evaluate.study import evaluate_study, write_metrics
    from avanon.report.html import render, write_report

    evaluation = evaluate_study(original_dir, anonymized_dir, every=every, max_seconds=max_seconds,
                                voice_attacks=not no_voice_attacks, progress=lambda rel: console.print(f"evaluating {rel}"))
    metrics = write_metrics(evaluation, out)
    report = write_report(out, render([("evaluation", evaluation)], title=f"avanon evaluation of {anonymized_dir.name}"))
    console.print(f"wrote {metrics} and {report}")


def pilot(
    study: Path = typer.Argument(..., help="The study folder to sample (never modified)."),
    out: Path = typer.Option(..., "-o", "--out", help="New pilot folder (sample, runs, metrics.json, report.html)."),
    levels: str = typer.Option("light,medium,strong", help="Comma-separated built-in recipe names, lightest first."),
    recipes: Optional[str] = typer.Option(None, help="Comma-separated recipe YAML files, lightest first (instead of --levels)."),
    sample: str = typer.Option("10%", help="Share of each participant's files per modality, e.g. 10% or 0.1."),
    seed: int = typer.Option(0, help="Seed of the sample and of the runs."),
    every: int = typer.Option(10, help="Check every n-th video frame (frames)."),
    max_seconds: Optional[float] = typer.Option(None, help="Evaluate only the first seconds of each file (s)."),
    no_voice_attacks: bool = typer.Option(False, "--no-voice-attacks", help="Skip the speaker-verification attacks."),
    min_eer: Optional[float] = typer.Option(0.3, help="Lowest acceptable lazy-informed speaker-verification EER (0-1)."),
    min_eer_ignorant: Optional[float] = typer.Option(None, help="Lowest acceptable ignorant-attacker EER (0-1)."),
    max_leak_rate: Optional[float] = typer.Option(0.0, help="Highest acceptable share of residual faces (0-1)."),
    max_reid_rank1: Optional[float] = typer.Option(None, help="Highest acceptable face re-identification rank-1 rate (0-1)."),
    max_metadata: Optional[float] = typer.Option(0.0, help="Highest acceptable number of metadata findings."),
    min_f0_corr: Optional[float] = typer.Option(None, help="Lowest acceptable F0 correlation (-1-1)."),
    min_pck: Optional[float] = typer.Option(None, help="Lowest acceptable pose PCK@0.05 (0-1)."),
    max_wer: Optional[float] = typer.Option(None, help="Highest acceptable word error rate (0-1 and above)."),
) -> None:
    """Run several anonymization levels on a sample, evaluate each and recommend the lightest safe one."""
    from avanon.evaluate.pilot import THRESHOLD_OPTIONS, parse_fraction, run_pilot
    from avanon.report.pilot import write_pilot

    chosen = [s.strip() for s in (recipes or levels).split(",") if s.strip()]
    given = {"min_eer": min_eer, "min_eer_ignorant": min_eer_ignorant, "max_leak_rate": max_leak_rate,
             "max_reid_rank1": max_reid_rank1, "max_metadata": max_metadata, "min_f0_corr": min_f0_corr,
             "min_pck": min_pck, "max_wer": max_wer}
    thresholds = {THRESHOLD_OPTIONS[k][0]: (THRESHOLD_OPTIONS[k][1], float(v)) for k, v in given.items() if v is not None}
    result = run_pilot(study, out, levels=chosen, fraction=parse_fraction(sample), thresholds=thresholds, seed=seed,
                       every=every, max_seconds=max_seconds, voice_attacks=not no_voice_attacks, progress=console.print)
    metrics, report = write_pilot(result, out)
    console.print(f"recommended: {result.recommended or 'none'} ({result.reason})")
    console.print(f"wrote {metrics} and {report}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``pilot`` to the application."""
    app.command("evaluate")(evaluate)
    app.command("pilot")(pilot)
