"""Speech utility: do pitch, loudness, timing and words survive the voice transform?

Every measure compares an original recording with its anonymized version (mono, any sample rate):

``f0_correlation``
    Pearson correlation of the Praat F0 contours (10 ms steps, 75-500 Hz) as the VoicePrivacy 2022
    evaluation computes it: the shorter contour is linearly stretched to the longer one, values
    outside 75-500 Hz are zeroed, the anonymized contour is shifted by the lag of maximal
    cross-correlation, and the correlation is taken over frames voiced in both (``frames="voiced"``,
    the evaluation plan's definition) or over all frames (``frames="all"``, what the challenge's
    script computes).
``f0_mean_change``, ``f0_range_change``
    Absolute change of the mean F0 and of the 5-95 % F0 range, in semitones, from a two-pass
    track: a first pass over 60-700 Hz sets each signal's own range (0.75 x its first quartile to
    1.5 x its third, after Hirst 2011). A fixed 75-500 Hz range lets octave errors through, which
    widened an original's measured range from 12 to 21 semitones (benchmarks/results/voice_issue16.md).
``intensity_correlation``
    Pearson correlation of Praat intensity contours (dB, 10 ms) over frames where both are defined.
``vad_agreement``, ``pause_change``
    Speech/silence labels from Praat's "To TextGrid (silences)" (silence below the original's
    maximum intensity minus 25 dB, for both signals; pauses of at least 0.1 s, sounding stretches
    of at least 0.05 s): the share of 10 ms frames with the same label, and the change of the mean
    pause duration [s], with the share of the original's pauses kept. Pause *counts* mislead: on
    the dev recordings the pseudo-speaker kept every pause of 0.15 s or more (17 of 17, and webrtcvad
    agrees) but only 4 of 12 of 0.10-0.15 s, which a few ms of smearing takes under the minimum.
``speaking_rate_change``
    Relative change of syllable nuclei per second of phonation (intensity peaks at least 2 dB above
    the dips around them, voiced, louder than the median; after de Jong and Wempe 2009).
``wer``
    Word error rate (``jiwer``) of the offline recognizer on the anonymized speech against a
    reference: the given transcript, a transcript file beside the original (``<stem>.txt``,
    ``<stem>.lab`` or a LibriSpeech ``*.trans.txt``), or else the recognizer's transcript of the
    original. Both sides go through Whisper's English text normaliser first (lower case,
    punctuation and filler words dropped, spelled numbers as digits, British spellings as American),
    as the field reports WER; comparing raw strings counted "Mr." against "mister" and "21" against
    "twenty-one" as errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from avanon.errors import ParameterError
from avanon.evaluate.acoustics import (  # noqa: F401 (the measures, kept importable from here)
    F0_CEILING,
    F0_FLOOR,
    TIME_STEP,
    activity_frames,
    align_contours,
    f0_contour,
    f0_contour_adaptive,
    f0_correlation,
    f0_summary,
    intensity_contour,
    intensity_correlation,
    pause_intervals,
    pauses,
    semitones,
    silence_level,
    speaking_rate,
    speech_activity,
    syllable_nuclei,
)
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.transcripts import Transcriber, default_transcriber, normalize_text, reference_transcript, wer, word_errors, words  # noqa: F401
from avanon.registry import Options, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia


# --------------------------------------------------------------------------------------------
# Registered metrics and the per-file report
# --------------------------------------------------------------------------------------------


class SpeechMetric(Metric):
    """A speech utility metric over one original/anonymized signal pair."""

    aspect: ClassVar[str] = "utility"
    kinds: ClassVar[tuple[str, ...]] = ("audio", "video")

    def compute(self, original: np.ndarray, anonymized: np.ndarray, sample_rate: int, anonymized_rate: int | None = None) -> Score:
        raise NotImplementedError

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """:meth:`compute` on the pair's sound, read once for every metric (nothing when the original has none)."""
        audio = media.audio
        if audio is None:
            return []
        return [self.compute(audio.original, audio.anonymized, audio.rate, audio.anonymized_rate)]


@register
class F0Correlation(SpeechMetric):
    """VoicePrivacy 2022 F0 contour correlation (higher is better)."""

    name = "f0_correlation"
    direction = "higher"
    params = {"frames": Param("voiced", Options(("voiced", "all")), "correlate voiced-in-both frames or all frames")}

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        rho, n = f0_correlation(original, anonymized, sample_rate, anonymized_rate, frames=self.frames)
        return score_of(self, rho, n=n)

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """The score, and the two F0 contours for the report's pitch overlays (the first 6 files)."""
        scores = super().measure_pair(media)
        overlays, audio = media.study.evaluation.f0, media.audio
        if scores and audio is not None and len(overlays) < 6:
            overlays.append((media.pair.input, f0_contour(audio.original, audio.rate), f0_contour(audio.anonymized, audio.anonymized_rate)))
        return scores


@register
class F0MeanChange(SpeechMetric):
    """Absolute change of the mean F0 [semitones] (lower is better)."""

    name = "f0_mean_change"
    direction = "lower"
    unit = "st"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        a = f0_summary(f0_contour_adaptive(original, sample_rate))
        b = f0_summary(f0_contour_adaptive(anonymized, anonymized_rate or sample_rate))
        change = abs(12 * np.log2(b["mean_hz"] / a["mean_hz"])) if a["mean_hz"] > 0 and b["mean_hz"] > 0 else float("nan")
        return score_of(self, change, n=a["voiced_frames"], original_hz=json_number(a["mean_hz"]), anonymized_hz=json_number(b["mean_hz"]))


@register
class F0RangeChange(SpeechMetric):
    """Absolute change of the 5-95 % F0 range [semitones] (lower is better)."""

    name = "f0_range_change"
    direction = "lower"
    unit = "st"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        a = f0_summary(f0_contour_adaptive(original, sample_rate))
        b = f0_summary(f0_contour_adaptive(anonymized, anonymized_rate or sample_rate))
        return score_of(
            self, abs(b["range_st"] - a["range_st"]), n=a["voiced_frames"], original_st=json_number(a["range_st"]), anonymized_st=json_number(b["range_st"])
        )


@register
class IntensityCorrelation(SpeechMetric):
    """Correlation of intensity contours (higher is better)."""

    name = "intensity_correlation"
    direction = "higher"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        return score_of(self, intensity_correlation(original, anonymized, sample_rate, anonymized_rate))


@register
class VadAgreement(SpeechMetric):
    """Share of 10 ms frames with the same speech/silence label (higher is better)."""

    name = "vad_agreement"
    direction = "higher"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        rate_b = anonymized_rate or sample_rate
        duration = min(len(original) / sample_rate, len(anonymized) / rate_b)
        level = silence_level(original, sample_rate)
        a = activity_frames(speech_activity(original, sample_rate, level_db=level), duration)
        b = activity_frames(speech_activity(anonymized, rate_b, level_db=level), duration)
        return score_of(
            self,
            float(np.mean(a == b)) if len(a) else float("nan"),
            n=len(a),
            speech_original=float(a.mean()) if len(a) else None,
            speech_anonymized=float(b.mean()) if len(b) else None,
        )


@register
class PauseChange(SpeechMetric):
    """Absolute change of the mean pause duration [s] (lower is better)."""

    name = "pause_change"
    direction = "lower"
    unit = "s"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        level = silence_level(original, sample_rate)
        gaps_a = pause_intervals(speech_activity(original, sample_rate, level_db=level))
        gaps_b = pause_intervals(speech_activity(anonymized, anonymized_rate or sample_rate, level_db=level))
        a, b = [e - s for s, e in gaps_a], [e - s for s, e in gaps_b]
        mean_a = float(np.mean(a)) if a else 0.0
        mean_b = float(np.mean(b)) if b else 0.0
        # counts hinge on pauses just above the 0.1 s minimum, which a few ms of smearing hides: report
        # which of the original's pauses the anonymized speech keeps, and of those of 0.15 s or more
        kept = [any(min(e, e2) > max(s, s2) for s2, e2 in gaps_b) for s, e in gaps_a]
        long_kept = [k for k, d in zip(kept, a) if d >= 0.15]
        return score_of(
            self,
            abs(mean_b - mean_a),
            n=len(a),
            pauses_original=len(a),
            pauses_anonymized=len(b),
            mean_pause_original=mean_a,
            mean_pause_anonymized=mean_b,
            kept_share=json_number(float(np.mean(kept))) if kept else None,
            kept_share_150ms=json_number(float(np.mean(long_kept))) if long_kept else None,
        )


@register
class SpeakingRateChange(SpeechMetric):
    """Relative change of syllable nuclei per second of phonation (lower is better)."""

    name = "speaking_rate_change"
    direction = "lower"

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        a = speaking_rate(original, sample_rate)
        b = speaking_rate(anonymized, anonymized_rate or sample_rate)
        change = abs(b - a) / a if a and np.isfinite(a) and np.isfinite(b) else float("nan")
        return score_of(self, change, rate_original=json_number(a), rate_anonymized=json_number(b))


@register
class WordErrorRate(SpeechMetric):
    """WER of the offline recognizer on anonymized speech (lower is better)."""

    name = "wer"
    direction = "lower"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transcriber: Transcriber | None = None
        self.reference: str | None = None

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        """WER against the reference; with a given reference, the detail also holds the original's
        own WER (``original_wer``, the recognizer's floor) and the WER against the original's
        transcript (``wer_vs_original``)."""
        transcribe = self.transcriber or default_transcriber()
        spoken = transcribe(np.asarray(original, np.float32), sample_rate)
        hypothesis = transcribe(np.asarray(anonymized, np.float32), anonymized_rate or sample_rate)
        if self.reference is None:
            errors, n = word_errors(spoken, hypothesis)
            return score_of(self, errors / n if n else float("nan"), n=n, reference_given=False)
        errors, n = word_errors(self.reference, hypothesis)
        return score_of(
            self,
            errors / n if n else float("nan"),
            n=n,
            reference_given=True,
            original_wer=json_number(wer(self.reference, spoken)),
            wer_vs_original=json_number(wer(spoken, hypothesis)),
        )

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """The WER with the study's recognizer, against the transcript stored beside the original if any."""
        self.transcriber = media.context.transcriber
        self.reference = reference_transcript(media.original)
        return super().measure_pair(media)


SPEECH_METRICS = (
    "f0_correlation",
    "f0_mean_change",
    "f0_range_change",
    "intensity_correlation",
    "vad_agreement",
    "pause_change",
    "speaking_rate_change",
    "wer",
)


@dataclass
class SpeechReport:
    """Speech utility of one file pair: one :class:`Score` per metric, errors by metric name."""

    original: str
    anonymized: str
    scores: list[Score] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    f0_original: np.ndarray | None = field(default=None, repr=False)
    f0_anonymized: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"original": self.original, "anonymized": self.anonymized, "scores": [s.to_json() for s in self.scores], "errors": self.errors}


def speech_utility(
    original: Path,
    anonymized: Path,
    *,
    metrics: tuple[str, ...] = SPEECH_METRICS,
    transcriber: Transcriber | None = None,
    reference_text: str | None = None,
    max_seconds: float | None = None,
) -> SpeechReport:
    """All speech utility metrics for one pair of audio (or video with audio) files.

    Parameters
    ----------
    metrics : tuple of str
        Registered speech metric names to compute.
    transcriber : callable (samples, rate) -> text, optional
        Recognizer for the WER; defaults to the project's offline recognizer.
    reference_text : str, optional
        Reference transcript for the WER; defaults to a transcript file beside the original
        (:func:`reference_transcript`), else the recognizer's transcript of the original.
    max_seconds : float > 0 [s], optional
        Only the first ``max_seconds`` of both signals are compared.

    A metric that fails (for example WER without a recognizer) is listed in ``errors``.
    """
    from avanon import registry
    from avanon.errors import AvanonError

    x, rate_x = read_mono(original)
    y, rate_y = read_mono(anonymized)
    if max_seconds is not None:
        x, y = x[: int(max_seconds * rate_x)], y[: int(max_seconds * rate_y)]
    report = SpeechReport(str(original), str(anonymized))
    report.f0_original, report.f0_anonymized = f0_contour(x, rate_x), f0_contour(y, rate_y)
    for name in metrics:
        metric = registry.create("metric", name)
        if not isinstance(metric, SpeechMetric):
            raise ParameterError(f"{name!r} is not a speech metric; allowed: {', '.join(SPEECH_METRICS)}.")
        if isinstance(metric, WordErrorRate):
            metric.transcriber = transcriber
            metric.reference = reference_text if reference_text is not None else reference_transcript(original)
        try:
            report.scores.append(metric.compute(x, y, rate_x, rate_y))
        except AvanonError as exc:
            report.errors[name] = str(exc)
    return report


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream of a file as mono float32 samples and its rate [Hz]."""
    from avanon.media.audio import read_audio

    samples, rate = read_audio(path)
    return samples.mean(axis=1).astype(np.float32), int(rate)
