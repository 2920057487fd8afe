"""Consent filter: matched participants stay visible only when confident; everyone else is masked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avanon.errors import ParameterError
from avanon.video.consent import Consent, face_embeddings

EXAMPLES = "face_recognition_examples/examples"


def _photo_and_head(path: Path) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    image = np.asarray(Image.open(path).convert("RGB"))
    (x0, y0, x1, y1), _ = face_embeddings(image)[0]
    w, h = x1 - x0, y1 - y0
    return image, (x0 - 0.4 * w, y0 - 0.5 * h, x1 + 0.4 * w, y1 + 0.4 * h)


@pytest.fixture(scope="module")
def reference(dev_data: Path) -> str:
    return str(dev_data / EXAMPLES / "obama.jpg")


def test_consenting_person_visible_after_enough_matches(dev_data: Path, reference: str) -> None:
    image, head = _photo_and_head(dev_data / EXAMPLES / "obama-480p.jpg")
    filt = Consent(references=[reference], min_matches=2, every=1).session(width=0, height=0, fps=25.0)
    kept = [filt.apply(image, [head], index=k)[1] for k in range(3)]
    assert kept == [[head], [], []]  # masked until two confident matches
    assert filt.stats()["tracks_kept_visible"] == 1


def test_other_people_stay_masked(dev_data: Path, reference: str) -> None:
    image, head = _photo_and_head(dev_data / EXAMPLES / "biden.jpg")
    filt = Consent(references=[reference], min_matches=1, every=1).session(width=0, height=0, fps=25.0)
    assert all(filt.apply(image, [head], index=k)[1] == [head] for k in range(3))


def test_overlapping_heads_reset_the_evidence(dev_data: Path, reference: str) -> None:
    image, head = _photo_and_head(dev_data / EXAMPLES / "obama-480p.jpg")
    other = (head[0] + 5, head[1] + 5, head[2] + 5, head[3] + 5)
    filt = Consent(references=[reference], min_matches=1, every=1).session(width=0, height=0, fps=25.0)
    assert filt.apply(image, [head], index=0)[1] == []
    assert set(filt.apply(image, [head, other], index=1)[1]) == {head, other}


def test_faceless_box_is_masked(reference: str) -> None:
    blank = np.full((200, 200, 3), 120, np.uint8)
    filt = Consent(references=[reference], min_matches=1, every=1).session(width=200, height=200, fps=25.0)
    box = (20.0, 20.0, 180.0, 180.0)
    assert filt.apply(blank, [box], index=0)[1] == [box]


def test_reference_checks(dev_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not an existing file"):
        Consent(references=[str(tmp_path / "nobody.jpg")]).session(width=1, height=1, fps=25.0)
    with pytest.raises(ParameterError, match="exactly one face"):
        Consent(references=[str(dev_data / EXAMPLES / "two_people.jpg")]).session(width=1, height=1, fps=25.0)
    with pytest.raises(ParameterError, match="'threshold' parameter of Consent"):
        Consent(threshold=0.9)
