"""Background: keep the people, replace everything else (rooms, walls, photos, name tags).

MediaPipe selfie segmentation gives a soft person mask for the whole frame (every person in view,
not one). The mask is thresholded, grown by ``grow`` of the frame height so hands and hair at the
edge of a person are kept, and feathered; the rest of the frame is replaced by a solid colour, a
strong blur or a coarse pixelation of itself. Regions named in the recipe (``keep``: polygons in
fractions of the frame width and height, for example the toy table in a play session) are kept as
they are. The face boxes pass through unchanged: faces are still obfuscated afterwards.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from avanon.detect import landmarks as lm
from avanon.detect.models import ModelFile
from avanon.errors import ParameterError
from avanon.registry import Interval, Kind, Options, Param, register
from avanon.video.filters import Box, VideoFilter


def polygon_mask(polygons: tuple, width: int, height: int) -> np.ndarray:
    """A uint8 mask (255 inside) of polygons given as ``((x, y), ...)`` in fractions of the frame size."""
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.round(np.asarray(poly, float) * [width, height]).astype(np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask


def people_count(mask: np.ndarray, *, min_area: float = 0.002) -> int:
    """Connected person regions covering at least ``min_area`` of the frame in a uint8 mask."""
    small = cv2.resize(mask, (160, max(1, round(160 * mask.shape[0] / mask.shape[1]))), interpolation=cv2.INTER_AREA)
    n, _, stats, _ = cv2.connectedComponentsWithStats((small > 127).astype(np.uint8))
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_area * small.size).sum())


def _check_polygons(polygons: tuple) -> None:
    for k, poly in enumerate(polygons):
        pts = np.asarray(poly, dtype=object)
        ok = pts.ndim == 2 and pts.shape[0] >= 3 and pts.shape[1] == 2
        if ok:
            try:
                values = pts.astype(float)
                ok = bool(np.all((values >= 0) & (values <= 1)))
            except (TypeError, ValueError):
                ok = False
        if not ok:
            raise ParameterError(
                f"The 'keep' parameter of Background must be a list of polygons, each a list of at least 3 "
                f"[x, y] points in fractions of the frame size in [0, 1]. Polygon {k} is {poly!r}."
            )


@register
class Background(VideoFilter):
    """Replace everything but the people (and the ``keep`` regions) by colour, blur or pixelation."""

    name = "background"
    params = {
        "mode": Param("colour", Options(("colour", "blur", "pixelate")), "what replaces the background"),
        "colour": Param((128, 128, 128), Kind((tuple,), length=3), "RGB background colour for mode 'colour', 0-255 each"),
        "blur": Param(0.03, Interval(float, 0.005, 0.5), "Gaussian sigma for mode 'blur' [fraction of the frame width]"),
        "cells": Param(24, Interval(int, 2, 512), "blocks across the frame for mode 'pixelate'"),
        "threshold": Param(0.5, Interval(float, 0.01, 0.99), "person-mask probability kept as person"),
        "grow": Param(0.015, Interval(float, 0.0, 0.2), "mask dilation [fraction of the frame height]"),
        "feather": Param(0.005, Interval(float, 0.0, 0.1), "soft edge width [fraction of the frame height]"),
        "keep": Param((), Kind((tuple,)), "polygons kept as they are: [[[x, y], ...], ...] in fractions of width/height"),
        "model": Param("landscape", Options(("landscape", "general")), "selfie-segmentation model (landscape is faster)"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_polygons(self.keep)
        self._keep: np.ndarray | None = None
        self._people: list[int] = []

    def session(self, *, width: int, height: int, fps: float) -> "Background":
        fresh = Background(**self.get_params())
        fresh._keep = polygon_mask(self.keep, width, height) if self.keep else None
        return fresh

    def models(self) -> list[ModelFile]:
        return list(lm.SEGMENTATION_MODELS)

    def person_mask(self, image: np.ndarray) -> np.ndarray:
        """The uint8 keep mask (255 = keep) for one frame: people, grown, plus ``keep`` polygons."""
        h, w = image.shape[:2]
        soft = lm.person_mask(image, landscape=self.model == "landscape")
        mask = (soft >= self.threshold).astype(np.uint8) * 255
        radius = int(round(self.grow * h))
        if radius > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            mask = cv2.dilate(mask, kernel)
        self._people.append(people_count(mask))
        keep = self._keep if self._keep is not None and self._keep.shape == mask.shape else (
            polygon_mask(self.keep, w, h) if self.keep else None
        )
        if keep is not None:
            mask = np.maximum(mask, keep)
        return mask

    def replacement(self, image: np.ndarray) -> np.ndarray:
        """The full-frame background that replaces what is not kept."""
        h, w = image.shape[:2]
        if self.mode == "colour":
            return np.full_like(image, tuple(int(c) for c in self.colour))
        if self.mode == "pixelate":
            cw = min(self.cells, w)
            ch = max(1, min(h, round(cw * h / w)))
            small = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        factor = 8  # blur a small copy: same look, a fraction of the cost
        small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        sigma = max(0.5, self.blur * w / factor)
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h = image.shape[0]
        mask = self.person_mask(image)
        back = self.replacement(image)
        soft = int(round(self.feather * h))
        if soft > 0:
            alpha = cv2.GaussianBlur(mask, (0, 0), sigmaX=soft, sigmaY=soft)
            # never let feathering reveal background: only soften inwards from the kept edge
            alpha = np.minimum(alpha, mask)
            weight = alpha.astype(np.float32) * (1.0 / 255.0)
            out = cv2.blendLinear(image, back, weight, 1.0 - weight)
        else:
            out = np.where(mask[:, :, None] > 0, image, back)
        return np.ascontiguousarray(out, dtype=np.uint8), boxes

    def stats(self) -> dict[str, Any]:
        people = np.array(self._people or [0])
        return {"frames": len(self._people), "people_per_frame_max": int(people.max()), "people_per_frame_mean": round(float(people.mean()), 3)}
