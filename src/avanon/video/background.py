"""Background: keep the people, replace everything else (rooms, walls, photos, name tags).

MediaPipe selfie segmentation gives a soft person mask for the whole frame (every person in view,
not one). The mask is thresholded, grown by ``grow`` of the frame height so hands and hair at the
edge of a person are kept, and feathered; the rest of the frame is replaced by a solid colour, a
strong blur or a coarse pixelation of itself. Regions named in the recipe (``keep``: polygons in
fractions of the frame width and height, for example the toy table in a play session) are kept as
they are. The face boxes pass through unchanged: faces are still obfuscated afterwards.

Bodies (``bodies``): the segmentation misses limbs and whole small or distant people, and a body
painted black loses its keypoints (on the dev clips the joint's own pixel was painted on 36-66 % of
the scored joints). So the kept mask is the union of the person mask and a region around each
person's body pose: with ``bodies: box`` (the default), the box of the person's keypoints grown by
``body_width`` of its size on every side; with ``bodies: bones``, a band ``body_width`` torso sizes
wide along every bone of the skeleton, a disc on every joint, the torso's hull and a disc over the
head. Bones keep less background but cost the pose models most of what they gain: the landmark
model needs some context around a body, and the ragged edges of a black cut-out close to the limbs
pull its keypoints off (see ``benchmarks/results/video_background.md``).

People are found by a frame-wide pose search (:func:`find_people`: the most prominent person, painted
out, searched again) on every ``search_every``-th pose run and followed in between as in the skeleton
mode (:class:`avanon.video.body.PeopleTracker`: one MediaPipe pose tracker per person in video
mode), seeded from the people found and the person mask's regions, on the frame shrunk to the
working size. Pose costs about 25-40 ms per person, so it runs on every ``pose_every``-th frame and
the body regions are held in between, widened by ``pose_every`` / 10 of ``body_width`` so that a
moving person stays inside.

Speed: the frame is shrunk before segmentation and the mask is grown and feathered at no more than
360 pixels high; only the blend runs at the frame's size (about 30 fps for 1280 x 720 on 2 cores
without bodies; see ``benchmarks/results/video_background.md`` for the cost of bodies).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from avanon.detect import landmarks as lm
from avanon.detect.models import ModelFile
from avanon.errors import ParameterError
from avanon.registry import Interval, Kind, Options, Param, register
from avanon.video.filters import Box, VideoFilter

WORK_HEIGHT = 360  # pixels: height of the working copy of the person mask
BODY_VISIBILITY = 0.3  # landmark visibility from which a joint's region is kept (scoring uses 0.5)


def polygon_mask(polygons: tuple, width: int, height: int) -> np.ndarray:
    """A uint8 mask (255 inside) of polygons given as ``((x, y), ...)`` in fractions of the frame size."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly, float) * [width, height]).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask


def people_count(mask: np.ndarray, *, min_area: float = 0.002) -> int:
    """Connected person regions covering at least ``min_area`` of the frame in a uint8 mask."""
    small = cv2.resize(mask, (160, max(1, round(160 * mask.shape[0] / mask.shape[1]))), interpolation=cv2.INTER_AREA)
    n, _, stats, _ = cv2.connectedComponentsWithStats((small > 127).astype(np.uint8))
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_area * small.size).sum())


def torso_size(pose: np.ndarray, *, visibility: float = BODY_VISIBILITY) -> float | None:
    """Torso size [pixels] of a 33-point pose: mean of the shoulder-to-opposite-hip diagonals.

    Falls back to twice the shoulder width when the hips are not seen, and to a third of the
    keypoint box's longer side when neither is; None when fewer than 4 points are seen.
    """
    seen = pose[:, 2] >= visibility
    diagonals = [float(np.hypot(*(pose[a, :2] - pose[b, :2]))) for a, b in ((11, 24), (12, 23)) if seen[a] and seen[b]]
    if diagonals:
        return float(np.mean(diagonals))
    if seen[11] and seen[12]:
        return 2.0 * float(np.hypot(*(pose[11, :2] - pose[12, :2])))
    if seen.sum() < 4:
        return None
    extent = pose[seen, :2].max(axis=0) - pose[seen, :2].min(axis=0)
    return float(extent.max()) / 3.0


def draw_body(mask: np.ndarray, pose: np.ndarray, *, shape: str = "box", width: float = 0.3, visibility: float = BODY_VISIBILITY) -> None:
    """Paint one person's body region (255) into a uint8 ``mask`` in place.

    Parameters
    ----------
    mask : ndarray, shape (height, width), uint8
    pose : ndarray, shape (33, 3)
        ``x, y`` [pixels of ``mask``] and visibility of MediaPipe's 33 body points.
    shape : {"box", "bones"}
        ``box``: the box of the seen points grown by ``width`` of its width and height on every
        side; ``bones``: a band ``width`` torso sizes wide along each bone of
        :data:`avanon.video.body.LIMBS`, a disc of the same width on each joint, the hull of the
        shoulders and hips and a disc over the head points.
    width : float >= 0 [fractions of the box for ``box``, torso sizes for ``bones``]
    visibility : float in [0, 1]
        Points seen from this visibility on are used.
    """
    from avanon.video.body import HEAD, LIMBS  # body imports this module

    seen = pose[:, 2] >= visibility
    size = torso_size(pose, visibility=visibility)
    if size is None:
        return
    if shape == "box":
        pts = pose[seen, :2]
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        dx, dy = width * (x1 - x0), width * (y1 - y0)
        cv2.rectangle(mask, (int(np.floor(x0 - dx)), int(np.floor(y0 - dy))), (int(np.ceil(x1 + dx)), int(np.ceil(y1 + dy))), 255, -1)
        return
    thick = max(1, int(round(width * size)))
    pts = np.round(pose[:, :2]).astype(np.int32)
    for a, b in LIMBS:
        if seen[a] and seen[b]:
            cv2.line(mask, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), 255, thick)
    for k in np.flatnonzero(seen[11:]) + 11:
        cv2.circle(mask, tuple(int(v) for v in pts[k]), max(1, thick // 2), 255, -1)
    core = [k for k in (11, 12, 24, 23) if seen[k]]
    if len(core) >= 3:
        cv2.fillPoly(mask, [cv2.convexHull(pts[core])], 255)
    head = [k for k in HEAD if seen[k]]
    if head:
        centre = pose[head, :2].mean(axis=0)
        spread = float(np.max(np.linalg.norm(pose[head, :2] - centre, axis=1))) if len(head) > 1 else 0.0
        radius = max(1.5 * spread, 0.5 * thick, 0.25 * size)
        cv2.circle(mask, tuple(int(v) for v in np.round(centre)), int(round(radius)), 255, -1)


def find_people(image: np.ndarray, *, max_people: int = 6, visibility: float = BODY_VISIBILITY) -> list[np.ndarray]:
    """Poses (33, 3) of the people in a frame, searched frame-wide one after the other.

    MediaPipe's static pose finds the most prominent person; their keypoint box is painted black
    and the frame searched again, up to ``max_people`` times or until nobody is found. Finds people
    the person mask misses (small, distant, unusual postures) to seed the pose trackers with.
    """
    work = image[:, :, :3].copy()
    found: list[np.ndarray] = []
    for _ in range(max_people):
        pose = lm.pose_landmarks(work)
        if pose is None:
            break
        seen = pose[pose[:, 2] >= visibility, :2]
        if len(seen) < 4:
            break
        found.append(pose)
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        gx, gy = 0.1 * (x1 - x0) + 2, 0.1 * (y1 - y0) + 2
        work[max(0, int(y0 - gy)) : max(0, int(y1 + gy) + 1), max(0, int(x0 - gx)) : max(0, int(x1 + gx) + 1)] = 0
    return found


def search_region(pose: np.ndarray, *, width: int, height: int, grow: float = 0.6, visibility: float = BODY_VISIBILITY) -> Box:
    """The crop [pixels] a pose tracker follows a person found by :func:`find_people` in.

    The seen points' box grown by ``grow`` of its size on every side, clipped to the frame.
    """
    seen = pose[pose[:, 2] >= visibility, :2]
    (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
    gx, gy = grow * (x1 - x0) + 4, grow * (y1 - y0) + 4
    return (max(0.0, x0 - gx), max(0.0, y0 - gy), min(float(width), x1 + gx), min(float(height), y1 + gy))


def blend(front: np.ndarray, back: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``front * alpha + back * (1 - alpha)`` for uint8 images and a uint8 alpha (255 = front).

    Done in 8-bit arithmetic (at most one grey level of rounding; pixels where alpha is 255 or 0
    are copied exactly), several times faster than a float blend at 1280 x 720.
    """
    a3 = cv2.merge((alpha, alpha, alpha)) if front.ndim == 3 else alpha
    kept = cv2.multiply(front, a3, scale=1.0 / 255.0)
    rest = cv2.multiply(back, cv2.bitwise_not(a3), scale=1.0 / 255.0)
    return cv2.add(kept, rest)


def _check_polygons(polygons: tuple) -> None:
    for k, poly in enumerate(polygons):
        pts = np.asarray(poly, dtype=object)
        ok = pts.ndim == 2 and pts.shape[0] >= 3 and pts.shape[1] == 2
        if ok:
            try:
                values = pts.astype(float)
                ok = bool(np.all((values >= 0) & (values <= 1)))
            except (TypeError, ValueError):
                ok = False
        if not ok:
            raise ParameterError(
                f"The 'keep' parameter of Background must be a list of polygons, each a list of at least 3 "
                f"[x, y] points in fractions of the frame size in [0, 1]. Polygon {k} is {poly!r}."
            )


@register
class Background(VideoFilter):
    """Replace everything but the people (and the ``keep`` regions) by colour, blur or pixelation."""

    name = "background"
    params = {
        "mode": Param("colour", Options(("colour", "blur", "pixelate")), "what replaces the background"),
        "colour": Param(
            (0, 0, 0), Kind((tuple,), length=3), "RGB background colour for mode 'colour', 0-255 each (black: see avanon.video.body on flat fills)"
        ),
        "blur": Param(0.03, Interval(float, 0.005, 0.5), "Gaussian sigma for mode 'blur' [fraction of the frame width]"),
        "cells": Param(24, Interval(int, 2, 512), "blocks across the frame for mode 'pixelate'"),
        "threshold": Param(0.5, Interval(float, 0.01, 0.99), "person-mask probability kept as person"),
        "grow": Param(0.015, Interval(float, 0.0, 0.2), "mask dilation [fraction of the frame height]"),
        "feather": Param(0.005, Interval(float, 0.0, 0.1), "soft edge width [fraction of the frame height]"),
        "keep": Param((), Kind((tuple,)), "polygons kept as they are: [[[x, y], ...], ...] in fractions of width/height"),
        "model": Param("landscape", Options(("landscape", "general")), "selfie-segmentation model (landscape is faster)"),
        "bodies": Param(
            "box", Options(("none", "box", "bones")), "also keep each person's body found by pose: the keypoint box, bands along the bones, or nothing"
        ),
        "body_width": Param(
            0.3, Interval(float, 0.0, 2.0), "growth of the keypoint box on each side [fraction of its size]; for 'bones', width of the bands [torso sizes]"
        ),
        "search_every": Param(5, Interval(int, 0, 1000), "search the whole frame for people every n-th pose run (seeds the trackers; 0 = never)"),
        "pose_every": Param(3, Interval(int, 1, 30), "run pose on every n-th frame and hold the body regions in between [frames]"),
        "max_people": Param(6, Interval(int, 1, 32), "people followed by pose at once (about 25-40 ms per pose run each)"),
        "patience": Param(1.0, Interval(float, 0.0, 30.0), "time a person's pose tracker is kept without finding a pose [s]"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_polygons(self.keep)
        self._people: list[int] = []
        self._poses: list[int] = []
        self._kept: list[float] = []  # share of the frame kept as people (bodies included)
        self._cache: dict[str, Any] = {}
        self._fps = 25.0
        self._tracker: Any = None  # avanon.video.body.PeopleTracker, built on first use
        self._bodies: list[np.ndarray] = []  # poses [working pixels] of the last pose run
        self._pose_runs = 0

    def session(self, *, width: int, height: int, fps: float) -> "Background":
        fresh = Background(**self.get_params())
        fresh._fps = fps if fps and fps > 0 else 25.0
        return fresh

    def models(self) -> list[ModelFile]:
        return list(lm.SEGMENTATION_MODELS) + (list(lm.POSE_MODELS) if self.bodies != "none" else [])

    def _work_shape(self, height: int, width: int) -> tuple[int, int]:
        factor = min(1.0, WORK_HEIGHT / height)
        return max(1, round(height * factor)), max(1, round(width * factor))

    def _keep_polygons(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The ``keep`` polygons rasterised at ``shape`` (cached per size)."""
        if not self.keep:
            return None
        key = f"keep{shape}"
        if key not in self._cache:
            self._cache[key] = polygon_mask(self.keep, shape[1], shape[0])
        return self._cache[key]

    def body_poses(self, image: np.ndarray, people: np.ndarray, *, index: int) -> list[np.ndarray]:
        """The body poses [working pixels] kept on frame ``index``: a fresh pose run or the last one.

        ``image`` is the frame at the working size and ``people`` the thresholded person mask at
        that size. Pose trackers are seeded from the people a frame-wide search finds (on every
        ``search_every``-th pose run, :func:`find_people`) and from the person mask's regions. On
        search frames the people found are kept as well as those tracked. The face boxes are not
        used as seeds: most of them are false positives on bodies (see the module docstring).
        """
        from avanon.video.body import PeopleTracker, mask_regions  # body imports this module

        if index % self.pose_every and self._tracker is not None:
            return self._bodies
        if self._tracker is None:
            patience = int(round(self.patience * self._fps / self.pose_every))
            self._tracker = PeopleTracker(max_people=self.max_people, patience=patience)
        h, w = image.shape[:2]
        seeds: list[tuple[Box, Box | None]] = []
        searched: list[np.ndarray] = []
        if self.search_every and self._pose_runs % self.search_every == 0:
            searched = find_people(image, max_people=self.max_people)
            seeds += [(search_region(pose, width=w, height=h), None) for pose in searched]
        self._pose_runs += 1
        seeds += [(region, None) for region in mask_regions(people, width=w, height=h)]
        self._bodies = self._tracker.update(image, seeds, index) + searched
        return self._bodies

    def body_mask(self, poses: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
        """The uint8 region (255) of the bodies ``poses`` [working pixels] at ``shape``."""
        mask = np.zeros(shape, np.uint8)
        # held poses are a few frames old: widen the bands so that a moving person stays inside
        width = self.body_width * (1.0 + (self.pose_every - 1) / 10.0)
        for pose in poses:
            draw_body(mask, pose, shape=self.bodies, width=width)
        return mask

    def work_mask(self, image: np.ndarray, *, index: int = 0) -> np.ndarray:
        """The uint8 keep mask (255 = keep) at the working resolution: people, grown, bodies, ``keep``.

        The segmentation model sees at most 256 pixels per side, so thresholding, growing and
        feathering are done on a copy at most :data:`WORK_HEIGHT` pixels high and only the final
        weights are brought to the frame's size. Pose (``bodies``) runs on the frame shrunk to the
        same size; ``index`` is the frame number (pose runs on every ``pose_every``-th frame).
        """
        shape = self._work_shape(*image.shape[:2])
        soft = lm.person_mask(image, landscape=self.model == "landscape", shape=shape)
        mask = (soft >= self.threshold).astype(np.uint8) * 255
        if self.bodies != "none":
            small = image if shape == image.shape[:2] else cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
            poses = self.body_poses(small, mask, index=index)
            self._poses.append(len(poses))
        radius = int(round(self.grow * shape[0]))
        if radius > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            mask = cv2.dilate(mask, kernel)
        if self.bodies != "none":
            mask = np.maximum(mask, self.body_mask(poses, shape))
        self._people.append(people_count(mask))
        self._kept.append(float(np.count_nonzero(mask)) / mask.size)
        keep = self._keep_polygons(shape)
        if keep is not None:
            mask = np.maximum(mask, keep)
        return mask

    def person_mask(self, image: np.ndarray, *, index: int = 0) -> np.ndarray:
        """The uint8 keep mask (255 = keep) of one frame at the frame's size."""
        h, w = image.shape[:2]
        return cv2.resize(self.work_mask(image, index=index), (w, h), interpolation=cv2.INTER_NEAREST)

    def replacement(self, image: np.ndarray) -> np.ndarray:
        """The full-frame background that replaces what is not kept."""
        h, w = image.shape[:2]
        if self.mode == "colour":
            key = f"fill{image.shape}"
            if key not in self._cache:  # the same frame of colour for every frame of the file
                fill = np.empty_like(image)
                fill[:] = tuple(int(c) for c in self.colour)
                self._cache[key] = fill
            return self._cache[key]
        if self.mode == "pixelate":
            cw = min(self.cells, w)
            ch = max(1, min(h, round(cw * h / w)))
            small = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        factor = 8  # blur a small copy: same look, a fraction of the cost
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        sigma = max(0.5, self.blur * w / factor)
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h, w = image.shape[:2]
        mask = self.work_mask(image, index=index)
        back = self.replacement(image)
        soft = self.feather * mask.shape[0]
        if soft >= 0.5:
            alpha = cv2.GaussianBlur(mask, (0, 0), sigmaX=soft, sigmaY=soft)
            # never let feathering reveal background: only soften inwards from the kept edge
            alpha = np.minimum(alpha, mask)
        else:
            alpha = mask
        return blend(image, back, cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)), boxes

    def stats(self) -> dict[str, Any]:
        people = np.array(self._people or [0])
        out = {
            "frames": len(self._people),
            "people_per_frame_max": int(people.max()),
            "people_per_frame_mean": round(float(people.mean()), 3),
            "kept_share_mean": round(float(np.mean(self._kept or [0.0])), 4),
        }
        if self._poses:
            poses = np.array(self._poses)
            out.update(poses_per_frame_max=int(poses.max()), poses_per_frame_mean=round(float(poses.mean()), 3))
        return out

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
