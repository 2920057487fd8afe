from __future__ import annotations

import numpy as np
import pytest

from avanon.registry import create
from avanon.video.obfuscate import pixel_boxes


def _pixels(box, width: int, height: int) -> tuple[int, int, int, int]:  # noqa: ANN001 - the per-box definition
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    return x0, y0, x1, y1


def _boxes(rng: np.random.Generator, n: int, width: int, height: int) -> list[tuple[float, float, float, float]]:
    x = rng.uniform(-40, width + 10, n)
    y = rng.uniform(-40, height + 10, n)
    w, h = rng.uniform(-5, 90, n), rng.uniform(-5, 90, n)  # some empty or inverted
    return [(float(a), float(b), float(a + c), float(b + d)) for a, b, c, d in zip(x, y, w, h)]


def test_pixel_boxes_equal_the_per_box_bounds_and_drop_empty_ones():
    rng = np.random.default_rng(3)
    boxes = _boxes(rng, 500, 320, 240)
    expected = [p for p in (_pixels(b, 320, 240) for b in boxes) if p[2] > p[0] and p[3] > p[1]]
    assert pixel_boxes(boxes, 320, 240) == expected
    assert pixel_boxes([], 320, 240) == []


@pytest.mark.parametrize("contiguous", [True, False])
def test_solid_fill_paints_exactly_the_covering_pixels(contiguous: bool):
    rng = np.random.default_rng(5)
    boxes = _boxes(rng, 300, 160, 120)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    image = frame.copy() if contiguous else np.ascontiguousarray(np.dstack([frame] * 2))[:, :, :3]
    expected = frame.copy()
    for x0, y0, x1, y1 in (_pixels(b, 160, 120) for b in boxes):
        if x1 > x0 and y1 > y0:
            expected[y0:y1, x0:x1] = (10, 20, 30)
    solid = create("obfuscation", "solid", colour=(10, 20, 30))
    out = solid.apply(image, boxes)
    assert out is image
    np.testing.assert_array_equal(out, expected)
