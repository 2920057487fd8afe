"""Sample-rate conversion: lengths that never come out short, and a clean signal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avanon.audio.resample import resample


@pytest.mark.parametrize(("rate_in", "rate_out"), [(48000, 24000), (44100, 24000), (8000, 16000), (22050, 16000)])
@pytest.mark.parametrize("n", [1, 99, 44107, 48000])
def test_length_is_the_ceiling_and_a_round_trip_is_never_short(rate_in, rate_out, n):
    x = np.random.default_rng(n).standard_normal(n)
    y = resample(x, rate_in, rate_out)
    assert len(y) == math.ceil(n * rate_out / rate_in)
    assert np.isfinite(y).all()
    assert len(resample(y, rate_out, rate_in)) >= n


def test_a_tone_keeps_its_frequency_and_level_and_the_band_above_nyquist_goes():
    rate = 48000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    high = 0.5 * np.sin(2 * np.pi * 15000 * t)  # above 12 kHz, the Nyquist frequency at 24 kHz
    back = resample(resample(tone + high, rate, 24000), 24000, rate)[:rate]
    core = slice(rate // 10, -rate // 10)
    error = back[core] - tone[core]
    assert 10 * np.log10(np.mean(tone[core] ** 2) / np.mean(error**2)) > 60  # dB: the tone is kept, 15 kHz removed


def test_same_rate_is_a_no_op():
    x = np.arange(5.0)
    assert np.array_equal(resample(x, 16000, 16000), x)
