"""Video utility: do body movement and timing survive face masking?

``pose_pck``
    MediaPipe pose keypoints on original and anonymized frames at the same time; a joint is correct
    when it lies within 0.05 of the torso size of its original position (PCK@0.05, torso size =
    mean of the two shoulder-to-opposite-hip diagonals). Reported with the mean error per joint in
    torso units. Only body joints (shoulders down) visible in the original are scored: the face
    points are meant to change.
``motion_correlation``
    Pearson correlation of the per-frame motion energy (mean absolute grey-level difference between
    consecutive frames, on frames shrunk to 64 pixels wide) of the two videos.
``timing_offset``
    Frame-exact timing: frame counts, start times, and the largest difference between the
    presentation times of corresponding frames [s], read from the containers without decoding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np

from avanon.errors import MediaError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.faces import paired_frames
from avanon.registry import Interval, Param, register

# MediaPipe pose landmark indices.
POSE_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
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
        per_joint = np.array([
            np.nanmean(np.where(np.isfinite(distance[:, j]), distance[:, j], np.nan)[scored[:, j]]) if scored[:, j].any() else np.nan
            for j in range(distance.shape[1])
        ])
    return value, per_joint


class _Pose:
    def __init__(self) -> None:
        import mediapipe as mp

        self.pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.5)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(33, 2) pixel keypoints (nan when no person) and (33,) visibilities."""
        h, w = frame.shape[:2]
        result = self.pose.process(np.ascontiguousarray(frame[:, :, :3]))
        if result.pose_landmarks is None:
            return np.full((33, 2), np.nan), np.zeros(33)
        marks = result.pose_landmarks.landmark
        return np.array([(m.x * w, m.y * h) for m in marks]), np.array([m.visibility for m in marks])


@dataclass
class PoseComparison:
    """Keypoints found on paired frames of an original and an anonymized video."""

    reference: np.ndarray  # (frames, 33, 2)
    test: np.ndarray
    visible: np.ndarray  # (frames, 33) bool
    torso: np.ndarray  # (frames,)
    frames: int

    def score(self, alpha: float = 0.05) -> tuple[float, np.ndarray]:
        mask = self.visible.copy()
        mask[:, : BODY_JOINTS[0]] = False
        return pck(self.reference, self.test, self.torso, alpha=alpha, visible=mask)


def compare_pose(original: Path, anonymized: Path, *, every: int = 10, visibility: float = 0.5, max_time: float | None = None) -> PoseComparison:
    """Pose keypoints on every ``every``-th original frame and the anonymized frame at the same time."""
    detect = _Pose()
    refs, tests, vis, torsos = [], [], [], []
    for pair in paired_frames(original, anonymized, every=every, max_time=max_time):
        ref, v = detect(pair.original)
        if not np.isfinite(ref).all() or torso_size(ref) < 4:
            continue
        test = detect(pair.anonymized)[0] if pair.anonymized is not None else np.full((33, 2), np.nan)
        refs.append(ref)
        tests.append(test)
        vis.append(v >= visibility)
        torsos.append(torso_size(ref))
    if not refs:
        empty = np.zeros((0, 33, 2))
        return PoseComparison(empty, empty, np.zeros((0, 33), bool), np.zeros(0), 0)
    return PoseComparison(np.stack(refs), np.stack(tests), np.stack(vis), np.array(torsos), len(refs))


def motion_energy(path: Path, *, width: int = 64, max_time: float | None = None) -> np.ndarray:
    """Per-frame motion energy: mean absolute grey difference to the previous frame (first is 0)."""
    import av
    import cv2

    values: list[float] = []
    previous: np.ndarray | None = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            first = None
            for frame in container.decode(stream):
                t = float(frame.time or 0.0)
                first = t if first is None else first
                if max_time is not None and t - first >= max_time:
                    break
                grey = frame.to_ndarray(format="gray")
                small = cv2.resize(grey, (width, max(1, round(grey.shape[0] * width / grey.shape[1]))), interpolation=cv2.INTER_AREA).astype(np.float32)
                values.append(0.0 if previous is None else float(np.abs(small - previous).mean()))
                previous = small
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"{path}: cannot decode the video for motion energy ({exc}).") from None
    return np.array(values)


@dataclass
class Timing:
    """Frame timing of a video read from its container (relative and absolute)."""

    frames: int
    start: float  # [s] first presentation time
    times: np.ndarray  # [s] presentation times in order, relative to ``start``


def frame_times(path: Path) -> Timing:
    """Presentation times of every video frame, from packets (no decoding)."""
    import av

    pts: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            base = stream.time_base or Fraction(1, 1)
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    pts.append(packet.pts)
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"{path}: cannot read video packets ({exc}).") from None
    if not pts:
        raise MediaError(f"{path}: has no video frames.")
    times = np.sort(np.array(pts, dtype=np.float64)) * float(base)
    return Timing(len(times), float(times[0]), times - times[0])


class VideoMetric(Metric):
    aspect: ClassVar[str] = "utility"

    def measure(self, original: Path, anonymized: Path) -> Score:
        raise NotImplementedError


@register
class PosePCK(VideoMetric):
    """PCK@0.05 of MediaPipe body keypoints on anonymized vs original frames (higher is better)."""

    name = "pose_pck"
    direction = "higher"
    params = {
        "alpha": Param(0.05, Interval(float, 0.0, 1.0, "right"), "tolerance as a fraction of the torso size"),
        "every": Param(10, Interval(int, 1, None), "compare every n-th frame [frames]"),
    }

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        comparison = compare_pose(original, anonymized, every=self.every, max_time=max_time)
        value, per_joint = comparison.score(self.alpha)
        joints = {POSE_NAMES[j]: json_number(round(float(per_joint[j]), 4)) for j in BODY_JOINTS if np.isfinite(per_joint[j])}
        return score_of(self, value, n=comparison.frames, mean_error_per_joint_torso_units=joints)


@register
class MotionCorrelation(VideoMetric):
    """Correlation of per-frame motion energy (higher is better)."""

    name = "motion_correlation"
    direction = "higher"

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        a, b = motion_energy(original, max_time=max_time), motion_energy(anonymized, max_time=max_time)
        n = min(len(a), len(b))
        a, b = a[1:n], b[1:n]
        value = float(np.corrcoef(a, b)[0, 1]) if n > 3 and a.std() > 0 and b.std() > 0 else float("nan")
        return score_of(self, value, n=len(a), frames_original=len(a) + 1, frames_anonymized=len(b) + 1)


@register
class TimingOffset(VideoMetric):
    """Largest presentation-time difference of corresponding frames [s] (lower is better; 0 is frame-exact)."""

    name = "timing_offset"
    direction = "lower"
    unit = "s"

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        a, b = frame_times(original), frame_times(anonymized)
        n = min(a.frames, b.frames)
        start_shift = b.start - a.start
        offsets = np.abs((b.times[:n] + b.start) - (a.times[:n] + a.start))
        value = float(offsets.max()) if n else float("nan")
        return score_of(
            self, value, n=n, frames_original=a.frames, frames_anonymized=b.frames,
            start_shift=round(start_shift, 6), frame_exact=bool(a.frames == b.frames and value < 1e-3),
        )


def video_utility(original: Path, anonymized: Path, *, every: int = 10, max_time: float | None = None) -> list[Score]:
    """Pose PCK, motion-energy correlation and frame timing for one pair of videos."""
    return [
        PosePCK(every=every).measure(original, anonymized, max_time=max_time),
        MotionCorrelation().measure(original, anonymized, max_time=max_time),
        TimingOffset().measure(original, anonymized),
    ]

