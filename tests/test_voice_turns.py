"""Tests of per-speaker pseudo-voices from speaker turns (avanon.audio.turns)."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.audio.mcadams import McAdams
from avanon.audio.pseudo import PseudoSpeaker
from avanon.audio.turns import TurnStream, apply_turns, read_speaker_map, speaker_for
from avanon.errors import ParameterError

SR = 16000


def _signal(seconds: float) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.2 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def test_each_turn_takes_its_speakers_conversion() -> None:
    x = _signal(4.0)
    t = McAdams(alpha=None)
    turns = [(0.5, 1.5, "spk-a"), (2.0, 3.0, "spk-b"), (2.8, 3.5, "spk-a")]
    y = apply_turns(t, x, SR, seed=1, turns=turns, default="file", fade_ms=10.0)
    ref = {s: t.apply(x, SR, seed=1, speaker=s) for s in ("spk-a", "spk-b", "file")}
    assert y.shape == x.shape
    sl = lambda a, b: slice(int(a * SR), int(b * SR))  # noqa: E731
    assert np.allclose(y[sl(0.6, 1.4)], ref["spk-a"][sl(0.6, 1.4)], atol=1e-6)
    assert np.allclose(y[sl(2.1, 2.7)], ref["spk-b"][sl(2.1, 2.7)], atol=1e-6)
    assert np.allclose(y[sl(0.0, 0.4)], ref["file"][sl(0.0, 0.4)], atol=1e-6)
    overlap = (ref["spk-a"] + ref["spk-b"])[sl(2.85, 2.95)] / 2
    assert np.allclose(y[sl(2.85, 2.95)], overlap, atol=1e-6)


def test_weights_sum_to_one_and_stream_matches_whole() -> None:
    x = _signal(3.0)
    t = PseudoSpeaker(chunk_s=2.0)
    turns = [(0.2, 1.0, "a"), (1.1, 2.5, "b")]
    stream = TurnStream(t, SR, 1, seed=0, turns=turns, default="d")
    w = stream.weights(0, len(x))
    assert np.allclose(w.sum(axis=1), 1.0)
    parts = [stream.process(x[i : i + 7000, None]) for i in range(0, len(x), 7000)] + [stream.flush()]
    whole = apply_turns(t, x, SR, seed=0, turns=turns, default="d")
    assert np.array_equal(np.concatenate(parts)[:, 0], whole)


def test_bad_turns() -> None:
    with pytest.raises(ParameterError, match="Speaker turn 0"):
        apply_turns(McAdams(), _signal(1.0), SR, seed=0, turns=[(1.0, 0.5, "a")], default="d")
    with pytest.raises(ParameterError, match="Speaker turn 0 must be"):
        apply_turns(McAdams(), _signal(1.0), SR, seed=0, turns=[("x", 1.0, "a")], default="d")


def test_speaker_keys_from_names_and_mapping(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mapping = tmp_path / "speakers.tsv"
    mapping.write_text("# file\tspeaker\nses-1/interview.wav\tP07\nmother_child,P08\n", encoding="utf-8")
    table = read_speaker_map(mapping)
    assert speaker_for("ses-1/interview.wav", table) == "P07"
    assert speaker_for("other/mother_child.flac", table) == "P08"
    assert speaker_for("sub-03/ses-1/audio.wav", table) == "sub-03"
    assert speaker_for("x/free_play.wav") == "free_play"
    mapping.write_text("only-one-column\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="line 1"):
        read_speaker_map(mapping)
