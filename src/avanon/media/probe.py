"""Classify files and read what the anonymizer must keep: sizes, rates, time bases, start times.

Every problem is raised as :class:`~avanon.errors.MediaError` with the file and the reason, so a
study run can record it as the file's failure: zero-byte, unreadable, truncated or not a media file,
wrong extension for the content, no video stream in a video file, an undecodable codec.

Checks made before anything is decoded, so that a hostile file fails alone and cheaply:

- only regular files are opened (a FIFO or a device named ``.wav`` would block or never end);
- the frame size a video or photo declares is bounded by :attr:`Limits.max_pixels` (a 140 KB PNG can
  declare 12000 x 12000 pixels, 430 MB per decoded copy);
- an image container (JPEG, PNG, ...) behind a video or audio extension is refused (it would come out
  as a one-frame video);
- a file cut short is refused: a WAV whose header declares more sample bytes than the file holds, and
  a container whose packets end well before the duration it declares (:data:`TRUNCATION_TOLERANCE`).
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from avanon.errors import MediaError
from avanon.files import media_kind

# FFmpeg demuxers that read a single still image (or an image sequence): never a recording
IMAGE_DEMUXERS = frozenset({"image2", "gif", "apng", "webp_pipe", "tiff_pipe", "bmp_pipe", "psd_pipe", "svg_pipe"})
# How much shorter than declared a container's packets may end before it counts as truncated [s], and as a fraction
TRUNCATION_TOLERANCE = (0.1, 0.005)


@dataclass(frozen=True)
class Limits:
    """Resource limits checked from a file's header before it is decoded.

    Parameters
    ----------
    max_pixels : int > 0 [pixels]
        Largest width x height of a photo or a video frame. The default, 40 megapixels, admits 8K
        UHD video (33.2 MP) and photos from current cameras; masking a photo peaks at about 0.2 GB
        of memory per megapixel (measured on the default recipe), so lower it on small machines.
    """

    max_pixels: int = 40_000_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    codec: str
    pix_fmt: str
    time_base: str  # "1/11988"
    average_rate: str | None  # "2997/100"
    start_time_s: float
    frames: int  # as declared by the container (0 if unknown)


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: int
    layout: str
    sample_format: str
    start_time_s: float


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format: str
    duration_s: float
    video: VideoInfo | None
    audio: AudioInfo | None

    def to_dict(self) -> dict:
        return asdict(self)


def check_regular(path: Path) -> os.stat_result:
    """``stat`` of ``path`` if it is a readable regular file (links followed); nothing is opened.

    Raises
    ------
    MediaError
        Missing, not a regular file (FIFO, device, socket, folder), or not readable.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MediaError(f"{path}: file does not exist.") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot be examined ({exc.strerror or exc}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise MediaError(f"{path}: not a regular file (a FIFO, device, socket or folder); only regular files are read.")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied (the file is not readable by this user).")
    return info


def _check_readable(path: Path) -> None:
    if check_regular(path).st_size == 0:
        raise MediaError(f"{path}: zero-byte file.")


def _check_pixels(path: Path, width: int, height: int, limits: Limits, what: str) -> None:
    if width * height > limits.max_pixels:
        raise MediaError(
            f"{path}: the {what} declares {width}x{height} = {width * height} pixels, more than the limit of "
            f"{limits.max_pixels} pixels (Limits.max_pixels); refused before decoding."
        )


def check_image(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> tuple[int, int]:
    """Width and height [pixels] a photo declares in its header, refused above ``limits.max_pixels``.

    Only the header is read (Pillow opens lazily); the pixels are not decoded.

    Raises
    ------
    MediaError
        Not a regular readable file, not an image Pillow can identify, or too many pixels.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    _check_readable(path)
    try:
        with warnings.catch_warnings():  # the size is judged below against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaError(f"{path}: not a readable image ({exc}).") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{path}: refused before decoding ({exc}).") from None
    _check_pixels(path, width, height, limits, "image")
    return width, height


def check_wav_length(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose ``data`` chunk declares more bytes than the file holds (a cut file).

    FFmpeg silently takes the file's size instead, so a WAV cut at half its length would otherwise
    come out half as long as its header says. Sizes 0 and 0xFFFFFFFF (written by streaming recorders
    that never came back to fill them in) and RF64 files are not judged.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk = handle.read(8)
            if len(chunk) < 8:
                return
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                held = size - offset - 8
                if length not in (0, 0xFFFFFFFF) and length > held:
                    raise MediaError(
                        f"{path}: truncated: the WAV header declares {length} bytes of samples but the file holds {held} ({100 * held // length}%)."
                    )
                return
            offset += 8 + length + (length & 1)


def _packets_span(container: "av.container.InputContainer", declared: float) -> float:
    """Seconds from the container's start to the end of its last packet (demuxed, not decoded).

    Files longer than 20 s are only read from the keyframe before their last 10 s (a 4K video at
    50 Mbit/s reads about 60 MB, not the whole file).
    """
    start = container.start_time / av.time_base if container.start_time is not None else 0.0
    if declared > 20:
        try:
            container.seek(int((start + declared - 10) * av.time_base), backward=True, any_frame=False)
        except av.error.FFmpegError:
            pass
    end = start
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return end - start


def _check_complete(path: Path, container: "av.container.InputContainer", declared: float) -> None:
    """Refuse a container whose packets end well before its declared duration (cut at the end)."""
    if declared <= 0:
        return
    try:
        span = _packets_span(container, declared)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: not a readable media file or truncated ({exc}).") from None
    seconds, fraction = TRUNCATION_TOLERANCE
    if declared - span > max(seconds, fraction * declared):
        raise MediaError(f"{path}: truncated: the container declares {declared:.3f} s but its data ends at {span:.3f} s.")


def check_decoded(info: MediaInfo, *, video_end_s: float | None = None, audio_samples: int | None = None) -> None:
    """Refuse a file whose decoded content ends well before the duration its container declares.

    Call it after decoding, with what was decoded: the end of the last video frame and the number of
    audio samples per channel. :func:`probe` already refuses files whose packets end early; this
    catches packets that were there but did not decode (a damaged tail).

    Parameters
    ----------
    info : MediaInfo
        The input's :func:`probe` result (its ``duration_s`` and start times are the reference).
    video_end_s : float, optional [s]
        Presentation time of the end of the last decoded frame, on the container's clock.
    audio_samples : int >= 0, optional
        Decoded samples per channel of the first audio stream.

    Raises
    ------
    MediaError
        What was decoded is shorter than declared by more than :data:`TRUNCATION_TOLERANCE`.
    """
    declared = info.duration_s
    if declared <= 0:
        return
    seconds, fraction = TRUNCATION_TOLERANCE
    allowed = max(seconds, fraction * declared)
    ends = {}  # what each stream decoded [s]; a container's duration is that of its longest stream
    if video_end_s is not None and info.video is not None:
        ends["video"] = video_end_s - info.video.start_time_s
    if audio_samples is not None and info.audio is not None and info.audio.sample_rate > 0:
        ends["audio"] = audio_samples / info.audio.sample_rate
    if ends and declared - max(ends.values()) > allowed:
        decoded = " and ".join(f"{v:.3f} s of {k}" for k, v in ends.items())
        raise MediaError(f"{info.path}: truncated: {decoded} decoded, the container declares {declared:.3f} s.")


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    if value is None or time_base is None:
        return 0.0
    return float(value * time_base)


def probe(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> MediaInfo:
    """Open a media file and describe its first video and audio streams.

    Parameters
    ----------
    path : str or Path
    limits : Limits
        ``limits.max_pixels`` bounds the declared frame size.

    Raises
    ------
    MediaError
        If the file is missing, empty, unreadable, not a regular file, not a media file, cut short
        (see the module docstring), its frame size is over the limit, or its content does not match
        its extension (for example a video extension with no video stream, or a JPEG named ``.mp4``).
    """
    path = Path(path)
    _check_readable(path)
    kind = media_kind(path)
    if path.suffix.lower() == ".wav":
        check_wav_length(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            fmt = container.format.name
            if kind in ("video", "audio") and (fmt in IMAGE_DEMUXERS or fmt.endswith("_pipe")):
                what = "an audio" if kind == "audio" else "a video"
                raise MediaError(f"{path}: is a still image ({fmt.removesuffix('_pipe')}), not {what} recording; wrong extension?")
            video = audio = None
            real_video = any(not (v.disposition & av.stream.Disposition.attached_pic) for v in container.streams.video)
            if container.streams.video:
                s = container.streams.video[0]
                cc = s.codec_context
                if cc.width <= 0 or cc.height <= 0:
                    raise MediaError(f"{path}: video stream has no frame size (truncated or corrupt file).")
                _check_pixels(path, cc.width, cc.height, limits, "image" if kind == "image" else "video frame")
                video = VideoInfo(
                    width=cc.width,
                    height=cc.height,
                    codec=cc.name,
                    pix_fmt=cc.pix_fmt or "",
                    time_base=str(s.time_base),
                    average_rate=str(s.average_rate) if s.average_rate else None,
                    start_time_s=_seconds(s.start_time, s.time_base),
                    frames=int(s.frames or 0),
                )
            if container.streams.audio:
                s = container.streams.audio[0]
                cc = s.codec_context
                if not cc.sample_rate or not cc.channels:
                    raise MediaError(f"{path}: audio stream has no sample rate or channels (not a readable media file, or corrupt).")
                audio = AudioInfo(
                    codec=cc.name,
                    sample_rate=int(cc.sample_rate),
                    channels=int(cc.channels),
                    layout=cc.layout.name,
                    sample_format=cc.format.name if cc.format else "",
                    start_time_s=_seconds(s.start_time, s.time_base),
                )
            duration = float(container.duration / av.time_base) if container.duration else 0.0
            if kind in ("video", "audio"):
                _check_complete(path, container, duration)
    except MediaError:
        raise
    except av.error.PermissionError:
        raise MediaError(f"{path}: permission denied.") from None
    except (av.error.InvalidDataError, av.error.EOFError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable media file or truncated ({exc}).") from None
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be opened as media ({exc}).") from None
    except (AttributeError, TypeError, ValueError, ZeroDivisionError) as exc:  # a stream whose codec FFmpeg could not set up
        raise MediaError(f"{path}: stream parameters cannot be read; corrupt or truncated file ({type(exc).__name__}).") from None
    if kind == "video" and video is None:
        raise MediaError(f"{path}: has a video extension but no video stream.")
    if kind == "audio" and audio is None:
        raise MediaError(f"{path}: has an audio extension but no audio stream.")
    if kind == "audio" and real_video:
        raise MediaError(f"{path}: has an audio extension but contains a video stream (wrong extension?).")
    if kind == "image" and video is None:
        raise MediaError(f"{path}: not a readable image.")
    return MediaInfo(path=str(path), format=fmt, duration_s=duration, video=video, audio=audio)
