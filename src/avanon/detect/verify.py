"""A second look at low-confidence face candidates: is there a head at that place?

Detectors run at low thresholds so that small, blurred and turned-away faces are not missed, and at
such thresholds most boxes are not faces (hands, bottles, shirts, signs: on the dev clips about nine
in ten CenterFace boxes under 0.5 match no face). A low-scoring box is therefore a *candidate*, never
a mask by itself. :class:`CropVerifier` looks again: it cuts a square around each candidate,
``context`` times the candidate's size, scales it to ``size`` pixels (a 10-pixel face becomes a
40-pixel one) and runs two detectors on the crops:

- CenterFace on all crops of a frame in one batch (the candidate's own detector, now seeing the
  face at a scale it was trained for), and
- BlazeFace short range (a different network, trained on close faces, which is what an
  upscaled crop looks like).

A candidate is a head when either finds a face whose centre lies inside the candidate box at the
given threshold; a body-pose head must be confirmed by both (``both``: on the arm-wrestling clip
MediaPipe took the clasped fists for a head, and one of the two networks found a "face" on the
upscaled fists now and then, rarely both at once). The verdict carries the face found on the crop,
mapped back to the frame (measured at a better scale); the detector decides how to combine it with
its own box.

The verification thresholds set where precision and recall trade (see BENCHMARKS.md, "Precise
face masks"). Candidates that stay unverified are handed to the tracker, which keeps them only
where they continue a confirmed face track (temporal confirmation, :mod:`avanon.video.tracking`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from avanon.detect.boxes import Box


def square_crops(image: np.ndarray, boxes: Sequence[Box], *, context: float, size: int, min_side: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """Square crops around ``boxes`` scaled to ``size`` pixels, and their frame positions.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, 3), uint8
        The RGB frame.
    boxes : sequence of (x0, y0, x1, y1) [pixels]
    context : float > 0
        Side of each crop as a multiple of the box's longer side.
    size : int > 0 [pixels]
        Side of the returned crops.
    min_side : float > 0 [pixels]
        Smallest crop side taken from the frame.

    Returns
    -------
    crops : np.ndarray, shape (N, size, size, 3), uint8
        Parts outside the frame are black.
    origins : np.ndarray, shape (N, 3)
        ``x0, y0, side`` of each crop in the frame [pixels].
    """
    h, w = image.shape[:2]
    crops = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    origins = np.zeros((len(boxes), 3))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        side = max(min_side, context * max(x1 - x0, y1 - y0))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        X0, Y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        S = max(1, int(round(side)))
        origins[i] = (X0, Y0, S)
        ix0, iy0, ix1, iy1 = max(0, X0), max(0, Y0), min(w, X0 + S), min(h, Y0 + S)
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        canvas = np.zeros((S, S, 3), dtype=np.uint8)
        canvas[iy0 - Y0 : iy1 - Y0, ix0 - X0 : ix1 - X0] = image[iy0:iy1, ix0:ix1]
        crops[i] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_LINEAR if S < size else cv2.INTER_AREA)
    return crops, origins


@dataclass(frozen=True)
class Verdict:
    """The outcome for one candidate: ``box`` is the head box to mask when ``verified``."""

    verified: bool
    box: Box  # the face the second look found, mapped to the frame (the candidate's box when none)
    score: float  # best crop-detector score found at the candidate's place (0 when none)


class CropVerifier:
    """Verify face candidates on upscaled crops (see the module docstring).

    Parameters
    ----------
    size : int > 0 [pixels]
        Side of the crops the detectors see.
    context : float > 1
        Crop side as a multiple of the candidate's longer side.
    centerface : float in (0, 1]
        CenterFace threshold on the crops.
    blazeface : float in (0, 1]
        BlazeFace short-range threshold on the crops.
    """

    def __init__(self, *, size: int = 96, context: float = 2.5, centerface: float = 0.5, blazeface: float = 0.6) -> None:
        self.size, self.context = size, context
        self.centerface, self.blazeface = centerface, blazeface

    def __call__(
        self, image: np.ndarray, boxes: Sequence[Box], *, sizes: tuple[float, float] = (0.6, 1.6), centre: float = 1.0, both: bool = False
    ) -> list[Verdict]:
        """One :class:`Verdict` per candidate box, in order.

        ``sizes`` bounds the size of a face found on the crop relative to the candidate's (longer
        sides): a much larger "face" around a small candidate is a blob, not the candidate's face.
        ``centre`` is the central fraction of each candidate box (per side) in which the found face's
        centre must lie: a head estimated from a body has its face near its middle, not at its rim.
        ``both``: the two networks must each find the face (a body-pose "head" on clasped fists fools
        one of them on some frames, rarely both at once).
        """
        if not boxes:
            return []
        from avanon.detect.faces import blazeface_boxes, centerface_batch  # one model loader each, in faces.py

        crops, origins = square_crops(image, boxes, context=self.context, size=self.size)
        found_cf = centerface_batch(crops, threshold=self.centerface)
        verdicts = []
        for i, box in enumerate(boxes):
            found = list(found_cf[i])
            inner = _central(box, centre)
            where = (inner, origins[i], self.size, sizes)
            hit = _hit(found, *where, around=box)
            if both and hit is not None:  # the second network must agree
                if _hit(blazeface_boxes(crops[i], threshold=self.blazeface, model="short"), *where, around=box) is None:
                    hit = None
            elif not both and hit is None:  # the second network may find it instead
                hit = _hit(blazeface_boxes(crops[i], threshold=self.blazeface, model="short"), *where, around=box)
            if hit is None:
                verdicts.append(Verdict(False, box, 0.0))
                continue
            verdicts.append(Verdict(True, hit[:4], hit[4]))
        return verdicts


def _central(box: Box, fraction: float) -> Box:
    """The central ``fraction`` of ``box`` (per side), about its centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = fraction * (box[2] - box[0]) / 2, fraction * (box[3] - box[1]) / 2
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def _hit(
    found: list[tuple[float, float, float, float, float]], box: Box, origin: np.ndarray, size: int, sizes: tuple[float, float], *, around: Box
) -> tuple[float, float, float, float, float] | None:
    """The best crop detection (mapped to the frame) whose centre lies inside ``box`` and whose size
    is within ``sizes`` of the candidate box ``around``'s, or None."""
    x0, y0, side = origin
    k = side / size
    extent = max(around[2] - around[0], around[3] - around[1])
    best = None
    for fx0, fy0, fx1, fy1, score in found:
        mapped = (x0 + fx0 * k, y0 + fy0 * k, x0 + fx1 * k, y0 + fy1 * k)
        cx, cy = (mapped[0] + mapped[2]) / 2, (mapped[1] + mapped[3]) / 2
        ratio = max(mapped[2] - mapped[0], mapped[3] - mapped[1]) / max(extent, 1e-9)
        if not sizes[0] <= ratio <= sizes[1]:
            continue
        if box[0] <= cx <= box[2] and box[1] <= cy <= box[3] and (best is None or score > best[4]):
            best = (*mapped, score)
    return best
