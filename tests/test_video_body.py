"""Body replacement: skeleton and silhouette redraw the whole frame; person regions for pose."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from avanon.errors import ParameterError
from avanon.registry import create
from avanon.video.body import Silhouette, Skeleton, body_regions, draw_skeleton


@pytest.fixture(scope="module")
def dancer(dev_data: Path) -> np.ndarray:
    with av.open(str(dev_data / "openpose_media/examples/media/video.avi")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == 40:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("clip too short")


def test_body_regions_from_heads_and_mask() -> None:
    mask = np.zeros((200, 300), np.uint8)
    mask[100:190, 200:260] = 255
    regions = body_regions([(20.0, 10.0, 40.0, 30.0)], mask, width=300, height=200)
    assert len(regions) == 2
    head_region = min(regions, key=lambda r: r[0])
    assert head_region[1] < 10 and head_region[3] > 100  # body below the head
    # a head inside the mask region is not searched twice
    assert len(body_regions([(215.0, 100.0, 245.0, 110.0)], mask, width=300, height=200)) <= 2


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
    assert boxes == []  # no original pixel left, nothing to obfuscate
    pixels = out.reshape(-1, 3).astype(int)
    assert (pixels[:, 0] == pixels[:, 1]).all() and (pixels[:, 1] == pixels[:, 2]).all()  # only greys: no original colour
    assert pixels.min() >= 128
    assert (out == 255).all(axis=2).sum() > 200  # at least one skeleton drawn
    assert filt.stats()["people_per_frame_max"] >= 1


def test_silhouette_is_two_colours(dancer: np.ndarray) -> None:
    h, w = dancer.shape[:2]
    filt = Silhouette().session(width=w, height=h, fps=50.0)
    out, boxes = filt.apply(dancer.copy(), [], index=0)
    assert boxes == []
    colours = {tuple(int(v) for v in c) for c in np.unique(out.reshape(-1, 3), axis=0)}
    assert colours == {(128, 128, 128), (40, 40, 40)}


def test_bad_colour() -> None:
    with pytest.raises(ParameterError, match="The 'colour' parameter of Skeleton must be a tuple of length 3"):
        Skeleton(colour=(1, 2))
