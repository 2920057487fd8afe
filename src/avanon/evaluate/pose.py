"""Body pose of every person on paired frames: what the ``pose_pck`` metric (:mod:`avanon.evaluate.video`) measures.

Body keypoints of every person, on original and anonymized frames at the same time; a joint is
correct when it lies within 0.05 of the torso size of its original position (PCK@0.05, torso
size = mean of the two shoulder-to-opposite-hip diagonals). Reported with the mean error per
joint in torso units and the people per frame. Only body joints (shoulders down) visible in the
original are scored: the face points are meant to change.

Multi-person scenes: MediaPipe pose finds one person per image, so people are found first,
on the original only (:class:`PeopleFinder`):

- face seeds: faces found with YuNet (the evaluation's own detector, see
  :mod:`avanon.evaluate.faces`, independent of the masking code), the largest ``max_people``
  of them; pose runs on a body-sized crop around each (6 head widths across, 10 head heights
  down) and is that seed's person when its head points lie in the face box grown by half;
- frame-wide search: pose on the whole frame, the person found is painted out and the frame
  searched again, up to ``max_people`` times (finds people whose face is not seen);
- each person is then measured on a crop around them (the face seed's crop, or their keypoint
  extent grown by 60 %), padded to a square; a person found twice (keypoint boxes with
  IoU >= 0.5) counts once.

On the anonymized frame each person is measured on the same crop in two ways:

- **seeded** (the scored ``pose_pck`` value): the pose *landmark* model runs on the output crop
  in the region of interest tracked on the original crop (:class:`_SeededPose`: MediaPipe pose
  in video mode, reset per person, shown the original crop and then the output crop, landmark
  smoothing off). The reference is measured the same way, the original crop seeded by itself,
  so a video compared with itself scores exactly 1.0;
- **detected** (reported as ``pck_detector_found`` and ``people_found_again``): static pose on
  the output crop, where MediaPipe's own person detector must find the person again.

The question the metric asks is whether the body signal survives the anonymization, not
whether a face-keyed person detector still fires: BlazePose's person detector keys on the face
(its box is anchored on the face), so masking faces alone, the very thing every recipe does,
loses most people for the detected measurement (the default recipe's black face boxes scored
0-0.07 with it). Seeding skips that detector only; the landmark model still has to find the
body in the output pixels: a blank or a body painted out gives no pose (the model's presence
score falls under 0.5) or a wrong one. Both ways, a pose counts as the same person when its
keypoint box overlaps the original's by IoU >= ``match_iou``, otherwise every joint of that
person counts as wrong (a person the anonymization lost or displaced). A person the seeded
model loses on the original crop itself, or finds elsewhere (keypoint boxes IoU < 0.5 with the
detector's pose), is not scored by it (``people_not_seeded``).

Read the value against its floor: MediaPipe's landmarks move by a median 0.01-0.04 torso under
recompression alone, so the dev clips re-encoded without any masking score 0.60-0.83 at 0.05
with one view per measurement (see ``benchmarks/results/video_modes.md``); the median over
``views`` shifted crops averages much of that jitter out (9 views: 0.71-0.91 on the four dev
clips), at ``views`` times the cost. The benchmark reports that floor beside each mode.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avanon.detect.boxes import Box, box_iou
from avanon.detect.mp import pose_graph
from avanon.errors import ParameterError
from avanon.evaluate.frames import FrameAnalysis, FramePair, paired_frames

BODY_JOINTS = tuple(range(11, 33))
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24


def torso_size(keypoints: np.ndarray) -> float:
    """Mean length of the shoulder-to-opposite-hip diagonals [pixels] of one (33, 2) pose."""
    d1 = np.linalg.norm(keypoints[LEFT_SHOULDER] - keypoints[RIGHT_HIP])
    d2 = np.linalg.norm(keypoints[RIGHT_SHOULDER] - keypoints[LEFT_HIP])
    return float((d1 + d2) / 2)


def pck(reference: np.ndarray, test: np.ndarray, torso: np.ndarray, *, alpha: float = 0.05, visible: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Percentage of correct keypoints and the error of each joint in torso units.

    Parameters
    ----------
    reference, test : ndarray, shape (frames, joints, 2) [pixels]
        ``test`` may hold ``nan`` where the detector found nothing (counted as wrong).
    torso : ndarray, shape (frames,) [pixels]
        Torso size of each reference frame.
    alpha : float > 0
        Tolerance as a fraction of the torso size.
    visible : ndarray of bool, shape (frames, joints), optional
        Joints to score (all by default).

    Returns
    -------
    pck : float in [0, 1] (``nan`` when nothing is scored)
    error : ndarray, shape (joints,)
        Mean distance per joint over the scored frames, in torso units (``nan`` where never scored).
    """
    reference, test = np.asarray(reference, float), np.asarray(test, float)
    distance = np.linalg.norm(reference - test, axis=2) / np.asarray(torso, float)[:, None]
    scored = np.ones(distance.shape, bool) if visible is None else np.asarray(visible, bool)
    scored &= np.isfinite(np.linalg.norm(reference, axis=2))
    if not scored.any():
        return float("nan"), np.full(distance.shape[1], np.nan)
    correct = np.where(np.isfinite(distance), distance <= alpha, False)
    value = float(correct[scored].mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints never found in the test frames
        per_joint = np.array(
            [
                np.nanmean(np.where(np.isfinite(distance[:, j]), distance[:, j], np.nan)[scored[:, j]]) if scored[:, j].any() else np.nan
                for j in range(distance.shape[1])
            ]
        )
    return value, per_joint


HEAD_POINTS = tuple(range(11))  # nose, eyes, ears, mouth corners


def square_crop(frame: np.ndarray, region: Box) -> tuple[np.ndarray, float, float] | None:
    """The ``region`` (x0, y0, x1, y1) [pixels] of ``frame`` centred on a black square.

    Returns the square RGB image and the frame position [pixels] of its top-left corner, or None
    when the clipped region is under 16 pixels on a side. The person detector finds far more
    people in a tall crop padded to a square than in the crop stretched to its square input.
    """
    h, w = frame.shape[:2]
    x0, y0 = max(0, int(region[0])), max(0, int(region[1]))
    x1, y1 = min(w, int(np.ceil(region[2]))), min(h, int(np.ceil(region[3])))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    crop = frame[y0:y1, x0:x1, :3]
    side = max(crop.shape[:2])
    px, py = (side - crop.shape[1]) // 2, (side - crop.shape[0]) // 2
    square = np.zeros((side, side, 3), np.uint8)
    square[py : py + crop.shape[0], px : px + crop.shape[1]] = crop
    return square, float(x0 - px), float(y0 - py)


def _landmarks(result: object, image: np.ndarray, x0: float, y0: float) -> tuple[np.ndarray, np.ndarray]:
    """(33, 2) frame keypoints [pixels] (nan when no person) and (33,) visibilities of a pose result."""
    marks = getattr(result, "pose_landmarks", None)
    if marks is None:
        return np.full((33, 2), np.nan), np.zeros(33)
    h, w = image.shape[:2]
    return np.array([(m.x * w + x0, m.y * h + y0) for m in marks.landmark]), np.array([m.visibility for m in marks.landmark])


class _Pose:
    """Static MediaPipe pose on a frame or on a crop of it (padded to a square, as the detector expects).

    Parameters
    ----------
    confidence : float in [0, 1]
        Minimum person-detection confidence.
    """

    def __init__(self, *, confidence: float = 0.5) -> None:
        self.pose = pose_graph(static=True, detection=confidence)

    def __call__(self, frame: np.ndarray, region: Box | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(33, 2) pixel keypoints of the frame (nan when no person) and (33,) visibilities.

        With ``region`` (x0, y0, x1, y1) [pixels], pose runs on that crop only (:func:`square_crop`).
        """
        image, x0, y0 = np.ascontiguousarray(frame[:, :, :3]), 0.0, 0.0
        if region is not None:
            square = square_crop(frame, region)
            if square is None:
                return np.full((33, 2), np.nan), np.zeros(33)
            image, x0, y0 = square
        return _landmarks(self.pose.process(image), image, x0, y0)


class _SeededPose:
    """MediaPipe pose landmarks on one crop, in the region of interest tracked on another crop.

    MediaPipe pose in video mode runs its person detector only when it holds no landmarks from the
    previous image; otherwise the landmark model runs in the region of interest derived from those
    landmarks. :meth:`__call__` resets the graph, shows it the ``seed`` crop (detector and landmark
    model run) and then the ``frame`` crop (the landmark model only, in the region tracked from the
    seed). Landmark smoothing is off, so the second result does not borrow from the first; the
    graph is deterministic, so the same seed and frame give the same keypoints.

    With ``views`` > 1 the frame crop is also taken shifted by ``shift`` of the region's size in the
    eight directions around it (in that order: right, left, down, up, then the diagonals, up to
    ``views`` crops in all), each view measured the same way, and the keypoints and visibilities are
    the per-coordinate median over the views that found a pose. The landmark model's answer moves by
    a median 0.01-0.04 torso under a mere recompression of its input; the median over shifted views
    averages most of that out, so small changes of the body are resolved at 0.05 torso.

    Parameters
    ----------
    confidence : float in [0, 1]
        Minimum person-detection confidence on the seed.
    tracking : float in [0, 1]
        Minimum pose presence score of the landmark model (below it, no pose is returned).
    views : int in [1, 9]
        Crops measured per call (1: the region only).
    shift : float in [0, 0.2]
        Shift of the extra views as a fraction of the region's longer side.
    """

    OFFSETS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))

    def __init__(self, *, confidence: float = 0.3, tracking: float = 0.5, views: int = 1, shift: float = 0.02) -> None:
        if int(views) != views or not 1 <= views <= len(self.OFFSETS):
            raise ParameterError(f"The 'views' parameter of the seeded pose must be an int in [1, {len(self.OFFSETS)}]. Got {views!r} instead.")
        if not 0.0 <= shift <= 0.2:
            raise ParameterError(f"The 'shift' parameter of the seeded pose must be in [0, 0.2] [fraction of the region]. Got {shift!r} instead.")
        self.views, self.shift = int(views), float(shift)
        self.pose = pose_graph(static=False, detection=confidence, tracking=tracking, smooth=False)

    def __call__(self, seed: np.ndarray, seed_region: Box, frame: np.ndarray, region: Box) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints [pixels of ``frame``] (nan when no pose) and visibilities in ``region`` of ``frame``.

        ``seed_region`` of ``seed`` and ``region`` of ``frame`` are the same place (the same region
        when both frames have the same size); nothing is returned when the seed holds no person.
        """
        nothing = np.full((33, 2), np.nan), np.zeros(33)
        first = square_crop(seed, seed_region)
        if first is None:
            return nothing
        step = self.shift * max(region[2] - region[0], region[3] - region[1])
        points, visibilities = [], []
        for dx, dy in self.OFFSETS[: self.views]:
            second = square_crop(frame, (region[0] + dx * step, region[1] + dy * step, region[2] + dx * step, region[3] + dy * step))
            if second is None:
                continue
            self.pose.reset()
            if getattr(self.pose.process(first[0]), "pose_landmarks", None) is None:
                return nothing
            image, x0, y0 = second
            keypoints, visibility = _landmarks(self.pose.process(image), image, x0, y0)
            if np.isfinite(keypoints).all():
                points.append(keypoints)
                visibilities.append(visibility)
        if not points:
            return nothing
        return np.median(np.array(points), axis=0), np.median(np.array(visibilities), axis=0)


def body_region(head: Box, *, width: int, height: int) -> Box:
    """The crop [pixels] a person is searched in around their face box ``head``.

    6 head widths across and from half a head above to 10 head heights below the face box's top
    (a standing person with arms out, and some context for the person detector), clipped to the
    ``width`` x ``height`` frame.
    """
    x0, y0, x1, y1 = head
    hw, hh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    return (max(0.0, cx - 3 * hw), max(0.0, y0 - 0.5 * hh), min(float(width), cx + 3 * hw), min(float(height), y0 + 10 * hh))


def keypoint_box(keypoints: np.ndarray, visible: np.ndarray) -> Box | None:
    """Bounding box [pixels] of the visible body joints (shoulders down), None when under 4."""
    chosen = np.zeros(len(keypoints), bool)
    chosen[list(BODY_JOINTS)] = True
    seen = keypoints[chosen & np.asarray(visible, bool) & np.isfinite(keypoints).all(axis=1)]
    if len(seen) < 4:
        return None
    return float(seen[:, 0].min()), float(seen[:, 1].min()), float(seen[:, 0].max()), float(seen[:, 1].max())


@dataclass
class Person:
    """One person's pose on one sampled original frame."""

    frame: int  # index of the frame in the original video
    region: Box  # crop [pixels] the person is measured in, on the original and on the output
    keypoints: np.ndarray  # (33, 2) [pixels]
    visible: np.ndarray  # (33,) bool: visibility >= the threshold
    torso: float  # [pixels]
    box: Box  # extent of the visible body joints [pixels]
    # The seeded measurement's reference (see the module docstring): the landmark model on the same
    # crop in the region tracked from the detector's pose; nan when it loses the person.
    seeded: np.ndarray = field(default_factory=lambda: np.full((33, 2), np.nan))  # (33, 2) [pixels]
    seeded_visible: np.ndarray = field(default_factory=lambda: np.zeros(33, bool))  # (33,) bool
    views: int = 1  # shifted crops per seeded measurement (see :class:`_SeededPose`)

    @property
    def seeded_box(self) -> Box | None:
        """Extent of the seeded reference's visible body joints [pixels] (None when not measured)."""
        return keypoint_box(self.seeded, self.seeded_visible)


class PeopleFinder:
    """Every person's pose on an original frame (see the module docstring, ``pose_pck``).

    Parameters
    ----------
    max_people : int >= 0
        Largest face boxes used as person seeds per frame (the whole frame is searched as well).
    min_face : float > 0 [pixels]
        Smallest face box side used as a seed.
    visibility : float in [0, 1]
        Joints with a lower MediaPipe visibility are not scored.
    views : int in [1, 9]
        Shifted crops per seeded measurement, median taken (see :class:`_SeededPose`).
    """

    def __init__(self, *, max_people: int = 8, min_face: float = 16.0, visibility: float = 0.5, views: int = 1) -> None:
        from avanon.evaluate.independent import _YuNetFaces

        self.pose = _Pose(confidence=0.3)
        self.whole = _Pose(confidence=0.5)
        self.seeded = _SeededPose(confidence=0.3, views=views)
        self.faces = _YuNetFaces(threshold=0.5)
        self.max_people, self.min_face, self.visibility = max_people, min_face, visibility

    def __call__(self, frame: np.ndarray, index: int) -> list[Person]:
        """The people on ``frame`` (frame number ``index``), each measured on its own crop."""
        h, w = frame.shape[:2]
        people: list[Person] = []
        faces = [d.box for d in self.faces(frame) if min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= self.min_face]
        for face in sorted(faces, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))[: self.max_people]:
            self._add(people, frame, index, body_region(face, width=w, height=h), face=face)
        # Frame-wide search: each person found is painted out and the frame searched again.
        work = frame[:, :, :3].copy()
        for _ in range(self.max_people):
            keypoints, visibility = self.whole(work)
            if not np.isfinite(keypoints).all():
                break
            seen = keypoints[visibility >= 0.3]
            if len(seen) < 4:
                break
            (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
            gx, gy = 0.6 * (x1 - x0) + 4, 0.6 * (y1 - y0) + 4
            region = (max(0.0, x0 - gx), max(0.0, y0 - gy), min(float(w), x1 + gx), min(float(h), y1 + gy))
            self._add(people, frame, index, region, seed=keypoint_box(keypoints, visibility >= self.visibility))
            work[int(max(0, y0 - gy / 5)) : int(y1 + gy / 5) + 1, int(max(0, x0 - gx / 5)) : int(x1 + gx / 5) + 1] = 0
        return people

    def _add(self, people: list[Person], frame: np.ndarray, index: int, region: Box, *, face: Box | None = None, seed: Box | None = None) -> None:
        """Measure the person in ``region`` and append them unless they are someone else or known.

        ``face``: the face box the region was built around (the pose's head must lie in it);
        ``seed``: the keypoint box of the person the region was built around (must overlap).
        """
        keypoints, visibility = self.search(frame, region)
        if not np.isfinite(keypoints).all() or torso_size(keypoints) < 4:
            return
        visible = visibility >= self.visibility
        box = keypoint_box(keypoints, visible)
        if box is None:
            return
        if face is not None and not _head_in(keypoints, visibility, face):
            return  # a neighbour found in this person's crop
        if seed is not None and box_iou(box, seed) < 0.5:
            return
        if any(box_iou(box, p.box) >= 0.5 for p in people):
            return
        seeded, seeded_visibility = self.track(frame, region, frame, region)
        seeded_visible = seeded_visibility >= self.visibility
        seeded_box = keypoint_box(seeded, seeded_visible)
        if seeded_box is None or box_iou(seeded_box, box) < 0.5:  # lost or someone else: not scored seeded
            seeded, seeded_visible = np.full((33, 2), np.nan), np.zeros(33, bool)
        people.append(Person(index, region, keypoints, visible, torso_size(keypoints), box, seeded, seeded_visible, self.seeded.views))

    def search(self, frame: np.ndarray, region: Box) -> tuple[np.ndarray, np.ndarray]:
        """Pose in ``region`` [pixels] of ``frame``: keypoints and visibilities (see :class:`_Pose`)."""
        return self.pose(frame, region)

    def track(self, seed: np.ndarray, seed_region: Box, frame: np.ndarray, region: Box) -> tuple[np.ndarray, np.ndarray]:
        """Pose in ``region`` of ``frame``, in the region of interest tracked on ``seed`` (see :class:`_SeededPose`)."""
        return self.seeded(seed, seed_region, frame, region)


def _head_in(keypoints: np.ndarray, visibility: np.ndarray, face: Box, *, grow: float = 0.5) -> bool:
    """Whether the visible head points' median lies in ``face`` grown by ``grow`` of its size."""
    head = keypoints[list(HEAD_POINTS)][visibility[list(HEAD_POINTS)] >= 0.3]
    if not len(head):
        return False
    x, y = np.median(head, axis=0)
    gw, gh = grow * (face[2] - face[0]), grow * (face[3] - face[1])
    return bool(face[0] - gw <= x <= face[2] + gw and face[1] - gh <= y <= face[3] + gh)


@dataclass
class PosePairs:
    """Reference and test keypoints of every scored person row, with what is scored of each."""

    reference: np.ndarray  # (rows, 33, 2) [pixels], nan where the reference was not measured
    test: np.ndarray  # (rows, 33, 2) [pixels], nan where the pose was not found again
    visible: np.ndarray  # (rows, 33) bool: visible on the reference
    torso: np.ndarray  # (rows,) [pixels]

    @classmethod
    def stack(cls, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PosePairs:
        """From (reference, test, visible) rows; an empty list gives zero rows."""
        if not rows:
            return cls(np.zeros((0, 33, 2)), np.zeros((0, 33, 2)), np.zeros((0, 33), bool), np.zeros(0))
        reference, test, visible = (np.stack(column) for column in zip(*rows))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # unmeasured references are nan
            torso = np.array([torso_size(r) for r in reference])
        return cls(reference, test, visible, torso)

    def score(self, alpha: float = 0.05) -> tuple[float, np.ndarray]:
        """PCK of the body joints (shoulders down) visible on the reference, and the error per joint (see :func:`pck`)."""
        mask = self.visible.copy()
        mask[:, : BODY_JOINTS[0]] = False
        return pck(self.reference, self.test, self.torso, alpha=alpha, visible=mask)

    def joint_pck(self, alpha: float = 0.05) -> np.ndarray:
        """(33,) PCK of each joint over the rows where it is visible on the reference (nan where never)."""
        distance = np.linalg.norm(self.reference - self.test, axis=2) / self.torso[:, None]
        scored = self.visible & np.isfinite(np.linalg.norm(self.reference, axis=2))
        correct = np.where(np.isfinite(distance), distance <= alpha, False)
        return np.array([correct[scored[:, j], j].mean() if scored[:, j].any() else np.nan for j in range(33)])


@dataclass
class PoseComparison:
    """Keypoints of every person found on paired frames of an original and an anonymized video.

    One row per person and sampled frame (``frames`` counts the persons' rows, ``sampled`` the
    frames). ``seeded`` is the scored measurement (the landmark model on the output in the region
    tracked on the original), ``detected`` the static one (the person detector must find the person
    on the output crop itself); see the module docstring.
    """

    seeded: PosePairs
    detected: PosePairs
    frames: int
    sampled: int = 0
    people_per_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # found on each sampled original frame
    matched_per_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # of them found again by the detector on the output
    tracked_per_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # of them found again by the seeded landmark model
    unseeded: int = 0  # person rows the seeded landmark model lost on the original itself (not scored)

    def score(self, alpha: float = 0.05) -> tuple[float, np.ndarray]:
        """Seeded PCK (the ``pose_pck`` value) and the mean error per joint [torso units]."""
        return self.seeded.score(alpha)

    def detector_score(self, alpha: float = 0.05) -> tuple[float, np.ndarray]:
        """PCK when the person detector must find each person on the output crop (face-keyed)."""
        return self.detected.score(alpha)


def reference_people(
    original: Path,
    *,
    every: int = 10,
    max_time: float | None = None,
    max_people: int = 8,
    visibility: float = 0.5,
    views: int = 1,
) -> dict[int, list[Person]]:
    """The people of every ``every``-th original frame, by frame index (computed once per original)."""
    find = PeopleFinder(max_people=max_people, visibility=visibility, views=views)
    return {pair.index: find(pair.original, pair.index) for pair in paired_frames(original, original, every=every, max_time=max_time)}


@dataclass(frozen=True)
class PoseSettings:
    """How people are found and matched by :func:`compare_pose` (the same for every pair of a study).

    Parameters
    ----------
    visibility : float in [0, 1]
        Joints of the original below this MediaPipe visibility are not scored.
    max_people : int >= 0
        Face seeds per frame (see :class:`PeopleFinder`).
    match_iou : float in [0, 1]
        Keypoint-box overlap needed for the pose on the anonymized crop to count as the same person.
    """

    visibility: float = 0.5
    max_people: int = 8
    match_iou: float = 0.5


class PoseAnalysis(FrameAnalysis):
    """The pose comparison of one pair, fed frame pair by frame pair (see :func:`compare_pose`).

    Parameters
    ----------
    every : int >= 1 [frames]
        Stride of the sampled original frames.
    views : int in [1, 9]
        Shifted crops per seeded measurement, median taken (see :class:`_SeededPose`); the same for
        the reference and the output.
    reference : dict or None
        People of the original from :func:`reference_people` with the same ``every``, ``max_time``
        and ``views`` (saves finding them again when one original is compared with several outputs).
    settings : PoseSettings
    """

    def __init__(self, *, every: int = 10, views: int = 1, reference: dict[int, list[Person]] | None = None, settings: PoseSettings = PoseSettings()) -> None:
        if reference is not None and any(p.views != views for people in reference.values() for p in people):
            raise ParameterError(f"compare_pose: the reference people were measured with other 'views' than {views}; measure them with the same views.")
        self.every, self.reference, self.settings = int(every), reference, settings
        self.finder = PeopleFinder(max_people=settings.max_people, visibility=settings.visibility, views=views)
        self.seeded_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.detected_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.found: list[int] = []
        self.matched: list[int] = []
        self.tracked: list[int] = []

    def add(self, pair: FramePair) -> None:
        """Measure every person of the original frame on the anonymized frame, seeded and detected."""
        finder, match_iou = self.finder, self.settings.match_iou
        people = self.reference.get(pair.index, []) if self.reference is not None else finder(pair.original, pair.index)
        hits = tracks = 0
        for person in people:
            detected = seeded = np.full((33, 2), np.nan)
            if pair.anonymized is not None:
                scale = np.array([pair.anonymized.shape[1] / pair.original.shape[1], pair.anonymized.shape[0] / pair.original.shape[0]])
                r = person.region
                region = (r[0] * scale[0], r[1] * scale[1], r[2] * scale[0], r[3] * scale[1])
                keypoints = finder.search(pair.anonymized, region)[0] / scale
                box = keypoint_box(keypoints, person.visible)
                if box is not None and box_iou(box, person.box) >= match_iou:
                    detected, hits = keypoints, hits + 1
                reference_box = person.seeded_box
                if reference_box is not None:
                    keypoints = finder.track(pair.original, person.region, pair.anonymized, region)[0] / scale
                    box = keypoint_box(keypoints, person.seeded_visible)
                    if box is not None and box_iou(box, reference_box) >= match_iou:
                        seeded, tracks = keypoints, tracks + 1
            self.detected_rows.append((person.keypoints, detected, person.visible))
            self.seeded_rows.append((person.seeded, seeded, person.seeded_visible))
        self.found.append(len(people))
        self.matched.append(hits)
        self.tracked.append(tracks)

    def result(self) -> PoseComparison:
        """The comparison over every frame pair added so far."""
        unseeded = sum(1 for reference_keypoints, _, _ in self.seeded_rows if not np.isfinite(reference_keypoints).all())
        return PoseComparison(
            PosePairs.stack(self.seeded_rows),
            PosePairs.stack(self.detected_rows),
            len(self.seeded_rows),
            sampled=len(self.found),
            people_per_frame=np.array(self.found, int),
            matched_per_frame=np.array(self.matched, int),
            tracked_per_frame=np.array(self.tracked, int),
            unseeded=unseeded,
        )


def compare_pose(
    original: Path,
    anonymized: Path,
    *,
    every: int = 10,
    max_time: float | None = None,
    reference: dict[int, list[Person]] | None = None,
    views: int = 1,
    settings: PoseSettings = PoseSettings(),
) -> PoseComparison:
    """Pose of every person on every ``every``-th original frame and the anonymized frame at the same time.

    Each person is measured on the output twice, seeded from the original (the scored value) and
    found by the person detector (see the module docstring and :class:`PoseComparison`).

    Parameters
    ----------
    original, anonymized : Path
    every : int >= 1 [frames]
    max_time : float or None [s]
        Stop at this time of the original.
    reference : dict or None
        People of the original from :func:`reference_people` (see :class:`PoseAnalysis`).
    views : int in [1, 9]
        Shifted crops per seeded measurement, median taken (see :class:`_SeededPose`).
    settings : PoseSettings
        Visibility, face seeds and the overlap that makes a pose the same person.
    """
    analysis = PoseAnalysis(every=every, views=views, reference=reference, settings=settings)
    for pair in paired_frames(original, anonymized, every=every, max_time=max_time):
        analysis.add(pair)
    return analysis.result()
