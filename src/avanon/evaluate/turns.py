"""Turn boundaries: do the speakers' turns start and end at the same times after anonymization?

Where a recording has speaker tiers beside it (an RTTM file's ``SPEAKER`` lines, or the top-level
interval tiers of an ELAN file, one per participant), each annotated speaker segment is a turn.
The annotation gives the turn only roughly (annotators pad segments), so the boundaries compared are
those of the voice activity *inside* each segment:

1. Voice activity is found on the original and on the anonymized signal with Praat's silence
   detection (:func:`avanon.evaluate.speech.speech_activity`), both judged by the original's
   absolute silence level, so that noise a transform adds is not taken for speech.
2. For each segment, widened by ``pad`` seconds on both sides (an onset a little before the
   annotated start still belongs to the turn), the turn's start is the first onset of voice
   activity in it and its end the last offset, clipped to the widened segment.
3. The shift of a boundary is its anonymized time minus its original time [s]. Segments without
   voice activity in the original are not measured; those with activity in the original but none
   in the anonymized signal are counted as lost turns.

The headline value is the median absolute shift over all starts and ends [s] (lower is better);
the mean signed shift, the 90th percentile, the maximum and the shares of boundaries within 50
and 100 ms come with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

import numpy as np

from avanon.errors import ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia

SPEAKER_FORMATS = ("rttm", "elan")
Segment = tuple[float, float, str]  # start [s], end [s], speaker tier name


def speaker_segments(doc: Any) -> list[Segment]:
    """Speaker segments of an annotation document, sorted by start.

    RTTM: every ``SPEAKER`` line. ELAN: every aligned annotation of the independent (top-level)
    interval tiers; dependent tiers (those with a ``PARENT_REF``, such as vocal maturity or
    addressee codes under a speaker's tier) are left out. Other formats hold no speaker tiers.

    Parameters
    ----------
    doc : avanon.annotations.AnnotationDocument
    """
    segments: list[Segment] = []
    for tier in doc.tiers:
        if doc.format == "rttm":
            if tier.attributes.get("type") != "SPEAKER":
                continue
        elif doc.format == "elan":
            if tier.kind != "interval" or tier.attributes.get("PARENT_REF"):
                continue
        else:
            continue
        for annotation in tier.annotations:
            if annotation.onset is None or annotation.offset is None or annotation.offset <= annotation.onset:
                continue
            segments.append((float(annotation.onset), float(annotation.offset), tier.name))
    return sorted(segments)


def find_speaker_segments(study_root: Path, media_rel: str, annotations: Iterable[str]) -> tuple[str | None, list[Segment]]:
    """The speaker segments of the first RTTM or ELAN file that belongs to ``media_rel``.

    Parameters
    ----------
    study_root : Path
        The original study folder.
    media_rel : str
        The media file, relative to ``study_root``.
    annotations : iterable of str
        Annotation files of the study, relative to ``study_root``.

    Returns
    -------
    (annotation path or None, segments)
    """
    from avanon.annotations.formats import detect_format, read_annotations
    from avanon.annotations.pairing import pair_media

    for rel in sorted(annotations):
        fmt = detect_format(Path(study_root) / rel)
        if fmt not in SPEAKER_FORMATS:
            continue
        doc = read_annotations(Path(study_root) / rel, format=fmt)
        if media_rel not in pair_media(rel, doc, [media_rel]).media:
            continue
        segments = speaker_segments(doc)
        if segments:
            return rel, segments
    return None, []


def activity_in(intervals: Sequence[tuple[float, float]], start: float, end: float) -> tuple[float, float] | None:
    """First onset and last offset of ``intervals`` inside ``[start, end]`` (clipped), or ``None``."""
    inside = [(max(a, start), min(b, end)) for a, b in intervals if b > start and a < end]
    if not inside:
        return None
    return inside[0][0], inside[-1][1]


@dataclass
class TurnReport:
    """Boundary shifts of the turns of one recording."""

    segments: int
    measured: int
    lost: int
    start_shifts: list[float] = field(default_factory=list)  # [s], anonymized minus original
    end_shifts: list[float] = field(default_factory=list)  # [s]

    @property
    def shifts(self) -> np.ndarray:
        return np.asarray(self.start_shifts + self.end_shifts, dtype=np.float64)

    def statistics(self) -> dict[str, Any]:
        """Shift statistics [s] and shares of boundaries within 50 and 100 ms."""
        s = self.shifts
        absolute = np.abs(s)
        stats: dict[str, Any] = {"segments": self.segments, "measured": self.measured, "lost": self.lost, "boundaries": int(len(s))}
        if len(s):
            stats.update(
                median_abs_shift=json_number(float(np.median(absolute))),
                mean_shift=json_number(float(np.mean(s))),
                p90_abs_shift=json_number(float(np.quantile(absolute, 0.9))),
                max_abs_shift=json_number(float(absolute.max())),
                within_50ms=json_number(float(np.mean(absolute <= 0.05))),
                within_100ms=json_number(float(np.mean(absolute <= 0.1))),
                median_abs_start_shift=json_number(float(np.median(np.abs(self.start_shifts)))),
                median_abs_end_shift=json_number(float(np.median(np.abs(self.end_shifts)))),
            )
        return stats


def turn_boundaries(
    original: np.ndarray,
    anonymized: np.ndarray,
    sample_rate: int,
    segments: Sequence[Segment],
    *,
    anonymized_rate: int | None = None,
    pad: float = 0.2,
) -> TurnReport:
    """Compare voice-activity turn boundaries within speaker segments (see the module docstring).

    Parameters
    ----------
    original, anonymized : ndarray, shape (n,), float
        Mono signals.
    sample_rate : int > 0 [Hz]
        Rate of ``original``.
    segments : sequence of (start, end, speaker) [s]
    anonymized_rate : int > 0 [Hz], optional
        Rate of ``anonymized`` (``sample_rate`` when not given).
    pad : float >= 0 [s]
        Widening of each segment on both sides.
    """
    from avanon.evaluate.speech import silence_level, speech_activity

    if pad < 0:
        raise ParameterError(f"The 'pad' parameter of turn_boundaries must be a float >= 0 [s]. Got {pad!r} instead.")
    rate_b = anonymized_rate or sample_rate
    level = silence_level(original, sample_rate)
    activity_a = speech_activity(original, sample_rate, level_db=level)
    activity_b = speech_activity(anonymized, rate_b, level_db=level)
    report = TurnReport(segments=len(segments), measured=0, lost=0)
    for start, end, _ in segments:
        window = (max(0.0, start - pad), end + pad)
        a = activity_in(activity_a, *window)
        if a is None:
            continue
        b = activity_in(activity_b, *window)
        if b is None:
            report.lost += 1
            continue
        report.measured += 1
        report.start_shifts.append(b[0] - a[0])
        report.end_shifts.append(b[1] - a[1])
    return report


@register
class TurnBoundaryShift(Metric):
    """Median absolute shift of voice-activity turn boundaries within speaker segments [s] (lower is better)."""

    name = "turn_boundary_shift"
    direction: ClassVar[str] = "lower"
    aspect: ClassVar[str] = "utility"
    unit: ClassVar[str] = "s"
    kinds: ClassVar[tuple[str, ...]] = ("audio", "video")
    params = {"pad": Param(0.2, Interval(float, 0.0, 5.0), "widening of each annotated segment on both sides [s]")}

    def compute(self, original: np.ndarray, anonymized: np.ndarray, sample_rate: int, segments: Sequence[Segment], anonymized_rate: int | None = None) -> Score:
        """Score one recording; ``nan`` (with the reason) when no segment could be measured."""
        report = turn_boundaries(original, anonymized, sample_rate, segments, anonymized_rate=anonymized_rate, pad=self.pad)
        stats = report.statistics()
        value = stats.get("median_abs_shift")
        if value is None:
            stats["note"] = "no speaker segment had voice activity in both signals"
        return score_of(self, float("nan") if value is None else value, n=len(report.shifts), **stats)

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """The shift in the pair's sound, where an RTTM or ELAN file of the study gives its speaker segments."""
        context = media.context
        source, segments = find_speaker_segments(context.original_dir, media.pair.input, context.speaker_files)
        audio = media.audio if segments else None
        if audio is None:
            return []
        if context.max_seconds is not None:
            segments = [s for s in segments if s[0] < context.max_seconds]
        score = self.compute(audio.original, audio.anonymized, audio.rate, segments, anonymized_rate=audio.anonymized_rate)
        score.detail["annotation"] = source
        return [score]


def turn_utility(original: Path, anonymized: Path, segments: Sequence[Segment], *, max_seconds: float | None = None, pad: float = 0.2) -> Score:
    """:class:`TurnBoundaryShift` of one pair of audio (or video with audio) files.

    Parameters
    ----------
    original, anonymized : Path
    segments : sequence of (start, end, speaker) [s]
        From :func:`find_speaker_segments`.
    max_seconds : float > 0 [s], optional
        Only the first ``max_seconds`` are compared (segments beyond are left out).
    pad : float >= 0 [s]
    """
    from avanon.evaluate.speech import read_mono

    x, rate_x = read_mono(original)
    y, rate_y = read_mono(anonymized)
    if max_seconds is not None:
        x, y = x[: int(max_seconds * rate_x)], y[: int(max_seconds * rate_y)]
        segments = [s for s in segments if s[0] < max_seconds]
    return TurnBoundaryShift(pad=pad).compute(x, y, rate_x, segments, anonymized_rate=rate_y)
