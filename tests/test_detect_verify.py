from __future__ import annotations

import cv2
import numpy as np
import pytest

from avanon.detect.faces import CenterFace, Detection
from avanon.detect.verify import CropVerifier, square_crops


@pytest.fixture(scope="module")
def obama(dev_data):
    image = cv2.cvtColor(cv2.imread(str(dev_data / "face_recognition_examples/examples/obama.jpg")), cv2.COLOR_BGR2RGB)
    k = 120 / image.shape[0]
    small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)  # a face of about 40 px: a small face
    canvas = np.full((360, 640, 3), 90, dtype=np.uint8)
    canvas[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small
    return canvas


def _face(image):
    best = max(CenterFace(threshold=0.3, every=1, confident=0.01).detect(image), key=lambda d: d.score)
    return best.box


def test_square_crops_are_centred_and_padded():
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[40:60, 90:110] = 255
    crops, origins = square_crops(image, [(90.0, 40.0, 110.0, 60.0), (0.0, 0.0, 10.0, 10.0)], context=2.0, size=40)
    assert crops.shape == (2, 40, 40, 3)
    assert tuple(origins[0]) == (80, 30, 40)  # a 40-px square around the box
    assert crops[0][10:30, 10:30].min() == 255 and crops[0][:5].max() == 0  # the box in the middle, its surroundings around
    assert tuple(origins[1]) == (-5, -5, 20)  # at the corner: the part outside the frame is black
    assert crops[1][:8].max() == 0


def test_a_small_real_face_is_verified_and_clutter_is_not(obama):
    face = _face(obama)
    x0, y0, x1, y1 = face
    wall = (30.0, 250.0, 30.0 + (x1 - x0), 250.0 + (y1 - y0))  # flat background of the same size
    verdicts = CropVerifier()(obama, [face, wall])
    assert verdicts[0].verified and verdicts[0].score >= 0.5
    assert not verdicts[1].verified and verdicts[1].score == 0.0


def test_a_face_much_larger_than_the_candidate_does_not_verify_it(obama):
    x0, y0, x1, y1 = _face(obama)
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) / 2.5
    speck = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)  # a small candidate on the middle of the face
    verifier = CropVerifier(context=6.0)  # a crop that holds the whole face
    assert not verifier(obama, [speck])[0].verified
    assert verifier(obama, [speck], sizes=(0.1, 10.0))[0].verified  # the same face accepted when sizes allow it


def test_low_scoring_detections_are_candidates_until_verified(obama):
    detector = CenterFace(threshold=0.05, every=1, confident=0.99, verify_threshold=0.5)
    dets = detector.detect(obama)
    face = _face(obama)
    on_face = [d for d in dets if d.x0 < (face[0] + face[2]) / 2 < d.x1 and d.y0 < (face[1] + face[3]) / 2 < d.y1]
    assert on_face and all(d.verified for d in on_face)
    assert all(d.score < 0.99 for d in dets)  # none confident: each one went through the second look


def test_small_and_edge_candidates_are_masked_without_a_second_look():
    """Where a second look cannot tell (tiny, or cut by the frame's edge) a candidate is kept: fail closed."""
    image = np.full((200, 300, 3), 90, dtype=np.uint8)
    detector = CenterFace(threshold=0.05, every=1, confident=0.9, small=20.0)
    found = [
        Detection(100.0, 100.0, 110.0, 110.0, 0.2, "centerface"),  # 10 px: too small to verify
        Detection(0.0, 50.0, 40.0, 90.0, 0.2, "centerface"),  # touches the left edge
        Detection(150.0, 60.0, 190.0, 100.0, 0.2, "centerface"),
    ]  # 40 px of flat grey in the middle
    kept = detector.verify(image, found)
    assert [d.verified for d in kept] == [True, True, False]


def test_a_face_at_the_rim_of_a_head_box_does_not_verify_it_when_centred_faces_are_required(obama):
    x0, y0, x1, y1 = _face(obama)
    w, h = x1 - x0, y1 - y0
    # a head box twice the face's size whose right edge runs through the face: the face sits at its rim
    head = (x0 + w / 2 - 2 * w, y0 - h / 2, x0 + w / 2, y0 + 1.5 * h)
    verifier = CropVerifier(context=2.0)
    assert verifier(obama, [head], sizes=(0.25, 1.2))[0].verified  # any centre inside the box: verified
    assert not verifier(obama, [head], sizes=(0.25, 1.2), centre=0.5)[0].verified
    centred = (x0 - w / 2, y0 - h / 2, x1 + w / 2, y1 + h / 2)
    assert verifier(obama, [centred], sizes=(0.25, 1.2), centre=0.5)[0].verified


def test_small_faint_candidates_wait_for_repeats_and_small_clear_ones_are_masked():
    image = np.full((120, 160, 3), 90, dtype=np.uint8)
    small = [Detection(10, 10, 22, 24, 0.06, "centerface"), Detection(60, 10, 72, 24, 0.3, "centerface")]
    detector = CenterFace(threshold=0.05, every=1, confident=0.5, small=24.0, small_score=0.1)
    out = {d.score: d.verified for d in detector.verify(image, small)}
    assert out == {0.06: False, 0.3: True}
    legacy = CenterFace(threshold=0.05, every=1, confident=0.5, small=24.0)  # small_score 0: every small one masked
    assert all(d.verified for d in legacy.verify(image, small))


def test_both_networks_must_find_the_face_when_asked(obama, monkeypatch):
    """A body-pose "head" on clasped fists fooled one crop network now and then: pose heads ask both."""
    import avanon.detect.faces as faces

    face = _face(obama)
    verifier = CropVerifier()
    assert verifier(obama, [face], both=True)[0].verified  # a real face: both find it
    monkeypatch.setattr(faces, "blazeface_boxes", lambda *a, **k: [])  # BlazeFace finds nothing on the crop
    assert verifier(obama, [face])[0].verified  # CenterFace alone is enough by default
    assert not verifier(obama, [face], both=True)[0].verified
    assert faces.PoseHead().verify_both and not faces.PoseHead(verify_both=False).verify_both and not faces.CenterFace().verify_both
