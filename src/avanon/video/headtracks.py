"""Follow head boxes from frame to frame inside a video filter.

Filters receive each frame's face boxes without identities. Filters that keep state per person
(landmark smoothing in the face mesh, identity decisions for consent) link the boxes of consecutive
frames here: a box continues the track whose last box overlaps it most (IoU at least ``match_iou``,
or centres closer than half the box size); unmatched boxes start new tracks; tracks unseen for more
than ``max_age`` frames are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avanon.video.tracking import Box


@dataclass
class HeadTrack:
    """One person's head over time; ``state`` belongs to the filter that owns the tracks."""

    ident: int
    box: Box
    first: int
    last: int
    state: dict[str, Any] = field(default_factory=dict)


class HeadTracks:
    """Greedy IoU association of head boxes across frames (see module docstring).

    Parameters
    ----------
    match_iou : float in [0, 1]
        Overlap with a track's last box needed to continue it.
    max_age : int >= 0 [frames]
        Frames a track is kept without a matching box.
    """

    def __init__(self, *, match_iou: float = 0.2, max_age: int = 15) -> None:
        self.match_iou = match_iou
        self.max_age = max_age
        self.tracks: list[HeadTrack] = []
        self.started = 0

    def update(self, boxes: list[Box], index: int) -> list[HeadTrack]:
        """Assign frame ``index``'s boxes to tracks; returns one track per box, in box order."""
        pairs: list[tuple[float, int, int]] = []
        if boxes and self.tracks:
            a = np.asarray(boxes, dtype=np.float64)[:, None, :]  # (boxes, 1, 4)
            b = np.asarray([t.box for t in self.tracks], dtype=np.float64)[None, :, :]  # (1, tracks, 4)
            iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
            ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
            inter = iw * ih
            area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
            area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
            union = area_a + area_b - inter
            overlap = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
            dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2
            dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2
            size = np.maximum(np.maximum(a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]), 1.0)
            close = np.hypot(dx, dy) < 0.5 * size
            score = overlap + np.where(close, 1e-3, 0.0)
            for bi, ti in zip(*np.nonzero((overlap >= self.match_iou) | close)):
                pairs.append((float(score[bi, ti]), int(bi), int(ti)))
        assigned: dict[int, HeadTrack] = {}
        used: set[int] = set()
        for _, bi, ti in sorted(pairs, reverse=True):
            if bi in assigned or ti in used:
                continue
            assigned[bi] = self.tracks[ti]
            used.add(ti)
        for bi, box in enumerate(boxes):
            track = assigned.get(bi)
            if track is None:
                track = HeadTrack(self.started, box, index, index)
                self.started += 1
                self.tracks.append(track)
                assigned[bi] = track
            track.box, track.last = box, index
        self.tracks = [t for t in self.tracks if index - t.last <= self.max_age]
        return [assigned[bi] for bi in range(len(boxes))]
