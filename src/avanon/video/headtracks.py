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

from avanon.video.tracking import Box, iou


@dataclass
class HeadTrack:
    """One person's head over time; ``state`` belongs to the filter that owns the tracks."""

    ident: int
    box: Box
    first: int
    last: int
    state: dict[str, Any] = field(default_factory=dict)


def _centre_distance(a: Box, b: Box) -> float:
    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1]))


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
        pairs = []
        for b, box in enumerate(boxes):
            for t, track in enumerate(self.tracks):
                overlap = iou(box, track.box)
                size = max(box[2] - box[0], box[3] - box[1], 1.0)
                close = _centre_distance(box, track.box) < 0.5 * size
                if overlap >= self.match_iou or close:
                    pairs.append((overlap + (1e-3 if close else 0.0), b, t))
        assigned: dict[int, HeadTrack] = {}
        used: set[int] = set()
        for _, b, t in sorted(pairs, reverse=True):
            if b in assigned or t in used:
                continue
            assigned[b] = self.tracks[t]
            used.add(t)
        for b, box in enumerate(boxes):
            track = assigned.get(b)
            if track is None:
                track = HeadTrack(self.started, box, index, index)
                self.started += 1
                self.tracks.append(track)
                assigned[b] = track
            track.box, track.last = box, index
        self.tracks = [t for t in self.tracks if index - t.last <= self.max_age]
        return [assigned[b] for b in range(len(boxes))]
