"""Tests of OpenPose mobilenet_thin in OpenCV (avanon.detect.openpose) on real frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from avanon.detect import openpose
from avanon.detect.openpose import BODY_JOINTS, KEYPOINTS, LIMBS, OpenPose, find_peaks, graph_path, group_people
from avanon.errors import ModelError, ParameterError

ARM_WRESTLING = "mmaction2_videos/demo/demo.mp4"


def frames(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in indices:
                out[i] = frame.to_ndarray(format="rgb24")
            if len(out) == len(indices):
                break
    return out


def test_people_on_the_street_frame_have_plausible_joints(dancer: np.ndarray) -> None:
    people = OpenPose()(dancer)
    assert len(people) >= 4
    full = [p for p in people if p.found.sum() >= 14]
    assert len(full) >= 3
    for p in full:
        k = {name: p.keypoints[i] for i, name in enumerate(KEYPOINTS)}
        # upright people: head above neck above hips above knees above ankles (image y grows down)
        hips = np.nanmean([k["right_hip"][1], k["left_hip"][1]])
        ankles = np.nanmean([k["right_ankle"][1], k["left_ankle"][1]])
        assert k["neck"][1] < hips < ankles
        assert p.head_points()[:, 1].max() <= k["neck"][1] + 5
        x0, y0, x1, y1 = p.box()
        assert 60 < y1 - y0 < 400 and x1 - x0 < 200  # one person, not a chain of several
    assert all((p.scores[p.found] > 0).all() and (p.scores[~p.found] == 0).all() for p in people)
    assert [p.score for p in people] == sorted((p.score for p in people), reverse=True)


def test_two_arm_wrestlers_are_two_people(dev_data: Path) -> None:
    pose = OpenPose()
    for index, frame in frames(dev_data / ARM_WRESTLING, {50, 100}).items():
        people = [p for p in pose(frame) if p.found.sum() >= 5]
        centres = [(p.box()[0] + p.box()[2]) / 2 for p in people]
        w = frame.shape[1]
        assert any(c < w / 2 for c in centres) and any(c > w / 2 for c in centres), (index, centres)
        arms = [p for p in people if p.found[list(BODY_JOINTS[:4])].sum() >= 2]
        assert arms, index


def test_grouping_joins_a_synthetic_limb_and_rejects_a_crossing_one() -> None:
    h, w = 40, 60
    paf = np.zeros((38, h, w), np.float32)
    # neck (part 1) at (10, 10), right shoulder (part 2) at (30, 10): the PAF of limb 0 points along +x
    cx, cy = openpose.PAF_CHANNELS[0]
    paf[cx, 5:15, 5:35] = 1.0
    peaks = [np.empty((0, 3)) for _ in range(18)]
    peaks[1] = np.array([[10.0, 10.0, 0.9]])
    peaks[2] = np.array([[30.0, 10.0, 0.8], [10.0, 30.0, 0.9]])  # the second one is not along the field
    # right elbow (part 3) below the shoulder, joined by limb 2 (part 2 -> part 3) pointing down
    ex, ey = openpose.PAF_CHANNELS[2]
    paf[ey, 8:32, 28:33] = 1.0
    peaks[3] = np.array([[30.0, 30.0, 0.7]])
    # right wrist (part 4), limb 3 pointing left
    wx, wy = openpose.PAF_CHANNELS[3]
    paf[wx, 28:33, 10:32] = -1.0
    peaks[4] = np.array([[12.0, 30.0, 0.6]])
    people = group_people(peaks, paf)
    assert len(people) == 1
    parts, score = people[0]
    assert parts[1][:2] == (10.0, 10.0) and parts[2][:2] == (30.0, 10.0)
    assert parts[3][:2] == (30.0, 30.0) and parts[4][:2] == (12.0, 30.0)
    assert sum(p is not None for p in parts) == 4 and score > 0.3
    assert LIMBS[0] == (1, 2) and LIMBS[2] == (2, 3) and LIMBS[3] == (3, 4)


def test_peaks_are_local_maxima_above_the_threshold() -> None:
    heat = np.zeros((2, 50, 50), np.float32)
    heat[0, 20, 30] = 40.0  # smoothed to about 0.7
    heat[1, 10, 10] = 0.5  # smoothed below 0.05
    found = find_peaks(heat, 0.05)
    assert found[0][:, :2].tolist() == [[30.0, 20.0]]
    assert len(found[1]) == 0


def test_missing_or_altered_graph_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make install"):
        graph_path(tmp_path)
    target = tmp_path / openpose.GRAPH_RELPATH
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the graph")
    with pytest.raises(ModelError, match="expected the pinned"):
        graph_path(tmp_path)
    assert graph_path().name == "graph_opt.pb"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ParameterError, match="'input_height' parameter of OpenPose"):
        OpenPose(input_height=370)
    with pytest.raises(ParameterError, match="'upsample'"):
        OpenPose(upsample=0)
    with pytest.raises(ParameterError, match="RGB frame"):
        OpenPose()(np.zeros((10, 10), np.uint8))
