"""Face and head detectors of the evaluation, independent of the masking code.

The masking (:mod:`avanon.detect.faces`) uses MediaPipe BlazeFace, CenterFace and MediaPipe pose.
The evaluation finds faces and heads on original frames with three other detectors, so a face the
masking misses is not also missed by the check that grades it:

- ``"dlib"``: dlib's HOG + linear SVM frontal face detector (upsampled for small faces);
- ``"yunet"``: YuNet (libfacedetection 2023, :mod:`avanon.detect.yunet`), enlarged for small faces;
- ``"openpose"``: a head box around OpenPose's head points (nose, eyes, ears) of every person
  (:mod:`avanon.detect.openpose`, bottom-up body pose not anchored on faces, so it also finds heads
  turned away from the camera).

:class:`IndependentDetectors` runs the chosen ones on a frame and also returns the OpenPose people,
which the collateral metrics use for body joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from avanon.detect.boxes import Box, clip_box
from avanon.errors import ParameterError

DETECTORS = ("dlib", "yunet", "openpose")


@dataclass(frozen=True)
class Detection:
    """A face or head box found on an original frame."""

    box: Box  # x0, y0, x1, y1 [pixels]
    score: float
    detector: str


def grey(frame: np.ndarray) -> np.ndarray:
    """A grey uint8 copy of an RGB frame (a grey frame is returned as it is)."""
    import cv2

    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2GRAY)


@lru_cache(maxsize=1)
def _frontal_face_detector() -> Any:
    """dlib's frontal face detector, built once per process (building it takes about 1.4 s)."""
    import dlib

    return dlib.get_frontal_face_detector()


class _DlibHog:
    """dlib's HOG + linear SVM frontal face detector.

    Parameters
    ----------
    upsample : int in [0, 3] or None
        Times the frame is doubled first; None doubles twice for frames of at most 720 pixels on
        their longer side and once for larger frames.
    threshold : float
        dlib's ``adjust_threshold`` (0 is its default; lower finds more, less certain, faces).
    """

    def __init__(self, *, upsample: int | None, threshold: float) -> None:
        self.detector = _frontal_face_detector()
        self.upsample = upsample
        self.threshold = threshold

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        image = grey(frame)
        upsample = self.upsample if self.upsample is not None else (2 if max(image.shape) <= 720 else 1)
        rects, scores, _ = self.detector.run(image, upsample, self.threshold)
        return [Detection(clip_box((r.left(), r.top(), r.right() + 1, r.bottom() + 1), frame.shape), float(s), "dlib") for r, s in zip(rects, scores)]


class _YuNetFaces:
    """YuNet boxes as :class:`Detection` values; frames of at most 960 pixels are also searched at 2x."""

    def __init__(self, *, threshold: float, upscale: float | None = None) -> None:
        from avanon.detect.yunet import YuNet

        self.threshold = threshold
        self.upscale = upscale
        self.small = YuNet(threshold=threshold, upscale=upscale or 2.0)
        self.large = YuNet(threshold=threshold, upscale=upscale or 1.0)

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        detect = self.small if max(frame.shape[:2]) <= 960 else self.large
        faces = detect(frame)
        return [Detection(tuple(float(v) for v in b), float(s), "yunet") for b, s in zip(faces.boxes, faces.scores)]  # type: ignore[misc]


def head_box(points: np.ndarray) -> Box:
    """A square head box around face points (nose, eyes, ears) in pixels.

    Ear to ear spans about the width of the face and eyes to nose about a sixth of the head's
    height, so the side is the larger of 1.2 times the horizontal span and 3 times the vertical
    span (at least 4 pixels), centred on the points.
    """
    span_x, span_y = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    side = max(1.2 * span_x, 3.0 * span_y, 4.0)
    cx, cy = points[:, 0].mean(), points[:, 1].mean()
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


class _OpenPoseHeads:
    """Head boxes around the head points of the people OpenPose finds."""

    def __init__(self, *, min_score: float, min_points: int = 3) -> None:
        from avanon.detect.openpose import HEAD, OpenPose

        self.pose = OpenPose()
        self.head = list(HEAD)
        self.min_score, self.min_points = min_score, min_points

    def people(self, frame: np.ndarray) -> list[Any]:
        """The OpenPose people on ``frame`` (:class:`~avanon.detect.openpose.PosePerson`)."""
        return self.pose(frame)

    def heads(self, frame: np.ndarray, people: list[Any]) -> list[Detection]:
        out = []
        for person in people:
            points = person.keypoints[self.head]
            good = np.isfinite(points[:, 0]) & (person.scores[self.head] >= self.min_score)
            if good.sum() >= self.min_points:
                box = clip_box(head_box(points[good]), frame.shape)
                out.append(Detection(box, float(person.scores[self.head][good].mean()), "openpose"))
        return out


class IndependentDetectors:
    """The evaluation's detectors, built once and run together on original frames.

    Parameters
    ----------
    names : tuple of {"dlib", "yunet", "openpose"}
    dlib_upsample : int in [0, 3] or None
        See :class:`_DlibHog`.
    dlib_threshold : float
        dlib's ``adjust_threshold``.
    yunet_threshold : float in [0, 1]
        YuNet's confidence threshold.
    head_score : float in [0, 1]
        Minimum OpenPose heat-map score of a head point used for a head box (3 points needed).
    """

    def __init__(
        self,
        names: tuple[str, ...] = DETECTORS,
        *,
        dlib_upsample: int | None = None,
        dlib_threshold: float = -0.2,
        yunet_threshold: float = 0.5,
        head_score: float = 0.2,
    ) -> None:
        names = tuple(names)
        unknown = [n for n in names if n not in DETECTORS]
        if unknown or not names:
            raise ParameterError(f"The 'detectors' parameter of residual_faces must name at least one of {', '.join(DETECTORS)}. Got {names!r} instead.")
        self.names = names
        self.dlib = _DlibHog(upsample=dlib_upsample, threshold=dlib_threshold) if "dlib" in names else None
        self.yunet = _YuNetFaces(threshold=yunet_threshold) if "yunet" in names else None
        self._pose: _OpenPoseHeads | None = None
        self.head_score = head_score
        if "openpose" in names:
            self._pose = _OpenPoseHeads(min_score=head_score)

    def pose(self) -> _OpenPoseHeads:
        """The OpenPose runner (built on first use when ``"openpose"`` is not among the names)."""
        if self._pose is None:
            self._pose = _OpenPoseHeads(min_score=self.head_score)
        return self._pose

    def __call__(self, frame: np.ndarray, *, people: bool = False) -> tuple[list[Detection], list[Any]]:
        """Faces and heads on ``frame``, and the OpenPose people (run when needed or asked for)."""
        found: list[Detection] = []
        if self.dlib is not None:
            found += self.dlib(frame)
        if self.yunet is not None:
            found += self.yunet(frame)
        persons: list[Any] = []
        if people or "openpose" in self.names:
            persons = self.pose().people(frame)
        if "openpose" in self.names:
            found += self.pose().heads(frame, persons)
        return found, persons


def overlap_of_smaller(a: Box, b: Box) -> float:
    """Intersection area over the smaller box's area (1 when one box holds the other)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def group_faces(detections: list[Detection], *, overlap: float = 0.6) -> list[list[Detection]]:
    """Group detections of one face: a box joins a group when most of the smaller box overlaps."""
    groups: list[list[Detection]] = []
    for det in sorted(detections, key=lambda d: -d.score):
        for group in groups:
            if any(overlap_of_smaller(det.box, other.box) >= overlap for other in group):
                group.append(det)
                break
        else:
            groups.append([det])
    return groups
