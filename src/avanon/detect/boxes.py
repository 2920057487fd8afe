"""Boxes in pixels: non-maximum suppression and overlap, one implementation for the package.

A box is ``(x0, y0, x1, y1)`` in pixels of the frame it was found on (``x1``, ``y1`` exclusive).
"""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, *, min_score: float = -np.inf) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    Wraps :func:`cv2.dnn.NMSBoxes`.

    Parameters
    ----------
    boxes : ndarray, shape (n, 4) [pixels]
        ``x0, y0, x1, y1`` per row.
    scores : ndarray, shape (n,)
    iou : float in [0, 1]
        A box overlapping a kept, better box by more than this intersection over union is dropped.
    min_score : float
        Boxes scoring below this are dropped first.

    Returns
    -------
    list of int
    """
    import cv2

    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) == 0:
        return []
    xywh = np.column_stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]])
    eligible = scores >= min_score
    if not eligible.any():
        return []
    # NMSBoxes wants non-negative scores: shift them (only their order matters) and drop by index.
    shifted = scores - scores[eligible].min() + 1.0
    keep = cv2.dnn.NMSBoxes(xywh[eligible].tolist(), shifted[eligible].tolist(), 0.0, float(iou))
    index = np.flatnonzero(eligible)
    keep = [int(index[i]) for i in np.asarray(keep).reshape(-1)]
    return sorted(keep, key=lambda i: -scores[i])


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clip_box(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` clipped to a frame of ``shape`` (h, w, ...)."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    return (max(0.0, float(x0)), max(0.0, float(y0)), min(float(w), float(x1)), min(float(h), float(y1)))
