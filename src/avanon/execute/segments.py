"""Split a long video at keyframes, anonymize the pieces in parallel, and stitch them back together.

A long recording is processed in three steps, so that the masking decisions are exactly those of
an unsplit run and no worker ever holds more than one segment:

1. **detect** (parallel): each segment is decoded from its keyframe and the recipe's stateless
   detectors run on its frames, with the frames' global indices (so ``every``-th frame strides are
   those of the whole file). Stateful detectors (a per-file ``session``, for example the video-mode
   body pose tracker) run once over the whole file in one chain, so their state is never cut.
2. **track** (coordinator, cheap): the detections of all segments are fed in order through one
   :class:`~avanon.video.tracking.FaceTracker`, so gap filling and margins cross segment joins
   exactly as in one pass; the final boxes of each segment are written down.
3. **encode** (parallel): each segment goes through the frame loop every video goes through
   (:func:`avanon.media.video.encode_range`; a video processed whole is its one-segment case), with
   a :class:`BoxPainter` that paints its final boxes with the recipe's obfuscation, and is encoded
   alone with the recipe's encoder settings (every segment starts with a keyframe). The audio track
   is voice-transformed in one piece (:func:`avanon.process.transcode_audio`, the coder of a whole-file pass). :func:`stitch` remuxes the
   encoded segments and the audio into the output file: packets are copied, nothing is re-encoded,
   every frame keeps its input presentation timestamp.

Segment boundaries are *clean* keyframes of the input: every packet before one in decode order is
shown before it and every packet after is shown at or after it, so a segment decodes alone. Files
whose timestamps are missing or not strictly increasing, or whose recipe has whole-frame filters
(which keep per-file state), are not split: :func:`plan_video` returns ``None`` and the file is
processed as one segment (:meth:`avanon.media.video.Segment.whole`) in one task.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

from avanon.detect.boxes import Box
from avanon.errors import MediaError
from avanon.media.video import Segment, SegmentMismatch, open_input

__all__ = ["BoxPainter", "Segment", "SegmentMismatch", "VideoPlan", "plan_video", "read_json", "stitch", "write_json"]


@dataclass(frozen=True)
class VideoPlan:
    """How one video is split (see the module docstring)."""

    frames: int
    width: int
    height: int
    fps: float
    time_base: str
    duration_s: float
    has_audio: bool
    segments: tuple[Segment, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["segments"] = [asdict(s) for s in self.segments]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VideoPlan":
        segments = tuple(Segment(**s) for s in data["segments"])
        return cls(**{**data, "segments": segments})


def plan_video(src: Path, *, segment_seconds: float) -> VideoPlan | None:
    """Plan the segments of ``src``, about ``segment_seconds`` [s] long, or ``None`` to process it whole.

    Reads every video packet header once (no decoding). ``None`` when the video is shorter than two
    segments, has packets without timestamps or with repeated ones, or has no clean keyframe to cut at.
    """
    if segment_seconds <= 0:
        return None
    with open_input(src) as inp:
        if not inp.streams.video:
            return None
        vin = inp.streams.video[0]
        tb = vin.time_base
        if tb is None:
            return None
        pts: list[int] = []
        keys: list[bool] = []
        try:
            for packet in inp.demux(vin):
                if packet.size == 0:
                    continue
                if packet.pts is None:
                    return None
                pts.append(int(packet.pts))
                keys.append(bool(packet.is_keyframe))
        except av.error.FFmpegError:
            return None  # a damaged file is processed (and fails) whole, with the decoder's reason
        cc = vin.codec_context
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        has_audio = bool(inp.streams.audio)
        width, height = cc.width, cc.height
    n = len(pts)
    if n < 2:
        return None
    order = np.asarray(pts, dtype=np.int64)
    shown = np.sort(order)
    if np.any(np.diff(shown) <= 0):
        return None  # repeated timestamps: the whole-file path repairs them
    step = float(np.median(np.diff(shown)))
    duration = float((shown[-1] - shown[0] + step) * tb)
    if duration < 2 * segment_seconds:
        return None
    before_max = np.maximum.accumulate(order)  # largest pts among packets 0..k
    after_min = np.minimum.accumulate(order[::-1])[::-1]  # smallest pts among packets k..n-1
    t0 = int(shown[0])
    starts = [0]
    for k in range(1, n):
        if not keys[k] or before_max[k - 1] >= order[k] or after_min[k] < order[k]:
            continue
        since = float((order[k] - order[starts[-1]]) * tb)
        left = float((shown[-1] + step - order[k]) * tb)
        if since >= segment_seconds and left >= segment_seconds / 2:
            starts.append(k)
    if len(starts) < 2:
        return None
    segments = []
    for i, k in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else n
        segments.append(Segment(i, int(order[k]) if i else t0, int(order[nxt]) if nxt < n else None, k, nxt - k))
    return VideoPlan(
        frames=n,
        width=width,
        height=height,
        fps=float(rate),
        time_base=f"{tb.numerator}/{tb.denominator}",
        duration_s=duration,
        has_audio=has_audio,
        segments=tuple(segments),
    )


class BoxPainter:
    """The masker of a planned segment: paints the boxes the coordinator's tracker made final, one list per frame."""

    def __init__(self, boxes: list[list[Box]], paint: Callable[[np.ndarray, list[Box]], Any]):
        self.boxes, self.paint = boxes, paint
        self.done = 0

    def push(self, image: np.ndarray, payload: Any = None) -> list[tuple[np.ndarray, Any, list[Box]]]:
        if self.done >= len(self.boxes):
            raise SegmentMismatch(f"more frames decoded than the {len(self.boxes)} planned.")
        boxes = self.boxes[self.done]
        self.paint(image, boxes)
        self.done += 1
        return [(image, payload, boxes)]

    def flush(self) -> list[tuple[np.ndarray, Any, list[Box]]]:
        if self.done != len(self.boxes):
            raise SegmentMismatch(f"{self.done} frames decoded, {len(self.boxes)} planned.")
        return []


def _packets(path: Path) -> Iterator[av.Packet]:
    with open_input(path) as inp:
        stream = inp.streams[0]
        for packet in inp.demux(stream):
            if packet.size:
                yield packet


def _reorder_depth(pts: list[int]) -> int:
    """The smallest ``D`` with ``rank(pts[k]) >= k - D`` for every packet ``k`` (B-frame reordering)."""
    rank = {p: r for r, p in enumerate(sorted(pts))}
    return max(0, max(k - rank[p] for k, p in enumerate(pts)))


def stitch(parts: list[Path], audio: Path | None, dst: Path, *, fmt: str, muxer_options: dict[str, str]) -> int:
    """Remux encoded video segments (in order) and an audio-only file into ``dst``; returns the video packet count.

    Decode timestamps are recomputed over the whole stream (``dts[k]`` is the ``k - D``-th smallest
    presentation timestamp, ``D`` the deepest B-frame reordering of any segment), so they increase
    strictly across joins; presentation timestamps are copied.
    """
    pts_lists: list[list[int]] = []
    for part in parts:
        pts_lists.append([int(p.pts) for p in _packets(part)])
    depth = max(_reorder_depth(p) for p in pts_lists)
    shown = [p for lst in pts_lists for p in sorted(lst)]
    if any(b <= a for a, b in zip(shown, shown[1:])):
        raise MediaError(f"{dst}: segment timestamps overlap; cannot stitch.")
    first_step = shown[1] - shown[0] if len(shown) > 1 else 1

    def dts(k: int) -> int:
        return shown[k - depth] if k >= depth else shown[0] - (depth - k) * first_step

    with open_input(parts[0]) as first:
        template = first.streams.video[0]
        extradata = template.codec_context.extradata
        with av.open(str(dst), "w", format=fmt, options=muxer_options) as out:
            vout = out.add_stream_from_template(template)
            aout = None
            audio_inp = open_input(audio) if audio is not None else None
            try:
                if audio_inp is not None:
                    aout = out.add_stream_from_template(audio_inp.streams.audio[0])
                video_iter = _video_packets(parts, extradata, dst)
                audio_iter = _audio_packets(audio_inp) if audio_inp is not None else iter(())
                k = 0
                v = next(video_iter, None)
                a = next(audio_iter, None)
                while v is not None or a is not None:
                    v_time = (dts(k) * v.time_base) if v is not None else None
                    a_time = (a.dts * a.time_base) if a is not None and a.dts is not None else None
                    if v is not None and (a is None or a_time is None or v_time <= a_time):
                        v.dts = dts(k)
                        v.stream = vout
                        out.mux(v)
                        k += 1
                        v = next(video_iter, None)
                    else:
                        a.stream = aout
                        out.mux(a)
                        a = next(audio_iter, None)
            finally:
                if audio_inp is not None:
                    audio_inp.close()
    return len(shown)


def _video_packets(parts: list[Path], extradata: bytes | None, dst: Path) -> Iterator[av.Packet]:
    for part in parts:
        with open_input(part) as inp:
            if inp.streams.video[0].codec_context.extradata != extradata:
                raise MediaError(f"{dst}: segment {part.name} was encoded with different codec headers; cannot stitch.")
            for packet in inp.demux(inp.streams.video[0]):
                if packet.size:
                    yield packet


def _audio_packets(inp: av.container.InputContainer) -> Iterator[av.Packet]:
    for packet in inp.demux(inp.streams.audio[0]):
        if packet.size:
            yield packet


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON under a temporary name, then rename (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
