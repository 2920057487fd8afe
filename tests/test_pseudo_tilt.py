"""The pseudo-speaker replaces the speaker's broad spectral tilt (issue 19: cross-release linkage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from avanon.audio.pseudo import PseudoSpeaker
from avanon.errors import ParameterError


def _slope_db(x: np.ndarray, sr: int) -> float:
    """Long-term level at 2.5-6 kHz minus that at 300-1000 Hz [dB]."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)

    def level(lo: float, hi: float) -> float:
        return float(10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].mean() + 1e-20))

    return level(2500, 6000) - level(300, 1000)


@pytest.fixture(scope="module")
def speech(dev_data: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav", dtype="float32")
    return x, sr


def test_with_tilt_keep_0_a_speakers_tilt_does_not_survive_into_the_pseudo_voice(speech: tuple[np.ndarray, int]) -> None:
    """The same speech through two microphones (one dull) gets nearly one output tilt under one key.

    The broad tilt (voice quality, microphone) is the same under every secret; kept, it linked the
    pseudo-voices of one speaker across releases (docs/threat-model.md section 7).
    """
    x, sr = speech
    dull = lfilter([0.35], [1.0, -0.65], x).astype(np.float32)  # one-pole low-pass: about -9 dB at 4 kHz
    gap_in = _slope_db(x, sr) - _slope_db(dull, sr)
    assert gap_in > 6.0

    def gap_out(voice: PseudoSpeaker) -> float:
        return _slope_db(voice.apply(x, sr, seed=3, speaker="a"), sr) - _slope_db(voice.apply(dull, sr, seed=3, speaker="a"), sr)

    assert abs(gap_out(PseudoSpeaker(tilt_keep=0.0))) < 0.35 * gap_in  # replaced by the reference tilt
    assert gap_out(PseudoSpeaker()) > 0.6 * gap_in  # the default keeps it (BENCHMARKS.md: two attackers got stronger without it)


def test_tilt_keep_is_validated() -> None:
    with pytest.raises(ParameterError, match="tilt_keep"):
        PseudoSpeaker(tilt_keep=1.5)
