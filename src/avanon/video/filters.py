"""The contract of whole-frame video filters (kind ``"video"``): background, body, face mesh, consent.

A filter runs on every frame after tracking has decided the face boxes and before the recipe's
obfuscation paints them. It receives the frame (RGB uint8, which it may change in place or replace)
and the face boxes, and returns the frame and the boxes still to be obfuscated. A filter that keeps a
consented participant visible removes that participant's boxes; every other filter returns the boxes
unchanged, so faces are always obfuscated last, whatever a filter drew.

Filters with per-file state (temporal smoothing, tracking) return a fresh object from ``session``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avanon.detect.boxes import Box
from avanon.detect.models import ModelFile
from avanon.registry import Method


class VideoFilter(Method):
    """Base class of whole-frame filters."""

    kind = "video"

    def session(self, *, width: int, height: int, fps: float) -> "VideoFilter":
        """A filter for one file (stateful filters return a fresh copy)."""
        return self

    def models(self) -> list[ModelFile]:
        return []

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        """Filter frame ``index``; return the frame and the boxes to obfuscate."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        """Counts for the manifest (for example people per frame)."""
        return {}

    def close(self) -> None:
        """Release per-file state."""
