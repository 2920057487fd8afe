from __future__ import annotations

import pytest

from avanon.errors import MediaError
from avanon.media.probe import media_kind, probe
from synth import write_video, write_wav


def test_media_kind():
    assert media_kind("a/b.MP4") == "video" and media_kind("x.webm") == "video"
    assert media_kind("x.flac") == "audio" and media_kind("x.m4a") == "audio"
    assert media_kind("x.JPG") == "image" and media_kind("x.eaf") is None


def test_probe_reads_timing(tmp_path):
    info = probe(write_video(tmp_path / "v.mp4", frames=10, start_pts=3))
    assert info.video.width == 160 and info.video.frames == 10
    assert info.video.start_time_s > 0
    assert info.audio.sample_rate == 16000


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.mp4", b"", "zero-byte"),
        ("text.mp4", b"this is not a video at all" * 10, "not a readable media file|cannot be opened"),
    ],
)
def test_bad_files_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as info:
        probe(path)
    assert str(path) in str(info.value)


def test_truncated_and_wrong_extension(tmp_path):
    video = write_video(tmp_path / "v.mp4", frames=30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[:400])
    with pytest.raises(MediaError, match=str(cut)):
        probe(cut)
    audio_as_video = tmp_path / "voice.mp4"
    audio_as_video.write_bytes(write_wav(tmp_path / "a.wav").read_bytes())
    with pytest.raises(MediaError, match="no video stream"):
        probe(audio_as_video)
    with pytest.raises(MediaError, match="does not exist"):
        probe(tmp_path / "missing.wav")
