"""Pilot: run several anonymization levels on a stratified sample and recommend the lightest safe one.

1. A sample of the study is drawn per participant (BIDS ``sub-XX`` or file stem) and per modality
   (video, audio, image): ``fraction`` of each group, at least one file, chosen by a keyed hash of
   the path so the same seed draws the same sample. The files are copied (hard-linked where
   possible) into ``PILOT_DIR/sample``, with the annotation files that belong to them (speaker
   tiers for the turn-boundary metric) and ``participants.tsv`` if the study has one.
2. Each level (a built-in recipe name or a recipe YAML path) is run over the sample with
   :func:`avanon.pipeline.run_study` into ``PILOT_DIR/runs/<level>`` and evaluated.
3. A level meets the thresholds when every threshold whose metric could be computed holds and no
   file failed to anonymize; thresholds whose metric could not be computed on the sample (no
   speech chunks for the voice attacks, no faces) are listed as not judged. Among the levels that
   meet the thresholds, the recommended level is the least distorting one: the highest mean of the
   utility correlations and agreements (F0 and intensity correlation, VAD agreement, pose PCK,
   motion correlation) that were measured; on a tie, or when no utility could be measured, the
   level given first (levels are given from the lightest to the strongest).

The built-in levels are the recipes ``light`` (pixelated faces, McAdams 0.9), ``medium`` (the
default: solid faces, McAdams 0.8) and ``strong`` (solid faces over larger boxes with longer
margins, content-only resynthesis of the voice).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from avanon.errors import AccessError, ModelError, ParameterError
from avanon.evaluate.study import StudyEvaluation, evaluate_study, plain

UTILITY_SHARES = ("f0_correlation", "intensity_correlation", "vad_agreement", "pose_pck", "motion_correlation")
DEFAULT_LEVELS = ("light", "medium", "strong")
DEFAULT_THRESHOLDS = {"residual_faces": 0.0, "eer_lazy_informed": 0.3, "metadata_residue": 0.0}
PRIVACY_AXES = ("eer_lazy_informed", "eer_ignorant", "residual_faces", "face_reid_rank1")
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


def parse_thresholds(items: list[str] | tuple[str, ...]) -> dict[str, tuple[str, float]]:
    """Thresholds from ``NAME=VALUE`` items over the defaults (:data:`DEFAULT_THRESHOLDS_BOUND`).

    ``NAME`` is one of :data:`THRESHOLD_OPTIONS` (``min_eer``, ``max_leak_rate``, ...); ``VALUE`` is a
    number, or ``none`` to drop that threshold. Returns metric name -> ``("min" | "max", value)``.
    """
    thresholds = dict(DEFAULT_THRESHOLDS_BOUND)
    for item in items:
        name, sep, value = str(item).partition("=")
        name, value = name.strip().replace("-", "_"), value.strip()
        if not sep or name not in THRESHOLD_OPTIONS:
            raise ParameterError(f"The 'threshold' option must be NAME=VALUE with NAME one of {', '.join(THRESHOLD_OPTIONS)}. Got {item!r} instead.")
        metric, bound = THRESHOLD_OPTIONS[name]
        if value.lower() == "none":
            thresholds.pop(metric, None)
            continue
        try:
            thresholds[metric] = (bound, float(value))
        except ValueError:
            raise ParameterError(f"The 'threshold' option {name} must be a number or none. Got {value!r} instead.") from None
    return thresholds


@dataclass(frozen=True)
class EvaluationSettings:
    """How each level is evaluated (the options shared by ``avanon evaluate`` and ``avanon pilot``).

    Parameters
    ----------
    every : int >= 1 [frames]
        Video frames sampled for the face and pose metrics.
    max_seconds : float > 0 [s], optional
        Only the first seconds of each file are evaluated.
    voice_attacks : bool
        Run the speaker-verification attackers.
    transcriber : callable (samples, rate) -> text, optional
        Recognizer for the WER (the project's offline recognizer by default).
    """

    every: int = 10
    max_seconds: float | None = None
    voice_attacks: bool = True
    transcriber: Callable[[Any, int], str] | None = None

    @classmethod
    def from_options(cls, every: int = 10, max_seconds: float | None = None, no_voice_attacks: bool = False) -> "EvaluationSettings":
        """From the command-line options ``--every``, ``--max-seconds`` and ``--no-voice-attacks``."""
        return cls(every=every, max_seconds=max_seconds, voice_attacks=not no_voice_attacks)

    def study_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`avanon.evaluate.study.evaluate_study`."""
        return {"every": self.every, "max_seconds": self.max_seconds, "voice_attacks": self.voice_attacks, "transcriber": self.transcriber}


def paired_annotations(study: Path, sample: list[str]) -> list[str]:
    """Annotation files of the study that belong (by file name) to a sampled media file."""
    from avanon.annotations.formats import is_annotation
    from avanon.annotations.pairing import pair_media
    from avanon.pipeline import plan

    chosen = set(sample)
    found = []
    for rel in plan(Path(study)):
        if rel in chosen or not is_annotation(Path(study) / rel):
            continue
        if set(pair_media(rel, None, sample).media) & chosen:
            found.append(rel)
    return found


def remembering(transcriber: Callable[[Any, int], str]) -> Callable[[Any, int], str]:
    """``transcriber`` with a memory: the same samples at the same rate are transcribed once.

    Every level of a pilot compares with the same originals, so the reference transcripts of the
    word error rate are computed for the first level only.
    """
    import numpy as np

    memo: dict[str, str] = {}

    def run(samples: Any, rate: int) -> str:
        data = np.ascontiguousarray(samples, dtype=np.float32)
        key = hashlib.sha256(data.tobytes() + f"/{data.shape}/{int(rate)}".encode()).hexdigest()
        if key not in memo:
            memo[key] = transcriber(samples, rate)
        return memo[key]

    return run


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class LevelResult:
    """One level of a pilot: its evaluation and how it stands against the thresholds."""

    level: str
    evaluation: StudyEvaluation
    meets: bool
    failed: list[str] = field(default_factory=list)
    utility: float = float("nan")
    unjudged: list[str] = field(default_factory=list)
    files_failed: list[tuple[str, str]] = field(default_factory=list)


def check_thresholds(evaluation: StudyEvaluation, thresholds: dict[str, tuple[str, float]]) -> tuple[list[str], list[str]]:
    """The thresholds not met (as readable text) and the metrics that could not be judged."""
    failed, unjudged = [], []
    for metric, (bound, limit) in thresholds.items():
        value = evaluation.value(metric)
        if value != value:
            unjudged.append(metric)
            continue
        if (bound == "min" and value < limit) or (bound == "max" and value > limit):
            failed.append(f"{metric} {value:.3f} {'<' if bound == 'min' else '>'} {limit}")
    return failed, unjudged


def utility_index(evaluation: StudyEvaluation) -> float:
    """Mean of the measured utility correlations and agreements (higher is less distorting)."""
    values = [evaluation.value(m) for m in UTILITY_SHARES]
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float("nan")


def recommend(results: list[LevelResult]) -> tuple[str | None, str]:
    """The recommended level and why (see the module docstring); ``None`` when no level qualifies."""
    passing = [r for r in results if r.meets]
    if not passing:
        return None, "No level meets the thresholds; try stronger recipes or review the thresholds. " + "; ".join(
            f"{r.level}: {', '.join(r.failed + [f'{len(r.files_failed)} files failed'] * bool(r.files_failed))}" for r in results
        )
    order = {r.level: i for i, r in enumerate(results)}
    best = max(passing, key=lambda r: (r.utility if r.utility == r.utility else -1.0, -order[r.level]))
    if best.utility == best.utility:
        why = f"keeps the most of the measured behaviour (utility index {best.utility:.3f}"
        others = [f"{r.level} {r.utility:.3f}" for r in passing if r is not best and r.utility == r.utility]
        why += f"; other passing levels: {', '.join(others)})" if others else ")"
    else:
        why = "is the lightest of the levels that do (no utility metric could be measured on the sample)"
    reason = f"{best.level} meets every threshold and {why}; {len(passing)} of {len(results)} levels meet the thresholds."
    if best.unjudged:
        reason += f" Not judged on this sample (could not be computed): {', '.join(best.unjudged)}."
    return best.level, reason


@dataclass
class PilotResult:
    """A whole pilot: the sample, one :class:`LevelResult` per level, and the recommendation."""

    sample: list[str]
    levels: list[LevelResult]
    thresholds: dict[str, tuple[str, float]]
    recommended: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return plain(
            {
                "sample": self.sample,
                "thresholds": {m: {"bound": b, "value": v} for m, (b, v) in self.thresholds.items()},
                "recommended": self.recommended,
                "reason": self.reason,
                "levels": [
                    {
                        "level": r.level,
                        "meets": r.meets,
                        "failed": r.failed,
                        "not_judged": r.unjudged,
                        "files_failed": [{"input": i, "reason": why} for i, why in r.files_failed],
                        "utility_index": r.utility,
                        "evaluation": r.evaluation.to_json(),
                    }
                    for r in self.levels
                ],
            }
        )


def run_pilot(
    study: Path,
    pilot_dir: Path,
    *,
    levels: list[str] | tuple[str, ...] = DEFAULT_LEVELS,
    fraction: float = 0.1,
    thresholds: dict[str, tuple[str, float]] | None = None,
    seed: int = 0,
    evaluation: EvaluationSettings = EvaluationSettings(),
    progress: Callable[[str], None] | None = None,
) -> PilotResult:
    """Sample, anonymize with each level, evaluate and recommend (see the module docstring).

    Parameters
    ----------
    study : Path
        The study folder (never modified).
    pilot_dir : Path
        A new or empty folder: ``sample/``, ``runs/<level>/``, then :func:`avanon.report.pilot.write_pilot`'s files.
    levels : list of str
        Built-in recipe names or recipe YAML paths, from the lightest to the strongest.
    fraction : float in (0, 1]
        Share of each participant's files per modality (at least one file per group).
    thresholds : dict, optional
        Metric name -> ``("min" | "max", value)``; :data:`DEFAULT_THRESHOLDS_BOUND` by default.
    seed : int
        Seed of the sample and of every run.
    evaluation : EvaluationSettings
        Frames, seconds, attackers and recognizer of each level's evaluation.
    progress : callable (str) -> None, optional
        Receives one line per step.
    """
    from avanon import recipe as recipes
    from avanon.evaluate.speech import default_transcriber
    from avanon.pipeline import run_study

    study, pilot_dir = Path(study), Path(pilot_dir)
    if not levels:
        raise ParameterError("The pilot needs at least one level; built-in recipes: " + ", ".join(recipes.builtin_names()) + ".")
    if pilot_dir.exists() and any(pilot_dir.iterdir()):
        raise AccessError(f"Pilot folder {pilot_dir} exists and is not empty; choose a new folder.")
    loaded = [(Path(level).stem if str(level).endswith((".yaml", ".yml")) else str(level), recipes.load(level)) for level in levels]
    names = [name for name, _ in loaded]
    if len(set(names)) != len(names):
        raise ParameterError(f"The pilot levels must have distinct names; got {', '.join(names)}.")
    thresholds = dict(DEFAULT_THRESHOLDS_BOUND if thresholds is None else thresholds)
    say = progress or (lambda _: None)
    sample = sample_study(study, fraction, seed=seed)
    if not sample:
        raise ParameterError(f"Study folder {study} holds no video, audio or image files to pilot.")
    sample_dir = pilot_dir / "sample"
    for rel in sample + paired_annotations(study, sample):
        _place(study / rel, sample_dir / rel)
    if (study / "participants.tsv").is_file():
        _place(study / "participants.tsv", sample_dir / "participants.tsv")
    transcriber = evaluation.transcriber
    if transcriber is None:
        try:
            transcriber = default_transcriber()
        except ModelError:  # evaluate_study reports the WER as not computable, file by file
            transcriber = None
    if transcriber is not None:
        transcriber = remembering(transcriber)
    results = []
    for name, recipe in loaded:
        say(f"level {name}: anonymizing {len(sample)} files")
        out = pilot_dir / "runs" / name
        summary = run_study(sample_dir, out, recipe=recipe, seed=seed)
        say(f"level {name}: evaluating")
        measured = evaluate_study(sample_dir, out, **{**evaluation.study_options(), "transcriber": transcriber})
        failed, unjudged = check_thresholds(measured, thresholds)
        meets = not failed and not summary.failed
        results.append(LevelResult(name, measured, meets, failed, utility_index(measured), unjudged, list(summary.failed)))
    recommended, reason = recommend(results)
    return PilotResult(sample, results, thresholds, recommended, reason)


DEFAULT_THRESHOLDS_BOUND: dict[str, tuple[str, float]] = {
    "residual_faces": ("max", DEFAULT_THRESHOLDS["residual_faces"]),
    "eer_lazy_informed": ("min", DEFAULT_THRESHOLDS["eer_lazy_informed"]),
    "metadata_residue": ("max", DEFAULT_THRESHOLDS["metadata_residue"]),
}
