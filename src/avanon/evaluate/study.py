"""Evaluate a whole anonymized study: pair files through the run manifest, run every metric.

``evaluate_study(ORIGINAL_DIR, ANONYMIZED_DIR)`` reads ``ANONYMIZED_DIR/avanon_manifest.json``
(entries with ``input``, ``output`` and ``status``), and for each pair that was anonymized:

- videos and images: residual faces, video utility (videos), faces for the re-identification attack;
- audio and videos with sound: speech utility, and speech chunks for the speaker-verification attacks;
  turn boundaries where an RTTM or ELAN file with speaker tiers belongs to the recording;
- every output file: metadata residue.

Study-level values are means over files (residual faces: pooled over faces). The result is one
plain data object (:class:`StudyEvaluation`) that :mod:`avanon.report` renders and that is
written as ``metrics.json``.
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
from avanon.evaluate.base import Score, json_number
from avanon.evaluate.collateral import collateral, collateral_scores
from avanon.evaluate.faces import ResidualReport
from avanon.evaluate.metadata import metadata_residue

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
    """Run all privacy and utility metrics over the pairs recorded in the manifest.

    Parameters
    ----------
    original_dir, anonymized_dir : Path
    every : int >= 1 [frames]
        Video frames are sampled every ``every`` frames for faces and pose.
    max_seconds : float > 0 [s], optional
        Only the first ``max_seconds`` of each file are evaluated (piloting).
    voice_attacks : bool
        Run the speaker-verification attacks (needs resemblyzer).
    transcriber : callable, optional
        Recognizer for the WER (the project's offline recognizer by default; WER is reported as an
        error when none is available).
    identifiers : tuple of str
        Extra names to look for in metadata.
    """
    from avanon.evaluate import speech, turns, video
    from avanon.evaluate.reid import FaceReidentification

    if every < 1:
        raise ParameterError(f"The 'every' option must be an int >= 1 [frames]. Got {every!r} instead.")
    started = time.perf_counter()
    original_dir, anonymized_dir = Path(original_dir), Path(anonymized_dir)
    pairs, header = read_pairs(original_dir, anonymized_dir)
    result = StudyEvaluation(str(original_dir), str(anonymized_dir), recipe=str(header.get("recipe", {}).get("name", "")))
    per_metric: dict[str, list[Score]] = {}
    faces_checked = leaks = 0
    reid_pairs = []
    say = progress or (lambda _: None)
    speaker_files = _speaker_annotations(original_dir)

    for pair in pairs:
        src, dst = original_dir / pair.input, anonymized_dir / pair.output
        record: dict[str, Any] = {"input": pair.input, "output": pair.output, "kind": pair.kind, "scores": {}}
        say(pair.input)
        try:
            if pair.kind in ("video", "image"):
                measured = collateral(src, dst, every=every, max_time=max_seconds, sheets=0)  # leaks + collateral, one detection pass
                report = measured.residual
                assert report is not None
                for score in collateral_scores(measured):
                    per_metric.setdefault(score.metric, []).append(score)
                    record["scores"][score.metric] = score.to_json()
                result.residual.append(report)
                faces_checked += report.faces_checked
                leaks += report.leaks
                record["residual_faces"] = {k: v for k, v in report.to_json().items() if k != "faces"}
                record["residual_faces"]["leaks_detail"] = [f.to_json() for f in report.faces if f.leak][:50]
                reid_pairs.append((src, dst, ""))
            if pair.kind == "video":
                for score in video.video_utility(src, dst, every=every, max_time=max_seconds):
                    per_metric.setdefault(score.metric, []).append(score)
                    record["scores"][score.metric] = score.to_json()
            if pair.kind in ("audio", "video") and _has_audio(src):
                sr = speech.speech_utility(src, dst, transcriber=transcriber, max_seconds=max_seconds)
                for score in sr.scores:
                    per_metric.setdefault(score.metric, []).append(score)
                    record["scores"][score.metric] = score.to_json()
                for name, message in sr.errors.items():
                    result.errors.append({"file": pair.input, "metric": name, "error": message})
                if sr.f0_original is not None and len(result.f0) < 6:
                    result.f0.append((pair.input, sr.f0_original, sr.f0_anonymized))
                source, segments = turns.find_speaker_segments(original_dir, pair.input, speaker_files)
                if segments:
                    score = turns.turn_utility(src, dst, segments, max_seconds=max_seconds)
                    score.detail["annotation"] = source
                    per_metric.setdefault(score.metric, []).append(score)
                    record["scores"][score.metric] = score.to_json()
        except AvanonError as exc:
            result.errors.append({"file": pair.input, "metric": "*", "error": str(exc)})
        result.files.append(record)

    if faces_checked or any(p.kind in ("video", "image") for p in pairs):
        metric = registry.create("metric", "residual_faces")
        result.summary["residual_faces"] = Score(
            "residual_faces",
            leaks / faces_checked if faces_checked else float("nan"),
            metric.direction,
            metric.aspect,
            metric.unit,
            n=faces_checked,
            detail={"leaks": leaks, "faces_checked": faces_checked},
        )
    if reid_pairs:
        try:
            result.summary["face_reid_rank1"] = FaceReidentification(every=max(every, 15)).measure(reid_pairs, max_time=max_seconds)
        except AvanonError as exc:
            result.errors.append({"file": "*", "metric": "face_reid_rank1", "error": str(exc)})
    for name, scores in per_metric.items():
        mean = _mean_score(name, scores)
        if mean is not None:
            result.summary[name] = mean

    meta = registry.create("metric", "metadata_residue", identifiers=tuple(identifiers))
    outputs = [p.output for p in pairs] + _annotation_outputs(anonymized_dir, header)
    report = metadata_residue(anonymized_dir, outputs, originals=[p.input for p in pairs], identifiers=identifiers)
    result.metadata = report.to_json()
    result.summary["metadata_residue"] = Score(
        "metadata_residue", float(len(report.findings)), meta.direction, meta.aspect, n=report.files, detail={"severe": report.severe}
    )

    audio_pairs = [p for p in pairs if p.kind in ("audio", "video") and _has_audio(original_dir / p.input)]
    if voice_attacks and audio_pairs:
        from avanon.evaluate.voice import voice_privacy

        try:
            result.voice = voice_privacy(original_dir, anonymized_dir, audio_pairs, header, max_seconds=max_seconds)
            for attacker in ("ignorant", "lazy_informed", "semi_informed"):
                entry = result.voice.get(attacker)
                if entry and entry.get("eer") is not None:
                    result.summary[f"eer_{attacker}"] = Score(f"eer_{attacker}", entry["eer"], "higher", "privacy", n=entry.get("trials", 0), detail=entry)
        except AvanonError as exc:
            result.errors.append({"file": "*", "metric": "speaker_verification", "error": str(exc)})
    try:  # linkage attacks: sessions of one participant linked by voice, metadata, motion, external samples
        from avanon.evaluate.linkage import linkage_scores

        linked = linkage_scores(original_dir, anonymized_dir, pairs, header, voice_attacks=voice_attacks, max_seconds=max_seconds)
        result.summary.update({s.metric: s for s in linked})
    except AvanonError as exc:
        result.errors.append({"file": "*", "metric": "linkage", "error": str(exc)})
    result.seconds = time.perf_counter() - started
    return result


def _has_audio(path: Path) -> bool:
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except av.error.FFmpegError:
        return False


def _speaker_annotations(original_dir: Path) -> list[str]:
    """RTTM and ELAN files of the original study (relative paths): candidates for speaker tiers."""
    return sorted(p.relative_to(original_dir).as_posix() for p in Path(original_dir).rglob("*") if p.is_file() and p.suffix.lower() in (".rttm", ".eaf"))


def _annotation_outputs(anonymized_dir: Path, header: dict[str, Any]) -> list[str]:
    """Annotation files in the anonymized folder (relative paths)."""
    from avanon.annotations.formats import is_annotation

    found = []
    for path in sorted(Path(anonymized_dir).rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME and is_annotation(path):
            found.append(path.relative_to(anonymized_dir).as_posix())
    return found


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
