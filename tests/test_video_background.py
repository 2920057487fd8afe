"""Background filter: people kept, the rest replaced, keep polygons, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from avanon.errors import ParameterError
from avanon.registry import create
from avanon.video.background import Background, people_count, polygon_mask


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


# --- bodies: the person mask united with a region around each body pose ---------------------------------


def _pose(points: dict[int, tuple[float, float]], *, visibility: float = 0.9) -> np.ndarray:
    pose = np.zeros((33, 3))
    for k, (x, y) in points.items():
        pose[k] = (x, y, visibility)
    return pose


# a standing person 100 pixels of torso tall, arms stretched out sideways
STANDING = {
    0: (100, 30),
    2: (95, 25),
    5: (105, 25),
    7: (90, 28),
    8: (110, 28),
    11: (80, 60),
    12: (120, 60),
    13: (50, 60),
    14: (150, 60),
    15: (20, 60),
    16: (180, 60),
    23: (88, 150),
    24: (112, 150),
    25: (88, 200),
    26: (112, 200),
    27: (88, 250),
    28: (112, 250),
}


def test_torso_size_and_its_fallbacks() -> None:
    from avanon.video.background import torso_size

    pose = _pose(STANDING)
    assert torso_size(pose) == pytest.approx(np.hypot(32, 90))
    no_hips = pose.copy()
    no_hips[23:, 2] = 0.0
    assert torso_size(no_hips) == pytest.approx(80.0)  # twice the shoulder width
    assert torso_size(_pose({0: (1, 1), 1: (2, 2)})) is None


def test_bones_cover_the_limbs_but_not_the_space_between_them() -> None:
    from avanon.video.background import draw_body

    mask = np.zeros((300, 200), np.uint8)
    draw_body(mask, _pose(STANDING), shape="bones", width=0.3)
    for x, y in [(20, 60), (35, 60), (160, 60), (100, 100), (88, 225), (100, 30)]:  # wrists, forearm, torso, shin, head
        assert mask[y, x] == 255, (x, y)
    assert mask[150, 20] == 0 and mask[250, 180] == 0 and mask[290, 100] == 0  # beside the legs, under the arms
    assert mask[150, 150] == 0 and mask[100, 40] == 0  # under the arms, beside the torso
    wide = np.zeros_like(mask)
    draw_body(wide, _pose(STANDING), shape="bones", width=0.6)
    assert (wide > 0).sum() > (mask > 0).sum()
    hidden = _pose(STANDING)
    hidden[15:17, 2] = 0.1  # wrists not seen: no band to them
    none = np.zeros_like(mask)
    draw_body(none, hidden, shape="bones", width=0.3)
    assert none[60, 15] == 0 and none[60, 185] == 0


def test_box_is_the_keypoint_box_grown() -> None:
    from avanon.video.background import draw_body

    mask = np.zeros((300, 260), np.uint8)
    draw_body(mask, _pose(STANDING), shape="box", width=0.1)  # box 20..180 x 25..250, grown by 16 and 22.5
    ys, xs = np.nonzero(mask)
    assert xs.min() == 4 and xs.max() == 196 and ys.min() == 2 and ys.max() == 273
    assert mask[150, 20] == 255 and mask[290, 100] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bodies": "limbs"}, "The 'bodies' parameter of Background must be one of 'none', 'box', 'bones'"),
        ({"search_every": -1}, "The 'search_every' parameter of Background must be an int in the range"),
        ({"body_width": 2.5}, "The 'body_width' parameter of Background must be a float in the range"),
        ({"pose_every": 0}, "The 'pose_every' parameter of Background must be an int in the range"),
        ({"max_people": 0}, "The 'max_people' parameter of Background"),
    ],
)
def test_bad_body_parameters_are_refused(params: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        Background(**params)


def test_pose_models_are_declared_only_with_bodies() -> None:
    from avanon.detect import landmarks as lm

    assert set(m.name for m in lm.POSE_MODELS) <= set(m.name for m in Background().models())
    assert not set(m.name for m in lm.POSE_MODELS) & set(m.name for m in Background(bodies="none").models())


@pytest.mark.parametrize("shape", ["bones", "box"])
def test_a_person_the_segmentation_misses_is_kept_from_pose(dancer: np.ndarray, shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The segmenter sees nobody; the frame-wide pose search finds the dancer and keeps her joints."""
    from avanon.detect import landmarks as lm

    h, w = dancer.shape[:2]
    truth = lm.pose_landmarks(dancer)  # the most prominent person, found on the whole frame
    assert truth is not None
    head = truth[:11][truth[:11, 2] > 0.5, :2]
    box = (*(head.min(axis=0) - 10), *(head.max(axis=0) + 10))
    joints = [k for k in (13, 14, 15, 16, 25, 26, 27, 28) if truth[k, 2] > 0.7 and 0 <= truth[k, 0] < w and 0 <= truth[k, 1] < h]
    assert len(joints) >= 3
    monkeypatch.setattr(lm, "person_mask", lambda image, landscape=True, shape=None: np.zeros(shape or image.shape[:2], np.float32))

    def joints_kept(filt: Background) -> list[bool]:
        out, boxes = filt.apply(dancer.copy(), [tuple(float(v) for v in box)], index=0)
        assert boxes == [tuple(float(v) for v in box)]
        x, y = (np.round(truth[joints, :2]).astype(int)).T
        return list(np.abs(out[y, x].astype(int) - dancer[y, x].astype(int)).max(axis=1) <= 2)

    without = Background(bodies="none").session(width=w, height=h, fps=25.0)
    assert not any(joints_kept(without))  # the segmentation alone blacks the body out
    unsearched = Background(bodies=shape, search_every=0).session(width=w, height=h, fps=25.0)
    try:
        assert not any(joints_kept(unsearched))  # no mask region to seed a tracker from, and no search
    finally:
        unsearched.close()
    with_bodies = Background(bodies=shape).session(width=w, height=h, fps=25.0)
    try:
        assert all(joints_kept(with_bodies))
        stats = with_bodies.stats()
        assert stats["poses_per_frame_max"] >= 1 and stats["people_per_frame_max"] >= 1
        assert 0.005 < stats["kept_share_mean"] < 0.5
    finally:
        with_bodies.close()


def test_poses_are_held_between_pose_runs(dancer: np.ndarray) -> None:
    h, w = dancer.shape[:2]
    filt = Background(pose_every=3).session(width=w, height=h, fps=25.0)
    try:
        filt.apply(dancer.copy(), [], index=0)
        first = filt._bodies
        assert first, "pose found nobody on the dancer frame"
        out, _ = filt.apply(np.zeros_like(dancer), [], index=1)  # held: no pose run on this frame
        assert filt._bodies is first and filt._poses == [len(first), len(first)]
        filt.apply(np.zeros_like(dancer), [], index=3)  # a pose run: nobody on a black frame
        assert filt._poses[-1] == 0
    finally:
        filt.close()
