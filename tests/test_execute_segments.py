"""Segment planning at keyframes, range decoding, and stitching without re-encoding."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from avanon.execute.segments import BoxPainter, Segment, SegmentMismatch, plan_video, stitch
from avanon.media.video import Output, Voice, decode_range, encode_range, muxer_options
from avanon.process import transcode_audio
from avanon.recipe import Encoder
from execute_support import frame_pts, make_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("seg") / "clip.mp4", seconds=6, size=(96, 64))


def _keyframe_pts(path: Path) -> set[int]:
    with av.open(str(path)) as c:
        return {p.pts for p in c.demux(video=0) if p.size and p.is_keyframe}


def test_plan_cuts_at_clean_keyframes(video: Path) -> None:
    plan = plan_video(video, segment_seconds=1.5)
    assert plan is not None
    assert [s.first_frame for s in plan.segments] == [0, 50, 100]  # keyframes every 25 frames, >= 1.5 s apart
    assert sum(s.frames for s in plan.segments) == plan.frames == 150
    assert {s.start_pts for s in plan.segments} <= _keyframe_pts(video)
    assert plan.segments[-1].end_pts is None and plan.has_audio
    assert all(a.end_pts == b.start_pts for a, b in zip(plan.segments, plan.segments[1:]))


def test_plan_keeps_short_videos_whole(video: Path) -> None:
    assert plan_video(video, segment_seconds=3.5) is None  # 6 s is less than two segments
    assert plan_video(video, segment_seconds=0) is None


def test_decode_range_gives_exactly_the_planned_frames(video: Path) -> None:
    plan = plan_video(video, segment_seconds=1.5)
    assert plan is not None
    indices, pts = [], []
    for seg in plan.segments:
        for index, p, image in decode_range(video, seg):
            indices.append(index)
            pts.append(p)
            assert image.shape == (64, 96, 3)
    assert indices == list(range(150))
    assert pts == frame_pts(video)


def test_decode_range_refuses_a_wrong_plan(video: Path) -> None:
    with pytest.raises(SegmentMismatch, match="planned 60"):
        list(decode_range(video, Segment(0, 0, None, 0, 60)))


def test_stitch_keeps_every_timestamp_and_the_audio(video: Path, tmp_path: Path) -> None:
    plan = plan_video(video, segment_seconds=1.5)
    assert plan is not None
    parts = []
    for seg in plan.segments:
        part = tmp_path / f"part{seg.index}.mp4"
        boxes = [[(10.0, 10.0, 30.0, 30.0)]] * seg.frames
        painter = BoxPainter(boxes, lambda image, boxes: image.__setitem__((slice(10, 30), slice(10, 30)), 0))
        result = encode_range(video, Output(part, "mp4", Encoder(threads=1)), seg, masker=lambda *_, p=painter: p)
        assert result.frames == seg.frames
        parts.append(part)
    audio = tmp_path / "audio.mp4"
    samples = transcode_audio(video, audio, fmt="mp4", voice=Voice(None, 0, "x")).samples_out
    with av.open(str(video)) as c:
        options = muxer_options("mp4", c.streams.video[0])
        in_samples = sum(f.samples for f in c.decode(audio=0))
    out = tmp_path / "out.mp4"
    assert stitch(parts, audio, out, fmt="mp4", muxer_options=options) == 150
    assert frame_pts(out) == frame_pts(video)
    assert samples == in_samples
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(out)) as c:
        assert sum(f.samples for f in c.decode(audio=0)) == in_samples
    with av.open(str(out)) as c:
        dts = [p.dts for p in c.demux(video=0) if p.size]
    assert all(b > a for a, b in zip(dts, dts[1:]))  # decode timestamps increase across joins
    assert all(f[12:28, 12:28].max() < 40 for f in frames)  # every frame of every segment was painted
