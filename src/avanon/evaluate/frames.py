"""Frames of an original and an anonymized file, paired by presentation time, decoded in one pass.

:func:`video_frames` is the evaluation's one video decoder. :func:`paired_frames` walks an original
video and its anonymized version together and yields every ``every``-th original frame with the
anonymized frame shown at the same time (times taken from each file's first frame, so a file whose
timestamps were shifted is still compared with the right frame).

Several metrics of one pair need frames at different strides (the region test and the pose metric
every ``--every`` frames, the re-identification attack every 15, the motion energy every frame of
each file). :func:`decode_pair` decodes both files once and hands each :class:`FrameAnalysis` the
frames it asked for, so a study evaluation decodes every video pair once whatever its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from avanon.errors import MediaError
from avanon.files import IMAGE_SUFFIXES

SIDES = ("original", "anonymized")


def is_image(path: Path) -> bool:
    """Whether ``path`` is a still image (judged by its suffix)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def load_image(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array, turned upright by its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise MediaError(f"{path}: cannot read the image ({exc}).") from None


def video_frames(path: Path) -> Iterator[tuple[float, Any, float]]:
    """(time relative to the first frame [s], av.VideoFrame, frame interval [s]) in presentation order."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open the video ({exc}).") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        interval = 1.0 / rate
        first: float | None = None
        count = 0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else count * interval
                first = t if first is None else first
                count += 1
                yield float(t - first), frame, interval
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed after {count} frames ({exc}).") from None


@dataclass
class FramePair:
    """An original frame and the anonymized frame shown at the same time (``None`` if there is none)."""

    index: int
    time: float  # [s] from the original's first frame
    original: np.ndarray
    anonymized: np.ndarray | None
    offset: float  # [s] anonymized time minus original time (nan when unpaired)


FrameHook = Callable[[str, float, Any], None]  # (side, time [s], av.VideoFrame) of every decoded frame


def sampled_pairs(
    original: Path, anonymized: Path, *, sampled: Callable[[int], bool], max_time: float | None = None, on_frame: FrameHook | None = None
) -> Iterator[FramePair]:
    """The pairs of the original frames ``sampled(index)`` accepts; see :func:`paired_frames`.

    ``on_frame`` sees every decoded frame of both files before ``max_time`` (the anonymized file is
    read to that time even after the original ends).
    """
    original, anonymized = Path(original), Path(anonymized)
    if is_image(original):
        yield FramePair(0, 0.0, load_image(original), load_image(anonymized), 0.0)
        return

    def watched(side: str, path: Path) -> Iterator[tuple[float, Any, float]]:
        for item in video_frames(path):
            if on_frame is not None and (max_time is None or item[0] < max_time):
                on_frame(side, item[0], item[1])
            yield item

    later = watched("anonymized", anonymized)
    previous: tuple[float, Any] | None = None
    current = next(later, None)
    for index, (t, frame, interval) in enumerate(watched("original", original)):
        if max_time is not None and t >= max_time:
            break
        if not sampled(index):
            continue
        while current is not None and current[0] < t:
            previous = (current[0], current[1])
            current = next(later, None)
        candidates = [c for c in (previous, current[:2] if current else None) if c is not None]
        best = min(candidates, key=lambda c: abs(c[0] - t)) if candidates else None
        rgb = frame.to_ndarray(format="rgb24")
        if best is None or abs(best[0] - t) > interval / 2 + 1e-6:
            yield FramePair(index, t, rgb, None, float("nan"))
        else:
            yield FramePair(index, t, rgb, best[1].to_ndarray(format="rgb24"), best[0] - t)
    if on_frame is not None:  # the rest of the anonymized file, for whoever watches every frame
        while current is not None and (max_time is None or current[0] < max_time):
            current = next(later, None)


def paired_frames(original: Path, anonymized: Path, *, every: int = 1, max_time: float | None = None) -> Iterator[FramePair]:
    """Every ``every``-th original frame with the anonymized frame nearest in presentation time.

    Times are measured from each file's first frame. An original frame whose nearest anonymized
    frame is more than half a frame interval away is yielded unpaired (``anonymized=None``).
    Still images are yielded as one pair at time 0. With ``max_time`` [s], original frames from
    that time on are not read.
    """
    return sampled_pairs(original, anonymized, sampled=lambda index: index % every == 0, max_time=max_time)


class FrameAnalysis:
    """Something computed over the frames of one pair during its one decoding pass.

    Subclasses set ``every`` (the sampled original frames, as :func:`paired_frames` pairs them, that
    :meth:`add` receives; 0 for none) and ``all_frames`` (whether :meth:`add_frame` sees every
    decoded frame of both files), and keep what they measure until :func:`decode_pair` is done.
    """

    every: int = 1
    all_frames: bool = False

    def add(self, pair: FramePair) -> None:
        """One sampled original frame and the anonymized frame at its time."""

    def add_frame(self, side: str, time: float, frame: Any) -> None:
        """One decoded frame (``av.VideoFrame``) of the ``"original"`` or ``"anonymized"`` file at ``time`` [s]."""


def decode_pair(original: Path, anonymized: Path, analyses: Iterable[FrameAnalysis], *, max_time: float | None = None) -> int:
    """Decode both files once and feed every analysis; returns the number of sampled frame pairs.

    Parameters
    ----------
    original, anonymized : Path
        Two videos or two still images.
    analyses : iterable of FrameAnalysis
    max_time : float > 0 [s] or None
        Only frames before this time (from each file's first frame).
    """
    analyses = list(analyses)
    strides = sorted({a.every for a in analyses if a.every > 0})
    watchers = [a for a in analyses if a.all_frames]

    def on_frame(side: str, time: float, frame: Any) -> None:
        for analysis in watchers:
            analysis.add_frame(side, time, frame)

    count = 0
    pairs = sampled_pairs(
        original, anonymized, sampled=lambda index: any(index % s == 0 for s in strides), max_time=max_time, on_frame=on_frame if watchers else None
    )
    for pair in pairs:
        count += 1
        for analysis in analyses:
            if analysis.every > 0 and pair.index % analysis.every == 0:
                analysis.add(pair)
    return count
