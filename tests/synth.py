"""Small synthetic media for unit tests (made on the fly, never stored)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avanon.demo import synthetic_video


def face_image(size: tuple[int, int] = (320, 240), centre: tuple[int, int] | None = None, radius: int = 40) -> np.ndarray:
    """An RGB image with a simple drawn face (for masking geometry tests, not detectors)."""
    w, h = size
    cx, cy = centre or (w // 2, h // 2)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w, 3), 180, np.uint8)
    img[(xx - cx) ** 2 / (radius * 0.8) ** 2 + (yy - cy) ** 2 / radius**2 <= 1] = (224, 172, 140)
    return img


def write_video(
    path: Path,
    *,
    frames: int = 20,
    fps: int = 25,
    size: tuple[int, int] = (160, 120),
    start_pts: int = 0,
    time_base: Fraction | None = None,
    pts_step: int = 1,
    audio_rate: int | None = 16000,
    metadata: dict[str, str] | None = None,
    vfr: bool = False,
) -> Path:
    """A video with a known frame count, start time, time base and (optionally) a tone audio track."""
    w, h = size
    tb = time_base or Fraction(1, fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        if metadata:
            out.metadata.update(metadata)
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height = w, h
        v.pix_fmt = "yuv444p" if w % 2 or h % 2 else "yuv420p"
        v.time_base = tb
        v.codec_context.time_base = tb
        a = None
        if audio_rate:
            a = out.add_stream("aac", rate=audio_rate, layout="mono")
        pts = start_pts
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :, 0] = (i * 10) % 255
            img[h // 4 : h // 2, (i * 3) % w :, 1] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = pts, tb
            out.mux(v.encode(frame))
            pts += pts_step * (1 + (i % 3 == 0) if vfr else pts_step)
        out.mux(v.encode(None))
        if a is not None:
            n = int(frames / fps * audio_rate)
            t = np.arange(n) / audio_rate
            tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            for k in range(0, n, 1024):
                f = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
                f.sample_rate, f.pts = audio_rate, k
                out.mux(a.encode(f))
            out.mux(a.encode(None))
    return path


def write_wav(path: Path, *, seconds: float = 1.0, rate: int = 16000, channels: int = 1, codec: str = "pcm_s16le") -> Path:
    """A harmonic 'voice-like' tone with a known number of samples."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    sig = sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.1
    data = np.stack([sig * (0.5 + 0.5 * c) for c in range(channels)], axis=1).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "mono" if channels == 1 else "stereo"
    fmt = {".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".m4a": "ipod"}[path.suffix]
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate, layout=layout)
        fifo = av.AudioFifo()
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(data.T), format="fltp", layout=layout)
        f.sample_rate = rate
        fifo.write(f)
        size = s.codec_context.frame_size or 2048
        while fifo.samples:
            out.mux(s.encode(fifo.read(min(size, fifo.samples))))
        out.mux(s.encode(None))
    return path


def decoded_video(path: Path) -> tuple[list[int], object, tuple[int, int]]:
    """Presentation timestamps of every frame, the stream time base and the frame size."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [f.pts for f in c.decode(s)]
        return pts, s.time_base, (s.codec_context.width, s.codec_context.height)


def decoded_samples(path: Path) -> tuple[int, int, int]:
    """(samples, rate, channels) of the first audio stream."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        n = sum(f.samples for f in c.decode(s))
        return n, s.codec_context.sample_rate, s.codec_context.channels


__all__ = ["face_image", "write_video", "write_wav", "decoded_video", "decoded_samples", "synthetic_video"]
