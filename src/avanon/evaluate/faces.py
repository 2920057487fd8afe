"""Residual faces: is any face or head of the original still recognisable in the anonymized video?

The test, as the project defines it, works frame by frame:

1. On each (sampled) original frame, faces and heads are found by detectors that the masking code
   does not use (:mod:`avanon.evaluate.independent`), run at low thresholds: dlib's HOG face
   detector (upsampled for small faces), YuNet (searched at twice the size on frames of at most
   960 pixels) and head boxes around OpenPose's head points (nose, eyes, ears).
2. The anonymized frame at the same presentation time is found (times are taken relative to each
   file's first frame, so a file whose timestamps were shifted is still compared with the right
   frame; timing itself is checked by the video utility metrics).
3. For each box, the central 60 % of the box is cut from both frames in grey, both crops are
   resized to 48 x 48 pixels so small and large faces are judged at one scale, and their
   structural similarity (SSIM, Wang et al. 2004, Gaussian window sigma 1.5, K1 0.01, K2 0.03,
   :func:`skimage.metrics.structural_similarity`) is computed. SSIM >= 0.6 means the face is still
   there: a leak.

Boxes of one face found by several detectors are merged; the face leaks if any of its boxes does.
The masking uses MediaPipe BlazeFace, CenterFace and MediaPipe pose; none of them is used here, so
the evaluation does not share their blind spots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avanon.detect.boxes import Box, clip_box
from avanon.errors import MediaError, ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.frames import FramePair, is_image, load_image, paired_frames
from avanon.evaluate.frames import video_frames as _video_frames
from avanon.evaluate.independent import DETECTORS, Detection, IndependentDetectors, _DlibHog, grey, group_faces, head_box
from avanon.registry import Interval, Kind, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia, StudyMedia

__all__ = [
    "Box",
    "Detection",
    "FramePair",
    "_DlibHog",
    "_video_frames",
    "group_faces",
    "head_box",
    "is_image",
    "load_image",
    "paired_frames",
    "region_ssim",
    "residual_faces",
    "ssim",
]

SSIM_SIZE = 48  # pixels: the common scale crops are compared at
CENTRAL = 0.6  # fraction of the box (per side length) kept around its centre
LEAK_SSIM = 0.6  # SSIM at or above which a region counts as still recognisable


# --------------------------------------------------------------------------------------------
# Structural similarity
# --------------------------------------------------------------------------------------------


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """Mean structural similarity of two grey images of the same shape.

    :func:`skimage.metrics.structural_similarity` as Wang et al. (2004) define it: local statistics
    under a Gaussian window (``sigma`` 1.5, truncated at 3.5 sigma, i.e. 11 x 11), population (not
    sample) covariances, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, averaged over the pixels where
    the whole window fits.

    Parameters
    ----------
    a, b : ndarray, shape (h, w)
        Grey images; ``h`` and ``w`` must be at least 11.
    data_range : float > 0
        ``L``, the dynamic range of the pixel values (255 for 8-bit images).
    sigma : float > 0 [pixels]
        Standard deviation of the Gaussian window.

    Returns
    -------
    float in [-1, 1]
    """
    from skimage.metrics import structural_similarity

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ParameterError(f"ssim needs two grey images of one shape; got {a.shape} and {b.shape}.")
    side = 2 * int(3.5 * sigma + 0.5) + 1
    if min(a.shape) < side:
        raise ParameterError(f"ssim needs images of at least {side} pixels per side; got {a.shape}.")
    return float(structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=sigma, use_sample_covariance=False))


def region_crop(frame: np.ndarray, box: Box, *, central: float = CENTRAL, size: int = SSIM_SIZE) -> np.ndarray | None:
    """The grey central part of ``box``, resized to ``size`` x ``size`` pixels.

    Parameters
    ----------
    frame : ndarray, shape (h, w, 3) RGB or (h, w) grey, uint8
    box : (x0, y0, x1, y1) [pixels]
    central : float in (0, 1]
        Fraction of the box width and height kept around its centre.
    size : int [pixels]

    Returns
    -------
    ndarray of shape (size, size), float64, or None when the region lies outside the frame
    or is under 2 pixels wide.
    """
    import cv2

    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * central / 2, (y1 - y0) * central / 2
    h, w = frame.shape[:2]
    left, right = max(0, int(round(cx - hw))), min(w, int(round(cx + hw)))
    top, bottom = max(0, int(round(cy - hh))), min(h, int(round(cy + hh)))
    if right - left < 2 or bottom - top < 2:
        return None
    crop = grey(frame[top:bottom, left:right])
    interpolation = cv2.INTER_AREA if (right - left) >= size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation).astype(np.float64)


def _map_box(box: Box, source: tuple[int, int], target: tuple[int, int]) -> Box:
    """Carry a box from a frame of shape ``source`` (h, w) to one of shape ``target``.

    Frames that differ by encoder padding only (16 pixels or less per side) keep pixel
    coordinates; frames that were rescaled get the box scaled with them.
    """
    (sh, sw), (th, tw) = source, target
    if abs(sh - th) <= 16 and abs(sw - tw) <= 16:
        return box
    fx, fy = tw / sw, th / sh
    return (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)


def region_ssim(original_frame: np.ndarray, anonymized_frame: np.ndarray, box: Box) -> float:
    """SSIM of the central 60 % of ``box`` in the two frames, compared at 48 x 48 pixels.

    Parameters
    ----------
    original_frame, anonymized_frame : ndarray, shape (h, w, 3) RGB uint8
        Frames at the same time; the anonymized one may be padded or rescaled.
    box : (x0, y0, x1, y1) [pixels of the original frame]

    Returns
    -------
    float in [-1, 1]; ``nan`` when the region is outside either frame.
    """
    a = region_crop(original_frame, box)
    b = region_crop(anonymized_frame, _map_box(box, original_frame.shape[:2], anonymized_frame.shape[:2]))
    if a is None or b is None:
        return float("nan")
    return ssim(a, b)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class FaceRecord:
    """One face or head on one original frame and whether it is still recognisable."""

    frame: int
    time: float  # [s]
    box: Box  # [pixels of the original frame]
    detector: str  # the detector with the highest score for this face
    found_by: tuple[str, ...]
    ssim: float
    leak: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time": round(self.time, 4),
            "box": [round(float(v), 1) for v in self.box],
            "detector": self.detector,
            "found_by": list(self.found_by),
            "ssim": json_number(round(self.ssim, 4)) if self.ssim == self.ssim else None,
            "leak": self.leak,
        }


@dataclass
class ResidualReport:
    """Outcome of the residual-face test on one pair of files."""

    original: str
    anonymized: str
    faces: list[FaceRecord] = field(default_factory=list)
    frames_checked: int = 0
    frames_unpaired: int = 0
    threshold: float = LEAK_SSIM
    detectors: tuple[str, ...] = DETECTORS
    every: int = 1
    thumbnails: list[tuple[int, np.ndarray]] = field(default_factory=list, repr=False)  # (face index, RGB image)

    @property
    def faces_checked(self) -> int:
        return len(self.faces)

    @property
    def leaks(self) -> int:
        return sum(1 for f in self.faces if f.leak)

    @property
    def leak_rate(self) -> float:
        """Fraction of faces still recognisable (``nan`` when no face was found)."""
        return self.leaks / self.faces_checked if self.faces else float("nan")

    @property
    def leak_times(self) -> list[float]:
        return sorted({round(f.time, 3) for f in self.faces if f.leak})

    def to_json(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "anonymized": self.anonymized,
            "frames_checked": self.frames_checked,
            "frames_unpaired": self.frames_unpaired,
            "every": self.every,
            "detectors": list(self.detectors),
            "threshold": self.threshold,
            "faces_checked": self.faces_checked,
            "leaks": self.leaks,
            "leak_rate": json_number(self.leak_rate),
            "leak_times": self.leak_times,
            "faces": [f.to_json() for f in self.faces],
        }


def masked_thumbnail(frame: np.ndarray, box: Box, *, width: int = 160, cells: int = 3) -> np.ndarray:
    """A small copy of ``frame`` with ``box`` pixelated beyond recognition and outlined in red.

    Reports show where a leak happened without showing the face again.
    """
    import cv2

    h, w = frame.shape[:2]
    scale = width / w
    out = cv2.resize(frame[:, :, :3], (width, max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = (int(round(v * scale)) for v in clip_box(box, frame.shape))
    x0, y0 = max(0, x0 - 1), max(0, y0 - 1)  # cover the blur the downscaling spread around the box
    x1, y1 = min(out.shape[1], x1 + 1), min(out.shape[0], y1 + 1)
    if x1 - x0 >= 1 and y1 - y0 >= 1:
        small = cv2.resize(out[y0:y1, x0:x1], (cells, cells), interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    p0, p1 = (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1))
    cv2.rectangle(out, p0, p1, (255, 0, 0), 1)
    return out


def check_faces(report: ResidualReport, pair: FramePair, detections: list[Detection], *, max_thumbnails: int = 12) -> None:
    """Add the faces of ``detections`` on one pair of frames to ``report`` (the region test).

    Parameters
    ----------
    report : ResidualReport
        Receives one :class:`FaceRecord` per face (detections grouped by :func:`group_faces`).
    pair : FramePair
        The original frame the detections were found on and the anonymized frame at its time.
    detections : list of Detection
    max_thumbnails : int >= 0
        Masked thumbnails kept for the first leaks.
    """
    assert pair.anonymized is not None
    for group in group_faces(detections):
        scored = [(region_ssim(pair.original, pair.anonymized, d.box), d) for d in group]
        scored = [(s, d) for s, d in scored if s == s] or scored  # drop nan unless all are nan
        value, best = max(scored, key=lambda sd: sd[0] if sd[0] == sd[0] else -2.0)
        leak = bool(value == value and value >= report.threshold)
        report.faces.append(
            FaceRecord(
                frame=pair.index,
                time=pair.time,
                box=best.box,
                detector=group[0].detector,
                found_by=tuple(sorted({d.detector for d in group})),
                ssim=float(value),
                leak=leak,
            )
        )
        if leak and len(report.thumbnails) < max_thumbnails:
            report.thumbnails.append((len(report.faces) - 1, masked_thumbnail(pair.anonymized, best.box)))


def residual_faces(original: Path, anonymized: Path, *, max_time: float | None = None, max_thumbnails: int = 12, **params: Any) -> ResidualReport:
    """Run the residual-face test on one original file and its anonymized version.

    Parameters
    ----------
    original, anonymized : Path
        Two videos (any container PyAV reads) or two still images.
    max_time : float > 0 [s] or None
        Only check original frames before this time (from the first frame); None checks all.
    max_thumbnails : int >= 0
        Masked thumbnails kept for the first leaks (for the HTML report).
    **params
        The parameters of :class:`ResidualFaces` (``every``, ``detectors``, ``threshold``,
        ``dlib_threshold``, ``yunet_threshold``, ``head_score``), declared and validated there.

    Returns
    -------
    ResidualReport
    """
    return ResidualFaces(**params).measure(original, anonymized, max_time=max_time, max_thumbnails=max_thumbnails)


@register
class ResidualFaces(Metric):
    """Share of faces and heads still recognisable after anonymization (lower is better)."""

    name = "residual_faces"
    direction = "lower"
    aspect = "privacy"
    unit = ""
    kinds = ("video", "image")
    params = {
        "every": Param(1, Interval(int, 1, None), "check every n-th original frame [frames]"),
        "detectors": Param(DETECTORS, Kind((tuple,)), "independent detectors on the original frames: dlib, yunet, openpose"),
        "threshold": Param(LEAK_SSIM, Interval(float, -1.0, 1.0), "SSIM at or above which a face leaks"),
        "dlib_threshold": Param(-0.2, Interval(float, -2.0, 2.0), "dlib HOG adjust_threshold (0 is dlib's default; lower finds more, less certain, faces)"),
        "yunet_threshold": Param(0.5, Interval(float, 0.0, 1.0), "YuNet confidence threshold"),
        "head_score": Param(0.2, Interval(float, 0.0, 1.0), "minimum OpenPose score of a head point used for a head box"),
    }

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None, max_thumbnails: int = 12) -> ResidualReport:
        """The residual-face test of one pair with this metric's parameters (see the module docstring)."""
        original, anonymized = Path(original), Path(anonymized)
        for path in (original, anonymized):
            if not path.is_file():
                raise MediaError(f"{path}: no such file.")
        run = IndependentDetectors(tuple(self.detectors), dlib_threshold=self.dlib_threshold, yunet_threshold=self.yunet_threshold, head_score=self.head_score)
        report = ResidualReport(str(original), str(anonymized), threshold=self.threshold, detectors=run.names, every=self.every)
        for pair in paired_frames(original, anonymized, every=self.every, max_time=max_time):
            if pair.anonymized is None:
                report.frames_unpaired += 1
                continue
            report.frames_checked += 1
            found, _ = run(pair.original)
            check_faces(report, pair, found, max_thumbnails=max_thumbnails)
        return report

    def prepare(self, media: PairMedia) -> None:
        from avanon.evaluate.collateral import study_pass

        study_pass(media)  # in a study the region test runs on the collateral pass's detections

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """No score per file: the study value pools faces over files (:meth:`measure_study`); the report keeps the file's test."""
        from avanon.evaluate.collateral import study_pass

        report = study_pass(media).report.residual
        assert report is not None
        media.study.evaluation.residual.append(report)
        media.record["residual_faces"] = {k: v for k, v in report.to_json().items() if k != "faces"}
        media.record["residual_faces"]["leaks_detail"] = [f.to_json() for f in report.faces if f.leak][:50]
        return []

    def measure_study(self, study: StudyMedia) -> list[Score]:
        """Leaked faces over all faces checked in the study's videos and images."""
        if not any(p.kind in self.kinds for p in study.pairs):
            return []
        reports = study.evaluation.residual
        leaks, checked = sum(r.leaks for r in reports), sum(r.faces_checked for r in reports)
        return [score_of(self, leaks / checked if checked else float("nan"), n=checked, leaks=leaks, faces_checked=checked)]
