"""Sample-rate conversion: SciPy's resample_poly computed without importing scipy.signal."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import resample_poly

from avanon.audio.resample import resample


@pytest.mark.parametrize(
    ("rate_in", "rate_out"), [(8000, 16000), (16000, 8000), (48000, 24000), (44100, 24000), (24000, 44100), (22050, 16000), (11025, 16000), (16000, 48000)]
)
@pytest.mark.parametrize("n", [1, 7, 99, 4410, 70001])
def test_equal_to_resample_poly(rate_in, rate_out, n):
    x = np.random.default_rng(n).standard_normal(n)
    g = math.gcd(rate_in, rate_out)
    expected = resample_poly(x, rate_out // g, rate_in // g)
    got = resample(x, rate_in, rate_out)
    assert len(got) == len(expected) == math.ceil(n * rate_out / rate_in)
    assert np.max(np.abs(got - expected)) < 1e-12


def test_a_tone_keeps_its_level_and_the_band_above_nyquist_goes():
    rate = 48000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    high = 0.5 * np.sin(2 * np.pi * 15000 * t)  # above 12 kHz, the Nyquist frequency at 24 kHz
    back = resample(resample(tone + high, rate, 24000), 24000, rate)
    core = slice(rate // 10, -rate // 10)
    error = back[core] - tone[core]
    assert 10 * np.log10(np.mean(tone[core] ** 2) / np.mean(error**2)) > 40  # dB


def test_same_rate_and_empty_and_bad_shape():
    x = np.arange(5.0)
    assert np.array_equal(resample(x, 16000, 16000), x)
    assert resample(np.zeros(0), 8000, 16000).shape == (0,)
    with pytest.raises(ValueError, match="1-d"):
        resample(np.zeros((4, 2)), 8000, 16000)
