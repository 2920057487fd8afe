"""The one frame loop of the video pipeline, and the output container chosen from what a file really is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from avanon.errors import MediaError
from avanon.media.video import Output, Segment, Voice, decode_range, encode_range, format_for, output_format, output_name
from avanon.recipe import Encoder
from synth import decoded_samples, decoded_video, write_video

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.mark.parametrize(
    ("name", "demuxer", "fmt"),
    [
        ("a.mp4", MP4, "mp4"),
        ("a.m4v", MP4, "mp4"),
        ("a.mov", MP4, "mov"),
        ("a.avi", MP4, "mp4"),  # the openpose clip: an MP4 named .avi
        ("a.mkv", MP4, "mp4"),
        ("a.avi", "avi", "avi"),
        ("a.mp4", "avi", "avi"),
        ("a.mkv", "matroska,webm", "matroska"),
        ("a.webm", "matroska,webm", "webm"),
        ("a.avi", "matroska,webm", "matroska"),
        ("a.mkv", "mpegts", "matroska"),  # a container we do not write: the name decides
        ("a.ts", "mpegts", "mp4"),
    ],
)
def test_the_output_container_is_the_inputs_own(name: str, demuxer: str, fmt: str) -> None:
    assert output_format(name, demuxer) == fmt


def test_output_names_follow_the_container() -> None:
    assert output_name("sub-01/clip.avi", "mp4") == "sub-01/clip.mp4"
    assert output_name("sub-01/clip.m4v", "mp4") == "sub-01/clip.m4v"
    assert output_name("clip.MOV", "mov") == "clip.MOV"
    assert output_name("clip.webm", "matroska") == "clip.mkv"


def test_format_for_reads_the_file_not_its_name(tmp_path: Path) -> None:
    src = write_video(tmp_path / "clip.mp4", frames=3, audio_rate=None).rename(tmp_path / "clip.avi")
    assert format_for(src, "clip.avi") == "mp4"
    with pytest.raises(MediaError, match="cannot be opened"):
        format_for(tmp_path / "missing.mp4", "missing.mp4")


class _Holding:
    """A masker that holds ``delay`` frames back (as a tracking window does) and blacks out a corner."""

    def __init__(self, delay: int):
        self.delay, self.held, self.seen = delay, [], []

    def push(self, image: np.ndarray, payload: Any = None) -> list[tuple[np.ndarray, Any, Any]]:
        self.seen.append(payload)
        image[:16, :16] = 0
        self.held.append((image, payload, []))
        out, self.held = self.held[: max(0, len(self.held) - self.delay)], self.held[max(0, len(self.held) - self.delay) :]
        return out

    def flush(self) -> list[tuple[np.ndarray, Any, Any]]:
        out, self.held = self.held, []
        return out


def test_a_whole_file_is_one_segment_with_its_audio_in_the_same_pass(tmp_path: Path) -> None:
    src = write_video(tmp_path / "in.mp4", frames=17, start_pts=3, vfr=True)
    dst = tmp_path / "out.mp4"
    masker = _Holding(delay=4)
    result = encode_range(src, Output(dst, "mp4", Encoder(threads=1)), Segment.whole(), masker=lambda w, h, fps: masker, voice=Voice(None, 0, "s"))
    pts_in, tb_in, size_in = decoded_video(src)
    pts_out, tb_out, size_out = decoded_video(dst)
    assert result.frames == 17 and result.repaired_timestamps == 0
    assert masker.seen == pts_in  # every frame, in display order, with its own timestamp
    assert pts_out == pts_in and tb_out == tb_in and size_out == size_in  # frames held back come out in place
    assert decoded_samples(dst) == decoded_samples(src) and result.audio_samples == result.audio_samples_in > 0
    with av.open(str(dst)) as c:
        assert all(f.to_ndarray(format="rgb24")[2:14, 2:14].max() < 30 for f in c.decode(video=0))


def test_a_segment_and_the_whole_file_decode_the_same_frames(tmp_path: Path) -> None:
    from avanon.execute.segments import plan_video
    from execute_support import make_video

    src = make_video(tmp_path / "clip.mp4", seconds=4, size=(96, 64))
    plan = plan_video(src, segment_seconds=1.5)
    assert plan is not None and len(plan.segments) == 2
    whole = list(decode_range(src, Segment.whole()))
    split = [item for seg in plan.segments for item in decode_range(src, seg)]
    assert [(i, p) for i, p, _ in whole] == [(i, p) for i, p, _ in split] and len(whole) == 100
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(whole, split))
