"""Turn per-frame detections into per-frame mask boxes that never let a face through.

Detectors miss faces now and then (a profile, a blurred frame, a hand in front of the face) and the
stride detectors do not run on every frame. The tracker therefore:

- links detections over time into tracks (overlap or centre distance with the track's last box);
- fills gaps: a face seen at frame ``j`` and again at frame ``i`` (``i - j <= max_gap``) is masked on
  every frame in between, on a box interpolated between the two;
- adds margins: a new track is also masked on the ``margin`` frames before it was first seen, and a
  lost track on the ``margin`` frames after it was last seen, its box growing with every stale frame
  to follow motion;
- enlarges every box by ``expand`` of its size on each side (more upwards) to cover hair and ears.

Decisions about frame ``f`` are final once frame ``f + max(max_gap, margin)`` has been seen, so the
tracker holds only that many frames: memory is bounded by the window, not by the recording.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

Box = tuple[float, float, float, float]

_STALE_GROWTH = 0.04  # per stale frame, fraction of the box size added on each side


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def grow(box: Box, fraction: float, *, top_extra: float = 0.0) -> Box:
    """Enlarge a box by ``fraction`` of its width/height on each side (``top_extra`` more upwards)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - fraction * w, box[1] - (fraction + top_extra) * h, box[2] + fraction * w, box[3] + fraction * h)


def merge_overlapping(boxes: Iterable[Box], threshold: float = 0.3) -> list[Box]:
    """Merge boxes that overlap by more than ``threshold`` IoU into their union (several detectors, one face)."""
    merged: list[Box] = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        for k, other in enumerate(merged):
            if iou(box, other) > threshold:
                merged[k] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                break
        else:
            merged.append(box)
    return merged


def _match_scores(boxes: list[Box], tracks: list[Box], match_iou: float) -> np.ndarray:
    """``iou + 0.001`` for every (box, track) pair that may continue the track, else -1 (vectorised)."""
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
    eligible = (overlap >= match_iou) | (dist < 0.6 * size)
    return np.where(eligible, overlap + 1e-3, -1.0)


@dataclass
class _Track:
    ident: int
    first: int
    last: int
    box: Box


@dataclass
class TrackedFrame:
    """A frame whose mask decision is final."""

    index: int
    payload: Any
    boxes: list[Box] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)


class FaceTracker:
    """Streaming tracker with gap filling and margins; see the module docstring."""

    def __init__(self, *, width: int, height: int, max_gap: int = 12, margin: int = 8, expand: float = 0.4, match_iou: float = 0.1):
        self.width, self.height = width, height
        self.max_gap, self.margin, self.expand, self.match_iou = max_gap, margin, expand, match_iou
        self.window = max(max_gap, margin)
        self._pending: deque[TrackedFrame] = deque()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self.track_count = 0

    def _frame(self, index: int) -> TrackedFrame | None:
        if not self._pending:
            return None
        k = index - self._pending[0].index
        return self._pending[k] if 0 <= k < len(self._pending) else None

    def _add(self, index: int, box: Box) -> None:
        frame = self._frame(index)
        if frame is not None:
            frame.boxes.append(box)

    def push(self, index: int, payload: Any, detections: list[tuple[Box, str]]) -> list[TrackedFrame]:
        """Add frame ``index`` (consecutive) with its detections; return the frames now final."""
        if self._pending and index != self._pending[-1].index + 1:
            raise ValueError(f"frames must be pushed in order: got {index} after {self._pending[-1].index}")
        frame = TrackedFrame(index, payload)
        for _, source in detections:
            frame.sources[source] = frame.sources.get(source, 0) + 1
        self._pending.append(frame)
        boxes = merge_overlapping(b for b, _ in detections)
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
            elif best.last < index - 1:  # gap filling on an interpolated box
                gap = index - best.last
                for f in range(best.last + 1, index):
                    t = (f - best.last) / gap
                    self._add(f, tuple(float(a + (b - a) * t) for a, b in zip(best.box, box)))  # type: ignore[arg-type]
            best.last, best.box = index, box
            matched.add(best.ident)
            frame.boxes.append(box)
        alive = []
        for t in self._tracks:
            stale = index - t.last
            if t.ident not in matched and 0 < stale <= self.margin:  # trailing margin, growing
                frame.boxes.append(grow(t.box, _STALE_GROWTH * stale))
            if stale <= self.window:
                alive.append(t)
        self._tracks = alive
        return self._emit(index - self.window)

    def _emit(self, upto: int) -> list[TrackedFrame]:
        out = []
        while self._pending and self._pending[0].index <= upto:
            frame = self._pending.popleft()
            frame.boxes = [self._final(b) for b in frame.boxes]
            frame.boxes = [b for b in frame.boxes if b[2] > b[0] and b[3] > b[1]]
            out.append(frame)
        return out

    def _final(self, box: Box) -> Box:
        x0, y0, x1, y1 = grow(box, self.expand, top_extra=self.expand * 0.25)
        return (max(0.0, x0), max(0.0, y0), min(float(self.width), x1), min(float(self.height), y1))

    def flush(self) -> list[TrackedFrame]:
        """Return every remaining frame (end of the recording)."""
        if not self._pending:
            return []
        return self._emit(self._pending[-1].index)
