"""Pilot: run several anonymization levels on a stratified sample and recommend the lightest safe one.

1. A sample of the study is drawn per participant (BIDS ``sub-XX`` or file stem) and per modality
   (video, audio, image): ``fraction`` of each group, at least one file, chosen by a keyed hash of
   the path so the same seed draws the same sample. The files are copied (hard-linked where
   possible) into ``PILOT_DIR/sample``, with ``participants.tsv`` if the study has one.
2. Each level (a built-in recipe name or a recipe YAML path) is run over the sample with
   :func:`avanon.pipeline.run_study` into ``PILOT_DIR/runs/<level>`` and evaluated.
3. A level meets the thresholds when every threshold whose metric could be computed holds. Among
   those, the recommended level is the least distorting one: the highest mean of the utility
   correlations and agreements (F0 and intensity correlation, VAD agreement, pose PCK, motion
   correlation) that were measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from avanon.errors import AccessError, ParameterError
from avanon.evaluate.study import StudyEvaluation, evaluate_study, plain

UTILITY_SHARES = ("f0_correlation", "intensity_correlation", "vad_agreement", "pose_pck", "motion_correlation")
DEFAULT_THRESHOLDS = {"residual_faces": 0.0, "eer_lazy_informed": 0.3, "metadata_residue": 0.0}
# threshold name -> (metric, "min" or "max")
THRESHOLD_OPTIONS = {
    "min_eer": ("eer_lazy_informed", "min"),
    "min_eer_ignorant": ("eer_ignorant", "min"),
    "max_leak_rate": ("residual_faces", "max"),
    "max_reid_rank1": ("face_reid_rank1", "max"),
    "max_metadata": ("metadata_residue", "max"),
    "min_f0_corr": ("f0_correlation", "min"),
    "min_pck": ("pose_pck", "min"),
    "max_wer": ("wer", "max"),
}


def sample_study(study: Path, fraction: float, *, seed: int = 0) -> list[str]:
    """Relative paths of a stratified sample (per participant and modality) of the study's media."""
    from avanon.audio.base import speaker_key
    from avanon.media.probe import media_kind
    from avanon.pipeline import plan

    if not 0 < fraction <= 1:
        raise ParameterError(f"The 'sample' option must be a fraction in (0, 1] (for example 10%). Got {fraction!r} instead.")
    groups: dict[tuple[str, str], list[str]] = {}
    for rel in plan(Path(study)):
        kind = media_kind(rel)
        if kind is not None:
            groups.setdefault((speaker_key(rel), kind), []).append(rel)
    chosen = []
    for _, rels in sorted(groups.items()):
        order = sorted(rels, key=lambda r: hashlib.sha256(f"{seed}\x00{r}".encode()).hexdigest())
        chosen += order[: max(1, math.ceil(fraction * len(rels)))]
    return sorted(chosen)


def parse_fraction(text: str) -> float:
    """``"10%"`` or ``"0.1"`` as a fraction."""
    text = str(text).strip()
    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ParameterError(f"The 'sample' option must be a percentage like 10% or a fraction like 0.1. Got {text!r} instead.") from None


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class LevelResult:
    level: str
    evaluation: StudyEvaluation
    meets: bool
    failed: list[str] = field(default_factory=list)
    utility: float = float("nan")


def check_thresholds(evaluation: StudyEvaluation, thresholds: dict[str, tuple[str, float]]) -> list[str]:
    """Names of the thresholds not met (metrics that could not be computed are not judged)."""
    failed = []
    for metric, (bound, limit) in thresholds.items():
        value = evaluation.value(metric)
        if value != value:
            continue
        if (bound == "min" and value < limit) or (bound == "max" and value > limit):
            failed.append(f"{metric} {value:.3f} {'<' if bound == 'min' else '>'} {limit}")
    return failed


def utility_index(evaluation: StudyEvaluation) -> float:
    """Mean of the measured utility correlations and agreements (higher is less distorting)."""
    values = [evaluation.value(m) for m in UTILITY_SHARES]
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float("nan")


@dataclass
class PilotResult:
    sample: list[str]
    levels: list[LevelResult]
    thresholds: dict[str, tuple[str, float]]
    recommended: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return plain({
            "sample": self.sample,
            "thresholds": {m: {"bound": b, "value": v} for m, (b, v) in self.thresholds.items()},
            "recommended": self.recommended,
            "reason": self.reason,
            "levels": [{"level": r.level, "meets": r.meets, "failed": r.failed, "utility_index": r.utility,
                        "evaluation": r.evaluation.to_json()} for r in self.levels],
        })


def run_pilot(
    study: Path,
    pilot_dir: Path,
    *,
    levels: list[str],
    fraction: float = 0.1,
    thresholds: dict[str, tuple[str, float]] | None = None,
    seed: int = 0,
    every: int = 10,
    max_seconds: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> PilotResult:
    """Sample, anonymize with each level, evaluate and recommend (see the module docstring)."""
    from avanon import recipe as recipes
    from avanon.pipeline import run_study

    study, pilot_dir = Path(study), Path(pilot_dir)
    if not levels:
        raise ParameterError("The pilot needs at least one level; built-in recipes: " + ", ".join(recipes.builtin_names()) + ".")
    if pilot_dir.exists() and any(pilot_dir.iterdir()):
        raise AccessError(f"Pilot folder {pilot_dir} exists and is not empty; choose a new folder.")
    loaded = [(Path(level).stem if level.endswith((".yaml", ".yml")) else level, recipes.load(level)) for level in levels]
    thresholds = dict(DEFAULT_THRESHOLDS_BOUND if thresholds is None else thresholds)
    say = progress or (lambda _: None)
    sample = sample_study(study, fraction, seed=seed)
    sample_dir = pilot_dir / "sample"
    for rel in sample:
        _place(study / rel, sample_dir / rel)
    if (study / "participants.tsv").is_file():
        _place(study / "participants.tsv", sample_dir / "participants.tsv")
    results = []
    for name, recipe in loaded:
        say(f"level {name}: anonymizing {len(sample)} files")
        out = pilot_dir / "runs" / name
        run_study(sample_dir, out, recipe=recipe, seed=seed)
        say(f"level {name}: evaluating")
        evaluation = evaluate_study(sample_dir, out, every=every, max_seconds=max_seconds)
        failed = check_thresholds(evaluation, thresholds)
        results.append(LevelResult(name, evaluation, not failed, failed, utility_index(evaluation)))
    passing = [r for r in results if r.meets]
    if passing:
        best = max(passing, key=lambda r: (r.utility if r.utility == r.utility else -1.0))
        reason = (f"{best.level} meets every threshold and keeps the most of the measured behaviour "
                  f"(utility index {best.utility:.3f}; {len(passing)} of {len(results)} levels meet the thresholds).")
        recommended: str | None = best.level
    else:
        recommended = None
        reason = "No level meets the thresholds; try stronger recipes or review the thresholds: " + "; ".join(
            f"{r.level}: {', '.join(r.failed)}" for r in results)
    return PilotResult(sample, results, thresholds, recommended, reason)


DEFAULT_THRESHOLDS_BOUND: dict[str, tuple[str, float]] = {
    "residual_faces": ("max", DEFAULT_THRESHOLDS["residual_faces"]),
    "eer_lazy_informed": ("min", DEFAULT_THRESHOLDS["eer_lazy_informed"]),
    "metadata_residue": ("max", DEFAULT_THRESHOLDS["metadata_residue"]),
}


def write_pilot(result: PilotResult, pilot_dir: Path) -> tuple[Path, Path]:
    """``metrics.json`` and ``report.html`` of a pilot; returns both paths."""
    from avanon.report import plots
    from avanon.report.html import render, write_report

    pilot_dir = Path(pilot_dir)
    pilot_dir.mkdir(parents=True, exist_ok=True)
    metrics = pilot_dir / "metrics.json"
    metrics.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    shown = [m for m in ("residual_faces", "face_reid_rank1", "eer_ignorant", "eer_lazy_informed", "eer_semi_informed",
                         "metadata_residue", *UTILITY_SHARES, "wer")
             if any(r.evaluation.value(m) == r.evaluation.value(m) for r in result.levels)]
    rows = [{"level": r.level, "meets": r.meets, "failed": r.failed,
             "values": {m: r.evaluation.value(m) for m in shown}} for r in result.levels]
    labels = [r.level for r in result.levels]
    level_plots = []
    for m in shown:
        limit = result.thresholds.get(m, (None, None))[1]
        level_plots.append(plots.metric_bars(labels, [plain(r.evaluation.value(m)) for r in result.levels], title=m, thresholds=limit))
    privacy = "eer_lazy_informed" if "eer_lazy_informed" in shown else ("residual_faces" if "residual_faces" in shown else None)
    trade = None
    if privacy:
        trade = plots.tradeoff([(r.level, plain(r.evaluation.value(privacy)), plain(r.utility)) for r in result.levels],
                               privacy=privacy, utility="utility index")
    html = render([(f"level {r.level}", r.evaluation) for r in result.levels], title="avanon pilot",
                  recommendation={"level": result.recommended, "reason": result.reason}, levels=rows,
                  level_metrics=shown, level_plots=level_plots, tradeoff=trade)
    return metrics, write_report(pilot_dir, html)
