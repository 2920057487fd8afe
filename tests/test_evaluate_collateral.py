"""Tests of the collateral metrics (avanon.evaluate.collateral)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avanon import registry
from avanon.detect.openpose import PosePerson
from avanon.errors import ParameterError
from avanon.evaluate.collateral import (
    JOINTS,
    collateral,
    collateral_scores,
    head_regions,
    joints_painted,
    painted_mask,
    pck,
    torso,
)
from avanon.evaluate.independent import Detection, IndependentDetectors

TWO = "face_recognition_examples/examples/two_people.jpg"
HAMILTON = "face_recognition_examples/examples/short_hamilton_clip.mp4"


def pattern_frame(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    return np.clip(base[..., None] + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


def person(points: dict[int, tuple[float, float]]) -> PosePerson:
    keypoints = np.full((18, 2), np.nan)
    scores = np.zeros(18)
    for k, xy in points.items():
        keypoints[k] = xy
        scores[k] = 0.8
    return PosePerson(keypoints, scores, 0.8)


# An upright person: nose 0, neck 1, shoulders 2/5, elbows 3/6, wrists 4/7, hips 8/11, knees 9/12, ankles 10/13.
STANDING = {0: (100, 40), 1: (100, 60), 2: (85, 60), 5: (115, 60), 3: (80, 90), 6: (120, 90), 4: (78, 115),
            7: (122, 115), 8: (92, 120), 11: (108, 120), 9: (92, 160), 12: (108, 160), 10: (92, 200), 13: (108, 200),
            14: (96, 37), 15: (104, 37), 16: (91, 39), 17: (109, 39)}  # fmt: skip


def test_painted_mask_finds_a_box_and_fills_its_holes() -> None:
    frame = pattern_frame()
    masked = frame.copy()
    masked[50:150, 100:200] = 0
    masked[80:110, 130:160] = frame[80:110, 130:160]  # an unpainted hole inside the box
    masked[10, 10] = 255  # one changed pixel is noise, not paint
    mask = painted_mask(frame, masked)
    assert mask[50:150, 100:200].all()
    assert mask.sum() - mask[50:150, 100:200].sum() < 0.05 * 100 * 100  # a rim of a pixel or so
    assert not mask[:40].any()


def test_compression_noise_and_padding_are_not_paint(tmp_path: Path) -> None:
    frame = pattern_frame()
    path = tmp_path / "frame.jpg"
    Image.fromarray(frame).save(path, quality=60)
    jpeg = np.asarray(Image.open(path))
    assert painted_mask(frame, jpeg).mean() < 0.001
    padded = np.zeros((248, 320, 3), np.uint8)
    padded[:240] = frame
    padded[20:60, 20:60] = 255
    mask = painted_mask(frame, padded)
    assert mask.shape == (240, 320) and mask[22:58, 22:58].all() and mask.mean() < 0.03


def test_head_regions_are_generous_around_each_head() -> None:
    faces = [Detection((100.0, 100.0, 120.0, 124.0), 0.9, "yunet")]
    region = head_regions((300, 400, 3), faces, [])
    ys, xs = np.nonzero(region)
    # grown by half the larger side (12 px) on every side
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (88, 132, 88, 136)
    with_pose = head_regions((300, 400, 3), [], [person(STANDING)])
    assert with_pose[40, 100] and not with_pose[150, 100]


def test_joints_painted_and_torso() -> None:
    p = person(STANDING)
    assert torso(p) == pytest.approx(60.0)
    mask = np.zeros((240, 320), bool)
    assert joints_painted([p], mask) == (0, len(JOINTS))
    mask[140:240, :] = True  # legs painted: knees and ankles
    assert joints_painted([p], mask) == (4, len(JOINTS))
    mask[:] = False
    mask[119:122, 90:94] = True  # a few pixels on the right hip: less than half its neighbourhood
    assert joints_painted([p], mask) == (0, len(JOINTS))


def test_pck_matches_people_and_counts_body_keypoints() -> None:
    a = person(STANDING)
    moved = {k: (x + 3.0, y) for k, (x, y) in STANDING.items()}  # 3 px = 0.05 torso
    moved[4] = (STANDING[4][0] + 20, STANDING[4][1])  # one wrist 20 px off
    far = person({k: (x + 200.0, y) for k, (x, y) in STANDING.items()})
    correct, counted = pck([a], [far, person(moved)])
    assert counted == 13 and correct == 12
    assert pck([a], [far]) == (0, 13)  # nobody matched: every keypoint missed
    headless = person({k: xy for k, xy in STANDING.items() if k not in (0, 14, 15, 16, 17)})
    assert pck([a], [headless]) == (13, 13)  # heads are meant to be hidden: not counted


def test_photo_with_heads_painted_and_with_a_body_painted(tmp_path: Path, dev_data: Path) -> None:
    image = Image.open(dev_data / TWO).convert("RGB")
    photo = np.asarray(image)
    original = tmp_path / "two.png"
    image.save(original)
    run = IndependentDetectors()
    faces, _ = run(photo, people=True)
    heads = photo.copy()
    for d in faces:
        x0, y0, x1, y1 = (int(v) for v in d.box)
        heads[y0:y1, x0:x1] = 0
    Image.fromarray(heads).save(tmp_path / "heads.png")
    body = heads.copy()
    body[450:, :] = (200, 40, 160)  # the lower third of the photo (dark suits: a fill that differs from them)
    Image.fromarray(body).save(tmp_path / "body.png")

    cache: dict = {}
    only_heads = collateral(original, tmp_path / "heads.png", cache=cache, detectors=run)
    with_body = collateral(original, tmp_path / "body.png", cache=cache, detectors=run)
    assert list(cache) == [0]
    assert only_heads.residual is not None and only_heads.residual.leaks == 0
    assert only_heads.residual.faces_checked >= 2
    assert only_heads.painted_off_head < 0.05
    assert 0.005 < only_heads.frames[0].painted < 0.2
    assert with_body.painted_off_head > 0.6
    assert with_body.frames[0].painted_off_head == pytest.approx(211 / 661, abs=0.02)
    sheet = with_body.write_contact_sheet(tmp_path / "sheet.png")
    assert sheet is not None and Image.open(sheet).size[0] == 2 * 480 + 4
    data = with_body.to_json()
    assert data["frames"] == 1 and data["residual_faces"]["leaks"] == 0


def reencode(src: Path, dst: Path, *, frames: int, fill: tuple[int, int, int] | None = None) -> Path:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = inp.streams.video[0]
        enc = out.add_stream("libx264", rate=stream.average_rate)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        for i, frame in enumerate(inp.decode(stream)):
            if i >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            if fill is not None:
                rgb[:] = fill
            for packet in enc.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in enc.encode():
            out.mux(packet)
    return dst


def test_real_clip_reencoded_and_blacked_out(tmp_path: Path, dev_data: Path) -> None:
    clip = dev_data / HAMILTON
    plain = reencode(clip, tmp_path / "plain.mp4", frames=31)
    green = reencode(clip, tmp_path / "green.mp4", frames=31, fill=(0, 255, 0))
    cache: dict = {}
    same = collateral(clip, plain, every=15, max_time=1.1, cache=cache)
    gone = collateral(clip, green, every=15, max_time=1.1, cache=cache)
    assert len(same.frames) == len(gone.frames) == 3
    assert same.summary()["frame_painted_max"] < 0.01  # compression is not paint
    assert same.residual is not None and same.residual.leaks == same.residual.faces_checked >= 2
    assert gone.summary()["frame_painted_mean"] > 0.9
    assert gone.residual is not None and gone.residual.faces_checked >= 4
    # A small flat patch of the original as bright as the fill can pass the region test: only a box
    # that one detector alone reports may do so.
    assert gone.residual.leaks <= 1 and not any(f.leak for f in gone.residual.faces if len(f.found_by) >= 2)
    assert sum(f.pck_counted for f in same.frames) >= 13
    assert same.pck > 0.8 and gone.pck == 0.0
    assert same.joints_painted == 0.0 and gone.joints_painted == 1.0
    scores = {s.metric: s for s in collateral_scores(gone)}
    assert set(scores) == {"joints_painted", "painted_off_head", "frame_painted", "openpose_pck"}
    assert scores["frame_painted"].value > 0.5 and scores["frame_painted"].direction == "lower"


def test_metrics_are_registered_and_refuse_bad_parameters(tmp_path: Path) -> None:
    for name, direction in (("joints_painted", "lower"), ("painted_off_head", "lower"),
                            ("frame_painted", "lower"), ("openpose_pck", "higher")):  # fmt: skip
        metric = registry.create("metric", name, every=5)
        assert metric.direction == direction and metric.aspect == "utility"
    with pytest.raises(ParameterError, match="The 'every' parameter of JointsPainted"):
        registry.create("metric", "joints_painted", every=0)
    frame = tmp_path / "a.png"
    Image.fromarray(pattern_frame()).save(frame)
    with pytest.raises(ParameterError, match="'every' parameter of collateral"):
        collateral(frame, frame, every=0)


def test_report_overlays_show_where_paint_and_painted_joints_are_without_original_pixels() -> None:
    from avanon.evaluate.collateral import SHEET_WIDTH, joint_hits, overlay_row

    original = pattern_frame()
    original[140:240, 60:140] = (255, 0, 255)  # a colour that appears nowhere else: the legs' region
    anonymized = original.copy()
    anonymized[140:240, 60:140] = 0  # the legs painted black
    mask = painted_mask(original, anonymized)
    heads = np.zeros_like(mask)
    heads[20:60, 80:120] = True
    p = person(STANDING)
    painted = [(x, y) for x, y, hit in joint_hits([p], mask) if hit]
    assert len(painted) == 4 and all(y >= 140 for _, y in painted)  # knees and ankles
    row = overlay_row(anonymized, mask, heads, painted)
    assert row.shape == (int(round(240 * SHEET_WIDTH / 320)), SHEET_WIDTH, 3)
    magenta = (row[..., 0] > 200) & (row[..., 1] < 60) & (row[..., 2] > 200)
    assert not magenta.any()  # nothing of the original under the paint is shown
    red = (row[..., 0] == 255) & (row[..., 1] == 0) & (row[..., 2] == 0)
    green = (row[..., 0] == 0) & (row[..., 1] == 255) & (row[..., 2] == 0)
    assert red.any() and green.any()
