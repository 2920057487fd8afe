from __future__ import annotations

import pytest

from avanon.video.tracking import CHIN_MARGIN, FaceTracker, grow, iou, merge_overlapping

BOX = (100.0, 100.0, 140.0, 150.0)


def _run(tracker, detections_by_frame, n):
    out = []
    for i in range(n):
        out += tracker.push(i, i, [(b, "t") for b in detections_by_frame.get(i, [])])
    out += tracker.flush()
    assert [f.index for f in out] == list(range(n))
    return out


def test_gap_filling_and_margins_cover_missed_frames():
    tracker = FaceTracker(width=640, height=480, max_gap=5, margin=3, expand=0.0)
    dets = {10: [BOX], 14: [(104.0, 100.0, 144.0, 150.0)]}
    frames = _run(tracker, dets, 30)
    masked = [f.index for f in frames if f.boxes]
    assert masked == list(range(7, 18))  # 3 before first sight, gap 11-13 bridged, 3 after last sight
    assert any(b[0] == pytest.approx(102.0) for b in frames[12].boxes)  # interpolated between the two sightings


def test_gap_longer_than_max_gap_is_not_bridged():
    tracker = FaceTracker(width=640, height=480, max_gap=2, margin=0, expand=0.0)
    frames = _run(tracker, {0: [BOX], 6: [BOX]}, 8)
    assert [f.index for f in frames if f.boxes] == [0, 6]


def test_stale_boxes_grow_and_expansion_is_clipped():
    tracker = FaceTracker(width=200, height=200, max_gap=4, margin=4, expand=0.5)
    frames = _run(tracker, {0: [(0.0, 0.0, 40.0, 40.0)]}, 6)
    first, later = frames[0].boxes[0], frames[3].boxes[0]
    assert first[0] == 0.0 and first[1] == 0.0  # clipped at the frame edge
    assert later[2] > first[2]  # grows while stale


def test_window_is_bounded():
    tracker = FaceTracker(width=64, height=64, max_gap=6, margin=2)
    held = 0
    for i in range(100):
        tracker.push(i, i, [((1.0, 1.0, 9.0, 9.0), "t")] if i % 5 == 0 else [])
        held = max(held, len(tracker._pending))
    assert held <= tracker.window + 1


def test_out_of_order_frames_are_refused():
    tracker = FaceTracker(width=64, height=64, max_gap=3, margin=3)
    tracker.push(0, None, [])
    with pytest.raises(ValueError, match="in order"):
        tracker.push(2, None, [])


def test_helpers():
    assert iou(BOX, BOX) == 1.0
    assert iou(BOX, (0.0, 0.0, 1.0, 1.0)) == 0.0
    assert grow((10.0, 10.0, 20.0, 20.0), 0.5) == (5.0, 5.0, 25.0, 25.0)
    assert len(merge_overlapping([BOX, (101.0, 101.0, 141.0, 151.0), (300.0, 300.0, 320.0, 320.0)])) == 2


def _textured(height: int, width: int, seed: int = 0):
    import cv2
    import numpy as np

    noise = (np.random.default_rng(seed).random((height, width)) * 255).astype(np.uint8)
    return np.dstack([cv2.GaussianBlur(noise, (0, 0), 3)] * 3)


def test_camera_motion_measures_the_shift_of_the_picture():
    from avanon.video.tracking import CameraMotion

    scene = _textured(480, 800)
    motion = CameraMotion()
    assert motion.update(scene[60:420, 60:700]) == (0.0, 0.0)  # first frame: nothing to compare with
    dx, dy = motion.update(scene[48:408, 80:720])  # camera moved right 20 px and up 12 px: content moves left, down
    assert dx == pytest.approx(-20.0, abs=1.0) and dy == pytest.approx(12.0, abs=1.0)


def test_camera_motion_ignores_an_unrelated_picture():
    import numpy as np

    from avanon.video.tracking import CameraMotion

    motion = CameraMotion(min_response=0.2)
    motion.update(_textured(360, 640, seed=1))
    assert motion.update(np.full((360, 640, 3), 128, np.uint8)) == (0.0, 0.0)  # flat frame: no reliable peak


def test_tracks_follow_a_panning_camera():
    """A still face seen every 8th frame while the picture moves 6 px a frame: masked where it is in between."""
    tracker = FaceTracker(width=1280, height=720, max_gap=12, margin=8, expand=0.0)
    face = (400.0, 300.0, 412.0, 314.0)  # 12 px, moves 48 px between sightings: no overlap, far apart
    out = []
    for i in range(25):
        x = 6.0 * i
        dets = [((face[0] + x, face[1], face[2] + x, face[3]), "t")] if i % 8 == 0 else []
        out += tracker.push(i, i, dets, shift=(6.0 if i else 0.0, 0.0))
    out += tracker.flush()
    assert tracker.track_count == 1  # one face, not a new track at every sighting
    for frame in out[:17]:
        x = 6.0 * frame.index
        assert any(iou(b, (face[0] + x, face[1], face[2] + x, face[3])) > 0.9 for b in frame.boxes), frame.index


def test_without_motion_compensation_the_same_face_is_lost_between_sightings():
    tracker = FaceTracker(width=1280, height=720, max_gap=12, margin=8, expand=0.0)
    face = (400.0, 300.0, 412.0, 314.0)
    for i in range(17):
        x = 6.0 * i
        tracker.push(i, i, [((face[0] + x, face[1], face[2] + x, face[3]), "t")] if i % 8 == 0 else [])
    assert tracker.track_count == 3  # each sighting starts a new track: why the camera shift is needed


def test_camera_motion_ignores_sub_pixel_jitter():
    import numpy as np

    from avanon.video.tracking import CameraMotion

    scene = _textured(360, 640, seed=2)
    noisy = np.clip(scene.astype(int) + np.random.default_rng(0).integers(-3, 4, scene.shape), 0, 255).astype(np.uint8)
    motion = CameraMotion()
    motion.update(scene)
    assert motion.update(noisy) == (0.0, 0.0) and not motion.cut


def test_camera_shift_depends_on_the_two_frames_only():
    """The same pair of frames gives the same shift whatever came before (segments start anywhere)."""
    from avanon.video.tracking import CameraMotion

    scene = _textured(300, 700, seed=4)
    frames = [scene[20:280, 10 + 7 * i : 330 + 7 * i] for i in range(4)]
    along = CameraMotion()
    shifts = [along.update(f) for f in frames]
    alone = CameraMotion()
    alone.update(frames[2])
    assert alone.update(frames[3]) == shifts[3]


def _scalar_merge(boxes, threshold=0.3):
    """The definition merge_overlapping keeps: greedy by area, each box joins the first merged box it overlaps."""
    merged = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        for k, other in enumerate(merged):
            if iou(box, other) > threshold:
                merged[k] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                break
        else:
            merged.append(box)
    return merged


def test_merge_overlapping_equals_the_scalar_definition_on_crowds():
    import random

    rng = random.Random(7)
    for _ in range(300):
        boxes = []
        for _ in range(rng.randint(0, 80)):
            x, y, w, h = rng.uniform(0, 600), rng.uniform(0, 400), rng.uniform(0, 90), rng.uniform(0, 90)
            boxes.append((x, y, x + (0.0 if rng.random() < 0.05 else w), y + h))
        boxes += boxes[: rng.randint(0, len(boxes))]  # duplicates, as two detectors give
        assert merge_overlapping(boxes) == _scalar_merge(boxes)


def test_final_boxes_equal_the_per_box_definition():
    import random

    tracker = FaceTracker(width=320, height=240, expand=0.37)
    rng = random.Random(11)
    boxes = []
    for _ in range(500):
        x, y = rng.uniform(-30, 340), rng.uniform(-30, 260)
        boxes.append((x, y, x + rng.uniform(-3, 60), y + rng.uniform(-3, 60)))

    def final(box):  # the per-box definition: grown (more upwards, at most CHIN_MARGIN downwards), clipped to the frame
        x0, y0, x1, y1 = grow(box, tracker.expand, top_extra=tracker.expand * 0.25, bottom=min(tracker.expand, CHIN_MARGIN))
        return (max(0.0, x0), max(0.0, y0), min(320.0, x1), min(240.0, y1))

    expected = [b for b in (final(b) for b in boxes) if b[2] > b[0] and b[3] > b[1]]
    assert tracker._final_all(boxes) == expected
    assert tracker._final_all([]) == []


def test_trailing_boxes_equal_the_per_box_definition():
    import random

    from avanon.video.tracking import _STALE_GROWTH, _trailing_boxes, move

    rng = random.Random(5)
    boxes = [(x, y, x + rng.uniform(1, 50), y + rng.uniform(1, 50)) for x, y in ((rng.uniform(0, 300), rng.uniform(0, 200)) for _ in range(200))]
    stale = [rng.randint(1, 8) for _ in boxes]
    offset = (rng.uniform(-20, 20), rng.uniform(-20, 20))
    expected = [move(grow(b, _STALE_GROWTH * s), *offset) for b, s in zip(boxes, stale)]
    assert _trailing_boxes(boxes, stale, offset) == expected
    assert _trailing_boxes([], [], offset) == []


def _run_with_candidates(tracker, found, candidates, n):
    out = []
    for i in range(n):
        out += tracker.push(i, i, [(b, "a") for b in found.get(i, [])], candidates=candidates.get(i, []))
    out += tracker.flush()
    return out


def test_a_lone_candidate_is_never_masked():
    tracker = FaceTracker(width=640, height=480, max_gap=5, margin=3, expand=0.0)
    frames = _run_with_candidates(tracker, {}, {i: [(BOX, "centerface")] for i in range(0, 30, 4)}, 30)
    assert not any(f.boxes for f in frames)  # one kind of detector hitting the same place again and again is not evidence
    assert frames[0].sources == {"centerface:candidate": 1}


def test_a_candidate_continuing_a_confirmed_track_is_masked():
    tracker = FaceTracker(width=640, height=480, max_gap=5, margin=2, expand=0.0)
    moved = (110.0, 100.0, 150.0, 150.0)
    frames = _run_with_candidates(tracker, {10: [BOX]}, {14: [(moved, "centerface")]}, 30)
    assert [f.index for f in frames if f.boxes] == list(range(8, 17))  # margin, the gap to the candidate, trailing margin
    assert moved in frames[14].boxes


def test_a_candidate_much_larger_than_the_track_does_not_continue_it():
    tracker = FaceTracker(width=640, height=480, max_gap=5, margin=0, expand=0.0)
    huge = (60.0, 60.0, 260.0, 260.0)  # a body-sized box around the face
    frames = _run_with_candidates(tracker, {10: [BOX]}, {12: [(huge, "pose-head")]}, 20)
    assert not any(huge in f.boxes for f in frames)


def test_two_kinds_of_detector_agreeing_confirm_a_candidate_back_to_its_first_hit():
    tracker = FaceTracker(width=640, height=480, max_gap=8, margin=2, expand=0.0)
    near = (102.0, 101.0, 142.0, 151.0)
    frames = _run_with_candidates(tracker, {}, {10: [(BOX, "centerface")], 16: [(near, "blazeface")]}, 30)
    masked = [f.index for f in frames if f.boxes]
    assert masked == list(range(8, 19))  # leading margin before the first hit, the gap between the hits, trailing margin
    assert BOX in frames[10].boxes and near in frames[16].boxes


def test_boxes_grow_only_after_a_track_is_last_seen():
    tracker = FaceTracker(width=640, height=480, max_gap=8, margin=4, expand=0.0)
    frames = _run(tracker, {0: [BOX], 6: [BOX]}, 20)  # a strided detector: seen on frames 0 and 6 only
    for f in frames[1:6]:
        assert f.boxes == [BOX]  # between sightings: the interpolated box, not one grown while stale
    assert len(frames[8].boxes) == 1 and frames[8].boxes[0][2] > BOX[2]  # after the last sighting the margin grows
    assert not frames[11].boxes


def test_one_detector_hitting_clearly_on_two_runs_confirms_a_candidate():
    tracker = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    moved = (108.0, 100.0, 148.0, 150.0)
    frames = _run_with_candidates(tracker, {}, {8: [(BOX, "centerface", 0.3)], 16: [(moved, "centerface", 0.35)]}, 30)
    assert [f.index for f in frames if f.boxes] == list(range(6, 19))  # back to the first hit, with margins
    faint = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(faint, {}, {8: [(BOX, "centerface", 0.08)], 16: [(BOX, "centerface", 0.1)]}, 30)
    assert not any(f.boxes for f in frames)  # faint hits on the same place (a bottle) stay unmasked


def test_the_pose_model_finding_the_same_place_again_confirms_nothing():
    """MediaPipe pose took the arm-wrestlers' clasped fists for a head on frame after frame (BENCHMARKS.md, issue 15)."""
    pose = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(pose, {}, {i: [(BOX, "pose-head", 0.95)] for i in range(0, 30, 3)}, 30)
    assert not any(f.boxes for f in frames)
    agreeing = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(agreeing, {}, {3: [(BOX, "pose-head", 0.95)], 6: [(BOX, "centerface", 0.1)]}, 30)
    assert [f.index for f in frames if f.boxes] == list(range(1, 9))  # a face detector at the same place: a second kind agrees


def test_masks_end_just_below_the_chin():
    """A head ends at the chin: the mask grows ``expand`` sideways and up, at most CHIN_MARGIN down (issue 15)."""
    tracker = FaceTracker(width=640, height=480, expand=0.35)
    ((x0, y0, x1, y1),) = tracker._final_all([(100.0, 100.0, 140.0, 150.0)])
    assert (x0, x1) == (100.0 - 0.35 * 40, 140.0 + 0.35 * 40)
    assert y0 < 100.0 - 0.35 * 50 and y1 == 150.0 + CHIN_MARGIN * 50
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    for px, py in ((100.0, 150.0), (140.0, 150.0), (100.0, 100.0), (140.0, 100.0)):  # the face box's corners lie in the ellipse
        assert ((px - cx) / rx) ** 2 + ((py - cy) / ry) ** 2 <= 1.0


def test_a_faint_candidate_too_small_for_a_second_look_is_confirmed_by_a_repeat():
    """Candidates under ``SMALL_FACE`` cannot be verified on a crop; their repeats are the evidence (``small_score``)."""
    tiny, near = (100.0, 100.0, 110.0, 112.0), (101.0, 101.0, 111.0, 113.0)
    tracker = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(tracker, {}, {8: [(tiny, "centerface", 0.06)], 16: [(near, "centerface", 0.07)]}, 30)
    assert [f.index for f in frames if f.boxes] == list(range(6, 19))  # back to the first hit, with margins
    once = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    assert not any(f.boxes for f in _run_with_candidates(once, {}, {8: [(tiny, "centerface", 0.06)]}, 30))  # one faint hit: not masked
    pose = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(pose, {}, {8: [(tiny, "pose-head", 0.9)], 16: [(near, "pose-head", 0.9)]}, 30)
    assert not any(f.boxes for f in frames)  # a pose model's repeats confirm nothing, small or not


def test_a_small_candidate_may_move_several_of_its_sizes_between_two_confirming_hits():
    """A 9-px head running across a court moves 15 px between two runs of a detector strided by 8."""
    tracker = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    first, later = (100.0, 100.0, 9.0 + 100.0, 111.0), (115.0, 98.0, 124.0, 109.0)
    frames = _run_with_candidates(tracker, {}, {8: [(first, "centerface", 0.08)], 16: [(later, "centerface", 0.09)]}, 30)
    assert [f.index for f in frames if f.boxes] == list(range(6, 19))
    soon = FaceTracker(width=640, height=480, max_gap=10, margin=2, expand=0.0)
    frames = _run_with_candidates(soon, {}, {8: [(first, "centerface", 0.08)], 9: [(later, "centerface", 0.09)]}, 30)
    assert not any(f.boxes for f in frames)  # one frame apart, 15 px is too far for a 9-px face
