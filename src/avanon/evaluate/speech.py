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
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from avanon.errors import ModelError, ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.registry import Options, Param, register

TIME_STEP = 0.01  # [s]
F0_FLOOR, F0_CEILING = 75.0, 500.0  # [Hz]

Transcriber = Callable[[np.ndarray, int], str]


def _sound(samples: np.ndarray, sample_rate: int) -> Any:
    import parselmouth

    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise ParameterError(f"speech metrics need a non-empty 1-d or 2-d signal; got shape {np.shape(samples)}.")
    return parselmouth.Sound(x, sampling_frequency=float(sample_rate))


def f0_contour(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Praat F0 every 10 ms between 75 and 500 Hz [Hz]; 0 where unvoiced.

    Parameters
    ----------
    samples : ndarray, shape (n,) or (n, channels), float
    sample_rate : int > 0 [Hz]
    """
    pitch = _sound(samples, sample_rate).to_pitch(time_step=TIME_STEP, pitch_floor=F0_FLOOR, pitch_ceiling=F0_CEILING)
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def f0_contour_adaptive(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Praat F0 every 10 ms in the signal's own range [Hz]; 0 where unvoiced.

    A first pass over 60-700 Hz gives the quartiles q1, q3 of the voiced frames; the second pass
    runs between 0.75 q1 and 1.5 q3 (Hirst 2011), which removes most octave jumps. Falls back to
    :func:`f0_contour` when the first pass finds fewer than 10 voiced frames.
    """
    sound = _sound(samples, sample_rate)
    first = np.asarray(sound.to_pitch(time_step=TIME_STEP, pitch_floor=60.0, pitch_ceiling=700.0).selected_array["frequency"])
    voiced = first[first > 0]
    if len(voiced) < 10:
        return f0_contour(samples, sample_rate)
    floor = max(40.0, 0.75 * float(np.percentile(voiced, 25)))
    ceiling = max(floor + 50.0, 1.5 * float(np.percentile(voiced, 75)))
    pitch = sound.to_pitch(time_step=TIME_STEP, pitch_floor=floor, pitch_ceiling=ceiling)
    return np.asarray(pitch.selected_array["frequency"], dtype=np.float64)


def _stretch(a: np.ndarray, n: int) -> np.ndarray:
    if len(a) == n:
        return a.copy()
    return np.interp(np.linspace(1, len(a), num=n), np.linspace(1, len(a), num=len(a)), a)


def align_contours(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stretch the shorter F0 contour to the longer, zero values outside 75-500 Hz, shift ``b`` to ``a``.

    The shift is the lag of the maximum of the full cross-correlation, applied circularly, as in
    the VoicePrivacy 2022 evaluation script.
    """
    n = max(len(a), len(b))
    a, b = _stretch(np.asarray(a, float), n), _stretch(np.asarray(b, float), n)
    for c in (a, b):
        c[(c < F0_FLOOR) | (c > F0_CEILING)] = 0.0
    lag = int(np.argmax(np.correlate(a, b, "full"))) - (n - 1)
    return a, np.roll(b, lag)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def f0_correlation(
    original: np.ndarray, anonymized: np.ndarray, sample_rate: int, anonymized_rate: int | None = None, *, frames: str = "voiced"
) -> tuple[float, int]:
    """VoicePrivacy 2022 F0 correlation; returns (rho, number of frames used).

    Parameters
    ----------
    original, anonymized : ndarray, float
    sample_rate : int > 0 [Hz]
        Rate of ``original`` (and of ``anonymized`` unless ``anonymized_rate`` is given).
    frames : {"voiced", "all"}
        Correlate over frames voiced in both contours, or over all frames.
    """
    if frames not in ("voiced", "all"):
        raise ParameterError(f"The 'frames' parameter of f0_correlation must be one of 'voiced', 'all'. Got {frames!r} instead.")
    a, b = align_contours(f0_contour(original, sample_rate), f0_contour(anonymized, anonymized_rate or sample_rate))
    if frames == "voiced":
        both = (a > 0) & (b > 0)
        a, b = a[both], b[both]
    return _pearson(a, b), int(len(a))


def semitones(f: np.ndarray, reference: float = 100.0) -> np.ndarray:
    """Frequencies [Hz] as semitones relative to ``reference`` [Hz]."""
    return 12.0 * np.log2(np.asarray(f, float) / reference)


def f0_summary(f0: np.ndarray) -> dict[str, float]:
    """Mean F0 [Hz] and 5-95 % range [semitones] of the voiced frames (``nan`` when under 3 are voiced)."""
    voiced = f0[f0 > 0]
    if len(voiced) < 3:
        return {"mean_hz": float("nan"), "range_st": float("nan"), "voiced_frames": int(len(voiced))}
    st = semitones(voiced)
    return {
        "mean_hz": float(np.mean(voiced)),
        "range_st": float(np.percentile(st, 95) - np.percentile(st, 5)),
        "voiced_frames": int(len(voiced)),
    }


def intensity_contour(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Praat intensity every 10 ms [dB] (minimum pitch 75 Hz); ``nan`` where undefined."""
    intensity = _sound(samples, sample_rate).to_intensity(minimum_pitch=F0_FLOOR, time_step=TIME_STEP)
    values = np.asarray(intensity.values[0], dtype=np.float64)
    values[~np.isfinite(values) | (values < -100)] = np.nan
    return values


def intensity_correlation(original: np.ndarray, anonymized: np.ndarray, sample_rate: int, anonymized_rate: int | None = None) -> float:
    """Pearson correlation of the two intensity contours over frames where both are defined."""
    a = intensity_contour(original, sample_rate)
    b = intensity_contour(anonymized, anonymized_rate or sample_rate)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = np.isfinite(a) & np.isfinite(b)
    return _pearson(a[ok], b[ok])


def speech_activity(
    samples: np.ndarray,
    sample_rate: int,
    *,
    threshold_db: float = -25.0,
    min_pause: float = 0.1,
    min_sound: float = 0.05,
    level_db: float | None = None,
) -> list[tuple[float, float]]:
    """Sounding intervals [(start s, end s)] from Praat's "To TextGrid (silences)".

    Parameters
    ----------
    threshold_db : float < 0 [dB]
        Silence threshold relative to the maximum intensity of this sound.
    min_pause : float > 0 [s]
        Shortest silent interval.
    min_sound : float > 0 [s]
        Shortest sounding interval.
    level_db : float, optional [dB]
        An absolute silence threshold instead (Praat intensity, dB re 2e-5); used to judge an
        anonymized signal by its original's threshold, so added noise is not taken for speech.
    """
    from parselmouth.praat import call

    sound = _sound(samples, sample_rate)
    intensity = sound.to_intensity(minimum_pitch=100.0)
    if level_db is not None:
        loudest = float(call(intensity, "Get maximum", 0, 0, "Parabolic"))
        if not np.isfinite(loudest) or loudest <= level_db:
            return []
        threshold_db = level_db - loudest
    grid = call(intensity, "To TextGrid (silences)", threshold_db, min_pause, min_sound, "silent", "sounding")
    intervals = []
    for i in range(1, int(call(grid, "Get number of intervals", 1)) + 1):
        if call(grid, "Get label of interval", 1, i) == "sounding":
            intervals.append((float(call(grid, "Get start time of interval", 1, i)), float(call(grid, "Get end time of interval", 1, i))))
    return intervals


def silence_level(samples: np.ndarray, sample_rate: int, threshold_db: float = -25.0) -> float:
    """The absolute silence threshold [dB] of a sound: its maximum intensity plus ``threshold_db``."""
    from parselmouth.praat import call

    intensity = _sound(samples, sample_rate).to_intensity(minimum_pitch=100.0)
    return float(call(intensity, "Get maximum", 0, 0, "Parabolic")) + threshold_db


def activity_frames(intervals: list[tuple[float, float]], duration: float, step: float = TIME_STEP) -> np.ndarray:
    """Boolean speech labels of ``step``-long frames over ``duration`` [s] (frame centres)."""
    centres = (np.arange(int(round(duration / step))) + 0.5) * step
    active = np.zeros(len(centres), dtype=bool)
    for start, end in intervals:
        active |= (centres >= start) & (centres < end)
    return active


def pause_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The silences [(start s, end s)] between consecutive sounding intervals."""
    return [(a[1], b[0]) for a, b in zip(intervals, intervals[1:]) if b[0] > a[1]]


def pauses(intervals: list[tuple[float, float]]) -> list[float]:
    """Durations [s] of the silences between consecutive sounding intervals."""
    return [e - s for s, e in pause_intervals(intervals)]


def syllable_nuclei(samples: np.ndarray, sample_rate: int, *, dip_db: float = 2.0) -> list[float]:
    """Times [s] of syllable nuclei: voiced intensity peaks above the median, 2 dB above the dips.

    A simplified de Jong and Wempe (2009) detector on Praat's intensity (10 ms) and pitch.
    """
    intensity = intensity_contour(samples, sample_rate)
    f0 = f0_contour(samples, sample_rate)
    valid = np.nan_to_num(intensity, nan=-100.0)
    floor = np.nanmedian(intensity) if np.isfinite(intensity).any() else 0.0
    peaks = [i for i in range(1, len(valid) - 1) if valid[i] >= valid[i - 1] and valid[i] > valid[i + 1] and valid[i] > floor]
    nuclei: list[int] = []
    for i in peaks:
        if nuclei:
            dip = valid[nuclei[-1] : i + 1].min()
            if min(valid[nuclei[-1]], valid[i]) - dip < dip_db:
                if valid[i] > valid[nuclei[-1]]:
                    nuclei[-1] = i  # same syllable: keep the louder peak
                continue
        nuclei.append(i)
    times = []
    for i in nuclei:
        j = min(len(f0) - 1, int(round(i * len(f0) / max(len(valid), 1))))
        if f0[j] > 0:
            times.append((i + 0.5) * TIME_STEP)
    return times


def speaking_rate(samples: np.ndarray, sample_rate: int) -> float:
    """Syllable nuclei per second of phonation (sounding time) [1/s]; ``nan`` without speech."""
    spoken = sum(e - s for s, e in speech_activity(samples, sample_rate))
    if spoken <= 0:
        return float("nan")
    return len(syllable_nuclei(samples, sample_rate)) / spoken


@lru_cache(maxsize=1)
def _normalizer() -> Callable[[str], str]:
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(f"WER needs whisper-normalizer (Whisper's English text normaliser): {exc}") from None
    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Whisper's English normalisation of a transcript: lower case, no punctuation, numbers as digits."""
    return " ".join(_normalizer()(text).split())


def words(text: str) -> list[str]:
    """The words of a transcript after :func:`normalize_text`."""
    return normalize_text(text).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference length) over normalised words (``jiwer``)."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return len(hyp.split()), 0
    if not hyp:
        return len(ref.split()), len(ref.split())
    out = jiwer.process_words(ref, hyp)
    return int(out.substitutions + out.deletions + out.insertions), int(out.substitutions + out.deletions + out.hits)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate (``nan`` when the reference has no words)."""
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float("nan")


def reference_transcript(audio: Path) -> str | None:
    """The reference transcript stored beside an audio file, or ``None``.

    Looked for, in order: ``<stem>.txt`` and ``<stem>.lab`` beside it or in a sibling ``lab/`` or
    ``txt/`` folder, and the line ``<stem> TEXT`` of a LibriSpeech ``*.trans.txt`` in its folder.
    """
    audio = Path(audio)
    folders = (audio.parent, audio.parent.parent / "lab", audio.parent.parent / "txt")
    for folder in folders:
        for suffix in (".txt", ".lab"):
            path = folder / (audio.stem + suffix)
            if path.is_file() and not path.name.endswith(".trans.txt"):
                return path.read_text(encoding="utf-8", errors="replace").strip()
    for path in sorted(audio.parent.glob("*.trans.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, text = line.partition(" ")
            if key == audio.stem:
                return text.strip()
    return None


def default_transcriber() -> Transcriber:
    """The project's offline recognizer (``avanon.audio.transcribe``), as ``f(samples, rate) -> text``."""
    try:
        from avanon.audio import transcribe as module  # type: ignore[attr-defined]
    except ImportError:
        raise ModelError("WER needs the offline recognizer in avanon.audio.transcribe, which is not available.") from None
    for name in ("transcribe_text", "transcribe"):
        fn = getattr(module, name, None)
        if fn is not None:

            def run(samples: np.ndarray, rate: int, _fn: Callable[..., Any] = fn) -> str:
                result = _fn(samples, rate)
                if isinstance(result, str):
                    return result
                if hasattr(result, "text"):  # avanon.audio.transcribe.Transcript
                    text = result.text
                    return text() if callable(text) else str(text)
                return " ".join(getattr(w, "word", str(w)) for w in result)

            return run
    raise ModelError("avanon.audio.transcribe has no transcribe function.")


# --------------------------------------------------------------------------------------------
# Registered metrics and the per-file report
# --------------------------------------------------------------------------------------------


class SpeechMetric(Metric):
    """A speech utility metric over one original/anonymized signal pair."""

    aspect: ClassVar[str] = "utility"

    def compute(self, original: np.ndarray, anonymized: np.ndarray, sample_rate: int, anonymized_rate: int | None = None) -> Score:
        raise NotImplementedError


@register
class F0Correlation(SpeechMetric):
    """VoicePrivacy 2022 F0 contour correlation (higher is better)."""

    name = "f0_correlation"
    direction = "higher"
    params = {"frames": Param("voiced", Options(("voiced", "all")), "correlate voiced-in-both frames or all frames")}

    def compute(self, original, anonymized, sample_rate, anonymized_rate=None):  # type: ignore[no-untyped-def]
        rho, n = f0_correlation(original, anonymized, sample_rate, anonymized_rate, frames=self.frames)
        return score_of(self, rho, n=n)


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
