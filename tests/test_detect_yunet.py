"""Tests of the YuNet face detector (avanon.detect.yunet) on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avanon.detect.yunet import YUNET, YuNet
from avanon.errors import ParameterError

CITY = "deface_example/examples/city.jpg"
TWO = "face_recognition_examples/examples/two_people.jpg"
OBAMA_SMALL = "face_recognition_examples/examples/obama_small.jpg"


def photo(dev_data: Path, name: str, scale: float = 1.0) -> np.ndarray:
    image = Image.open(dev_data / name).convert("RGB")
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    return np.asarray(image)


def test_two_people_are_found_where_their_faces_are(dev_data: Path) -> None:
    frame = photo(dev_data, TWO)
    faces = YuNet(threshold=0.8)(frame)
    assert len(faces) == 2
    assert faces.boxes.shape == (2, 4) and faces.landmarks.shape == (2, 5, 2)
    centres = sorted((faces.boxes[:, 0] + faces.boxes[:, 2]) / 2)
    assert centres[0] < frame.shape[1] / 2 < centres[1]  # one face on each side
    for box, marks in zip(faces.boxes, faces.landmarks):
        assert 100 < box[2] - box[0] < 250  # faces of about 150 px
        assert ((marks[:, 0] >= box[0]) & (marks[:, 0] <= box[2])).all()
    assert (faces.scores >= 0.8).all() and (faces.scores <= 1).all()


def test_small_faces_of_a_street_scene(dev_data: Path) -> None:
    frame = photo(dev_data, CITY)
    plain = YuNet(threshold=0.5)(frame)
    assert len(plain) >= 8
    assert np.median(plain.boxes[:, 2] - plain.boxes[:, 0]) < 40
    # At half size the faces are 6-20 px: the enlarged search finds more of them.
    small = photo(dev_data, CITY, 0.5)
    once = YuNet(threshold=0.5)(small)
    enlarged = YuNet(threshold=0.5, upscale=3.0)(small)
    assert len(enlarged) > len(once)
    assert len(enlarged) >= 8
    assert (enlarged.boxes[:, 2] <= small.shape[1]).all() and (enlarged.boxes[:, 3] <= small.shape[0]).all()


def test_no_face_on_a_flat_frame_and_bad_parameters() -> None:
    assert len(YuNet()(np.full((240, 320, 3), 128, np.uint8))) == 0
    with pytest.raises(ParameterError, match="'threshold' parameter of YuNet"):
        YuNet(threshold=1.5)
    with pytest.raises(ParameterError, match="'upscale'"):
        YuNet(upscale=0.5)
    with pytest.raises(ParameterError, match="RGB frame"):
        YuNet()(np.zeros((10, 10), np.uint8))


def test_library_is_pinned() -> None:
    assert YUNET.path().name == "libfacedetection.so.v0.0.3"
    assert YUNET.record()["version"] == "2023.5.1"
