"""Classify files and read what the anonymizer must keep: sizes, rates, time bases, start times.

Every problem is raised as :class:`~avanon.errors.MediaError` with the file and the reason, so a
study run can record it as the file's failure: zero-byte, unreadable, truncated or not a media file,
wrong extension for the content, no video stream in a video file, an undecodable codec.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av

from avanon.errors import MediaError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".m4a", ".ogg", ".oga", ".opus"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})


def media_kind(path: str | Path) -> str | None:
    """``"video"``, ``"audio"``, ``"image"`` from the extension, or ``None`` for other files."""
    ext = Path(path).suffix.lower()
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


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


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: file does not exist.")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file.")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied (the file is not readable by this user).")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: zero-byte file.")


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    if value is None or time_base is None:
        return 0.0
    return float(value * time_base)


def probe(path: str | Path) -> MediaInfo:
    """Open a media file and describe its first video and audio streams.

    Raises
    ------
    MediaError
        If the file is missing, empty, unreadable, not a media file, or its content does not match
        its extension (for example a video extension with no video stream).
    """
    path = Path(path)
    _check_readable(path)
    kind = media_kind(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = audio = None
            real_video = any(not (v.disposition & av.stream.Disposition.attached_pic) for v in container.streams.video)
            if container.streams.video:
                s = container.streams.video[0]
                cc = s.codec_context
                if cc.width <= 0 or cc.height <= 0:
                    raise MediaError(f"{path}: video stream has no frame size (truncated or corrupt file).")
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
                audio = AudioInfo(
                    codec=cc.name,
                    sample_rate=int(cc.sample_rate),
                    channels=int(cc.channels),
                    layout=cc.layout.name,
                    sample_format=cc.format.name if cc.format else "",
                    start_time_s=_seconds(s.start_time, s.time_base),
                )
            duration = float(container.duration / av.time_base) if container.duration else 0.0
            fmt = container.format.name
    except MediaError:
        raise
    except av.error.PermissionError:
        raise MediaError(f"{path}: permission denied.") from None
    except (av.error.InvalidDataError, av.error.EOFError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable media file or truncated ({exc}).") from None
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be opened as media ({exc}).") from None
    if kind == "video" and video is None:
        raise MediaError(f"{path}: has a video extension but no video stream.")
    if kind == "audio" and audio is None:
        raise MediaError(f"{path}: has an audio extension but no audio stream.")
    if kind == "audio" and real_video:
        raise MediaError(f"{path}: has an audio extension but contains a video stream (wrong extension?).")
    if kind == "image" and video is None:
        raise MediaError(f"{path}: not a readable image.")
    return MediaInfo(path=str(path), format=fmt, duration_s=duration, video=video, audio=audio)
