"""Tests of the HiFi-GAN back end (avanon.audio.vocoder) and the pseudo-speaker's option objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon.audio import vocoder
from avanon.audio.pseudo import EnvelopeOptions, ProsodyOptions, PseudoSpeaker, UnvoicedOptions
from avanon.errors import ParameterError


def test_mel_spectrogram_of_a_tone() -> None:
    t = np.arange(vocoder.RATE) / vocoder.RATE
    mel = vocoder.mel_spectrogram(0.5 * np.sin(2 * np.pi * 1000 * t), vocoder.RATE)
    assert mel.shape == (80, vocoder.RATE // vocoder.HOP + 1)
    import librosa

    centres = librosa.mel_frequencies(n_mels=82, fmin=0.0, fmax=vocoder.F_MAX)[1:-1]
    assert int(np.argmax(mel[:, 10:-10].mean(axis=1))) == int(np.argmin(np.abs(centres - 1000)))
    assert mel.min() >= np.log(1e-5) - 1e-6
    with pytest.raises(ParameterError, match="non-empty 1-d"):
        vocoder.mel_spectrogram(np.zeros((0,)), 16000)


def test_copy_synthesis_keeps_the_spectrogram(dev_data: Path) -> None:
    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SM1/100002.wav", dtype="float64")
    x = x[int(0.5 * sr) : int(1.7 * sr)]
    y = vocoder.resynthesize(x, sr)
    assert y.shape == x.shape
    a, b = vocoder.mel_spectrogram(x, sr), vocoder.mel_spectrogram(y, sr)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.95
    assert vocoder.weights_path().name == "generator_universal.pth.tar"
    assert vocoder.record()["sha256"] == vocoder.WEIGHTS_SHA256


def test_pseudo_speaker_builds_its_option_objects() -> None:
    envelope, unvoiced, prosody = PseudoSpeaker(unvoiced_max_ms=400.0, min_f0_shift_st=12.0).options(8000, 16000)
    assert isinstance(envelope, EnvelopeOptions) and envelope.band_hz == 4000.0 and envelope.lifter == 30
    assert isinstance(unvoiced, UnvoicedOptions) and unvoiced.keep and unvoiced.max_run == 40 and unvoiced.ramp == 3
    assert isinstance(prosody, ProsodyOptions) and prosody.f0_smooth == 3 and prosody.min_f0_shift == pytest.approx(np.log(2.0))
    assert PseudoSpeaker(extend_band=False).options(8000, 16000)[0].band_hz is None
    assert PseudoSpeaker().options(16000, 16000)[0].band_hz is None
    with pytest.raises(AttributeError):
        envelope.flatten = 0.5  # type: ignore[misc]


def test_hifigan_backend_keeps_the_length_and_differs_from_world() -> None:
    sr = 16000
    t = np.arange(int(1.2 * sr)) / sr
    x = (0.3 * np.sign(np.sin(2 * np.pi * 130 * t)) * np.hanning(len(t))).astype(np.float32)
    world = PseudoSpeaker().apply(x, sr, seed=1, speaker="a")
    neural = PseudoSpeaker(backend="hifigan").apply(x, sr, seed=1, speaker="a")
    assert neural.shape == x.shape and np.all(np.isfinite(neural))
    assert np.sqrt(np.mean((neural - world) ** 2)) > 0.01
