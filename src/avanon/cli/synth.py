"""``avanon synth FEATURES -o OUT``: a thin wrapper over :func:`avanon.synth.pipeline.synthesize_features`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def synth(
    features: Path = typer.Argument(..., help="Folder of derived feature tables (*_features.parquet, *.rttm); searched recursively, not modified."),
    out: Path = typer.Option(..., "-o", "--out", help="New folder for the synthetic tables and synth_validation.json/.md."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the split, the simulations and the attack (same seed, same output)."),
    holdout: float = typer.Option(0.5, "--holdout", help="Share of each session's blocks held out from fitting, the privacy control set (0-0.5]."),
    block: float = typer.Option(2.0, "--block", help="Length of the held-out blocks (s)."),
) -> None:
    """Synthetic motion, gaze and turn-taking tables learnt per session, with a validation report; exit 1 when a check
    fails, 3 when the data are too short to validate (the tables are written either way: read the report first)."""
    from avanon.synth.pipeline import REPORT_JSON, REPORT_MD, SynthOptions, synthesize_features

    report = synthesize_features(
        features, out, options=SynthOptions(seed=seed, holdout=holdout, block=block), progress=lambda rel: console.print(f"synthesising {rel}")
    )
    for check in report.checks:
        verdict = {True: "passed", False: "FAILED", None: "n/a"}[check.passed]
        note = f"  {check.detail['note']}" if check.passed is None and check.detail.get("note") else ""
        console.print(f"{check.name:22s} {check.value:8.3f}  {verdict:7s} ({check.tolerance}){note}", highlight=False, soft_wrap=True)
    console.print(f"validation {report.status}: {out / REPORT_MD} and {out / REPORT_JSON}", highlight=False, soft_wrap=True)
    if report.status == "failed":
        raise typer.Exit(1)
    if report.status != "passed":  # not validated: never reported as a success
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the application."""
    app.command("synth")(synth)
