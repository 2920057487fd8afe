"""Evaluate a whole anonymized study: pair files through the run manifest, run every registered metric.

``evaluate_study(ORIGINAL_DIR, ANONYMIZED_DIR)`` reads ``ANONYMIZED_DIR/avanon_manifest.json``
(entries with ``input``, ``output`` and ``status``) and runs every metric of the registry (kind
``"metric"``) through the same calls of :class:`~avanon.evaluate.base.Metric`, so a newly
registered metric runs without a change here. The built-in ones measure, for each pair that was
anonymized:

- videos and images: residual faces, the collateral of the masks, video utility (videos), faces
  for the re-identification attack, all from one decoding pass of the pair;
- audio and videos with sound: speech utility, speech chunks for the speaker-verification attacks,
  turn boundaries where an RTTM or ELAN file with speaker tiers belongs to the recording, all from
  the sound read once;

and over the study: metadata residue of every output file, the attacks (face re-identification,
speaker verification, linkage).

Study-level values are means over files unless a metric gives its own (residual faces: pooled
over faces; attacks). The result is one plain data object (:class:`StudyEvaluation`) that
:mod:`avanon.report` renders and that is written as ``metrics.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avanon import registry
from avanon.errors import AvanonError, IntegrityError, ParameterError
from avanon.evaluate.base import Metric, Score, json_number
from avanon.evaluate.faces import ResidualReport
from avanon.evaluate.media import EvaluationContext, PairMedia, StudyMedia, has_audio

MANIFEST_NAME = "avanon_manifest.json"


@dataclass
class Pair:
    """One original file and its anonymized output (relative paths)."""

    input: str
    output: str
    kind: str  # "video", "audio" or "image"
    speaker: str


def read_pairs(original_dir: Path, anonymized_dir: Path) -> tuple[list[Pair], dict[str, Any]]:
    """Pairs of media files the manifest records as ``ok``, and the manifest header."""
    from avanon.audio.base import speaker_key
    from avanon.media.probe import media_kind

    path = Path(anonymized_dir) / MANIFEST_NAME
    if not path.is_file():
        raise IntegrityError(f"{path}: no run manifest; evaluate needs the folder written by `avanon run`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["entries"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{path}: not a valid avanon manifest ({exc}).") from None
    pairs = []
    for entry in entries:
        if entry.get("status") != "ok" or not entry.get("output"):
            continue
        kind = media_kind(entry["input"])
        if kind is None:
            continue
        original, output = Path(original_dir) / entry["input"], Path(anonymized_dir) / entry["output"]
        if not original.is_file():
            raise IntegrityError(f"{original}: listed in {path} but missing from the original folder.")
        if not output.is_file():
            raise IntegrityError(f"{output}: listed in {path} but missing.")
        pairs.append(Pair(entry["input"], entry["output"], kind, speaker_key(entry["input"])))
    header = {k: v for k, v in data.items() if k != "entries"}
    return pairs, header


@dataclass
class StudyEvaluation:
    """Every metric of one anonymized study, per file and summarised."""

    original_dir: str
    anonymized_dir: str
    recipe: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Score] = field(default_factory=dict)
    voice: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    residual: list[ResidualReport] = field(default_factory=list, repr=False)
    f0: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)
    collateral: list[tuple[str, list[np.ndarray]]] = field(default_factory=list, repr=False)  # (file, worst-frame overlays)

    def value(self, metric: str) -> float:
        score = self.summary.get(metric)
        return float("nan") if score is None else score.value

    def to_json(self) -> dict[str, Any]:
        return {
            "original_dir": self.original_dir,
            "anonymized_dir": self.anonymized_dir,
            "recipe": self.recipe,
            "seconds": round(self.seconds, 2),
            "summary": {k: v.to_json() for k, v in self.summary.items()},
            "voice": self.voice,
            "metadata": self.metadata,
            "files": self.files,
            "errors": self.errors,
        }


def _mean_score(name: str, scores: list[Score]) -> Score | None:
    values = [s.value for s in scores if np.isfinite(s.value)]
    if not scores:
        return None
    first = scores[0]
    return Score(
        name,
        float(np.mean(values)) if values else float("nan"),
        first.direction,
        first.aspect,
        first.unit,
        n=len(values),
        detail={
            "files": len(scores),
            "min": json_number(min(values)) if values else None,
            "max": json_number(max(values)) if values else None,
            "median": json_number(float(np.median(values))) if values else None,
            "quartiles": [json_number(float(q)) for q in np.percentile(values, [25, 75])] if values else None,
        },
    )


def evaluate_study(
    original_dir: Path,
    anonymized_dir: Path,
    *,
    every: int = 10,
    max_seconds: float | None = None,
    voice_attacks: bool = True,
    transcriber: Callable[[np.ndarray, int], str] | None = None,
    identifiers: tuple[str, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> StudyEvaluation:
    """Run every registered metric over the pairs recorded in the manifest.

    Each metric runs through the same calls (:class:`~avanon.evaluate.base.Metric`): ``prepare``
    and ``measure_pair`` for each pair of a kind it measures, then ``measure_study``. Each video
    pair is decoded once and each sound track read once for all metrics
    (:class:`~avanon.evaluate.media.PairMedia`). A metric that fails on a file is listed in
    ``errors`` with the file; a pair that cannot be decoded is listed once (metric ``"*"``).

    Parameters
    ----------
    original_dir, anonymized_dir : Path
    every : int >= 1 [frames]
        Video frames are sampled every ``every`` frames for faces and pose.
    max_seconds : float > 0 [s], optional
        Only the first ``max_seconds`` of each file are evaluated (piloting).
    voice_attacks : bool
        Run the attacks on speaker embeddings (speaker verification, voice linkage).
    transcriber : callable, optional
        Recognizer for the WER (the project's offline recognizer by default; WER is reported as an
        error when none is available).
    identifiers : tuple of str
        Extra names to look for in metadata.
    """
    if every < 1:
        raise ParameterError(f"The 'every' option must be an int >= 1 [frames]. Got {every!r} instead.")
    started = time.perf_counter()
    original_dir, anonymized_dir = Path(original_dir), Path(anonymized_dir)
    pairs, header = read_pairs(original_dir, anonymized_dir)
    result = StudyEvaluation(str(original_dir), str(anonymized_dir), recipe=str(header.get("recipe", {}).get("name", "")))
    context = EvaluationContext(
        original_dir,
        anonymized_dir,
        header=header,
        every=int(every),
        max_seconds=max_seconds,
        voice_attacks=voice_attacks,
        transcriber=transcriber,
        identifiers=tuple(identifiers),
        speaker_files=tuple(_speaker_annotations(original_dir)),
    )
    study = StudyMedia(context, pairs, result)
    metrics = [registry.create("metric", name) for name in registry.names("metric")]
    per_metric: dict[str, list[Score]] = {}
    for pair in pairs:
        (progress or (lambda _: None))(pair.input)
        media = PairMedia(pair, study)
        for score in _measure_pair(media, [m for m in metrics if pair.kind in m.kinds]):
            per_metric.setdefault(score.metric, []).append(score)
            media.record["scores"][score.metric] = score.to_json()
        result.files.append(media.record)
    for name, scores in per_metric.items():
        mean = _mean_score(name, scores)
        if mean is not None:
            result.summary[name] = mean
    for metric in metrics:
        try:
            result.summary.update({s.metric: s for s in metric.measure_study(study)})
        except AvanonError as exc:
            _note_error(result, "*", metric.name, exc)
    result.seconds = time.perf_counter() - started
    return result


def _measure_pair(media: PairMedia, metrics: list[Metric]) -> list[Score]:
    """Prepare every metric, decode the pair once, and collect the metrics' scores of it."""
    result, rel = media.study.evaluation, media.pair.input
    framed, ready = set(), []
    for metric in metrics:
        asked = len(media.requests)
        try:
            metric.prepare(media)
        except AvanonError as exc:
            _note_error(result, rel, metric.name, exc)
            continue
        ready.append(metric)
        if len(media.requests) > asked:
            framed.add(metric.name)
    try:
        media.decode()
    except AvanonError as exc:  # no frame analysis is complete: the metrics that read frames are left out
        _note_error(result, rel, "*", exc)
        ready = [m for m in ready if m.name not in framed]
    scores = []
    for metric in ready:
        try:
            scores += metric.measure_pair(media)
        except AvanonError as exc:
            _note_error(result, rel, metric.name, exc)
    return scores


def _note_error(result: StudyEvaluation, rel: str, metric: str, exc: Exception) -> None:
    """Add an error once: metrics sharing a failed input (a sound track, an attack) report it once."""
    if not any(e["file"] == rel and e["error"] == str(exc) for e in result.errors):
        result.errors.append({"file": rel, "metric": metric, "error": str(exc)})


_has_audio = has_audio  # kept for callers of the earlier name


def _speaker_annotations(original_dir: Path) -> list[str]:
    """RTTM and ELAN files of the original study (relative paths): candidates for speaker tiers."""
    return sorted(p.relative_to(original_dir).as_posix() for p in Path(original_dir).rglob("*") if p.is_file() and p.suffix.lower() in (".rttm", ".eaf"))


def write_metrics(evaluation: StudyEvaluation, out_dir: Path) -> Path:
    """Write ``metrics.json`` (canonical, sorted keys) into ``out_dir``; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(plain(evaluation.to_json()), indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    temp.replace(path)
    return path


def plain(value: Any) -> Any:
    """JSON-ready data: numpy types to Python, NaN and infinities to ``None``, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return json_number(float(value))
    return value
