"""Tests of content-only resynthesis (avanon.audio.resynth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon import registry
from avanon.audio.resynth import Resynth, phrases, render
from avanon.audio.transcribe import Segment, Transcript, Word, transcribe
from avanon.errors import ParameterError


@pytest.fixture(scope="module")
def speech(dev_data: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav", dtype="float32")
    return x, sr


@pytest.mark.privacy
@pytest.mark.slow
def test_words_survive_at_their_times_voice_replaced(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    t = registry.create("voice", "resynth")
    y = t.apply(x, sr, seed=0, speaker="a")
    assert y.shape == x.shape and y.dtype == np.float32
    short = x[: int(2.0 * sr)]
    assert np.array_equal(t.apply(short, sr, seed=0, speaker="a"), t.apply(short, sr, seed=0, speaker="b"))
    before, after = transcribe(x, sr), transcribe(y, sr)
    assert "books" in after.text.lower() and "shelved" in after.text.lower()
    # the pause after "detail." stays silent, and the speech starts and ends where it did
    first, last = before.words[0], before.words[-1]
    assert abs(after.words[0].start - first.start) < 0.3 and abs(after.words[-1].end - last.end) < 0.4
    gap = [(a, b) for a, b in zip(before.words, before.words[1:]) if b.start - a.end > 0.4][0]
    lo, hi = int((gap[0].end + 0.1) * sr), int((gap[1].start - 0.1) * sr)
    assert np.abs(y[lo:hi]).max() == 0.0


def test_silence_stereo_and_rates() -> None:
    t = Resynth()
    z = np.zeros((8000, 2), dtype=np.float32)
    assert np.array_equal(t.apply(z, 16000, seed=0, speaker="a"), z)
    assert t.apply(np.zeros(10, dtype=np.float32), 48000, seed=0, speaker="a").shape == (10,)
    with pytest.raises(ParameterError, match="at least 8000 Hz"):
        t.apply(np.zeros(100, dtype=np.float32), 4000, seed=0, speaker="a")


def test_phrases_grouping() -> None:
    ws = [Word(0, 0.2, "a"), Word(0.3, 0.5, "b"), Word(1.2, 1.4, "c")]
    assert [[w.text for w in p] for p in phrases(ws, 0.3)] == [["a", "b"], ["c"]]


def test_render_places_phrases_at_their_times() -> None:
    sr = 16000
    original = 0.1 * np.ones(3 * sr, dtype=np.float32)
    words = (Word(0.5, 0.9, "hello"), Word(1.0, 1.4, "world"), Word(2.2, 2.6, "again"))
    tr = Transcript((Segment(0.5, 2.6, "hello world again", words),), 3.0)
    y = render(tr, original, sr, max_gap=0.3, fade=0.01)
    assert y.shape == original.shape
    active = np.flatnonzero(np.abs(y) > 1e-4) / sr
    assert 0.5 <= active.min() < 0.6 and 2.5 < active.max() <= 2.6
    assert np.abs(y[int(1.45 * sr) : int(2.15 * sr)]).max() == 0.0  # the pause stays silent
    level = np.sqrt(np.mean(y[int(0.5 * sr) : int(1.4 * sr)] ** 2))
    assert level == pytest.approx(0.1, rel=0.3)  # matched to the original phrase's level
