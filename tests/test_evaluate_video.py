"""Tests of the video utility metrics (avanon.evaluate.video)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from avanon import registry
from avanon.detect.boxes import box_iou
from avanon.errors import ParameterError
from avanon.evaluate import video

CLIP = "mmaction2_videos/demo/demo_skeleton.mp4"


def write_video(path: Path, frames: list[np.ndarray], *, rate: int = 25, first_pts: int = 0) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.time_base = Fraction(1, rate)
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = first_pts + i, Fraction(1, rate)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def moving_square(n: int, speeds: list[int], h: int = 96, w: int = 128) -> list[np.ndarray]:
    frames, x = [], 0
    for i in range(n):
        x = (x + speeds[i % len(speeds)]) % (w - 20)
        frame = np.full((h, w, 3), 30, np.uint8)
        frame[30:50, x : x + 20] = 220
        frames.append(frame)
    return frames


def test_pck_on_hand_made_keypoints() -> None:
    reference = np.zeros((2, 4, 2))
    reference[:, :, 0] = [0, 100, 200, 300]
    test = reference.copy()
    test[0, 1, 0] += 4  # 0.04 torso: correct
    test[0, 2, 1] += 6  # 0.06 torso: wrong
    test[1, 3] = np.nan  # not found: wrong
    torso = np.array([100.0, 100.0])
    value, per_joint = video.pck(reference, test, torso)
    assert value == pytest.approx(6 / 8)
    assert per_joint[1] == pytest.approx(0.02)
    assert per_joint[2] == pytest.approx(0.03)
    assert per_joint[3] == pytest.approx(0.0)  # the mean over the frames where the joint was found (frame 0)
    visible = np.ones((2, 4), bool)
    visible[:, 2] = False
    assert video.pck(reference, test, torso, visible=visible)[0] == pytest.approx(5 / 6)
    assert video.pck(reference, test, torso, alpha=0.1)[0] == pytest.approx(7 / 8)


def test_torso_size_is_the_mean_diagonal() -> None:
    keypoints = np.zeros((33, 2))
    keypoints[video.LEFT_SHOULDER] = (0, 0)
    keypoints[video.RIGHT_SHOULDER] = (40, 0)
    keypoints[video.LEFT_HIP] = (0, 30)
    keypoints[video.RIGHT_HIP] = (40, 30)
    assert video.torso_size(keypoints) == pytest.approx(50.0)


def test_motion_correlation_tracks_movement(tmp_path: Path) -> None:
    speeds = [1, 6, 2, 9, 0, 4, 12, 3]
    original = write_video(tmp_path / "a.mp4", moving_square(32, speeds))
    masked_frames = moving_square(32, speeds)
    for frame in masked_frames:
        frame[0:20, 0:20] = 0  # a static mask elsewhere leaves the motion alone
    masked = write_video(tmp_path / "b.mp4", masked_frames)
    still = write_video(tmp_path / "c.mp4", moving_square(32, [5]))
    metric = registry.create("metric", "motion_correlation")
    assert metric.measure(original, masked).value > 0.95
    assert metric.measure(original, still).value < 0.5


def test_timing_detects_a_shifted_start_and_lost_frames(tmp_path: Path) -> None:
    frames = moving_square(20, [3])
    original = write_video(tmp_path / "a.mp4", frames)
    same = write_video(tmp_path / "b.mp4", frames)
    shifted = write_video(tmp_path / "c.mp4", frames, first_pts=5)
    shorter = write_video(tmp_path / "d.mp4", frames[:18])
    metric = registry.create("metric", "timing_offset")
    exact = metric.measure(original, same)
    assert exact.value == pytest.approx(0.0, abs=1e-6) and exact.detail["frame_exact"]
    late = metric.measure(original, shifted)
    assert late.value == pytest.approx(0.2, abs=1e-3) and not late.detail["frame_exact"]
    lost = metric.measure(original, shorter)
    assert lost.detail["frames_anonymized"] == 18 and not lost.detail["frame_exact"]


def test_pose_pck_on_a_real_clip(tmp_path: Path, dev_data: Path) -> None:
    clip = dev_data / CLIP
    with av.open(str(clip)) as inp:
        stream = inp.streams.video[0]
        rate = int(round(float(stream.average_rate)))
        frames = [f.to_ndarray(format="rgb24")[::2, ::2].copy() for _, f in zip(range(20), inp.decode(stream))]
    original = write_video(tmp_path / "orig.mp4", frames, rate=rate)
    reencoded = write_video(tmp_path / "same.mp4", frames, rate=rate)
    blank = write_video(tmp_path / "blank.mp4", [np.zeros_like(f) for f in frames], rate=rate)
    metric = registry.create("metric", "pose_pck", every=10)
    good = metric.measure(original, reencoded)
    assert good.n >= 1
    assert good.value > 0.8
    assert "left_shoulder" in good.detail["mean_error_per_joint_torso_units"]
    assert good.detail["people_tracked_again"] == good.n and good.detail["pck_detector_found"] > 0.8
    lost = metric.measure(original, blank)
    assert lost.value == 0.0 and lost.detail["people_tracked_again"] == 0 and lost.detail["people_found_again"] == 0


def test_boxes_and_body_regions() -> None:
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    region = video.body_region((100, 50, 120, 70), width=640, height=360)
    assert region == pytest.approx((50.0, 40.0, 170.0, 250.0))  # 6 heads across, 10 down
    clipped = video.body_region((0, 300, 20, 320), width=640, height=360)
    assert (clipped[0], clipped[3]) == (0.0, 360.0)
    keypoints = np.zeros((33, 2))
    keypoints[:, 0], keypoints[:, 1] = np.arange(33), 2 * np.arange(33)
    visible = np.zeros(33, bool)
    visible[[0, 11, 12, 20, 30]] = True  # the nose is not a body joint
    assert video.keypoint_box(keypoints, visible) == (11.0, 22.0, 30.0, 60.0)
    visible[30] = False
    assert video.keypoint_box(keypoints, visible) is None  # under 4 body joints


def test_pose_pck_scores_every_person_of_a_multi_person_scene(tmp_path: Path, dev_data: Path) -> None:
    """The clip's two people beside their mirror image: all four are scored; losing two halves the PCK."""
    with av.open(str(dev_data / CLIP)) as inp:
        stream = inp.streams.video[0]
        rate = int(round(float(stream.average_rate)))
        singles = [f.to_ndarray(format="rgb24")[::2, ::2] for _, f in zip(range(10), inp.decode(stream))]
    pairs = [np.ascontiguousarray(np.concatenate([f, f[:, ::-1]], axis=1)) for f in singles]  # two people and their mirror image
    original = write_video(tmp_path / "two.mp4", pairs, rate=rate)
    same = write_video(tmp_path / "same.mp4", pairs, rate=rate)
    half = [p.copy() for p in pairs]
    for p in half:
        p[:, p.shape[1] // 2 :] = 0  # the mirrored people are gone
    one = write_video(tmp_path / "one.mp4", half, rate=rate)
    reference = video.reference_people(original, every=5)
    assert [len(people) for people in reference.values()] == [4, 4]
    both = video.compare_pose(original, same, every=5, reference=reference)
    assert both.people_per_frame.tolist() == [4, 4] and both.matched_per_frame.tolist() == [4, 4]
    assert both.score()[0] > 0.9
    lost = video.compare_pose(original, one, every=5, reference=reference)
    assert lost.matched_per_frame.tolist() == [2, 2]
    assert 0.3 < lost.score()[0] < 0.6
    score = registry.create("metric", "pose_pck", every=5).measure(original, same)
    assert score.detail["people_per_frame_max"] == 4 and score.detail["people_found_again"] == 8


def paint_people(frames: list[np.ndarray], people: dict[int, list[video.Person]], every: int, part: str) -> list[np.ndarray]:
    """Frames with each reference person's head (everything above the shoulders) or body painted black."""
    painted = []
    for i, frame in enumerate(frames):
        out = frame.copy()
        for person in people.get(i - i % every, []):
            x0, y0, x1, y1 = person.box
            if part == "head":  # the whole head and the space above it, across the body's width and more
                top = person.keypoints[[video.LEFT_SHOULDER, video.RIGHT_SHOULDER], 1].min() - 10
                out[: max(0, int(top)), max(0, int(x0 - 40)) : int(x1 + 40)] = 0
            else:  # the body joints' extent, grown by a tenth
                gx, gy = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
                out[max(0, int(y0 - gy)) : int(y1 + gy), max(0, int(x0 - gx)) : int(x1 + gx)] = 0
        painted.append(out)
    return painted


def half_size_clip(dev_data: Path, tmp_path: Path, n: int) -> tuple[list[np.ndarray], int, Path]:
    """The demo clip's first ``n`` frames at half size, their frame rate, and a video of them."""
    with av.open(str(dev_data / CLIP)) as inp:
        stream = inp.streams.video[0]
        rate = int(round(float(stream.average_rate)))
        frames = [f.to_ndarray(format="rgb24")[::2, ::2].copy() for _, f in zip(range(n), inp.decode(stream))]
    return frames, rate, write_video(tmp_path / "orig.mp4", frames, rate=rate)


def test_seeded_pose_measures_the_body_without_the_face_keyed_detector(tmp_path: Path, dev_data: Path) -> None:
    """Seeded PCK: 1.0 on itself, survives a painted-out head that the person detector needs, fails a painted-out body."""
    frames, rate, original = half_size_clip(dev_data, tmp_path, 10)
    reference = video.reference_people(original, every=5)
    people = [p for frame_people in reference.values() for p in frame_people]
    assert len(people) == 4 and all(p.seeded_box is not None for p in people)

    itself = video.compare_pose(original, original, every=5, reference=reference)
    assert itself.score()[0] == 1.0 and itself.detector_score()[0] == 1.0
    assert itself.tracked_per_frame.tolist() == [2, 2] and itself.unseeded == 0

    headless = video.compare_pose(
        original, write_video(tmp_path / "headless.mp4", paint_people(frames, reference, 5, "head"), rate=rate), every=5, reference=reference
    )
    assert headless.tracked_per_frame.tolist() == [2, 2]  # every body found in the region tracked on the original ...
    assert headless.score()[0] > 0.9 > headless.detector_score()[0]  # ... while the detector's own regions move the joints

    bodiless = video.compare_pose(
        original, write_video(tmp_path / "bodiless.mp4", paint_people(frames, reference, 5, "body"), rate=rate), every=5, reference=reference
    )
    assert bodiless.score()[0] < 0.2
    per_joint = bodiless.seeded.joint_pck()
    assert np.nanmax(per_joint[list(video.BODY_JOINTS)]) <= 0.5  # no body joint survives


def test_seeded_pose_views_take_the_median_of_shifted_crops(tmp_path: Path, dev_data: Path) -> None:
    """Several shifted views: still exactly 1.0 on itself, a painted-out body still fails; bad views refused."""
    frames, rate, original = half_size_clip(dev_data, tmp_path, 6)
    one = video.reference_people(original, every=5)
    five = video.reference_people(original, every=5, views=5)
    people = [p for frame_people in five.values() for p in frame_people]
    assert len(people) == 4 and all(p.views == 5 and p.seeded_box is not None for p in people)
    singles = [p for frame_people in one.values() for p in frame_people]
    moved = [np.nanmax(np.abs(a.seeded - b.seeded)) for a, b in zip(singles, people)]
    assert max(moved) > 0  # the median of shifted views is not the single view's answer ...
    torso = np.array([p.torso for p in people])
    assert max(m / t for m, t in zip(moved, torso)) < 0.1  # ... but the same body

    itself = video.compare_pose(original, original, every=5, reference=five, views=5)
    assert itself.score()[0] == 1.0 and itself.tracked_per_frame.tolist() == [2, 2]
    bodiless = video.compare_pose(
        original, write_video(tmp_path / "bodiless.mp4", paint_people(frames, five, 5, "body"), rate=rate), every=5, reference=five, views=5
    )
    assert bodiless.score()[0] < 0.2

    with pytest.raises(ParameterError, match="views"):
        video.compare_pose(original, original, every=5, reference=five, views=1)
    with pytest.raises(ParameterError, match="views"):
        video.PeopleFinder(views=10)
    with pytest.raises(ParameterError, match="views"):
        registry.create("metric", "pose_pck", views=0)
