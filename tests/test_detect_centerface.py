"""CenterFace on frames larger than its pixel budget: tiles plus a reduced pass, same faces, bounded memory (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from avanon.detect import faces as F
from avanon.detect.boxes import box_iou

DEV = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "dev"


@pytest.mark.parametrize("length", [32, 1280, 1312, 2976, 4000, 9024])
def test_tiles_cover_the_side_with_the_overlap(length):
    starts = F._starts(length)
    assert starts[0] == 0 and all(s % 32 == 0 for s in starts)
    ends = [min(length, s + F.TILE) for s in starts]
    assert ends[-1] == length
    for e0, s1 in zip(ends, starts[1:]):
        assert e0 - s1 >= F.TILE_OVERLAP  # a face up to the overlap lies whole in one of two neighbours


def _photo(name: str) -> np.ndarray:
    image = cv2.imread(str(DEV / "face_recognition_examples" / "examples" / name))
    assert image is not None, f"dev photo {name} missing"
    return np.ascontiguousarray(image[:, :, ::-1])


def test_a_large_photo_keeps_every_confident_face_of_one_run():
    big = cv2.resize(_photo("two_people.jpg"), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big = np.ascontiguousarray(big[: big.shape[0] // 32 * 32, : big.shape[1] // 32 * 32])
    assert big.shape[0] * big.shape[1] > F.MAX_NETWORK_PIXELS
    whole = [b for b in F._centerface_image(big, threshold=0.5)]
    windows = F._centerface_windows(big, threshold=0.05)
    assert whole, "the check needs faces"
    for b in whole:
        assert max(box_iou(b[:4], c[:4]) for c in windows) >= 0.5


def test_a_face_across_a_tile_border_is_found_whole():
    face = _photo("obama.jpg")
    found = F._centerface_image(np.ascontiguousarray(cv2.resize(face, (face.shape[1] // 32 * 32, face.shape[0] // 32 * 32))), threshold=0.5)
    assert found
    canvas = np.full((2016, 3008, 3), 127, np.uint8)
    x = F._starts(3008)[1] - 60  # straddles the left border of the second tile column
    patch = cv2.resize(face, (280, int(280 * face.shape[0] / face.shape[1])))
    canvas[400 : 400 + patch.shape[0], x : x + patch.shape[1]] = patch
    reference = max(F._centerface_image(canvas, threshold=0.5), key=lambda b: b[4])
    windows = F._centerface_windows(canvas, threshold=0.05)
    overlapping = [c for c in windows if box_iou(c[:4], reference[:4]) > 0]
    assert max(box_iou(c[:4], reference[:4]) for c in overlapping) >= 0.7
    assert not [c for c in overlapping if c[4] >= 0.5 and box_iou(c[:4], reference[:4]) < 0.5]  # no confident half face


def test_a_12_megapixel_photo_stays_under_a_gigabyte():
    code = (
        "import numpy as np\n"
        "from avanon.detect.faces import CenterFace\n"
        "image = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)\n"
        "CenterFace(threshold=0.05).detect(image)\n"
        "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"  # this program's peak (ru_maxrss would include pytest's, kept across fork)
    )
    peak_kb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300).stdout.split()[-1])
    assert peak_kb < 1_000_000, f"peak {peak_kb / 1e6:.2f} GB (one 12-megapixel run took 2.5 GB)"
