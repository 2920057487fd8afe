"""Body replacement: skeleton and silhouette redraw the whole frame; person crops and pose tracking."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from avanon import recipe as recipes
from avanon.errors import ParameterError
from avanon.evaluate.faces import region_ssim
from avanon.registry import create
from avanon.video.body import Silhouette, Skeleton, core_polygon, draw_skeleton, head_region, mask_regions, neutral_texture, same_person
from avanon.video.faces import FaceMasker


def test_person_crops_from_heads_and_mask() -> None:
    # two heads side by side get one crop each, each centred on its head and reaching down the body
    left = head_region((40.0, 20.0, 80.0, 70.0), width=340, height=256)
    right = head_region((250.0, 30.0, 300.0, 90.0), width=340, height=256)
    assert left[0] == 0.0 and left[2] < 170 < right[2] and right[0] > 150
    assert left[3] == 256.0 and left[1] < 20
    mask = np.zeros((50, 75), np.uint8)  # a small mask: regions come back in frame pixels
    mask[20:45, 50:65] = 255
    (region,) = mask_regions(mask, width=300, height=200)
    assert region[0] < 200 < region[2] and region[1] < 80 and region[3] > 175


def test_duplicates_and_painted_core() -> None:
    pose = np.zeros((33, 3))
    pose[:, 2] = 1.0
    pose[:11, :2] = [100, 50]
    pose[:11, 0] += np.arange(11)
    pose[11:, :2] = np.column_stack([np.linspace(80, 120, 22), np.linspace(70, 200, 22)])
    moved = pose.copy()
    moved[:, 0] += 150
    assert same_person(pose, pose.copy()) and not same_person(pose, moved)
    poly = core_polygon(pose)
    assert poly is not None and poly[:, 1].min() < 50 and poly[:, 1].max() > 150


def test_draw_skeleton_only_visible_points() -> None:
    pose = np.zeros((33, 3))
    pose[:, 0] = np.linspace(20, 180, 33)
    pose[:, 1] = 50
    pose[:, 2] = 0.0
    canvas = np.zeros((100, 200, 3), np.uint8)
    draw_skeleton(canvas, pose, colour=(255, 255, 255), thickness=2, visibility=0.5)
    assert canvas.max() == 0
    pose[[11, 13], 2] = 1.0
    draw_skeleton(canvas, pose, colour=(255, 255, 255), thickness=2, visibility=0.5)
    assert canvas.max() == 255


def test_skeleton_redraws_everything(dancer: np.ndarray) -> None:
    h, w = dancer.shape[:2]
    filt = create("video", "skeleton").session(width=w, height=h, fps=50.0)
    out, boxes = filt.apply(dancer.copy(), [(600.0, 100.0, 660.0, 170.0)], index=0)
    filt.close()
    assert boxes == []  # no original pixel left, nothing to obfuscate
    pixels = out.reshape(-1, 3).astype(int)
    assert (pixels[:, 0] == pixels[:, 1]).all() and (pixels[:, 1] == pixels[:, 2]).all()  # only greys: no original colour
    assert (out == 255).all(axis=2).sum() > 200  # at least one skeleton drawn
    assert (out == 0).all(axis=2).mean() > 0.9  # on the black background
    assert filt.stats()["people_per_frame_max"] >= 1


def test_skeleton_follows_both_arm_wrestlers(dev_data: Path) -> None:
    """Two seated people cut by the frame edges (340x256): each gets a skeleton on many frames."""
    frames = []
    with av.open(str(dev_data / "mmaction2_videos/demo/demo.mp4")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k >= 240:
                break
            if k >= 200:
                frames.append(frame.to_ndarray(format="rgb24"))
    h, w = frames[0].shape[:2]
    section = recipes.load("skeleton").video
    section = section.model_copy(update={"filters": []})  # the recipe's own face and head detectors
    masker = FaceMasker(section, width=w, height=h, fps=30.0)
    tracked = [b for f in frames for _, _, b in masker.push(f.copy())] + [b for _, _, b in masker.flush()]
    assert len(tracked) == len(frames) and any(tracked)
    filt = Skeleton().session(width=w, height=h, fps=30.0)
    both = 0
    for k, (image, boxes) in enumerate(zip(frames, tracked)):
        centres = [pose[[11, 12, 23, 24], 0].mean() for pose in filt.poses(image, boxes, index=k)]
        both += any(c < w / 2 for c in centres) and any(c >= w / 2 for c in centres)
    filt.close()
    assert both >= 0.4 * len(frames), f"both people had skeletons on {both} of {len(frames)} frames"


def test_silhouette_is_dark_blue_on_black(dancer: np.ndarray) -> None:
    h, w = dancer.shape[:2]
    filt = Silhouette().session(width=w, height=h, fps=50.0)
    out, boxes = filt.apply(dancer.copy(), [], index=0)
    assert boxes == []
    colours = {tuple(int(v) for v in c) for c in np.unique(out.reshape(-1, 3), axis=0)}
    assert colours == {(0, 0, 0), (0, 0, 160)}
    assert 0.01 < (out[:, :, 2] > 0).mean() < 0.6
    assert filt.stats()["people_per_frame_max"] >= 1


def test_silhouette_pattern_is_fixed(dancer: np.ndarray) -> None:
    h, w = dancer.shape[:2]
    make = lambda: Silhouette(colour=(96, 96, 96), texture=24.0).session(width=w, height=h, fps=50.0)  # noqa: E731
    out, _ = make().apply(dancer.copy(), [], index=0)
    person = out.max(axis=2) > 0
    inside = out[person][:, 0].astype(float)
    assert 12 < inside.std() < 40 and 70 < inside.mean() < 120  # patterned grey, not the person
    again, _ = make().apply(dancer.copy(), [], index=0)
    assert np.array_equal(out, again)  # reproducible output


def test_neutral_texture_defeats_the_flat_fill_effect() -> None:
    rng = np.random.default_rng(3)
    face = np.full((120, 120, 3), 100, np.uint8) + rng.integers(0, 4, (120, 120, 1), dtype=np.uint8)  # pale, low contrast
    flat = np.full_like(face, 100)
    pattern = neutral_texture(120, 120, colour=(100, 100, 100), amplitude=24.0)
    for size in (20, 60, 118):
        box = (1.0, 1.0, 1.0 + size, 1.0 + size)
        assert region_ssim(face, flat, box) > 0.6  # the artefact this guards against
        assert region_ssim(face, pattern, box) < 0.6  # below the leak threshold at every size


def test_bad_colour() -> None:
    with pytest.raises(ParameterError, match="The 'colour' parameter of Skeleton must be a tuple of length 3"):
        Skeleton(colour=(1, 2))
