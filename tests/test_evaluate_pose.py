"""The evaluation's MediaPipe pose graphs come from the one builder, which checks the pinned model files (avanon.evaluate.pose, avanon.detect.mp)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from avanon.detect import landmarks, models
from avanon.detect.mp import pose_graph
from avanon.errors import ModelError
from avanon.evaluate import pose

SRC = Path(__file__).resolve().parents[1] / "src" / "avanon"


def test_the_builder_makes_a_working_graph() -> None:
    graph = pose_graph(static=True)
    result = graph.process(np.zeros((64, 64, 3), np.uint8))
    assert result.pose_landmarks is None  # nobody in a black image, but the graph ran


def test_a_swapped_model_file_is_refused_by_every_evaluation_pose(monkeypatch: pytest.MonkeyPatch) -> None:
    real = landmarks.POSE_GRAPH
    monkeypatch.setitem(models._KNOWN, real.name, real)  # the swapped pin below registers itself; restored afterwards
    swapped = dataclasses.replace(real, sha256="0" * 64)
    monkeypatch.setattr(landmarks, "POSE_MODELS", [swapped, *landmarks.POSE_MODELS[1:]])
    with pytest.raises(ModelError, match="expected the pinned 0000"):
        pose_graph(static=False)
    with pytest.raises(ModelError, match="pinned"):
        pose.PeopleFinder()  # static and seeded (video-mode) graphs alike


def test_the_evaluation_builds_no_pose_graph_of_its_own() -> None:
    builds = re.compile(r"solutions\.pose\.Pose\(")
    for path in sorted((SRC / "evaluate").glob("*.py")) + sorted((SRC / "video").glob("*.py")):
        assert not builds.search(path.read_text(encoding="utf-8")), f"{path.name} builds a MediaPipe pose graph; use avanon.detect.mp.pose_graph"
