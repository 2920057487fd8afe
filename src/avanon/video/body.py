"""Body replacement, the strongest video level: each person becomes a skeleton or a silhouette.

The whole frame is redrawn on a neutral background; no pixel of the original survives, so the face
boxes are handed back empty (there is no face left to obfuscate).

``skeleton``
    MediaPipe pose (33 points) is run on one crop per person and the limbs are drawn as lines, the
    head as a disc around the face points. The legacy pose model follows one person per image, so
    person crops come from the head boxes the tracker found (a body-sized region below each head)
    and from the connected regions of the person mask, then overlapping crops are merged.
``silhouette``
    The person mask (selfie segmentation), thresholded and lightly smoothed, filled with one colour.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from avanon.detect import landmarks as lm
from avanon.detect.models import ModelFile
from avanon.registry import Interval, Kind, Options, Param, register
from avanon.video.background import people_count
from avanon.video.filters import Box, VideoFilter
from avanon.video.tracking import iou

# Limbs of MediaPipe's 33-point body model (face points are drawn as a head disc instead).
LIMBS = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25), (24, 26),
    (25, 27), (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32), (15, 17), (15, 19),
    (15, 21), (17, 19), (16, 18), (16, 20), (16, 22), (18, 20),
)
HEAD = tuple(range(11))


def body_regions(boxes: list[Box], mask: np.ndarray | None, *, width: int, height: int) -> list[Box]:
    """Person crops for pose: a body region below each head box plus each person-mask region.

    Parameters
    ----------
    boxes : list of (x0, y0, x1, y1) [pixels]
        Head boxes (the tracker's enlarged face boxes).
    mask : ndarray of uint8, shape (height, width), or None
        Person mask (255 = person).
    """
    regions: list[Box] = []
    for x0, y0, x1, y1 in boxes:
        w, h = x1 - x0, y1 - y0
        cx = (x0 + x1) / 2
        regions.append((max(0.0, cx - 2.0 * w), max(0.0, y0 - 0.3 * h), min(float(width), cx + 2.0 * w), min(float(height), y0 + 7.5 * h)))
    if mask is not None:
        n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8))
        for x, y, w, h, area in stats[1:]:
            if area < 0.002 * mask.size:
                continue
            regions.append((max(0.0, x - 0.1 * w), max(0.0, y - 0.1 * h), min(float(width), x + 1.1 * w), min(float(height), y + 1.1 * h)))
    merged: list[Box] = []
    for box in sorted(regions, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if any(iou(box, other) > 0.5 for other in merged):
            continue
        merged.append(box)
    return merged


def people_poses(image: np.ndarray, boxes: list[Box], mask: np.ndarray | None, *, visibility: float = 0.5) -> list[np.ndarray]:
    """One (33, 3) pose (x, y [pixels], visibility) per person found in the frame, duplicates removed."""
    h, w = image.shape[:2]
    regions = body_regions(boxes, mask, width=w, height=h) or [(0.0, 0.0, float(w), float(h))]
    poses: list[np.ndarray] = []
    for region in regions:
        pose = lm.pose_landmarks(image, region, pad=0.05)
        if pose is None:
            continue
        extent = lm.torso_box(pose, visibility=visibility)
        if extent is None:
            continue
        if any((other := lm.torso_box(p, visibility=visibility)) is not None and iou(extent, other) > 0.5 for p in poses):
            continue  # the same person found from two crops
        poses.append(pose)
    return poses


def draw_skeleton(canvas: np.ndarray, pose: np.ndarray, *, colour: tuple[int, int, int], thickness: int, visibility: float) -> None:
    """Draw one 33-point pose onto ``canvas`` in place (limbs as lines, head as a disc)."""
    seen = pose[:, 2] >= visibility
    pts = np.round(pose[:, :2]).astype(np.int32)
    for a, b in LIMBS:
        if seen[a] and seen[b]:
            cv2.line(canvas, tuple(pts[a]), tuple(pts[b]), colour, thickness, cv2.LINE_AA)
    for k in range(11, 33):
        if seen[k]:
            cv2.circle(canvas, tuple(pts[k]), max(1, thickness), colour, -1, cv2.LINE_AA)
    head = [k for k in HEAD if seen[k]]
    if len(head) >= 2:
        centre = pose[head, :2].mean(axis=0)
        radius = max(float(np.max(np.linalg.norm(pose[head, :2] - centre, axis=1))) * 1.3, thickness * 2.0)
        cv2.circle(canvas, tuple(int(v) for v in np.round(centre)), int(round(radius)), colour, thickness, cv2.LINE_AA)
        nose = tuple(int(v) for v in np.round(pose[0, :2]))
        if seen[0]:
            cv2.circle(canvas, nose, max(1, thickness), colour, -1, cv2.LINE_AA)


class _BodyFilter(VideoFilter):
    """Shared parts of the two body modes (per-frame people counts)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._people: list[int] = []

    def stats(self) -> dict[str, Any]:
        people = np.array(self._people or [0])
        return {"frames": len(self._people), "people_per_frame_max": int(people.max()), "people_per_frame_mean": round(float(people.mean()), 3)}


@register
class Skeleton(_BodyFilter):
    """Each person drawn as a pose skeleton on a neutral background (see module docstring)."""

    name = "skeleton"
    params = {
        "background": Param((128, 128, 128), Kind((tuple,), length=3), "RGB background colour, 0-255 each"),
        "colour": Param((255, 255, 255), Kind((tuple,), length=3), "RGB line colour, 0-255 each"),
        "thickness": Param(0.006, Interval(float, 0.001, 0.05), "line width [fraction of the frame height]"),
        "visibility": Param(0.5, Interval(float, 0.0, 1.0), "minimum landmark visibility to draw a point"),
    }

    def session(self, *, width: int, height: int, fps: float) -> "Skeleton":
        return Skeleton(**self.get_params())

    def models(self) -> list[ModelFile]:
        return list(lm.POSE_MODELS) + list(lm.SEGMENTATION_MODELS)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h = image.shape[0]
        mask = (lm.person_mask(image) >= 0.5).astype(np.uint8) * 255
        poses = people_poses(image, boxes, mask, visibility=self.visibility)
        canvas = np.empty_like(image)
        canvas[:] = tuple(int(c) for c in self.background)
        thickness = max(1, int(round(self.thickness * h)))
        for pose in poses:
            draw_skeleton(canvas, pose, colour=tuple(int(c) for c in self.colour), thickness=thickness, visibility=self.visibility)
        self._people.append(len(poses))
        return canvas, []


@register
class Silhouette(_BodyFilter):
    """Each person drawn as a flat silhouette on a neutral background (see module docstring)."""

    name = "silhouette"
    params = {
        "background": Param((128, 128, 128), Kind((tuple,), length=3), "RGB background colour, 0-255 each"),
        "colour": Param((40, 40, 40), Kind((tuple,), length=3), "RGB silhouette colour, 0-255 each"),
        "threshold": Param(0.5, Interval(float, 0.01, 0.99), "person-mask probability drawn as person"),
        "smooth": Param(0.004, Interval(float, 0.0, 0.05), "edge smoothing [fraction of the frame height]"),
        "model": Param("landscape", Options(("landscape", "general")), "selfie-segmentation model"),
    }

    def session(self, *, width: int, height: int, fps: float) -> "Silhouette":
        return Silhouette(**self.get_params())

    def models(self) -> list[ModelFile]:
        return list(lm.SEGMENTATION_MODELS)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h = image.shape[0]
        soft = lm.person_mask(image, landscape=self.model == "landscape")
        sigma = self.smooth * h
        if sigma > 0:
            soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma, sigmaY=sigma)
        mask = (soft >= self.threshold).astype(np.uint8) * 255
        canvas = np.empty_like(image)
        canvas[:] = tuple(int(c) for c in self.background)
        canvas[mask > 0] = tuple(int(c) for c in self.colour)
        self._people.append(people_count(mask))
        return canvas, []
