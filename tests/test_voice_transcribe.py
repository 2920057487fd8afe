"""Tests of offline transcription with word timestamps (avanon.audio.transcribe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon.audio.transcribe import WHISPER_TINY_EN, transcribe, transcript_from_dict
from avanon.errors import ParameterError


def test_words_with_times_on_real_speech(dev_data: Path) -> None:
    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav", dtype="float32")
    tr = transcribe(x, sr)
    words = [w.text.lower().strip(".,") for w in tr.words]
    assert "books" in words and "language" in words
    starts = [w.start for w in tr.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= tr.duration for w in tr.words)
    assert tr.duration == pytest.approx(len(x) / sr)
    assert transcript_from_dict(tr.to_dict()) == tr
    # 8 kHz and stereo input go through the same path
    from scipy.signal import resample_poly

    low = resample_poly(x, 1, 2).astype(np.float32)
    tr8 = transcribe(np.stack([low, low], axis=1), sr // 2)
    assert "books" in tr8.text.lower()


def test_silence_and_tiny_input_give_no_words() -> None:
    assert transcribe(np.zeros(16000, dtype=np.float32), 16000).segments == ()
    assert transcribe(np.zeros(100, dtype=np.float32), 16000).segments == ()


def test_refuses_other_languages_and_pins_models() -> None:
    with pytest.raises(ParameterError, match="'language'"):
        transcribe(np.zeros(16000, dtype=np.float32), 16000, language="de")
    assert len(WHISPER_TINY_EN) == 4 and all(m.path().is_file() for m in WHISPER_TINY_EN)
