"""One decoding pass feeds analyses at different strides (avanon.evaluate.frames) and a pair's metrics share it (avanon.evaluate.media)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avanon.evaluate import frames
from avanon.evaluate.frames import FrameAnalysis, FramePair, decode_pair, paired_frames
from avanon.evaluate.media import EvaluationContext, PairMedia, StudyMedia
from avanon.evaluate.study import Pair, StudyEvaluation
from synth import write_video


class Recorder(FrameAnalysis):
    def __init__(self, every: int, all_frames: bool = False) -> None:
        self.every, self.all_frames = every, all_frames
        self.pairs: list[FramePair] = []
        self.frames: dict[str, list[float]] = {"original": [], "anonymized": []}

    def add(self, pair: FramePair) -> None:
        self.pairs.append(pair)

    def add_frame(self, side: str, time: float, frame: Any) -> None:
        self.frames[side].append(time)


@pytest.fixture()
def clips(tmp_path: Path) -> tuple[Path, Path]:
    return write_video(tmp_path / "a.mp4", frames=24, audio_rate=None), write_video(tmp_path / "b.mp4", frames=30, audio_rate=None)


def test_each_analysis_gets_its_stride_from_one_pass(clips: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    decode = frames.video_frames
    monkeypatch.setattr(frames, "video_frames", lambda path: (opened.append(Path(path).name), decode(path))[1])
    tens, fifteens, watcher = Recorder(10), Recorder(15), Recorder(0, all_frames=True)
    assert decode_pair(*clips, [tens, fifteens, watcher]) == 4  # frames 0, 10, 15, 20
    assert sorted(opened) == ["a.mp4", "b.mp4"]
    assert [p.index for p in tens.pairs] == [0, 10, 20] and [p.index for p in fifteens.pairs] == [0, 15]
    alone = list(paired_frames(*clips, every=10))  # the same pairs as paired_frames gives
    assert [p.index for p in alone] == [0, 10, 20]
    assert all(np.array_equal(a.original, b.original) and np.array_equal(a.anonymized, b.anonymized) for a, b in zip(alone, tens.pairs))
    assert len(watcher.frames["original"]) == 24 and len(watcher.frames["anonymized"]) == 30  # every frame of each file
    assert watcher.pairs == []


def test_max_time_stops_both_files(clips: tuple[Path, Path]) -> None:
    watcher, tens = Recorder(0, all_frames=True), Recorder(10)
    decode_pair(*clips, [watcher, tens], max_time=0.5)  # 25 frames per second
    assert len(watcher.frames["original"]) == len(watcher.frames["anonymized"]) == 13
    assert [p.index for p in tens.pairs] == [0, 10]


def test_metrics_share_an_analysis_and_cannot_ask_after_decoding(clips: tuple[Path, Path], tmp_path: Path) -> None:
    original, anonymized = clips
    (tmp_path / "avanon_manifest.json").write_text(json.dumps({"entries": []}), encoding="utf-8")
    context = EvaluationContext(tmp_path, tmp_path, every=10)
    media = PairMedia(Pair(original.name, anonymized.name, "video", "a"), StudyMedia(context, [], StudyEvaluation("o", "a")))
    first = media.analysis("shared", lambda: Recorder(10))
    assert media.analysis("shared", lambda: Recorder(5)) is first
    assert media.decode() == 3 and media.decode() == 0  # decoded once
    assert media.audio is None  # no sound track
    with pytest.raises(RuntimeError, match="Metric.prepare"):
        media.analysis("late", lambda: Recorder(10))
