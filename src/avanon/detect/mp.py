"""Import MediaPipe without the plotting stack it drags in.

``import mediapipe`` imports ``mediapipe.python.solutions.drawing_utils``, which imports
``matplotlib.pyplot`` at module level for a landmark-plotting helper avanon never calls. That costs
0.4-0.5 s in every process that loads a MediaPipe model (each run and each worker). :func:`mediapipe`
imports MediaPipe with ``matplotlib.pyplot`` stood in by a proxy that imports the real module on
first use, so code that does plot with MediaPipe's helper still works, and any other
``import matplotlib.pyplot`` gets the real module. Every avanon module imports MediaPipe through here.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

_LOCK = threading.Lock()
_STUBBED = ("matplotlib", "matplotlib.pyplot")

# The 33 landmarks of MediaPipe's body pose model, in its order.
POSE_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip


class _DeferredPyplot(types.ModuleType):
    """Stands in for ``matplotlib.pyplot`` inside MediaPipe; imports the real module when used."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("matplotlib.pyplot"), name)


def mediapipe() -> types.ModuleType:
    """The ``mediapipe`` package, imported once per process without importing ``matplotlib.pyplot``."""
    module = sys.modules.get("mediapipe")
    if module is not None and hasattr(module, "solutions"):
        return module
    with _LOCK:
        if "matplotlib.pyplot" in sys.modules:  # already paid for: a plain import costs nothing more
            return importlib.import_module("mediapipe")
        saved = {name: sys.modules.get(name) for name in _STUBBED}
        proxy = _DeferredPyplot("matplotlib.pyplot")
        if saved["matplotlib"] is None:
            package = types.ModuleType("matplotlib")
            package.__path__ = []  # a package, so ``import matplotlib.pyplot`` resolves to the proxy
            package.pyplot = proxy  # type: ignore[attr-defined]
            sys.modules["matplotlib"] = package
        sys.modules["matplotlib.pyplot"] = proxy
        try:
            return importlib.import_module("mediapipe")
        finally:
            for name, original in saved.items():
                if original is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = original


def pose_graph(*, static: bool, detection: float = 0.5, tracking: float = 0.5, smooth: bool = True) -> Any:
    """A new MediaPipe pose graph, built only after its model files matched their pinned sha256.

    The one place avanon builds MediaPipe's body pose solution (``model_complexity=1``, the only
    complexity the wheel ships). The graph, the person detector and the landmark model are checked
    against the pins of :data:`avanon.detect.landmarks.POSE_MODELS` first; a missing or swapped file
    raises :class:`~avanon.errors.ModelError`.

    Parameters
    ----------
    static : bool
        Detect the person anew on every image (``True``) or track from the previous landmarks.
    detection : float in [0, 1]
        Minimum person-detection confidence.
    tracking : float in [0, 1]
        Minimum pose presence score when tracking (video mode).
    smooth : bool
        Landmark smoothing across images (video mode only).
    """
    from avanon.detect.landmarks import POSE_MODELS  # the pins; imported here, landmarks imports this module

    for model in POSE_MODELS:
        model.path()
    return mediapipe().solutions.pose.Pose(
        static_image_mode=static,
        model_complexity=1,
        smooth_landmarks=smooth,
        min_detection_confidence=detection,
        min_tracking_confidence=tracking,
    )
