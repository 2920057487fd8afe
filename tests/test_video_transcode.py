"""Video re-encoding keeps timing exactly and strips metadata."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from avanon import recipe
from avanon.audio.mcadams import McAdams
from avanon.detect.faces import Detection
from avanon.video.faces import FaceMasker
from avanon.video.transcode import transcode_video
from synth import decoded_samples, decoded_video, write_video

NO_DETECTORS = recipe.parse("name: t\nvideo: {detectors: []}\n")


def _transcode(src, dst, section=NO_DETECTORS.video, voice=None):
    return transcode_video(
        src, dst, masker_factory=lambda w, h, fps: FaceMasker(section, width=w, height=h, fps=fps), voice=voice, seed=0, speaker="s", encoder=section.encoder
    )


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".avi"])
def test_frame_count_size_and_timestamps_are_kept(tmp_path, suffix):
    src = write_video(tmp_path / f"in{suffix}", frames=23, start_pts=5, size=(161, 121), vfr=suffix != ".avi")
    dst = tmp_path / f"out{suffix}"
    result = _transcode(src, dst, voice=McAdams())
    pts_in, tb_in, size_in = decoded_video(src)
    pts_out, tb_out, size_out = decoded_video(dst)
    assert result.frames == 23 and len(pts_out) == 23
    assert size_out == size_in
    times_in = [float(p * tb_in) for p in pts_in]
    times_out = [float(p * tb_out) for p in pts_out]
    if suffix == ".avi":
        # AVI stores no presentation times, only a frame rate: frame k is shown at start + k / rate.
        # Frame count and spacing are kept; the muxer's start offset is not representable exactly.
        assert np.allclose(np.diff(times_out), 1 / 25)
        assert abs(times_out[0] - times_in[0]) <= 1 / 25 + 1e-6
        return
    assert np.allclose(times_in, times_out, atol=1e-6)


def test_time_base_and_audio_are_kept(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=20, time_base=Fraction(1, 12800), pts_step=512, start_pts=1024)
    dst = tmp_path / "out.mp4"
    _transcode(src, dst, voice=McAdams())
    _, tb_in, _ = decoded_video(src)
    _, tb_out, _ = decoded_video(dst)
    assert tb_out == tb_in
    n_in, rate_in, ch_in = decoded_samples(src)
    n_out, rate_out, ch_out = decoded_samples(dst)
    assert (rate_out, ch_out) == (rate_in, ch_in)
    assert abs(n_out - n_in) <= 1024  # AAC priming/padding only
    with av.open(str(dst)) as c:
        assert abs(float(c.streams.video[0].start_time * c.streams.video[0].time_base) - 1024 / 12800) < 1e-6


def test_identifying_metadata_is_removed(tmp_path):
    tags = {
        "title": "Jane Doe at home",
        "comment": "Jane, 12 Elm St",
        "location": "+48.8584+002.2945/",
        "creation_time": "2024-05-01T10:00:00Z",
        "artist": "Dr Smith",
        "com.apple.quicktime.make": "Apple",
    }
    src = write_video(tmp_path / "in.mp4", frames=5, metadata=tags)
    dst = tmp_path / "out.mp4"
    _transcode(src, dst)
    with av.open(str(dst)) as c:
        everything = dict(c.metadata)
        for s in c.streams:
            everything.update(s.metadata)
    text = repr(everything)
    for value in ("Jane", "Elm", "48.85", "2024", "Smith", "Apple"):
        assert value not in text
    assert not {"title", "comment", "location", "creation_time", "artist"} & set(everything)


def test_masking_applies_to_frames(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=6, size=(64, 48), audio_rate=None)
    dst = tmp_path / "out.mp4"

    class Everything:
        name = "everything"
        background = False

        def session(self):
            return self

        def runs_on(self, i):
            return True

        def detect(self, image):
            return [Detection(0.0, 0.0, 64.0, 48.0, 1.0, "x")]

        def close(self):
            pass

    def factory(w, h, fps):
        masker = FaceMasker(NO_DETECTORS.video, width=w, height=h, fps=fps)
        masker.detectors = [Everything()]
        return masker

    transcode_video(src, dst, masker_factory=factory, voice=None, seed=0, speaker="s", encoder=NO_DETECTORS.video.encoder)
    with av.open(str(dst)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 6 and max(int(f.max()) for f in frames) < 20  # all black


def test_deterministic_bytes(tmp_path):
    src = write_video(tmp_path / "in.mp4", frames=10)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    _transcode(src, a, voice=McAdams())
    _transcode(src, b, voice=McAdams())
    assert a.read_bytes() == b.read_bytes()


def test_one_thread_budget_decodes_inline_with_the_same_bytes(tmp_path, monkeypatch):
    """A worker with one thread decodes in its own thread; the output is the same file."""
    import threading

    src = write_video(tmp_path / "in.mp4", frames=30, size=(161, 121))
    import avanon.media.video as video

    seen: dict[str, set[str]] = {}
    original = video._decoded
    for threads in ("1", "2"):
        monkeypatch.setenv("AVANON_THREADS", threads)
        names: set[str] = set()

        def decoded(*args, names=names):
            for item in original(*args):
                names.add(threading.current_thread().name)
                yield item

        monkeypatch.setattr(video, "_decoded", decoded)
        _transcode(src, tmp_path / f"out{threads}.mp4", voice=McAdams())
        seen[threads] = names
    assert seen == {"1": {"MainThread"}, "2": {"avanon-decode"}}
    assert (tmp_path / "out1.mp4").read_bytes() == (tmp_path / "out2.mp4").read_bytes()


def test_read_ahead_keeps_order_reraises_and_stops_its_thread():
    import threading

    from avanon.media.video import read_ahead as _read_ahead

    def items():
        yield from range(5)
        raise ValueError("bad packet")

    got = []
    with pytest.raises(ValueError, match="bad packet"):
        for item in _read_ahead(items(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]

    endless = _read_ahead(iter(range(10**9)), depth=2)
    assert [next(endless) for _ in range(3)] == [0, 1, 2]
    endless.close()  # the consumer stops early: the producer must not stay blocked on a full queue
    assert not any(t.name == "avanon-decode" for t in threading.enumerate())
