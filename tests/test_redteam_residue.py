"""The identifiable-residual-face attack (avanon.evaluate.residue) and its red-team verdict (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from avanon.evaluate.redteam import IDENTIFIABLE, finding_of, red_team
from avanon.evaluate.residue import check_hit, identifiable_residue

PHOTO = "face_recognition_examples/examples/obama-480p.jpg"


@pytest.fixture(scope="module")
def face(dev_data: Path) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A real photo and the box dlib's HOG detector (one of the residual detectors) finds on it."""
    import dlib

    image = np.asarray(Image.open(dev_data / PHOTO).convert("RGB"))
    (rect,) = dlib.get_frontal_face_detector()(image, 1)
    return image, (rect.left(), rect.top(), rect.right(), rect.bottom())


def painted(image: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """The box filled with its mean colour, enlarged by a quarter as masks are."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    out = image.copy()
    ys, xs = slice(max(0, int(y0 - h / 4)), int(y1 + h / 4)), slice(max(0, int(x0 - w / 4)), int(x1 + w / 4))
    out[ys, xs] = out[ys, xs].reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def test_an_unmasked_face_is_identifiable(face: tuple[np.ndarray, tuple[float, ...]]) -> None:
    image, box = face
    check = check_hit(image, image.copy(), box)
    assert check.confirmed and check.distance is not None and check.distance < 0.1 and check.identifiable


def test_a_masked_face_is_not_identifiable(face: tuple[np.ndarray, tuple[float, ...]]) -> None:
    image, box = face
    check = check_hit(image, painted(image, box), box)
    assert not check.confirmed and not check.identifiable


def test_another_persons_face_is_confirmed_but_does_not_match(dev_data: Path, face: tuple[np.ndarray, tuple[float, ...]]) -> None:
    import dlib

    image, box = face
    other = np.asarray(Image.open(dev_data / "face_recognition_examples/examples/biden.jpg").convert("RGB"))
    (rect,) = dlib.get_frontal_face_detector()(other, 1)
    swapped = image.copy()
    x0, y0, x1, y1 = (int(v) for v in box)
    crop = other[max(0, rect.top() - 40) : rect.bottom() + 40, max(0, rect.left() - 40) : rect.right() + 40]
    bx0, by0, bx1, by1 = max(0, x0 - 40), max(0, y0 - 40), x1 + 40, y1 + 40
    swapped[by0:by1, bx0:bx1] = np.asarray(Image.fromarray(crop).resize((bx1 - bx0, by1 - by0)))
    check = check_hit(image, swapped, box)
    assert check.confirmed and check.distance is not None and check.distance >= 0.6 and not check.identifiable


def test_a_bottle_like_blob_is_not_a_face() -> None:
    image = np.full((240, 320, 3), 210, np.uint8)
    yy, xx = np.mgrid[0:240, 0:320]
    image[(abs(xx - 160) < 18) & (yy > 90) & (yy < 210)] = (40, 110, 60)  # the body
    image[(abs(xx - 160) < 7) & (yy > 60) & (yy <= 90)] = (40, 110, 60)  # the neck
    image[((xx - 160) ** 2 + (yy - 130) ** 2) < 100] = (240, 240, 240)  # a label
    check = check_hit(image, image.copy(), (130, 60, 190, 150))
    assert not check.confirmed and not check.identifiable


def _evaluated(tmp_path: Path, image: np.ndarray, anonymized: np.ndarray, box: tuple[float, ...]) -> tuple[Path, dict]:
    (tmp_path / "orig").mkdir(parents=True)
    release = tmp_path / "out"
    release.mkdir()
    Image.fromarray(image).save(tmp_path / "orig" / "p.png")
    Image.fromarray(anonymized).save(release / "p.png")
    (release / "avanon_manifest.json").write_text(json.dumps({"recipe": {"name": "default"}}), encoding="utf-8")
    hit = {"frame": 0, "box": list(box), "leak": True}
    record = {"input": "p.png", "output": "p.png", "kind": "image", "residual_faces": {"leaks": 1, "leaks_detail": [hit]}}
    summary = {"residual_faces": {"value": 1.0, "aspect": "privacy", "n": 1, "detail": {"leaks": 1, "faces_checked": 1}}}
    return release, {"original_dir": str(tmp_path / "orig"), "files": [record], "summary": summary}


def test_red_team_verdicts_on_a_leaked_and_a_masked_face(tmp_path: Path, face: tuple[np.ndarray, tuple[float, ...]]) -> None:
    image, box = face
    leaked, metrics = _evaluated(tmp_path / "a", image, image, box)
    verdicts = {f.attack: (f.verdict, f.value, f.n) for f in red_team(leaked, metrics).findings}
    assert verdicts["residual_faces"] == ("measured", 1.0, 1)
    assert verdicts[IDENTIFIABLE] == ("succeeded", 1.0, 1)
    masked, metrics = _evaluated(tmp_path / "b", image, painted(image, box), box)
    assert {f.attack: f.verdict for f in red_team(masked, metrics).findings}[IDENTIFIABLE] == "held"


def test_the_attack_fails_closed(tmp_path: Path, face: tuple[np.ndarray, tuple[float, ...]]) -> None:
    image, box = face
    release, metrics = _evaluated(tmp_path, image, image, box)
    gone = dict(metrics, original_dir=str(tmp_path / "nowhere"))
    assert identifiable_residue(gone, release)["value"] is None
    assert {f.attack: f.verdict for f in red_team(release, gone).findings}[IDENTIFIABLE] == "not computable"
    unrecorded = json.loads(json.dumps(metrics))
    unrecorded["files"][0]["residual_faces"]["leaks_detail"] = []  # hits counted but not kept
    assert {f.attack: f.verdict for f in red_team(release, unrecorded).findings}[IDENTIFIABLE] == "not computable"
    no_detail = {"summary": {"residual_faces": {"value": 0.2, "aspect": "privacy", "n": 5}}}
    assert {f.attack: f.verdict for f in red_team(release, no_detail).findings}[IDENTIFIABLE] == "not computable"
    assert finding_of("residual_faces", {"value": None, "aspect": "privacy"}).verdict == "not computable"
