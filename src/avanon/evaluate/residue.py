"""Identifiable residual faces: does a residual detector hit let an attacker re-identify someone?

The residual-face test (:mod:`avanon.evaluate.faces`) counts every face or head box of the
independent detectors (dlib HOG, YuNet, OpenPose heads) whose region is still unpainted in the
anonymized frame. Those detectors run at low thresholds on purpose, so a hit can be a bottle, a fist
or a neck: a hit is evidence that something was left, not that someone can be recognised.

This module is the attack on top of those hits. A hit is *identifiable* when both hold:

1. **confirmed**: dlib's CNN face detector (MMOD, ``mmod_human_face_detector.dat`` of
   face_recognition_models) finds a face in the anonymized frame around the hit (its centre inside
   the hit box, enlarged by half its size). The MMOD model is used neither by the masking
   (MediaPipe BlazeFace, CenterFace, MediaPipe pose, YuNet) nor by the detectors that made the hit.
2. **matched**: the dlib ResNet embedding of that face on the anonymized frame is closer than
   0.6 (face_recognition's default tolerance, :data:`avanon.evaluate.reid.SAME_PERSON`) to the
   embedding at the same place of the original frame: the attacker's face recogniser would take it
   for the person who was there.

The region around each hit is enlarged so that the box's longer side is about
:data:`FACE_SIZE` pixels before the CNN runs (MMOD finds faces from about 80 pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from avanon.detect.models import ModelFile
from avanon.errors import AvanonError
from avanon.evaluate.frames import sampled_pairs
from avanon.evaluate.reid import SAME_PERSON, face_embedding

CNN_DETECTOR = ModelFile(
    "dlib-mmod-face-detector",
    "face_recognition_models",
    "models/mmod_human_face_detector.dat",
    "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
    distribution="face-recognition-models",
)
FACE_SIZE = 160  # [pixels] the hit box's longer side after enlarging, before the CNN runs
MARGIN = 0.5  # fraction of the box's size added on each side of the region searched
MAX_SCALE = 8.0  # the region is enlarged at most this many times


@lru_cache(maxsize=1)
def _cnn() -> Any:
    import dlib

    return dlib.cnn_face_detection_model_v1(str(CNN_DETECTOR.path()))


@dataclass(frozen=True)
class HitCheck:
    """The attack on one residual hit."""

    frame: int
    box: tuple[float, float, float, float]  # [pixels of the original frame]
    confirmed: bool  # the CNN face detector finds a face there on the anonymized frame
    distance: float | None  # [embedding units] anonymized against original face; None when not confirmed

    @property
    def identifiable(self) -> bool:
        return self.confirmed and self.distance is not None and self.distance < SAME_PERSON

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "box": [round(float(v), 1) for v in self.box],
            "confirmed": self.confirmed,
            "distance": None if self.distance is None else round(self.distance, 4),
            "identifiable": self.identifiable,
        }


def _region(shape: tuple[int, ...], box: Iterable[float]) -> tuple[int, int, int, int, float]:
    """The enlarged search region (x0, y0, x1, y1) around ``box`` and the scale it is resized by."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = max(1.0, x1 - x0), max(1.0, y1 - y0)
    rx0, ry0 = max(0, int(x0 - MARGIN * w)), max(0, int(y0 - MARGIN * h))
    rx1, ry1 = min(shape[1], int(np.ceil(x1 + MARGIN * w))), min(shape[0], int(np.ceil(y1 + MARGIN * h)))
    scale = float(np.clip(FACE_SIZE / max(w, h), 1.0, MAX_SCALE))
    return rx0, ry0, rx1, ry1, scale


def check_hit(original: np.ndarray, anonymized: np.ndarray, box: Iterable[float], *, frame: int = 0) -> HitCheck:
    """Whether the residual hit ``box`` on a pair of RGB frames is a face that matches the original.

    Parameters
    ----------
    original, anonymized : np.ndarray
        RGB uint8 frames of one shape (the anonymized frame is resized to the original's otherwise).
    box : (x0, y0, x1, y1) [pixels of the original frame]
        The residual detector hit.
    frame : int
        Index of the original frame (for the record).
    """
    import cv2

    bx0, by0, bx1, by1 = (float(v) for v in box)
    where = (bx0, by0, bx1, by1)
    if anonymized.shape[:2] != original.shape[:2]:
        anonymized = cv2.resize(anonymized, (original.shape[1], original.shape[0]), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1, scale = _region(original.shape, where)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return HitCheck(frame, where, False, None)
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    crops = [np.ascontiguousarray(cv2.resize(f[y0:y1, x0:x1, :3], size, interpolation=cv2.INTER_CUBIC)) for f in (original, anonymized)]
    hit = [(v - o) * scale for v, o in zip(where, (x0, y0, x0, y0))]
    pad = [MARGIN * (hit[2] - hit[0]), MARGIN * (hit[3] - hit[1])]
    best = None
    for found in _cnn()(crops[1], 0):
        r = found.rect
        cx, cy = (r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2
        if hit[0] - pad[0] <= cx <= hit[2] + pad[0] and hit[1] - pad[1] <= cy <= hit[3] + pad[1]:
            if best is None or found.confidence > best.confidence:
                best = found
    if best is None:
        return HitCheck(frame, where, False, None)
    r = best.rect
    face = (r.left(), r.top(), r.right(), r.bottom())
    distance = float(np.linalg.norm(face_embedding(crops[1], face) - face_embedding(crops[0], face)))
    return HitCheck(frame, where, True, distance)


def check_hits(original: Path, anonymized: Path, hits: Iterable[dict[str, Any]]) -> list[HitCheck]:
    """:func:`check_hit` on residual hits (``{"frame": index, "box": [x0, y0, x1, y1]}``) of one pair of files."""
    wanted: dict[int, list[list[float]]] = {}
    for hit in hits:
        wanted.setdefault(int(hit["frame"]), []).append(list(hit["box"]))
    total = sum(len(b) for b in wanted.values())
    checks: list[HitCheck] = []
    for pair in sampled_pairs(Path(original), Path(anonymized), sampled=lambda index: index in wanted, max_time=None):
        if pair.anonymized is None:
            raise AvanonError(f"{anonymized}: no frame at {pair.time:.3f} s to check the residual hit on frame {pair.index}.")
        checks += [check_hit(pair.original, pair.anonymized, box, frame=pair.index) for box in wanted[pair.index]]
        if len(checks) == total:
            break
    if len(checks) < total:
        raise AvanonError(f"{original}: frames {sorted(wanted)} not all found to check the residual hits.")
    return checks


def _original_root(metrics: dict[str, Any], release_dir: Path) -> Path | None:
    recorded = metrics.get("original_dir")
    if not recorded:
        return None
    for candidate in (Path(recorded), Path(release_dir).parent / recorded, Path(release_dir).parent / Path(recorded).name):
        if candidate.is_dir():
            return candidate
    return None


def identifiable_residue(metrics: dict[str, Any], release_dir: Path) -> dict[str, Any]:
    """The attack on every residual hit recorded in an evaluation, as a score (JSON form).

    Parameters
    ----------
    metrics : dict
        The content of ``metrics.json`` (its ``files`` records hold each file's residual hits).
    release_dir : Path
        The anonymized folder those records describe.

    Returns
    -------
    dict
        ``value``: the number of identifiable hits (``None`` when it cannot be computed: originals
        not found, hits not all recorded, a model or file that cannot be read); ``n``: hits
        checked; ``detail``: confirmed and matched counts, each hit, or the reason.
    """
    records = [(r, r["residual_faces"]) for r in metrics.get("files", []) if isinstance(r.get("residual_faces"), dict)]
    hits = sum(int(rf.get("leaks") or 0) for _, rf in records)
    root = _original_root(metrics, release_dir)
    if root is None and hits:
        return {"value": None, "n": hits, "detail": {"reason": f"the originals ({metrics.get('original_dir')!r}) are not reachable"}}
    checks: list[HitCheck] = []
    try:
        for record, rf in records:
            detail = rf.get("leaks_detail") or []
            if len(detail) < int(rf.get("leaks") or 0):
                return {"value": None, "n": hits, "detail": {"reason": f"{record['output']}: {rf['leaks']} hits, {len(detail)} recorded"}}
            if detail:
                assert root is not None
                checks += check_hits(root / record["input"], Path(release_dir) / record["output"], detail)
    except (AvanonError, OSError, RuntimeError) as exc:
        return {"value": None, "n": hits, "detail": {"reason": str(exc)}}
    confirmed = sum(c.confirmed for c in checks)
    identifiable = sum(c.identifiable for c in checks)
    return {
        "value": float(identifiable),
        "n": len(checks),
        "detail": {"confirmed": confirmed, "identifiable": identifiable, "hits": [c.to_json() for c in checks]},
    }
