"""``avanon features VIDEO -o DIR``: per-person features (Motion-BIDS TSV + JSON, Parquet) of one video."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from avanon.video.features import write_features

console = Console(stderr=True)


def features(
    video: Path = typer.Argument(..., help="Video file to extract features from (not modified)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (created if needed)."),
    stem: Optional[str] = typer.Option(None, "--stem", help="File name stem, e.g. sub-01_task-play_tracksys-avanon (default: the video's name)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Only the first N frames."),
) -> None:
    """Write body keypoints, face landmarks, head pose, gaze and motion energy per frame and person."""
    paths = write_features(video, out, stem=stem or video.stem, max_frames=max_frames)
    for path in paths:
        console.print(str(path), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("features", help="Per-frame, per-person features of a video as Motion-BIDS TSV + JSON and Parquet.")(features)
