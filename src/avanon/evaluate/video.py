"""Video utility: do body movement and timing survive face masking?

``pose_pck``
    PCK@0.05 of MediaPipe body keypoints of every person on the anonymized frames against the
    original frames, the landmark model seeded from the original: a joint is correct within 0.05
    of the torso size. How people are found and measured, and the floor recompression alone sets,
    are described in :mod:`avanon.evaluate.pose`.
``motion_correlation``
    Pearson correlation of the per-frame motion energy (mean absolute grey-level difference between
    consecutive frames, on frames shrunk to 64 pixels wide) of the two videos.
``timing_offset``
    Frame-exact timing: frame counts, start times, and the largest difference between the
    presentation times of corresponding frames [s], read from the containers without decoding.

In a study (:func:`avanon.evaluate.study.evaluate_study`) the pose and the motion energy come from
the pair's one decoding pass (:mod:`avanon.evaluate.frames`); frames are sampled every ``--every``
frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from avanon.detect.mp import POSE_NAMES
from avanon.errors import MediaError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.frames import SIDES, FrameAnalysis, video_frames
from avanon.evaluate.pose import (  # noqa: F401 (the pose primitives, kept importable from here)
    BODY_JOINTS,
    HEAD_POINTS,
    LEFT_HIP,
    LEFT_SHOULDER,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    PeopleFinder,
    Person,
    PoseAnalysis,
    PoseComparison,
    PosePairs,
    PoseSettings,
    body_region,
    compare_pose,
    keypoint_box,
    pck,
    reference_people,
    square_crop,
    torso_size,
)
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia


class MotionEnergy:
    """Per-frame motion energy of one video, frame by frame: mean absolute grey difference to the previous frame (first is 0).

    Parameters
    ----------
    width : int > 0 [pixels]
        Frames are shrunk to this width first.
    """

    def __init__(self, *, width: int = 64) -> None:
        self.width = int(width)
        self.values: list[float] = []
        self.previous: np.ndarray | None = None

    def add(self, frame: Any) -> None:
        """The next decoded frame (``av.VideoFrame``)."""
        import cv2

        grey = frame.to_ndarray(format="gray")
        size = (self.width, max(1, round(grey.shape[0] * self.width / grey.shape[1])))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        self.values.append(0.0 if self.previous is None else float(np.abs(small - self.previous).mean()))
        self.previous = small


def motion_energy(path: Path, *, width: int = 64, max_time: float | None = None) -> np.ndarray:
    """Per-frame motion energy of one video (see :class:`MotionEnergy`), frames before ``max_time`` [s]."""
    energy = MotionEnergy(width=width)
    for t, frame, _ in video_frames(path):
        if max_time is not None and t >= max_time:
            break
        energy.add(frame)
    return np.array(energy.values)


class MotionAnalysis(FrameAnalysis):
    """The motion energy of both files of a pair, from every frame of the pair's one decoding pass."""

    every = 0
    all_frames = True

    def __init__(self) -> None:
        self.energy = {side: MotionEnergy() for side in SIDES}

    def add_frame(self, side: str, time: float, frame: Any) -> None:
        self.energy[side].add(frame)


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
    """A utility metric of one pair of videos."""

    aspect: ClassVar[str] = "utility"
    kinds: ClassVar[tuple[str, ...]] = ("video",)

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        raise NotImplementedError


@register
class PosePCK(VideoMetric):
    """PCK@0.05 of MediaPipe body keypoints on anonymized vs original frames, seeded from the original (higher is better)."""

    name = "pose_pck"
    direction = "higher"
    params = {
        "alpha": Param(0.05, Interval(float, 0.0, 1.0, "right"), "tolerance as a fraction of the torso size"),
        "every": Param(10, Interval(int, 1, None), "compare every n-th frame [frames]"),
        "max_people": Param(8, Interval(int, 0, 100), "largest faces per frame used to find people (the whole frame is searched too)"),
        "views": Param(1, Interval(int, 1, 9), "shifted crops per seeded pose measurement, median taken (more: less model jitter, slower)"),
    }

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        settings = PoseSettings(max_people=self.max_people)
        return self.score(compare_pose(original, anonymized, every=self.every, max_time=max_time, views=self.views, settings=settings))

    def prepare(self, media: PairMedia) -> None:
        self._analysis(media)

    def measure_pair(self, media: PairMedia) -> list[Score]:
        return [self.score(self._analysis(media).result())]

    def _analysis(self, media: PairMedia) -> PoseAnalysis:
        """The pair's pose analysis for these parameters, sampled every ``--every`` frames of the study."""
        settings = PoseSettings(max_people=self.max_people)
        build = lambda: PoseAnalysis(every=media.context.every, views=self.views, settings=settings)  # noqa: E731
        return media.analysis(f"pose_pck:{self.views}:{self.max_people}", build)

    def score(self, comparison: PoseComparison) -> Score:
        """The score of a pose comparison, with the error per joint and the people found in the detail."""
        value, per_joint = comparison.score(self.alpha)
        joints = {POSE_NAMES[j]: json_number(round(float(per_joint[j]), 4)) for j in BODY_JOINTS if np.isfinite(per_joint[j])}
        people = comparison.people_per_frame
        return score_of(
            self,
            value,
            n=comparison.frames,
            mean_error_per_joint_torso_units=joints,
            frames_sampled=comparison.sampled,
            people_per_frame_max=int(people.max()) if people.size else 0,
            people_per_frame_mean=json_number(round(float(people.mean()), 3)) if people.size else 0.0,
            people_tracked_again=int(comparison.tracked_per_frame.sum()),
            people_not_seeded=comparison.unseeded,
            pck_detector_found=json_number(round(comparison.detector_score(self.alpha)[0], 4)),
            people_found_again=int(comparison.matched_per_frame.sum()),
        )


@register
class MotionCorrelation(VideoMetric):
    """Correlation of per-frame motion energy (higher is better)."""

    name = "motion_correlation"
    direction = "higher"

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        return self.correlate(motion_energy(original, max_time=max_time), motion_energy(anonymized, max_time=max_time))

    def prepare(self, media: PairMedia) -> None:
        media.analysis("motion", MotionAnalysis)

    def measure_pair(self, media: PairMedia) -> list[Score]:
        energy = media.analysis("motion", MotionAnalysis).energy
        return [self.correlate(np.array(energy["original"].values), np.array(energy["anonymized"].values))]

    def correlate(self, a: np.ndarray, b: np.ndarray) -> Score:
        """Correlation of two motion-energy series (their first, always 0, values left out)."""
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
            self,
            value,
            n=n,
            frames_original=a.frames,
            frames_anonymized=b.frames,
            start_shift=round(start_shift, 6),
            frame_exact=bool(a.frames == b.frames and value < 1e-3),
        )

    def measure_pair(self, media: PairMedia) -> list[Score]:
        return [self.measure(media.original, media.anonymized)]  # packets only, nothing decoded


def video_utility(original: Path, anonymized: Path, *, every: int = 10, max_time: float | None = None) -> list[Score]:
    """Pose PCK, motion-energy correlation and frame timing for one pair of videos."""
    return [
        PosePCK(every=every).measure(original, anonymized, max_time=max_time),
        MotionCorrelation().measure(original, anonymized, max_time=max_time),
        TimingOffset().measure(original, anonymized),
    ]
