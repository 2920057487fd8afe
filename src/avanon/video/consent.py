"""Consented participants: people who agreed to stay visible are left unmasked, everyone else is masked.

The recipe lists reference photos of the consenting people (one face per photo; several photos of
one person help). Each photo gives a 128-d face embedding (dlib's ResNet face encoder shipped in
``face-recognition-models``). In the video, head boxes are linked into tracks
(:mod:`avanon.video.headtracks`) and every ``every`` frames the face inside each track's box is
found (dlib HOG) and embedded. A track is left visible only while its last ``min_matches`` checks
all matched a reference below ``threshold`` (Euclidean distance; 0.6 is dlib's usual threshold,
0.45 here is strict). Anything uncertain is masked:

- a new track, until it has ``min_matches`` matching checks;
- a track whose last check did not match, or found no face;
- a track whose box overlaps another head box (tracks may swap identities when people cross);
  its evidence is discarded.

This filter is the only one that removes boxes from the list to obfuscate.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avanon.detect.models import ModelFile
from avanon.errors import MediaError, ModelError, ParameterError
from avanon.registry import Interval, Kind, Param, register
from avanon.video.filters import Box, VideoFilter
from avanon.video.headtracks import HeadTracks
from avanon.video.tracking import iou

FACE_ENCODER = ModelFile(
    "dlib-face-recognition-resnet",
    "face_recognition_models",
    "models/dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    distribution="face-recognition-models",
)
SHAPE_5 = ModelFile(
    "dlib-shape-predictor-5",
    "face_recognition_models",
    "models/shape_predictor_5_face_landmarks.dat",
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    distribution="face-recognition-models",
)
ENCODER_MODELS = [FACE_ENCODER, SHAPE_5]
MIN_FACE = 160  # pixels: crops are enlarged so the head box is at least this wide before HOG runs


@lru_cache(maxsize=1)
def _dlib() -> tuple[Any, Any, Any]:
    for model in ENCODER_MODELS:
        model.path()
    import dlib

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(SHAPE_5.path())),
        dlib.face_recognition_model_v1(str(FACE_ENCODER.path())),
    )


def face_embeddings(image: np.ndarray, *, upsample: int = 1, jitters: int = 1) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Every face dlib's HOG detector finds: ``((x0, y0, x1, y1) [pixels], 128-d embedding)``."""
    detector, shape, encoder = _dlib()
    image = np.ascontiguousarray(image[:, :, :3])
    try:
        found = detector(image, upsample)
        out = []
        for rect in found:
            landmarks = shape(image, rect)
            vector = np.asarray(encoder.compute_face_descriptor(image, landmarks, jitters), dtype=np.float64)
            out.append(((rect.left(), rect.top(), rect.right(), rect.bottom()), vector))
        return out
    except RuntimeError as exc:
        raise ModelError(f"dlib face embedding failed on a {image.shape[1]}x{image.shape[0]} image: {exc}") from exc


@lru_cache(maxsize=64)
def _reference(path: str, mtime: float) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            image = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise MediaError(f"Consent reference photo {path}: cannot be read ({exc}).") from None
    faces = face_embeddings(image, upsample=1, jitters=5)
    if len(faces) != 1:
        raise ParameterError(f"Consent reference photo {path} must show exactly one face; found {len(faces)}. Crop the photo to the consenting person.")
    return faces[0][1]


def reference_embeddings(paths: tuple[str, ...]) -> np.ndarray:
    """Embeddings (n, 128) of the reference photos; each must exist and show exactly one face."""
    vectors = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            raise ParameterError(f"The 'references' parameter of Consent names {name!r}, which is not an existing file.")
        vectors.append(_reference(str(path.resolve()), path.stat().st_mtime))
    return np.stack(vectors) if vectors else np.zeros((0, 128))


@register
class Consent(VideoFilter):
    """Leave confidently matched consenting participants visible; mask everyone else."""

    name = "consent"
    params = {
        "references": Param((), Kind((tuple,)), "reference photo paths of consenting people (one face each)"),
        "threshold": Param(0.45, Interval(float, 0.1, 0.6), "largest embedding distance counted as a match (strict)"),
        "min_matches": Param(3, Interval(int, 1, 50), "consecutive matching checks before a track is left visible"),
        "every": Param(5, Interval(int, 1, 100), "check each track every N frames [frames]"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for ref in self.references:
            if not isinstance(ref, str):
                raise ParameterError(f"The 'references' parameter of Consent must be a list of file paths. Got {ref!r} instead.")
        self._refs: np.ndarray | None = None
        self._tracks = HeadTracks(max_age=5)
        self._visible_frames = 0
        self._checks = 0
        self._kept: set[int] = set()

    def session(self, *, width: int, height: int, fps: float) -> "Consent":
        fresh = Consent(**self.get_params())
        fresh._refs = reference_embeddings(self.references)
        return fresh

    def models(self) -> list[ModelFile]:
        return list(ENCODER_MODELS)

    def _distance(self, image: np.ndarray, box: Box) -> float:
        """Smallest distance of the face in ``box`` to any reference (inf when no face is found)."""
        h, w = image.shape[:2]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
        if x1 - x0 < 8 or y1 - y0 < 8 or self._refs is None or not len(self._refs):
            return float("inf")
        crop = image[y0:y1, x0:x1]
        factor = max(1.0, MIN_FACE / (x1 - x0))
        if factor > 1:
            crop = cv2.resize(crop, (round((x1 - x0) * factor), round((y1 - y0) * factor)), interpolation=cv2.INTER_CUBIC)
        faces = face_embeddings(crop, upsample=0)
        if len(faces) != 1:
            return float("inf")  # none, or two faces in one head box: uncertain
        return float(np.min(np.linalg.norm(self._refs - faces[0][1], axis=1)))

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        tracks = self._tracks.update(boxes, index)
        rest: list[Box] = []
        for k, (box, track) in enumerate(zip(boxes, tracks)):
            state = track.state
            crowded = any(iou(box, other) > 0.0 for j, other in enumerate(boxes) if j != k)
            if crowded:
                state["evidence"] = []
            elif index - state.get("checked", -(10**9)) >= self.every:
                state["checked"] = index
                self._checks += 1
                evidence = state.setdefault("evidence", [])
                evidence.append(self._distance(image, box) <= self.threshold)
                del evidence[: -self.min_matches]
            evidence = state.get("evidence", [])
            if len(evidence) >= self.min_matches and all(evidence):
                self._visible_frames += 1
                self._kept.add(track.ident)
            else:
                rest.append(box)
        return image, rest

    def stats(self) -> dict[str, Any]:
        return {"references": len(self.references), "checks": self._checks, "tracks_kept_visible": len(self._kept), "visible_head_frames": self._visible_frames}
