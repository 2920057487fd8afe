"""Turn per-frame detections into per-frame mask boxes that never let a face through.

Detectors miss faces now and then (a profile, a blurred frame, a hand in front of the face) and the
stride detectors do not run on every frame. The tracker therefore:

- links detections over time into tracks (overlap or centre distance with the track's last box);
- fills gaps: a face seen at frame ``j`` and again at frame ``i`` (``i - j <= max_gap``) is masked on
  every frame in between, on a box interpolated between the two;
- adds margins: a new track is also masked on the ``margin`` frames before it was first seen, and a
  lost track on the ``margin`` frames after it was last seen, its box growing with every stale frame
  to follow motion;
- enlarges every box by ``expand`` of its size on each side, more upwards for hair and at most
  ``CHIN_MARGIN`` downwards (a head ends at the chin: the neck and shoulders that pose estimation
  needs stay visible);
- confirms candidates: a low-confidence detection that no second look verified
  (:mod:`avanon.detect.verify`) is masked only where it continues a confirmed face track (a profile
  turning away, a face going out of focus), or once detectors of two different kinds have hit the
  same place (two independent networks agree), or once a face detector has hit it clearly on two
  separate frames (its errors are independent from frame to frame); a candidate only the body-pose
  model keeps finding (clasped fists taken for a head) is never masked on its repeats alone;
- compensates camera motion: with the shift of the picture from one frame to the next
  (:class:`CameraMotion`, global phase correlation), tracks are kept in scene coordinates, so a face
  that stands still while a hand-held camera pans is matched, interpolated and given its margins
  where it is in each frame, not where it was when a strided detector last saw it.

Decisions about frame ``f`` are final once frame ``f + max(max_gap, margin)`` has been seen, so the
tracker holds only that many frames: memory is bounded by the window, not by the recording.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from avanon import registry
from avanon.detect.boxes import Box
from avanon.detect.boxes import box_iou as iou  # noqa: F401  (re-exported: video.body, video.consent and tests use it)
from avanon.detect.faces import SMALL_FACE
from avanon.errors import ParameterError

Shift = tuple[float, float]

_STALE_GROWTH = 0.04  # per stale frame, fraction of the box size added on each side
REPEAT_SCORE = 0.2  # a candidate scoring this much, hit again along its track on another frame, is confirmed
CHIN_MARGIN = 0.2  # [box heights] below a face box: the ellipse of the default expand (0.35) still holds the box corners (jaw); the neck stays
SMALL_REACH = 0.25  # [sizes per frame] how far a small candidate may move between two hits that confirm it
_CANDIDATE_RATIO = 1.6  # a candidate continues a track or another candidate only when their sizes differ less than this


@lru_cache(maxsize=64)
def repeats_confirm(source: str) -> bool:
    """Whether hits of detector ``source`` on separate frames are independent evidence (its ``repeats_confirm``).

    A face detector run afresh on each frame errs at random; a body-pose model that took clasped fists
    for a head lands on them frame after frame, so its repeats alone confirm nothing. Names that are
    not registered detectors count (fail closed).
    """
    try:
        cls = registry.get("detector", source)
    except ParameterError:  # not a registered detector: its repeats count
        return True
    return bool(getattr(cls, "repeats_confirm", True))


def small_box(box: Box, small: float = SMALL_FACE) -> bool:
    """Smaller than ``small`` [pixels, longer side], too small for a second look: a faint hit repeated along a track confirms it."""
    return max(box[2] - box[0], box[3] - box[1]) < small


def grow(box: Box, fraction: float, *, top_extra: float = 0.0, bottom: float | None = None) -> Box:
    """Enlarge a box by ``fraction`` of its width/height on each side (``top_extra`` more upwards; ``bottom`` downwards when given)."""
    w, h = box[2] - box[0], box[3] - box[1]
    down = fraction if bottom is None else bottom
    return (box[0] - fraction * w, box[1] - (fraction + top_extra) * h, box[2] + fraction * w, box[3] + down * h)


def move(box: Box, dx: float, dy: float) -> Box:
    """A box moved by ``(dx, dy)`` pixels."""
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


class CameraMotion:
    """The global shift of the picture from one frame to the next, by phase correlation.

    Frames are reduced to grey at about ``width`` pixels across (about 1 ms per 720p frame). A shift
    whose correlation peak is weaker than ``min_response`` (a cut, a flash, a frame filled by one
    moving person) counts as no shift, so the tracker falls back to still-camera behaviour; such a
    frame is flagged in :attr:`cut` (strided detectors then also run on it: a new shot's faces are
    seen on its first frame, not up to a stride later).

    Parameters
    ----------
    width : int > 0 [pixels]
        Width the frames are reduced to before correlating.
    min_response : float in [0, 1]
        Smallest phase-correlation peak accepted as a real camera shift.
    min_shift : float >= 0 [pixels of the frame]
        Shifts shorter than this count as none: a still camera's sub-pixel jitter (noise, compression)
        is not followed, and the camera-following tracker then agrees with the still one.
    """

    def __init__(self, *, width: int = 320, min_response: float = 0.2, min_shift: float = 0.5) -> None:
        self.width, self.min_response, self.min_shift = width, min_response, min_shift
        self._previous: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self.cut = False  # whether the last frame given to update() was unlike the one before

    def reduce(self, image: np.ndarray) -> np.ndarray:
        """The small grey picture of an RGB frame that shifts are measured on (float32)."""
        h, w = image.shape[:2]
        k = max(1, w // self.width)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(grey, (max(8, w // k), max(8, h // k)), interpolation=cv2.INTER_AREA).astype(np.float32)

    def compare(self, previous: np.ndarray | None, small: np.ndarray, width: int) -> tuple[Shift, bool]:
        """Shift [pixels of a frame ``width`` wide] from one reduced frame to the next, and whether it is a cut.

        No previous frame (the first frame of a file) is no shift and no cut.
        """
        if previous is None or previous.shape != small.shape:
            return (0.0, 0.0), False
        if self._window is None or self._window.shape != small.shape:
            self._window = cv2.createHanningWindow((small.shape[1], small.shape[0]), cv2.CV_32F)
        # phaseCorrelate multiplies its inputs by the window in place: give it copies, so a shift
        # depends on the two frames only (not on how often a reduced frame was compared before)
        (dx, dy), response = cv2.phaseCorrelate(previous.copy(), small.copy(), self._window)
        if not (response >= self.min_response and np.isfinite(dx) and np.isfinite(dy)):
            return (0.0, 0.0), True
        k = width / small.shape[1]  # pixels of the frame per pixel of the reduced picture
        if np.hypot(dx, dy) * k < self.min_shift:
            return (0.0, 0.0), False
        return (float(dx) * k, float(dy) * k), False

    def update(self, image: np.ndarray) -> Shift:
        """Shift ``(dx, dy)`` [pixels of ``image``] of this RGB frame's content from the previous frame's."""
        small = self.reduce(image)
        shift, self.cut = self.compare(self._previous, small, image.shape[1])
        self._previous = small
        return shift


def merge_overlapping(boxes: Iterable[Box], threshold: float = 0.3) -> list[Box]:
    """Merge boxes that overlap by more than ``threshold`` IoU into their union (several detectors, one face)."""
    ordered = sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    if len(ordered) < 2:
        return list(ordered)
    # The greedy order of the scalar version (each box joins the first merged box it overlaps), with
    # the overlaps of one box against all merged boxes computed at once: the same arithmetic, in the
    # same order, so the results are bit-identical to :func:`iou` (a crowd gives 100+ boxes a frame).
    merged = np.empty((len(ordered), 4))
    count = 0
    for box in ordered:
        if count:
            m = merged[:count]
            ix = np.maximum(0.0, np.minimum(box[2], m[:, 2]) - np.maximum(box[0], m[:, 0]))
            iy = np.maximum(0.0, np.minimum(box[3], m[:, 3]) - np.maximum(box[1], m[:, 1]))
            inter = ix * iy
            union = (box[2] - box[0]) * (box[3] - box[1]) + (m[:, 2] - m[:, 0]) * (m[:, 3] - m[:, 1]) - inter
            over = np.flatnonzero(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0) > threshold)
            if over.size:
                k = int(over[0])
                other = merged[k]
                merged[k] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                continue
        merged[count] = box
        count += 1
    return [tuple(float(v) for v in row) for row in merged[:count]]  # type: ignore[misc]


def _match_scores(boxes: list[Box], tracks: list[Box], match_iou: float, *, max_ratio: float = np.inf, reach: Any = 0.6) -> np.ndarray:
    """``iou + 0.001`` for every (box, track) pair that may continue the track, else -1 (vectorised).

    ``max_ratio`` bounds the ratio of the two boxes' sizes (candidates must look like the face they continue);
    centres closer than ``reach`` sizes match too (a number, or one per track).
    """
    if not boxes or not tracks:
        return np.full((len(boxes), len(tracks)), -1.0)
    b = np.asarray(boxes, dtype=float)[:, None, :]
    t = np.asarray(tracks, dtype=float)[None, :, :]
    ix = np.maximum(0.0, np.minimum(b[..., 2], t[..., 2]) - np.maximum(b[..., 0], t[..., 0]))
    iy = np.maximum(0.0, np.minimum(b[..., 3], t[..., 3]) - np.maximum(b[..., 1], t[..., 1]))
    inter = ix * iy
    union = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) + (t[..., 2] - t[..., 0]) * (t[..., 3] - t[..., 1]) - inter
    overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    size = np.maximum(np.maximum(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]), np.maximum(t[..., 2] - t[..., 0], t[..., 3] - t[..., 1]))
    dist = np.hypot((b[..., 0] + b[..., 2]) / 2 - (t[..., 0] + t[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2 - (t[..., 1] + t[..., 3]) / 2)
    eligible = (overlap >= match_iou) | (dist < np.asarray(reach, dtype=float) * size)  # one reach per track broadcasts along rows
    if np.isfinite(max_ratio):
        small = np.minimum(np.maximum(b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]), np.maximum(t[..., 2] - t[..., 0], t[..., 3] - t[..., 1]))
        eligible &= size <= max_ratio * np.maximum(small, 1e-9)
    return np.where(eligible, overlap + 1e-3, -1.0)


def _trailing_boxes(boxes: list[Box], stale: list[int], offset: Shift) -> list[Box]:
    """``move(grow(box, _STALE_GROWTH * stale), *offset)`` for every lost track at once (bit-identical)."""
    if not boxes:
        return []
    b = np.asarray(boxes, dtype=float)
    fraction = _STALE_GROWTH * np.asarray(stale, dtype=float)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    grown = (b[:, 0] - fraction * w + offset[0], b[:, 1] - fraction * h + offset[1], b[:, 2] + fraction * w + offset[0], b[:, 3] + fraction * h + offset[1])
    return list(zip(*(c.tolist() for c in grown)))


@dataclass
class _Track:
    ident: int
    first: int
    last: int
    box: Box


@dataclass
class _Candidate:
    """Hits of unverified detections at one place, not yet masked (see the module docstring)."""

    last: int
    box: Box  # scene coordinates
    sources: set[str]
    hits: list[tuple[int, Box, Box]]  # frame, scene box, frame box
    strong: int = 0  # hits scoring at least REPEAT_SCORE

    def confirmed(self) -> bool:
        """Two kinds of detector agree, or one kept finding it, clearly, on separate frames."""
        frames = {f for f, _, _ in self.hits}
        return len(self.sources) >= 2 or (self.strong >= 2 and len(frames) >= 2)


@dataclass
class TrackedFrame:
    """A frame whose mask decision is final."""

    index: int
    payload: Any
    boxes: list[Box] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    offset: Shift = (0.0, 0.0)  # camera position: where the scene origin lies in this frame [pixels]
    trailing: list[tuple[int, Box]] = field(default_factory=list, repr=False)  # (track, grown box) while the track is unseen


class FaceTracker:
    """Streaming tracker with gap filling and margins; see the module docstring."""

    def __init__(self, *, width: int, height: int, max_gap: int = 12, margin: int = 8, expand: float = 0.4, match_iou: float = 0.1,
                 small: float = SMALL_FACE):  # fmt: skip
        self.width, self.height = width, height
        self.max_gap, self.margin, self.expand, self.match_iou = max_gap, margin, expand, match_iou
        self.small = small  # [pixels] the detectors' size below which a candidate had no second look
        self.window = max(max_gap, margin)
        self._pending: deque[TrackedFrame] = deque()
        self._tracks: list[_Track] = []
        self._waiting: list[_Candidate] = []
        self._seen: dict[int, int] = {}  # track -> last frame it was seen on (kept while frames it may cover are held)
        self._next_id = 0
        self.track_count = 0
        self._offset: Shift = (0.0, 0.0)

    def _frame(self, index: int) -> TrackedFrame | None:
        if not self._pending:
            return None
        k = index - self._pending[0].index
        return self._pending[k] if 0 <= k < len(self._pending) else None

    def _add(self, index: int, scene_box: Box) -> None:
        frame = self._frame(index)
        if frame is not None:
            frame.boxes.append(move(scene_box, *frame.offset))

    def push(
        self,
        index: int,
        payload: Any,
        detections: list[tuple[Box, str]],
        shift: Shift = (0.0, 0.0),
        *,
        merged: list[Box] | None = None,
        candidates: Sequence[tuple[Box, str]] = (),
    ) -> list[TrackedFrame]:
        """Add frame ``index`` (consecutive) with its detections; return the frames now final.

        ``shift`` is how far the picture moved since the previous frame [pixels] (see
        :class:`CameraMotion`); tracks are matched and interpolated in scene coordinates. ``merged``
        is ``merge_overlapping`` of the detections' boxes when the caller has it already.
        ``candidates`` are unverified detections ``(box, source[, score])``: masked only where they
        continue a track or once evidence gathers in time (module docstring).
        """
        if self._pending and index != self._pending[-1].index + 1:
            raise ValueError(f"frames must be pushed in order: got {index} after {self._pending[-1].index}")
        previous = self._pending[-1].offset if self._pending else self._offset
        offset = (previous[0] + shift[0], previous[1] + shift[1])
        self._offset = offset
        frame = TrackedFrame(index, payload, offset=offset)
        for _, source in detections:
            frame.sources[source] = frame.sources.get(source, 0) + 1
        self._pending.append(frame)
        seen = merge_overlapping(b for b, _ in detections) if merged is None else merged  # frame coordinates
        boxes = [move(b, -offset[0], -offset[1]) for b in seen]  # scene coordinates
        existing = list(self._tracks)
        scores = _match_scores(boxes, [t.box for t in existing], self.match_iou)
        taken = np.zeros(len(existing), dtype=bool)
        matched: set[int] = set()
        for i, box in enumerate(boxes):
            best = None
            if existing:  # the best-overlapping track not yet taken in this frame (first one on ties)
                row = np.where(taken, -1.0, scores[i])
                j = int(np.argmax(row))
                if row[j] > 0:
                    best, taken[j] = existing[j], True
            if best is None:
                best = _Track(self._next_id, index, index, box)
                self._next_id += 1
                self.track_count += 1
                self._tracks.append(best)
                for f in range(index - self.margin, index):  # leading margin
                    self._add(f, box)
            self._continue(best, index, box)
            matched.add(best.ident)
            frame.boxes.append(seen[i])  # as detected (not moved there and back: bit-identical to a still tracker's)
        if candidates:
            self._candidates_in(index, frame, candidates, offset, matched)
        trailing = [t for t in self._tracks if t.ident not in matched and 0 < index - t.last <= self.margin]
        frame.trailing = list(zip((t.ident for t in trailing), _trailing_boxes([t.box for t in trailing], [index - t.last for t in trailing], offset)))
        self._tracks = [t for t in self._tracks if index - t.last <= self.window]
        if len(self._seen) > 4 * len(self._tracks) + 64:  # forget tracks whose frames have all been emitted
            self._seen = {k: v for k, v in self._seen.items() if index - v <= 2 * self.window + self.margin}
        self._waiting = [c for c in self._waiting if index - c.last <= self.window]
        return self._emit(index - self.window)

    def _continue(self, track: _Track, index: int, box: Box) -> None:
        """Extend ``track`` to ``box`` at frame ``index``, filling a gap on interpolated boxes."""
        self._seen[track.ident] = index
        if track.last < index - 1:
            gap = index - track.last
            for f in range(track.last + 1, index):
                t = (f - track.last) / gap
                self._add(f, tuple(float(a + (b - a) * t) for a, b in zip(track.box, box)))  # type: ignore[arg-type]
        track.last, track.box = index, box

    def _candidates_in(self, index: int, frame: TrackedFrame, candidates: Sequence[tuple[Box, str]], offset: Shift, matched: set[int]) -> None:
        """Candidates that continue a confirmed track extend it; the others wait for a second kind of detector."""
        for box_f, source, *score in candidates:
            tiny = small_box(box_f, self.small)
            strong = int(bool(score) and (score[0] >= REPEAT_SCORE or tiny) and repeats_confirm(source))
            key = f"{source}:candidate"
            frame.sources[key] = frame.sources.get(key, 0) + 1
            box = move(box_f, -offset[0], -offset[1])
            scores = _match_scores([box], [t.box for t in self._tracks], self.match_iou, max_ratio=_CANDIDATE_RATIO)
            if self._tracks and scores.max() > 0:
                track = self._tracks[int(np.argmax(scores[0]))]
                if track.ident not in matched:  # else a second box of a face already masked in this frame
                    self._continue(track, index, box)
                    matched.add(track.ident)
                    frame.boxes.append(box_f)
                continue
            # a small face moves several of its sizes between the runs of a strided detector
            reach = [max(0.6, SMALL_REACH * (index - c.last)) if tiny else 0.6 for c in self._waiting]
            scores = _match_scores([box], [c.box for c in self._waiting], self.match_iou, max_ratio=_CANDIDATE_RATIO, reach=reach)
            if self._waiting and scores.max() > 0:
                waiting = self._waiting[int(np.argmax(scores[0]))]
                waiting.last, waiting.box = index, box
                waiting.sources.add(source)
                waiting.hits.append((index, box, box_f))
                waiting.strong += strong
                if waiting.confirmed():
                    self._confirm(waiting, frame, matched)
            else:
                self._waiting.append(_Candidate(index, box, {source}, [(index, box, box_f)], strong))

    def _confirm(self, waiting: _Candidate, frame: TrackedFrame, matched: set[int]) -> None:
        """Second evidence in time: the candidate becomes a track, masked back to its first hit."""
        self._waiting.remove(waiting)
        first_index, first_box, _ = waiting.hits[0]
        track = _Track(self._next_id, first_index, first_index, first_box)
        self._seen[track.ident] = first_index
        self._next_id += 1
        self.track_count += 1
        self._tracks.append(track)
        for f in range(first_index - self.margin, first_index):  # leading margin
            self._add(f, first_box)
        for f, box, box_f in waiting.hits:
            if f > track.last:
                self._continue(track, f, box)  # gap filling between the hits
            if f == frame.index:
                frame.boxes.append(box_f)
            else:
                self._add(f, box)
        matched.add(track.ident)

    def _emit(self, upto: int) -> list[TrackedFrame]:
        out = []
        while self._pending and self._pending[0].index <= upto:
            frame = self._pending.popleft()
            # a stale track's grown box only where the track was not seen again later: where it was, the
            # frame has the box interpolated between the two sightings (margins grow only at a track's end)
            frame.boxes += [box for ident, box in frame.trailing if self._seen.get(ident, -1) < frame.index]
            frame.trailing = []
            frame.boxes = self._final_all(frame.boxes)
            out.append(frame)
        return out

    def _final_all(self, boxes: list[Box]) -> list[Box]:
        """Every box as masked, head-shaped: ``expand`` of its size on each side, a quarter more for the
        hair above, at most ``CHIN_MARGIN`` below the chin; clipped to the frame, without the empty
        ones (all boxes at once; a crowd gives hundreds a frame)."""
        if not boxes:
            return []
        b = np.asarray(boxes, dtype=float)
        f, top = self.expand, self.expand + self.expand * 0.25
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        x0 = np.maximum(0.0, b[:, 0] - f * w)
        y0 = np.maximum(0.0, b[:, 1] - top * h)
        x1 = np.minimum(float(self.width), b[:, 2] + f * w)
        y1 = np.minimum(float(self.height), b[:, 3] + min(f, CHIN_MARGIN) * h)
        keep = (x1 > x0) & (y1 > y0)
        return list(zip(x0[keep].tolist(), y0[keep].tolist(), x1[keep].tolist(), y1[keep].tolist()))

    def flush(self) -> list[TrackedFrame]:
        """Return every remaining frame (end of the recording)."""
        if not self._pending:
            return []
        return self._emit(self._pending[-1].index)


class CameraTracker:
    """Two :class:`FaceTracker` over the same detections, one for a still camera and one following the
    camera's motion; every frame gets the boxes of both.

    Following the camera keeps a still face masked where it is while a hand-held camera pans between
    the runs of a strided detector; keeping the still-camera boxes as well means that a wrong motion
    estimate (a cut, one large moving person) can only add masked area, never remove any.
    Parameters are those of :class:`FaceTracker`.
    """

    def __init__(self, **params: Any) -> None:
        self.still = FaceTracker(**params)
        self.moving = FaceTracker(**params)

    @property
    def track_count(self) -> int:
        return self.still.track_count

    def push(
        self, index: int, payload: Any, detections: list[tuple[Box, str]], shift: Shift = (0.0, 0.0), *, candidates: Sequence[tuple[Box, str]] = ()
    ) -> list[TrackedFrame]:
        """Add frame ``index`` with its detections, unverified candidates and the camera shift since the previous frame [pixels]."""
        merged = merge_overlapping(b for b, _ in detections)  # the same for both trackers
        return self._union(
            self.still.push(index, payload, detections, merged=merged, candidates=candidates),
            self.moving.push(index, None, detections, shift, merged=merged, candidates=candidates),
        )

    def flush(self) -> list[TrackedFrame]:
        """Every remaining frame (end of the recording)."""
        return self._union(self.still.flush(), self.moving.flush())

    @staticmethod
    def _union(still: list[TrackedFrame], moving: list[TrackedFrame]) -> list[TrackedFrame]:
        if [f.index for f in still] != [f.index for f in moving]:  # pragma: no cover - same window, same pushes
            raise RuntimeError("face trackers out of step")
        for frame, other in zip(still, moving):
            have = set(frame.boxes)
            frame.boxes += [b for b in other.boxes if b not in have]
        return still
