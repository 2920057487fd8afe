"""Acoustic measures of one signal for the speech utility metrics (:mod:`avanon.evaluate.speech`).

Praat (through parselmouth) computes them, every 10 ms: the F0 contour (fixed 75-500 Hz, or in the
signal's own range after Hirst 2011), the intensity contour, speech and silence from Praat's "To
TextGrid (silences)", pauses, and syllable nuclei after de Jong and Wempe (2009). The alignment and
correlation of two F0 contours follow the VoicePrivacy 2022 evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avanon.errors import ParameterError

TIME_STEP = 0.01  # [s]
F0_FLOOR, F0_CEILING = 75.0, 500.0  # [Hz]


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
