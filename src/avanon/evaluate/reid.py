"""Face re-identification attack: can anonymized faces be matched to the people they belong to?

The attacker holds a gallery of photos of the study's participants (here: dlib 128-d face
embeddings of the faces on the original frames) and tries to name each anonymized face. Faces are
located on the original frames (dlib HOG, the attacker is assumed to know where the faces were),
the anonymized frame at the same time is cropped at the same place, aligned with dlib's 5-point
shape predictor and embedded with dlib's ResNet face encoder (face_recognition_models 0.3.0,
pinned). A probe is identified when its nearest gallery identity (smallest Euclidean distance to
any embedding of that identity, leaving out the probe's own frame) is the true one.

Identities are the clusters of original embeddings (average linkage, distance 0.6, dlib's
same-person threshold) unless labels are given. The rank-1 rate is reported against chance,
1 / number of identities; an attack that does no better than chance has failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from avanon.detect.models import ModelFile
from avanon.errors import ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.faces import Box, _DlibHog, paired_frames
from avanon.evaluate.frames import FrameAnalysis, FramePair
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia, StudyMedia

SHAPE_PREDICTOR_5 = ModelFile(
    "dlib-shape-predictor-5",
    "face_recognition_models",
    "models/shape_predictor_5_face_landmarks.dat",
    "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    distribution="face-recognition-models",
)
FACE_ENCODER = ModelFile(
    "dlib-face-resnet-v1",
    "face_recognition_models",
    "models/dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    distribution="face-recognition-models",
)
SAME_PERSON = 0.6  # dlib's Euclidean distance threshold between embeddings of one person


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any]:
    import dlib

    return dlib.shape_predictor(str(SHAPE_PREDICTOR_5.path())), dlib.face_recognition_model_v1(str(FACE_ENCODER.path()))


def face_embedding(image: np.ndarray, box: Box) -> np.ndarray:
    """The 128-d dlib embedding of the face in ``box`` of an RGB uint8 image.

    The 5 landmarks are predicted inside the box on this image itself, so an anonymized image is
    embedded from what it shows, not from the original's landmarks.
    """
    import dlib

    predictor, encoder = _models()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    rect = dlib.rectangle(x0, y0, max(x0 + 1, x1 - 1), max(y0 + 1, y1 - 1))
    rgb = np.ascontiguousarray(image[:, :, :3])
    shape = predictor(rgb, rect)
    return np.asarray(encoder.compute_face_descriptor(rgb, shape), dtype=np.float64)


def cluster_identities(embeddings: np.ndarray, *, threshold: float = SAME_PERSON) -> np.ndarray:
    """Identity labels (0, 1, ...) by average-linkage clustering at ``threshold`` (Euclidean)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(embeddings) == 0:
        return np.zeros(0, int)
    if len(embeddings) == 1:
        return np.zeros(1, int)
    return fcluster(linkage(embeddings, method="average", metric="euclidean"), t=threshold, criterion="distance") - 1


@dataclass
class ReidResult:
    """Rank-1 identification of anonymized faces against a gallery of the original identities."""

    rank1: float
    chance: float
    probes: int
    identified: int
    identities: int
    unscorable: int = 0  # probes whose identity has no gallery entry outside their own frame

    def to_json(self) -> dict[str, Any]:
        return {
            "rank1": json_number(self.rank1),
            "chance": json_number(self.chance),
            "probes": self.probes,
            "identified": self.identified,
            "identities": self.identities,
            "unscorable": self.unscorable,
        }


def rank1(
    gallery: np.ndarray,
    gallery_labels: Sequence[Any],
    probes: np.ndarray,
    probe_labels: Sequence[Any],
    *,
    gallery_groups: Sequence[Any] | None = None,
    probe_groups: Sequence[Any] | None = None,
) -> ReidResult:
    """Rank-1 rate of nearest-identity matching.

    Parameters
    ----------
    gallery : ndarray, shape (n, d)
    gallery_labels : sequence of length n
    probes : ndarray, shape (m, d)
        Rows of ``nan`` are probes that could not be embedded (never identified).
    probe_labels : sequence of length m
    gallery_groups, probe_groups : sequences, optional
        A group (for example the frame) per row; gallery rows of a probe's own group are left out
        when that probe is scored.
    """
    gallery, probes = np.asarray(gallery, float), np.asarray(probes, float)
    gl, pl = np.asarray(gallery_labels, dtype=object), np.asarray(probe_labels, dtype=object)
    if len(gallery) != len(gl) or len(probes) != len(pl):
        raise ParameterError("rank1: every gallery and probe row needs one label.")
    identities = sorted(set(gl.tolist()), key=str)
    if len(identities) < 2:
        return ReidResult(float("nan"), float("nan"), len(probes), 0, len(identities), len(probes))
    gg = np.asarray(gallery_groups, dtype=object) if gallery_groups is not None else np.full(len(gallery), None, dtype=object)
    pg = np.asarray(probe_groups, dtype=object) if probe_groups is not None else np.full(len(probes), None, dtype=object)
    identified = scored = unscorable = 0
    for probe, label, group in zip(probes, pl, pg):
        keep = np.ones(len(gallery), bool) if group is None else np.array([g != group for g in gg])
        if not (keep & (gl == label)).any():
            unscorable += 1
            continue
        scored += 1
        if not np.isfinite(probe).all():
            continue
        distances = np.linalg.norm(gallery[keep] - probe, axis=1)
        best = gl[keep][int(np.argmin(distances))]
        identified += int(best == label)
    return ReidResult(identified / scored if scored else float("nan"), 1.0 / len(identities), scored, identified, len(identities), unscorable)


@dataclass
class FaceSamples:
    """Original and anonymized embeddings of faces found on paired frames."""

    original: list[np.ndarray] = field(default_factory=list)
    anonymized: list[np.ndarray] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # "file#frame"
    labels: list[str] = field(default_factory=list)  # given labels ("" when unknown)


class FaceSampler(FrameAnalysis):
    """Embeddings of the faces dlib finds on sampled original frames and of the anonymized frame at the same place.

    Parameters
    ----------
    samples : FaceSamples
        Receives the embeddings (shared by every file of an attack).
    name : str
        The original file, for the frame groups (``"file#frame"``).
    label : str
        The person the file shows, or ``""`` to find identities by clustering.
    every : int >= 1 [frames]
    """

    def __init__(self, samples: FaceSamples, *, name: str, label: str = "", every: int = 15) -> None:
        self.samples, self.name, self.label, self.every = samples, name, label, int(every)
        self.detect = _DlibHog(upsample=None, threshold=0.0)

    def add(self, pair: FramePair) -> None:
        if pair.anonymized is None:
            return
        for det in self.detect(pair.original):
            self.samples.original.append(face_embedding(pair.original, det.box))
            self.samples.anonymized.append(face_embedding(pair.anonymized, det.box))
            self.samples.groups.append(f"{self.name}#{pair.index}")
            self.samples.labels.append(self.label)


def collect_faces(pairs: Iterable[tuple[Path, Path, str]], *, every: int = 15, max_time: float | None = None) -> FaceSamples:
    """Embed every face dlib finds on the original frames, and the anonymized frame at the same place.

    Parameters
    ----------
    pairs : iterable of (original, anonymized, label)
        ``label`` names the person when each file shows one known participant; ``""`` lets the
        identities be found by clustering.
    """
    samples = FaceSamples()
    for original, anonymized, label in pairs:
        sampler = FaceSampler(samples, name=str(original), label=label, every=every)
        for pair in paired_frames(original, anonymized, every=every, max_time=max_time):
            sampler.add(pair)
    return samples


def reid_attack(samples: FaceSamples, *, threshold: float = SAME_PERSON) -> ReidResult:
    """Rank-1 identification of the anonymized faces against the original gallery."""
    if not samples.original:
        return ReidResult(float("nan"), float("nan"), 0, 0, 0)
    gallery = np.stack(samples.original)
    if all(samples.labels):
        labels = np.asarray(samples.labels, dtype=object)
    else:
        labels = cluster_identities(gallery, threshold=threshold)
    return rank1(gallery, labels, np.stack(samples.anonymized), labels, gallery_groups=samples.groups, probe_groups=samples.groups)


@register
class FaceReidentification(Metric):
    """Rank-1 rate of a dlib face-embedding attack on anonymized faces (lower is better; compare with chance)."""

    name = "face_reid_rank1"
    direction = "lower"
    aspect = "privacy"
    params = {
        "every": Param(15, Interval(int, 1, None), "use every n-th frame [frames]"),
        "threshold": Param(SAME_PERSON, Interval(float, 0.1, 1.5), "clustering distance for identities"),
    }

    kinds = ("video", "image")

    def measure(self, pairs: Iterable[tuple[Path, Path, str]], *, max_time: float | None = None) -> Score:
        return self.attack(collect_faces(pairs, every=self.every, max_time=max_time))

    def prepare(self, media: PairMedia) -> None:
        """Collect the pair's faces from its one decoding pass, every ``every`` frames or the study's ``--every`` if larger."""
        samples = media.study.shared("face_reid_samples", FaceSamples)
        every = max(self.every, media.context.every)
        media.analysis(f"face_reid:{every}", lambda: FaceSampler(samples, name=str(media.original), every=every))

    def measure_study(self, study: StudyMedia) -> list[Score]:
        if not any(p.kind in self.kinds for p in study.pairs):
            return []
        return [self.attack(study.shared("face_reid_samples", FaceSamples))]

    def attack(self, samples: FaceSamples) -> Score:
        """The rank-1 score of the attack on collected faces."""
        result = reid_attack(samples, threshold=self.threshold)
        return score_of(self, result.rank1, n=result.probes, **result.to_json())
