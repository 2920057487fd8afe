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


def test_cut_files_are_refused(tmp_path):
    """A WAV or MKV cut at half its length, which FFmpeg opens without a word, is refused (issue 17)."""
    wav = write_wav(tmp_path / "a.wav", seconds=0.5)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated: the WAV header declares"):
        probe(cut)
    mkv = write_video(tmp_path / "v.mkv", frames=26)
    probe(mkv)  # the whole file is fine
    half = tmp_path / "half.mkv"
    half.write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 2])
    with pytest.raises(MediaError, match=r"truncated: the container declares 1\.\d+ s but its data ends at 0\.\d+ s"):
        probe(half)


def test_still_image_behind_a_video_extension(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 24), "red").save(tmp_path / "photo.jpg")
    (tmp_path / "photo.mp4").write_bytes((tmp_path / "photo.jpg").read_bytes())
    with pytest.raises(MediaError, match=r"photo\.mp4: is a still image \(jpeg\), not a video recording"):
        probe(tmp_path / "photo.mp4")
    (tmp_path / "photo.wav").write_bytes((tmp_path / "photo.jpg").read_bytes())
    with pytest.raises(MediaError, match=r"photo\.wav: is a still image \(jpeg\), not an audio recording"):
        probe(tmp_path / "photo.wav")
    assert probe(tmp_path / "photo.jpg").video.width == 32  # under its own extension it is a photo


def test_pixel_limit_is_checked_before_decoding(tmp_path):
    """A 12000 x 12000 PNG of a few hundred KB is refused from its header (a decompression bomb)."""
    import zlib

    from avanon.media.probe import Limits, check_image

    width = height = 12000
    raw = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)), 9)
    chunk = lambda kind, data: len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")  # noqa: E731
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(MediaError, match=r"bomb\.png: the image declares 12000x12000 = 144000000 pixels, more than the limit"):
        check_image(bomb)
    with pytest.raises(MediaError, match="more than the limit of 1000 pixels"):
        probe(write_video(tmp_path / "v.mp4", frames=2), limits=Limits(max_pixels=1000))
    assert check_image(bomb, limits=Limits(max_pixels=200_000_000)) == (12000, 12000)


@pytest.mark.parametrize("make", ["fifo", "chardev"])
def test_special_files_are_not_opened(tmp_path, make):
    import os

    path = tmp_path / "z.wav"
    if make == "fifo":
        os.mkfifo(path)
    else:
        path = tmp_path / "null.wav"
        os.symlink("/dev/null", path)  # a character device (mknod needs root)
    with pytest.raises(MediaError, match="not a regular file"):
        probe(path)


def test_check_decoded_compares_with_the_declared_duration(tmp_path):
    from avanon.media.probe import check_decoded

    info = probe(write_video(tmp_path / "v.mp4", frames=25, fps=25))  # 1 s, audio at 16 kHz
    check_decoded(info, video_end_s=info.video.start_time_s + 1.0, audio_samples=16000)
    with pytest.raises(MediaError, match=r"v\.mp4: truncated: 0\.232 s of video decoded, the container declares 1\.\d+ s"):
        check_decoded(info, video_end_s=info.video.start_time_s + 0.232)
    with pytest.raises(MediaError, match=r"truncated: 0\.500 s of audio decoded, the container"):
        check_decoded(info, audio_samples=8000)
    # the container lasts as long as its longest stream: video shorter than audio is not a cut (Hamilton's clip)
    check_decoded(info, video_end_s=info.video.start_time_s + 0.5, audio_samples=16000)
