"""Tests of the speech utility metrics (avanon.evaluate.speech) against independent references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import parselmouth
import pytest
import soundfile as sf
from scipy.interpolate import interp1d

from avanon import registry
from avanon.errors import ParameterError
from avanon.evaluate import speech

SR = 16000


def voiced(f0: np.ndarray, sr: int = SR, amplitude: np.ndarray | float = 0.3) -> np.ndarray:
    """A harmonic signal following the per-sample F0 contour ``f0`` [Hz] (0 gives silence)."""
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (amplitude * x * (f0 > 0)).astype(np.float32)


def glide(start: float, end: float, seconds: float = 1.5) -> np.ndarray:
    n = int(seconds * SR)
    return np.linspace(start, end, n) * (1 + 0.05 * np.sin(np.linspace(0, 12 * np.pi, n)))


def bursts(starts: list[float], length: float, total: float, f0: float = 150.0) -> np.ndarray:
    """Voiced bursts of ``length`` s beginning at ``starts`` s within ``total`` s of silence."""
    track = np.zeros(int(total * SR))
    for s in starts:
        track[int(s * SR) : int((s + length) * SR)] = f0
    noise = np.random.default_rng(0).normal(0, 1e-4, len(track))
    return voiced(track) + noise.astype(np.float32)


def test_f0_correlation_matches_praat_directly() -> None:
    a = voiced(glide(120, 220))
    b = voiced(glide(120, 220) * 1.25 + 10 * np.sin(np.linspace(0, 30, int(1.5 * SR))))
    pa = parselmouth.Sound(a.astype(float), SR).to_pitch(time_step=0.01, pitch_floor=75, pitch_ceiling=500)
    pb = parselmouth.Sound(b.astype(float), SR).to_pitch(time_step=0.01, pitch_floor=75, pitch_ceiling=500)
    fa, fb = pa.selected_array["frequency"], pb.selected_array["frequency"]
    both = (fa > 0) & (fb > 0)
    expected = np.corrcoef(fa[both], fb[both])[0, 1]
    rho, n = speech.f0_correlation(a, b, SR)
    assert n == both.sum()
    assert rho == pytest.approx(expected, abs=1e-9)
    assert 0.8 < rho < 0.999


def vpc_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The VoicePrivacy 2022 script's steps (interpolate, band, align, correlate all frames)."""
    if len(a) > len(b):
        b = interp1d(np.linspace(1, len(b), num=len(b)), b)(np.linspace(1, len(b), num=len(a)))
    elif len(a) < len(b):
        a = interp1d(np.linspace(1, len(a), num=len(a)), a)(np.linspace(1, len(a), num=len(b)))
    for c in (a, b):
        c[(c < 75) | (c > 500)] = 0
    lags = np.linspace(-len(a) + 1, len(a) - 1, 2 * len(a) - 1)
    b = np.roll(b, lags[np.argmax(np.correlate(a, b, "full"))].astype(int))
    return float(np.corrcoef(a, b)[0, 1])


def test_f0_correlation_all_frames_reproduces_the_challenge_script() -> None:
    a = bursts([0.2, 0.9], 0.5, 1.8)
    b = np.concatenate([np.zeros(int(0.05 * SR), np.float32), voiced(np.where(np.abs(a) > 0.001, 170.0, 0.0))])
    fa = speech.f0_contour(a, SR)
    fb = speech.f0_contour(b, SR)
    rho, _ = speech.f0_correlation(a, b, SR, frames="all")
    assert rho == pytest.approx(vpc_reference(fa.copy(), fb.copy()), abs=1e-9)


def test_f0_correlation_can_fail() -> None:
    rising, falling = voiced(glide(110, 240)), voiced(glide(240, 110))
    rho, _ = speech.f0_correlation(rising, falling, SR)
    assert rho < 0
    with pytest.raises(ParameterError, match="'frames'"):
        speech.f0_correlation(rising, falling, SR, frames="some")


def test_f0_mean_and_range_changes_in_semitones() -> None:
    a = voiced(glide(120, 200))
    b = voiced(glide(120, 200) * 2 ** (3 / 12))  # three semitones up, same range
    mean = registry.create("metric", "f0_mean_change").compute(a, b, SR)
    rng = registry.create("metric", "f0_range_change").compute(a, b, SR)
    assert mean.value == pytest.approx(3.0, abs=0.15)
    assert rng.value < 0.3
    assert mean.direction == "lower" and mean.unit == "st"


def test_intensity_correlation_follows_the_envelope() -> None:
    t = np.linspace(0, 1, SR)
    rising = voiced(np.full(SR, 150.0), amplitude=0.05 + 0.3 * t)
    falling = voiced(np.full(SR, 150.0), amplitude=0.35 - 0.3 * t)
    assert speech.intensity_correlation(rising, rising * 0.5, SR) == pytest.approx(1.0, abs=1e-6)
    assert speech.intensity_correlation(rising, falling, SR) < -0.5


def test_speech_activity_and_pauses_on_known_bursts() -> None:
    x = bursts([0.3, 1.2, 2.4], 0.5, 3.2)
    intervals = speech.speech_activity(x, SR)
    assert len(intervals) == 3
    for (start, end), true_start in zip(intervals, [0.3, 1.2, 2.4]):
        assert start == pytest.approx(true_start, abs=0.04)
        assert end == pytest.approx(true_start + 0.5, abs=0.04)
    assert speech.pauses(intervals) == pytest.approx([0.4, 0.7], abs=0.06)
    shifted = bursts([0.3, 1.2, 2.0], 0.5, 3.2)
    agreement = registry.create("metric", "vad_agreement").compute(x, shifted, SR)
    assert 0.7 < agreement.value < 0.95
    pause = registry.create("metric", "pause_change").compute(x, shifted, SR)
    assert pause.value == pytest.approx(abs((0.4 + 0.3) / 2 - (0.4 + 0.7) / 2), abs=0.06)
    assert pause.detail["kept_share"] == 1.0 and pause.detail["kept_share_150ms"] == 1.0
    filled = registry.create("metric", "pause_change").compute(x, bursts([0.3, 0.8, 1.2, 2.4], 0.5, 3.2), SR)
    assert filled.detail["kept_share"] == 0.5 and filled.detail["kept_share_150ms"] == 0.5  # the 0.8-1.2 s pause is gone


def test_speaking_rate_counts_syllable_like_bursts() -> None:
    four_per_second = bursts([0.1 + 0.25 * i for i in range(8)], 0.12, 2.2)
    nuclei = speech.syllable_nuclei(four_per_second, SR)
    assert len(nuclei) == 8
    two_per_second = bursts([0.1 + 0.5 * i for i in range(4)], 0.12, 2.2)
    change = registry.create("metric", "speaking_rate_change").compute(four_per_second, two_per_second, SR)
    assert change.value > 0.3


def test_word_error_rate_by_hand() -> None:
    assert speech.wer("the cat sat on the mat", "the cat sat on the mat") == 0.0
    assert speech.wer("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert speech.wer("the cat sat", "a cat") == pytest.approx(2 / 3)
    assert speech.wer("Hello, world!", "hello world") == 0.0
    assert speech.wer("one two", "") == 1.0
    assert np.isnan(speech.wer("", "words"))


def test_wer_metric_uses_the_given_recognizer() -> None:
    metric = registry.create("metric", "wer")
    metric.transcriber = lambda samples, rate: "the cat sat" if samples.max() > 0.2 else "the cat"
    loud, quiet = np.full(100, 0.5, np.float32), np.full(100, 0.1, np.float32)
    assert metric.compute(loud, quiet, SR).value == pytest.approx(1 / 3)
    metric.reference = "The cat!"
    score = metric.compute(loud, quiet, SR)
    assert score.value == 0.0
    assert score.detail["original_wer"] == pytest.approx(0.5)  # "the cat sat" against "the cat"
    assert score.detail["wer_vs_original"] == pytest.approx(1 / 3)


def test_wer_normalises_both_transcripts_as_whisper_does() -> None:
    assert speech.wer("Mr. Smith paid twenty-one dollars, didn't he?", "mister smith paid 21 dollars did not he") == 0.0
    assert speech.wer("A grain or two, perhaps, is good.", "a grain of two packs is good") == pytest.approx(2 / 7)
    assert speech.wer("Um, the colour is grey.", "the color is gray") == 0.0


def test_reference_transcripts_beside_the_audio(tmp_path: Path) -> None:
    wav = tmp_path / "1688-142285-0000.flac"
    wav.write_bytes(b"")
    assert speech.reference_transcript(wav) is None
    (tmp_path / "1688-142285.trans.txt").write_text("1688-142285-0000 THERE'S IRON THEY SAY\n1688-142285-0001 NO\n", encoding="utf-8")
    assert speech.reference_transcript(wav) == "THERE'S IRON THEY SAY"
    (tmp_path / "1688-142285-0000.lab").write_text("there is iron\n", encoding="utf-8")
    assert speech.reference_transcript(wav) == "there is iron"


def test_f0_range_is_measured_without_octave_errors(dev_data: Path) -> None:
    """The fixed 75-500 Hz track of this female speaker jumps octaves and doubles her range; the
    two-pass track agrees with pyworld's harvest run in the same range."""
    import pyworld

    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100001.wav", dtype="float64")
    fixed = speech.f0_summary(speech.f0_contour(x, sr))["range_st"]
    adaptive = speech.f0_contour_adaptive(x, sr)
    ranged = speech.f0_summary(adaptive)["range_st"]
    voiced_f0 = adaptive[adaptive > 0]
    harvest, _ = pyworld.harvest(x, sr, f0_floor=float(voiced_f0.min()) * 0.9, f0_ceil=float(voiced_f0.max()) * 1.1, frame_period=10)
    assert fixed > 18.0
    assert ranged < 11.0
    assert ranged == pytest.approx(speech.f0_summary(harvest)["range_st"], abs=1.5)


def test_speech_utility_on_a_real_recording(tmp_path: Path, dev_data: Path) -> None:
    original = dev_data / "praatio" / "examples" / "files" / "bobby.wav"
    x, sr = sf.read(original, dtype="float32")
    anonymized = tmp_path / "bobby_anon.wav"
    sf.write(anonymized, registry.create("voice", "mcadams", alpha=0.8).apply(x, sr, seed=3, speaker="a"), sr)
    report = speech.speech_utility(original, anonymized, metrics=speech.SPEECH_METRICS[:-1])
    values = {s.metric: s.value for s in report.scores}
    assert values["f0_correlation"] > 0.9  # McAdams keeps the excitation
    assert values["vad_agreement"] > 0.9
    assert report.errors == {}
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.random.default_rng(0).normal(0, 1e-3, len(x)).astype(np.float32), sr)
    broken = {s.metric: s.value for s in speech.speech_utility(original, silent, metrics=("f0_correlation", "vad_agreement")).scores}
    assert not broken["f0_correlation"] > 0.5
    assert broken["vad_agreement"] < 0.5
