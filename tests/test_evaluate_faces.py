"""Tests of the residual-face region test (avanon.evaluate.faces)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avanon import registry
from avanon.detect.boxes import nms
from avanon.errors import MediaError, ParameterError
from avanon.evaluate import faces
from avanon.evaluate.faces import (
    group_faces,
    head_box,
    paired_frames,
    region_crop,
    region_ssim,
    residual_faces,
    ssim,
)
from avanon.evaluate.independent import IndependentDetectors

HAMILTON = "face_recognition_examples/examples/short_hamilton_clip.mp4"
OBAMA = "face_recognition_examples/examples/obama.jpg"


def reference_ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """SSIM computed window by window with explicit weighted sums (independent of scipy filters)."""
    radius = int(3.5 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for y in range(radius, a.shape[0] - radius):
        for x in range(radius, a.shape[1] - radius):
            pa = a[y - radius : y + radius + 1, x - radius : x + radius + 1].astype(float)
            pb = b[y - radius : y + radius + 1, x - radius : x + radius + 1].astype(float)
            ma, mb = (window * pa).sum(), (window * pb).sum()
            va = (window * (pa - ma) ** 2).sum()
            vb = (window * (pb - mb) ** 2).sum()
            cov = (window * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def pattern_frame(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """A textured RGB frame: smooth stripes plus noise, so every region has structure."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    frame = np.clip(base[..., None] + rng.normal(0, 25, (h, w, 3)), 0, 255)
    return frame.astype(np.uint8)


def write_video(path: Path, frames: list[np.ndarray], pts: list[int], rate: int = 10) -> Path:
    """Encode RGB frames losslessly-ish (high-quality x264) at the given presentation times (1/rate units)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, rate)
        stream.options = {"crf": "1", "preset": "ultrafast"}
        for frame, p in zip(frames, pts):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = p
            vf.time_base = Fraction(1, rate)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def grey_level_frames(levels: list[int], h: int = 64, w: int = 64) -> list[np.ndarray]:
    return [np.full((h, w, 3), level, np.uint8) for level in levels]


# ---------------------------------------------------------------------------------------------
# SSIM and the region test
# ---------------------------------------------------------------------------------------------


def test_ssim_matches_window_by_window_reference() -> None:
    """skimage's SSIM with the project's settings equals Wang et al.'s definition computed by hand."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (24, 26)).astype(float)
    b = np.clip(a + rng.normal(0, 30, a.shape), 0, 255)
    assert ssim(a, b) == pytest.approx(reference_ssim(a, b), abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, 255 - a) < 0


def test_ssim_rejects_mismatched_or_tiny_images() -> None:
    with pytest.raises(ParameterError, match="one shape"):
        ssim(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(ParameterError, match="at least 11"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_solid_box_over_the_region_is_not_a_leak() -> None:
    frame = pattern_frame()
    box = (100.0, 60.0, 180.0, 160.0)
    masked = frame.copy()
    masked[50:170, 90:190] = (20, 20, 20)
    assert region_ssim(frame, masked, box) < 0.1
    assert region_ssim(frame, frame, box) == pytest.approx(1.0)


def test_mask_outside_the_central_part_does_not_hide_the_face() -> None:
    frame = pattern_frame()
    box = (100.0, 60.0, 200.0, 160.0)
    rim_only = frame.copy()
    rim_only[60:75, 100:200] = 0  # top 15 % of the box: outside its central 60 %
    assert region_ssim(frame, rim_only, box) == pytest.approx(1.0)


def test_small_and_large_faces_are_compared_at_one_scale() -> None:
    frame = pattern_frame(480, 640)
    small = region_crop(frame, (10, 10, 30, 30))
    large = region_crop(frame, (100, 100, 400, 400))
    assert small is not None and large is not None
    assert small.shape == large.shape == (48, 48)
    assert region_crop(frame, (700, 10, 800, 50)) is None  # outside the frame


def test_padded_output_keeps_pixel_coordinates() -> None:
    frame = pattern_frame(360, 640)
    padded = np.zeros((368, 640, 3), np.uint8)
    padded[:360] = frame
    assert region_ssim(frame, padded, (300, 300, 360, 358)) == pytest.approx(1.0)
    rescaled = np.asarray(Image.fromarray(frame).resize((320, 180), Image.BILINEAR))
    assert region_ssim(frame, rescaled, (200, 100, 320, 220)) > 0.6


def test_head_box_and_grouping() -> None:
    # nose, eyes, ears of a frontal head
    points = np.array([[100, 100], [92, 95], [108, 95], [80, 97], [120, 97]], float)
    x0, y0, x1, y1 = head_box(points)
    assert (x1 - x0) == pytest.approx(max(1.2 * 40, 3.0 * 5))
    assert x0 < 80 and x1 > 120
    inner = faces.Detection((90, 90, 110, 110), 0.9, "dlib")
    outer = faces.Detection((70, 70, 130, 130), 0.5, "openpose")
    elsewhere = faces.Detection((300, 300, 340, 340), 0.8, "yunet")
    groups = group_faces([inner, outer, elsewhere])
    assert sorted(len(g) for g in groups) == [1, 2]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.3) == [1, 2]
    assert nms(boxes, np.array([-0.5, -0.1, -0.3]), 0.3) == [1, 2]  # dlib scores can be negative
    assert nms(boxes, np.array([0.5, 0.9, 0.3]), 0.3, min_score=0.4) == [1]


def test_independent_detectors_do_not_include_the_masking_ones(street: np.ndarray) -> None:
    run = IndependentDetectors()
    assert run.names == ("dlib", "yunet", "openpose")
    found, people = run(street)
    assert {d.detector for d in found} >= {"yunet", "openpose"}  # dlib HOG misses these small faces
    assert len(people) >= 3
    heads = [d for d in found if d.detector == "openpose"]
    assert all(4 <= d.box[2] - d.box[0] < 80 for d in heads)  # heads, not bodies
    # every OpenPose head box lies on a person's upper body
    for d in heads:
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        assert any(p.box()[0] - 20 <= cx <= p.box()[2] + 20 and p.box()[1] - 20 <= cy <= p.box()[1] + 60 for p in people)


# ---------------------------------------------------------------------------------------------
# Frames paired by presentation time
# ---------------------------------------------------------------------------------------------


def test_frames_are_paired_by_time_not_by_index(tmp_path: Path) -> None:
    levels = [10 * i + 20 for i in range(12)]
    original = write_video(tmp_path / "orig.mp4", grey_level_frames(levels), list(range(12)))
    # The anonymized file starts 0.5 s later in its container and lacks frame 5.
    kept = [i for i in range(12) if i != 5]
    anonymized = write_video(tmp_path / "anon.mp4", grey_level_frames([levels[i] for i in kept]), [i + 5 for i in kept])
    pairs = list(paired_frames(original, anonymized))
    assert [p.index for p in pairs] == list(range(12))
    for pair in pairs:
        if pair.index == 5:
            assert pair.anonymized is None
            continue
        assert pair.anonymized is not None
        assert pair.offset == pytest.approx(0.0, abs=1e-6)
        assert abs(float(pair.anonymized.mean()) - float(pair.original.mean())) < 3
    sampled = list(paired_frames(original, anonymized, every=4, max_time=1.0))
    assert [p.index for p in sampled] == [0, 4, 8]


def test_residual_faces_on_images_with_a_real_face(tmp_path: Path, dev_data: Path) -> None:
    image = Image.open(dev_data / OBAMA).convert("RGB")
    photo = np.asarray(image.resize((480, round(480 * image.height / image.width))))
    original = tmp_path / "face.png"
    Image.fromarray(photo).save(original)

    same = residual_faces(original, original, detectors=("dlib", "yunet"))
    assert same.faces_checked >= 1
    assert same.leaks == same.faces_checked
    assert len(same.thumbnails) == same.leaks

    masked = photo.copy()
    for face in same.faces:
        x0, y0, x1, y1 = (int(v) for v in face.box)
        masked[max(0, y0 - 20) : y1 + 20, max(0, x0 - 20) : x1 + 20] = 0
    anonymized = tmp_path / "masked.png"
    Image.fromarray(masked).save(anonymized)
    report = residual_faces(original, anonymized, detectors=("dlib", "yunet"))
    assert report.faces_checked >= 1
    assert report.leaks == 0
    assert report.leak_rate == 0.0
    data = report.to_json()
    assert data["faces_checked"] == report.faces_checked and data["leak_times"] == []


def test_thumbnail_does_not_show_the_face(dev_data: Path) -> None:
    photo = np.asarray(Image.open(dev_data / OBAMA).convert("RGB"))
    box = (photo.shape[1] * 0.3, photo.shape[0] * 0.2, photo.shape[1] * 0.7, photo.shape[0] * 0.7)
    thumb = faces.masked_thumbnail(photo, box, width=160)
    assert thumb.shape[1] == 160
    scale = 160 / photo.shape[1]
    inner = thumb[int(box[1] * scale) + 3 : int(box[3] * scale) - 3, int(box[0] * scale) + 3 : int(box[2] * scale) - 3]
    assert len(np.unique(inner.reshape(-1, 3), axis=0)) <= 9  # 3 x 3 flat cells


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    frame = tmp_path / "a.png"
    Image.fromarray(pattern_frame()).save(frame)
    with pytest.raises(ParameterError, match="'detectors'"):
        residual_faces(frame, frame, detectors=("haar",))
    with pytest.raises(ParameterError, match="'every'"):
        residual_faces(frame, frame, every=0)
    with pytest.raises(MediaError, match="no such file"):
        residual_faces(frame, tmp_path / "missing.png")


def test_metric_is_registered_with_a_direction() -> None:
    cls = registry.get("metric", "residual_faces")
    metric = cls(every=5)
    assert metric.direction == "lower" and metric.aspect == "privacy"
    with pytest.raises(ParameterError, match="The 'every' parameter of ResidualFaces"):
        cls(every=0)


# ---------------------------------------------------------------------------------------------
# Integration: a plain re-encode of a real clip leaks every face
# ---------------------------------------------------------------------------------------------


def reencode(src: Path, dst: Path, *, frames: int, crf: int) -> Path:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        enc.options = {"crf": str(crf), "preset": "veryfast"}
        for i, frame in enumerate(inp.decode(stream)):
            if i >= frames:
                break
            for packet in enc.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in enc.encode():
            out.mux(packet)
    return dst


def test_plain_reencode_of_a_real_clip_leaks(tmp_path: Path, dev_data: Path) -> None:
    clip = dev_data / HAMILTON
    anonymized = reencode(clip, tmp_path / "reencoded.mp4", frames=45, crf=26)
    report = residual_faces(clip, anonymized, every=15, max_time=1.5)
    assert report.frames_checked == 3 and report.frames_unpaired == 0
    assert report.faces_checked >= 3
    assert report.leak_rate >= 0.95
    assert {d for f in report.faces for d in f.found_by} >= {"dlib", "yunet"}


def test_blacked_out_real_clip_has_no_leaks(tmp_path: Path, dev_data: Path) -> None:
    clip = dev_data / HAMILTON
    black = tmp_path / "black.mp4"
    with av.open(str(clip)) as inp:
        stream = inp.streams.video[0]
        size = (stream.height, stream.width)
    write_video(black, [np.zeros((*size, 3), np.uint8)] * 16, list(range(16)), rate=30)
    report = residual_faces(clip, black, every=15, max_time=0.5, detectors=("yunet",))
    assert report.faces_checked >= 1
    assert report.leaks == 0
