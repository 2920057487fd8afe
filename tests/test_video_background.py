"""Background filter: people kept, the rest replaced, keep polygons, parameter checks."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from avanon.errors import ParameterError
from avanon.registry import create
from avanon.video.background import Background, people_count, polygon_mask


@pytest.fixture(scope="module")
def street(dev_data: Path) -> np.ndarray:
    with av.open(str(dev_data / "openpose_media/examples/media/video.avi")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == 20:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError("clip too short")


def test_empty_scene_becomes_the_colour() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (144, 256, 3), dtype=np.uint8)
    filt = Background(mode="colour", colour=(10, 20, 30)).session(width=256, height=144, fps=25.0)
    out, boxes = filt.apply(image.copy(), [(1.0, 2.0, 3.0, 4.0)], index=0)
    assert boxes == [(1.0, 2.0, 3.0, 4.0)]  # faces are still obfuscated afterwards
    assert (np.abs(out.astype(int) - (10, 20, 30)).max(axis=2) <= 1).mean() > 0.98


def test_keep_polygon_survives() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)
    keep = [[[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]]
    filt = Background(mode="pixelate", keep=keep, feather=0.0).session(width=200, height=100, fps=25.0)
    out, _ = filt.apply(image.copy(), [], index=0)
    assert np.array_equal(out[60:, 110:], image[60:, 110:])
    assert not np.array_equal(out[:40, :90], image[:40, :90])


def test_polygon_mask_and_people_count() -> None:
    mask = polygon_mask(([[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]],), 100, 80)
    assert mask[10, 10] == 255 and mask[70, 90] == 0
    two = np.zeros((90, 160), np.uint8)
    two[10:80, 10:40] = 255
    two[10:80, 100:140] = 255
    assert people_count(two) == 2


def test_people_kept_in_a_real_street(street: np.ndarray) -> None:
    h, w = street.shape[:2]
    filt = create("video", "background", mode="blur").session(width=w, height=h, fps=50.0)
    mask = filt.person_mask(street)
    assert 0.01 < (mask > 0).mean() < 0.6
    out, _ = filt.apply(street.copy(), [], index=0)
    kept = mask > 0
    inner = np.abs(out.astype(int) - street.astype(int)).max(axis=2)
    assert np.median(inner[kept]) <= 2
    assert np.median(inner[~kept]) > 2
    assert filt.stats()["people_per_frame_max"] >= 1


@pytest.mark.parametrize(
    "keep",
    [[[[0, 0], [1, 1]]], [[[0, 0], [2, 0], [0, 1]]], [[["a", 0], [1, 0], [0, 1]]]],
)
def test_bad_polygons_are_refused(keep: list) -> None:
    with pytest.raises(ParameterError, match="'keep' parameter of Background"):
        Background(keep=keep)


def test_bad_mode_message() -> None:
    with pytest.raises(ParameterError, match="The 'mode' parameter of Background must be one of 'colour', 'blur', 'pixelate'"):
        Background(mode="erase")


def test_blend_is_exact_where_alpha_is_full_or_zero() -> None:
    from avanon.video.background import blend

    rng = np.random.default_rng(4)
    front = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    back = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    alpha[:20], alpha[20:40] = 255, 0
    out = blend(front, back, alpha)
    assert np.array_equal(out[:20], front[:20]) and np.array_equal(out[20:40], back[20:40])
    exact = front * (alpha[..., None] / 255.0) + back * (1 - alpha[..., None] / 255.0)
    assert np.abs(out.astype(float) - exact).max() <= 1.0


def test_mask_is_worked_on_a_small_copy(street: np.ndarray) -> None:
    h, w = street.shape[:2]
    filt = Background().session(width=w, height=h, fps=50.0)
    small = filt.work_mask(street)
    assert small.shape == (360, 640)  # 1280x720 worked at 360 pixels high
    assert filt.person_mask(street).shape == (h, w)
