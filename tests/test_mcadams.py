from __future__ import annotations

import numpy as np
import pytest

from avanon.audio.base import speaker_key
from avanon.audio.mcadams import McAdams


def _voice(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * np.cumsum(130 + 20 * np.sin(2 * np.pi * 2 * t)) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 15)) * 0.1
    return (x + 0.002 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_length_and_streaming_equivalence(rate):
    x = _voice(rate, 0.6)
    m = McAdams(alpha=0.8)
    whole = m.apply(x, rate)
    assert whole.shape == x.shape
    stream = m.stream(rate, 1, seed=0, speaker="s")
    parts = [stream.process(x[i : i + 1234, None]) for i in range(0, len(x), 1234)] + [stream.flush()]
    chunked = np.concatenate(parts)[:, 0]
    assert np.allclose(chunked, whole, atol=1e-6)


def test_alpha_one_is_near_identity_and_alpha_changes_spectrum():
    rate = 16000
    x = _voice(rate)
    same = McAdams(alpha=1.0).apply(x, rate)
    assert np.max(np.abs(same - x)[200:-200]) < 0.02 * np.max(np.abs(x))
    moved = McAdams(alpha=0.7).apply(x, rate)
    assert np.corrcoef(np.abs(np.fft.rfft(moved)), np.abs(np.fft.rfft(x)))[0, 1] < 0.95


def test_stereo_and_short_inputs():
    rate = 16000
    x = np.stack([_voice(rate, 0.3), _voice(rate, 0.3) * 0.5], axis=1)
    y = McAdams().apply(x, rate)
    assert y.shape == x.shape
    tiny = McAdams().apply(np.zeros(50, np.float32), rate)
    assert tiny.shape == (50,) and np.all(np.isfinite(tiny))
    silence = McAdams().apply(np.zeros(rate, np.float32), rate)
    assert np.all(np.isfinite(silence)) and np.max(np.abs(silence)) < 1e-3


def test_per_speaker_alpha_is_keyed():
    m = McAdams(alpha=None, alpha_range=(0.7, 0.9))
    a1, a2 = m.speaker_alpha(1, "sub-01"), m.speaker_alpha(1, "sub-02")
    assert 0.7 <= a1 < 0.9 and 0.7 <= a2 < 0.9 and a1 != a2
    assert m.speaker_alpha(1, "sub-01") == a1
    assert m.speaker_alpha(2, "sub-01") != a1


def test_speaker_key_from_bids_names():
    assert speaker_key("data/sub-07/ses-1/audio/x.wav") == "sub-07"
    assert speaker_key("folder/interview_mum.wav") == "interview_mum"
