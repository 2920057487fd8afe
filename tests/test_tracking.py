from __future__ import annotations

import pytest

from avanon.video.tracking import FaceTracker, grow, iou, merge_overlapping

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
