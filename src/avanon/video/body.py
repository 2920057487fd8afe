"""Body replacement, the strongest video level: each person becomes a skeleton or a silhouette.

The whole frame is redrawn on a neutral background; no pixel of the original survives, so the face
boxes are handed back empty (there is no face left to obfuscate).

``skeleton``
    MediaPipe pose (33 points) follows each person and the limbs are drawn as lines, the head as a
    disc around the face points. The legacy pose model follows one person per graph, so every
    person gets a video-mode tracker on a crop of the frame (:class:`PeopleTracker`): crops are
    seeded from the head boxes the face tracker hands over (a body-sized region around and below
    each head, so two people side by side get one crop each) and from the connected regions of the
    person mask; people already followed are painted out of the other trackers' crops. Video mode
    matters: after the first detection the graph follows the person from the previous landmarks,
    which keeps seated, cut-off and turned-away people that the detector alone finds on few frames.
``silhouette``
    The person mask (selfie segmentation), thresholded and lightly smoothed, filled with one dark
    saturated colour (optionally a fixed pattern, :func:`neutral_texture`) on a black background.

Fills are chosen for the region test of :mod:`avanon.evaluate.faces`, which works on grey levels:
a flat fill whose grey level is near a low-contrast face's mean scores as a leak even though it
holds no trace of the face (the structure term tends to 1 as the face's own contrast goes to 0).
Black backgrounds, and a dark blue silhouette (grey level 18, clearly visible against black in
colour), stay far from faces' grey levels. A grey pattern helps for faces larger than about 20
pixels but not for smaller ones, whose region the test upsamples until any fill looks flat.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
)
HEAD = tuple(range(11))
MASK_WIDTH = 256  # pixels: width of the person mask used to seed person crops
MASK_HEIGHT = 360  # pixels: height of the working copy of the silhouette mask


def head_region(box: Box, *, width: int, height: int) -> Box:
    """The crop pose is searched in for the person whose head box is ``box`` [pixels].

    About 3.5 head widths across (shoulders and arms of a seated person reaching forward) and 8
    head heights down from just above the head (a standing person), clipped to the frame.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    return (max(0.0, cx - 1.75 * w), max(0.0, y0 - 0.3 * h), min(float(width), cx + 1.75 * w), min(float(height), y0 + 7.5 * h))


def mask_regions(mask: np.ndarray | None, *, width: int, height: int, min_area: float = 0.002) -> list[Box]:
    """Boxes [pixels of the frame] around the connected regions of a person mask, grown by 10 %."""
    if mask is None:
        return []
    fx, fy = width / mask.shape[1], height / mask.shape[0]
    _, _, stats, _ = cv2.connectedComponentsWithStats((mask > 127).astype(np.uint8))
    regions = []
    for x, y, w, h, area in stats[1:]:
        if area < min_area * mask.size:
            continue
        regions.append(
            (max(0.0, (x - 0.1 * w) * fx), max(0.0, (y - 0.1 * h) * fy), min(float(width), (x + 1.1 * w) * fx), min(float(height), (y + 1.1 * h) * fy))
        )
    return regions


def head_centre(pose: np.ndarray, *, visibility: float = 0.5) -> np.ndarray | None:
    """Mean position [pixels] of the visible head points (nose, eyes, ears, mouth) of a pose."""
    seen = pose[list(HEAD)][pose[list(HEAD), 2] >= visibility]
    return seen[:, :2].mean(axis=0) if len(seen) >= 2 else None


def core_polygon(pose: np.ndarray, *, visibility: float = 0.5, grow: float = 0.2) -> np.ndarray | None:
    """Convex hull [pixels] of a pose's head, shoulders and hips, grown by ``grow`` around its centre.

    Painted over in the crops of other people's trackers so that they do not lock onto this
    person; arms and legs are left, since people touch each other there.
    """
    core = [*HEAD, 11, 12, 23, 24]
    seen = pose[core][pose[core, 2] >= visibility, :2]
    if len(seen) < 3:
        return None
    hull = cv2.convexHull(seen.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    centre = hull.mean(axis=0)
    return centre + (hull - centre) * (1.0 + grow)


def same_person(a: np.ndarray, b: np.ndarray, *, visibility: float = 0.5) -> bool:
    """Whether two poses are one person found twice (overlapping extents or heads close together)."""
    ea, eb = lm.torso_box(a, visibility=visibility), lm.torso_box(b, visibility=visibility)
    if ea is not None and eb is not None and iou(ea, eb) > 0.5:
        return True
    ha, hb = head_centre(a, visibility=visibility), head_centre(b, visibility=visibility)
    if ha is None or hb is None or ea is None or eb is None:
        return False
    size = min(ea[3] - ea[1], eb[3] - eb[1], ea[2] - ea[0] + eb[2] - eb[0])
    return bool(np.hypot(*(ha - hb)) < 0.1 * max(size, 1.0))


@dataclass
class Person:
    """One person followed by a pose tracker in a crop of the frame."""

    tracker: lm.PoseTracker
    born: int  # frame the tracker was seeded
    seen: int | None = None  # last frame with a pose
    pose: np.ndarray | None = None  # pose of the current frame


class PeopleTracker:
    """Body poses of several people in a video, one video-mode pose tracker per person.

    MediaPipe's pose solution follows one person per graph. Each person gets a tracker on a crop of
    the frame, seeded from a head box (:func:`head_region`) or a person-mask region. Trackers that
    already follow someone run first, oldest first, and every later tracker sees the heads and
    torsos of the people found before it painted out (:func:`core_polygon`), so it locks onto
    somebody else. A pose that repeats one already found in the frame is dropped with its (younger)
    tracker. A tracker that finds nobody for ``patience`` frames is retired; when it never found
    anyone, its seed region is not tried again for as long. Graphs are reused, since each new one
    costs about 0.2 s of model loading.

    Parameters
    ----------
    max_people : int >= 1
        Trackers at once.
    patience : int >= 0 [frames]
        Frames a tracker is kept without a pose.
    visibility : float in [0, 1]
        Landmark visibility counted as seen.
    """

    def __init__(self, *, max_people: int = 6, patience: int = 50, visibility: float = 0.5) -> None:
        self.max_people, self.patience, self.visibility = max_people, patience, visibility
        self.people: list[Person] = []
        self._spare: list[lm.PoseTracker] = []
        self._barren: list[tuple[Box, int]] = []  # seed regions where nobody was found, and until when

    def update(self, image: np.ndarray, seeds: list[tuple[Box, Box | None]], index: int) -> list[np.ndarray]:
        """Poses (33, 3) of the people seen in frame ``index``.

        ``seeds`` are (crop region, head box or None) pairs [pixels], most important first.
        """
        found: list[np.ndarray] = []
        fill = int(np.median(image[::16, ::16]))
        kept: list[Person] = []
        for person in self.people:
            status = self._run(person, image, found, fill, index)
            stale = index - (person.seen if person.seen is not None else person.born) > self.patience
            if status == "duplicate" or (status == "none" and stale):
                self._retire(person, index)
            else:
                kept.append(person)
        self.people = kept
        self._barren = [(r, until) for r, until in self._barren if until >= index]
        for region, head in seeds:
            if len(self.people) >= self.max_people:
                break
            if self._covered(region, head):
                continue
            person = Person(self._tracker(region), born=index)
            if self._run(person, image, found, fill, index) == "duplicate":
                self._spare.append(person.tracker)
                continue
            self.people.append(person)
        return found

    def _run(self, person: Person, image: np.ndarray, found: list[np.ndarray], fill: int, index: int) -> str:
        """Track one person in this frame: "pose", "none" or "duplicate"; appends to ``found``."""
        erase = [poly for pose in found if (poly := core_polygon(pose, visibility=self.visibility)) is not None]
        pose = person.tracker(image, erase=erase, fill=fill)
        person.pose = None
        if pose is None or lm.torso_box(pose, visibility=self.visibility) is None:
            return "none"
        if any(same_person(pose, other, visibility=self.visibility) for other in found):
            return "duplicate"
        person.pose, person.seen = pose, index
        person.tracker.follow(pose, visibility=self.visibility)
        found.append(pose)
        return "pose"

    def _tracker(self, region: Box) -> lm.PoseTracker:
        if self._spare:
            tracker = self._spare.pop()
            tracker.restart(region)
            return tracker
        return lm.PoseTracker(region)

    def _retire(self, person: Person, index: int) -> None:
        if person.seen is None:
            self._barren.append((person.tracker.region, index + self.patience))
        self._spare.append(person.tracker)

    def _covered(self, region: Box, head: Box | None) -> bool:
        """Whether a seed is already followed, being searched, or was recently found empty."""
        for person in self.people:
            if iou(region, person.tracker.region) > 0.5:
                return True
            if person.pose is None:
                continue
            centre = head_centre(person.pose, visibility=self.visibility)
            if head is not None and centre is not None:
                w, h = head[2] - head[0], head[3] - head[1]
                if head[0] - 0.25 * w <= centre[0] <= head[2] + 0.25 * w and head[1] - 0.25 * h <= centre[1] <= head[3] + 0.25 * h:
                    return True
            elif head is None:
                extent = lm.torso_box(person.pose, visibility=self.visibility)
                if extent is not None and iou(extent, region) > 0.3:
                    return True
        return any(iou(region, barren) > 0.5 for barren, _ in self._barren)

    def close(self) -> None:
        """Release every graph."""
        for tracker in [p.tracker for p in self.people] + self._spare:
            tracker.close()
        self.people, self._spare = [], []


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
        "background": Param((0, 0, 0), Kind((tuple,), length=3), "RGB background colour, 0-255 each"),
        "colour": Param((255, 255, 255), Kind((tuple,), length=3), "RGB line colour, 0-255 each"),
        "thickness": Param(0.006, Interval(float, 0.001, 0.05), "line width [fraction of the frame height]"),
        "visibility": Param(0.5, Interval(float, 0.0, 1.0), "minimum landmark visibility to draw a point"),
        "max_people": Param(6, Interval(int, 1, 32), "people followed at once (one pose tracker each, about 25 ms per frame each)"),
        "patience": Param(1.0, Interval(float, 0.0, 30.0), "time a person's tracker is kept without finding a pose [s]"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fps = 25.0
        self._people_tracker: PeopleTracker | None = None

    def session(self, *, width: int, height: int, fps: float) -> "Skeleton":
        fresh = Skeleton(**self.get_params())
        fresh._fps = fps if fps and fps > 0 else 25.0
        return fresh

    def models(self) -> list[ModelFile]:
        return list(lm.POSE_MODELS) + list(lm.SEGMENTATION_MODELS)

    def poses(self, image: np.ndarray, boxes: list[Box], *, index: int) -> list[np.ndarray]:
        """The (33, 3) poses of the people in frame ``index`` (see :class:`PeopleTracker`)."""
        h, w = image.shape[:2]
        if self._people_tracker is None:
            patience = int(round(self.patience * self._fps))
            self._people_tracker = PeopleTracker(max_people=self.max_people, patience=patience, visibility=self.visibility)
        small = (max(1, round(h * MASK_WIDTH / max(w, 1))), MASK_WIDTH)
        mask = (lm.person_mask(image, shape=small) >= 0.5).astype(np.uint8) * 255
        heads = sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        seeds: list[tuple[Box, Box | None]] = [(head_region(b, width=w, height=h), b) for b in heads]
        seeds += [(region, None) for region in mask_regions(mask, width=w, height=h)]
        return self._people_tracker.update(image, seeds, index)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h = image.shape[0]
        poses = self.poses(image, boxes, index=index)
        canvas = np.empty_like(image)
        canvas[:] = tuple(int(c) for c in self.background)
        thickness = max(1, int(round(self.thickness * h)))
        for pose in poses:
            draw_skeleton(canvas, pose, colour=tuple(int(c) for c in self.colour), thickness=thickness, visibility=self.visibility)
        self._people.append(len(poses))
        return canvas, []

    def close(self) -> None:
        if self._people_tracker is not None:
            self._people_tracker.close()
            self._people_tracker = None


def neutral_texture(height: int, width: int, *, colour: tuple[int, int, int], amplitude: float, seed: int = 0) -> np.ndarray:
    """A fixed grey pattern around ``colour``: random blocks of 1 to 32 pixels summed over six scales.

    Used instead of a flat fill where a person's face would otherwise become one flat colour: the
    region test of :mod:`avanon.evaluate.faces` scores a flat fill that is close to a pale,
    low-contrast face's mean as similar to it (its structure term tends to 1 as the face's own
    contrast goes to 0). A pattern with contrast at every scale, unrelated to the face, does not.
    The pattern depends only on the size and ``seed``, so outputs stay reproducible.

    Returns
    -------
    ndarray, shape (height, width, 3), uint8 RGB
    """
    rng = np.random.default_rng(seed)
    acc = np.zeros((height, width), np.float32)
    for cell in (1, 2, 4, 8, 16, 32):
        small = rng.uniform(-1.0, 1.0, (height // cell + 1, width // cell + 1)).astype(np.float32)
        acc += cv2.resize(small, (small.shape[1] * cell, small.shape[0] * cell), interpolation=cv2.INTER_NEAREST)[:height, :width]
    acc *= amplitude / max(float(acc.std()), 1e-6)
    out = np.clip(np.asarray(colour, np.float32)[None, None, :] + acc[:, :, None], 0, 255)
    return out.astype(np.uint8)


@register
class Silhouette(_BodyFilter):
    """Each person drawn as a dark silhouette on a black background (see module docstring)."""

    name = "silhouette"
    params = {
        "background": Param((0, 0, 0), Kind((tuple,), length=3), "RGB background colour, 0-255 each"),
        "colour": Param((0, 0, 160), Kind((tuple,), length=3), "RGB (mean) colour of the silhouettes, 0-255 each"),
        "texture": Param(0.0, Interval(float, 0.0, 100.0), "standard deviation of a fixed pattern inside the silhouettes [grey levels]; 0 = flat"),
        "threshold": Param(0.5, Interval(float, 0.01, 0.99), "person-mask probability drawn as person"),
        "smooth": Param(0.004, Interval(float, 0.0, 0.05), "edge smoothing [fraction of the frame height]"),
        "model": Param("landscape", Options(("landscape", "general")), "selfie-segmentation model"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fill: np.ndarray | None = None

    def session(self, *, width: int, height: int, fps: float) -> "Silhouette":
        return Silhouette(**self.get_params())

    def models(self) -> list[ModelFile]:
        return list(lm.SEGMENTATION_MODELS)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h, w = image.shape[:2]
        factor = min(1.0, MASK_HEIGHT / h)  # the model sees 256 pixels: smooth a small copy, then scale up
        small = (max(1, round(h * factor)), max(1, round(w * factor)))
        soft = lm.person_mask(image, landscape=self.model == "landscape", shape=small)
        sigma = self.smooth * small[0]
        if sigma >= 0.3:
            soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma, sigmaY=sigma)
        mask = (soft >= self.threshold).astype(np.uint8) * 255
        self._people.append(people_count(mask))
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR) > 127
        if self._fill is None or self._fill.shape != image.shape:
            colour = tuple(int(c) for c in self.colour)
            self._fill = neutral_texture(h, w, colour=colour, amplitude=self.texture) if self.texture > 0 else np.full_like(image, colour)
        canvas = np.empty_like(image)
        canvas[:] = tuple(int(c) for c in self.background)
        canvas[mask] = self._fill[mask]
        return canvas, []
