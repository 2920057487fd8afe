"""Linkage attacks: can an attacker tell that two anonymized sessions belong to the same participant?

Every attack here has the same shape. Each *session* (one file of a release) becomes a feature
vector; the attacker links a probe session to its nearest candidate session (Euclidean distance
between vectors; cosine for the L2-normalised speaker and face embeddings) and claims they are the
same participant. The success rate is the share of probes whose nearest candidate is the right
participant (top-1), with a Wilson 95 % interval (:func:`avanon.evaluate.intervals.wilson_interval`),
reported against **chance**: the success of an attacker who picks a candidate at random, that is
the mean share of candidates belonging to the probe's participant. A probe whose participant has
no other candidate cannot be scored and is left out; candidates from the probe's own recording
(its ``group``) are never offered.

Attacks (registered metrics, kind ``"metric"``):

``linkage_voice_same_secret`` (intended, reported as utility)
    speaker embeddings (:mod:`avanon.evaluate.asv`) of the release's own files: within one study
    secret a participant keeps one pseudo-voice, so sessions link by design.
``linkage_voice_cross_secret`` (privacy)
    the release's files against the participants' other recordings anonymized by the attacker with
    the same recipe and another secret, or against a second release made with another secret
    (:func:`release_sessions`): a pseudo-voice must not link across secrets.
``linkage_motion`` (privacy)
    body shape and movement statistics of the derived feature tables (``avanon features``,
    :mod:`avanon.video.features`): limb-length ratios, motion energy, head movement and the period
    of the ankles' alternation (gait).
``linkage_metadata`` (privacy)
    duration, file size, frame count, frame size and rate, sample rate and channels.
``linkage_external_voice`` (privacy)
    an attacker holding another recording of each participant (the original, as a public recording
    would be) names the speaker of each anonymized file.
``linkage_external_face`` (privacy)
    an attacker holding photos of each participant (face embeddings of dlib's ResNet encoder, as
    in :mod:`avanon.evaluate.reid`) looks for faces in each anonymized file and names the nearest
    participant; a file in which no face is found gets a seeded random guess, so a release that
    shows no face scores at chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from avanon import registry
from avanon.errors import IntegrityError, ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.frames import SIDES
from avanon.evaluate.intervals import wilson_interval
from avanon.evaluate.sessions import (
    SessionInputs,
    attacker_voice,
    face_frames,
    face_vectors,
    keep_faces,
    measure_voices,
    read_pair_audio,
    session_voices,
    voice_embedding,
)
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia, StudyMedia

ATTACKER_SEED_OFFSET = 7919  # the attacker's own secret: the study seed plus this (as in evaluate.voice)
LIMBS = (
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
)


@dataclass
class Sessions:
    """Feature vectors of sessions, with the participant and the recording (group) of each row."""

    vectors: np.ndarray
    labels: list[str]
    groups: list[str]

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float64).reshape(len(self.labels), -1)
        if len(self.groups) != len(self.labels):
            raise ParameterError(f"Sessions: {len(self.labels)} labels but {len(self.groups)} groups.")


@dataclass
class LinkageResult:
    """Top-1 linkage success against chance."""

    rate: float
    chance: float
    successes: int
    trials: int
    identities: int
    unscorable: int = 0
    ci95: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": json_number(self.rate),
            "chance": json_number(self.chance),
            "successes": self.successes,
            "trials": self.trials,
            "identities": self.identities,
            "unscorable": self.unscorable,
            "ci95": [json_number(v) for v in self.ci95] if self.ci95 else None,
            "ci_method": "Wilson",
            "margin_over_chance": json_number(self.rate - self.chance) if self.trials else None,
            "note": "; ".join(self.notes),
        }


def nearest_link(probes: Sessions, candidates: Sessions, *, guesses: np.ndarray | None = None, seed: int = 0) -> LinkageResult:
    """Link each probe to its nearest candidate from another recording; see the module docstring.

    Parameters
    ----------
    probes, candidates : Sessions
        Rows with a non-finite vector (nothing measurable) get a random candidate, drawn with ``seed``.
    guesses : ndarray of bool, optional
        Per probe, True to force a random guess (for example: no face was found).
    """
    rng = np.random.default_rng(seed)
    cl, cg = np.asarray(candidates.labels, dtype=object), np.asarray(candidates.groups, dtype=object)
    identities = len(set(candidates.labels))
    successes = trials = unscorable = 0
    chances: list[float] = []
    for i, (vector, label, group) in enumerate(zip(probes.vectors, probes.labels, probes.groups)):
        keep = cg != group
        same = keep & (cl == label)
        if not same.any() or keep.sum() < 2:
            unscorable += 1
            continue
        trials += 1
        chances.append(float(same.sum() / keep.sum()))
        index = np.flatnonzero(keep)
        random = (guesses is not None and bool(guesses[i])) or not np.isfinite(vector).all()
        usable = np.isfinite(candidates.vectors[index]).all(axis=1)
        if random or not usable.any():
            pick = int(rng.choice(index))
        else:
            distances = np.linalg.norm(candidates.vectors[index[usable]] - vector, axis=1)
            pick = int(index[usable][int(np.argmin(distances))])
        successes += int(cl[pick] == label)
    if not trials:
        return LinkageResult(
            float("nan"),
            float("nan"),
            0,
            0,
            identities,
            unscorable,
            notes=["not computable: needs at least 2 sessions of one participant, from different recordings"],
        )
    return LinkageResult(successes / trials, float(np.mean(chances)), successes, trials, identities, unscorable, wilson_interval(successes, trials))


def standardize(*sessions: Sessions) -> list[Sessions]:
    """Z-score every column over all rows of ``sessions`` together (missing values become the mean)."""
    import warnings

    stacked = np.concatenate([s.vectors for s in sessions], axis=0)
    finite = np.where(np.isfinite(stacked), stacked, np.nan)
    with warnings.catch_warnings():  # a column missing everywhere (frame size of audio files) is all-NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, axis=0) if len(stacked) else 0.0
        std = np.nanstd(finite, axis=0) if len(stacked) else 1.0
    mean, std = np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, np.nan_to_num(std), 1.0)
    out = []
    for s in sessions:
        z = (s.vectors - mean) / std
        out.append(Sessions(np.where(np.isfinite(z), z, 0.0), s.labels, s.groups))
    return out


# ---------------------------------------------------------------------------------------- features


def voice_vector(path: Path, *, seconds: float = 30.0, voice: Any = None, seed: int = 0, speaker: str = "") -> np.ndarray:
    """Speaker embedding of the first ``seconds`` [s] of a file's sound, optionally after ``voice``.

    ``voice`` is a registered voice transform the attacker applies first (with ``seed`` and
    ``speaker``), to build a release of their own with another secret.
    """
    from avanon.evaluate.speech import read_mono

    return voice_embedding(*read_mono(Path(path)), seconds=seconds, voice=voice, seed=seed, speaker=speaker)


def motion_vector(parquet: Path) -> np.ndarray:
    """Body-shape and movement statistics of the most-seen person of a feature table.

    Limb lengths over the torso length (medians), motion energy (mean, standard deviation), head
    yaw and pitch (standard deviations, [degrees]), wrist and ankle speeds over the torso length
    [1/s], and the period of the ankles' alternation [s] (gait; ``nan`` when not seen).
    """
    import warnings

    with warnings.catch_warnings():  # joints never seen give all-NaN statistics, kept as NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return _motion_vector(parquet)


def _motion_vector(parquet: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    if table.num_rows == 0:
        return np.full(len(LIMBS) + 8, np.nan)
    persons = table.column("person").to_numpy()
    person = int(np.bincount(persons - persons.min()).argmax() + persons.min())
    rows = persons == person
    col = {
        name: table.column(name).to_numpy(zero_copy_only=False)[rows].astype(np.float64)
        for name in table.column_names
        if name.startswith("body_") or name in ("time", "motion_energy", "head_yaw", "head_pitch")
    }

    def point(name: str) -> np.ndarray:
        return np.stack([col[f"body_{name}_x"], col[f"body_{name}_y"]], axis=1)

    mid = lambda a, b: (point(a) + point(b)) / 2  # noqa: E731
    torso = np.linalg.norm(mid("left_shoulder", "right_shoulder") - mid("left_hip", "right_hip"), axis=1)
    torso = np.where(torso > 1e-6, torso, np.nan)
    values = [np.nanmedian(np.linalg.norm(point(a) - point(b), axis=1) / torso) for a, b in LIMBS]
    times = col["time"]
    dt = np.diff(times) if len(times) > 1 else np.array([np.nan])
    for a in ("left_wrist", "left_ankle"):
        step = np.linalg.norm(np.diff(point(a), axis=0), axis=1) / torso[1:] / np.where(dt > 0, dt, np.nan)
        values.append(np.nanmedian(step) if np.isfinite(step).any() else np.nan)
    values += [np.nanmean(col["motion_energy"]), np.nanstd(col["motion_energy"]), np.nanstd(col["head_yaw"]), np.nanstd(col["head_pitch"])]
    values.append(_gait_period(col["body_left_ankle_y"] - col["body_right_ankle_y"], dt))
    values.append(np.nanmedian(torso) if np.isfinite(torso).any() else np.nan)
    with np.errstate(all="ignore"):
        return np.asarray(values, dtype=np.float64)


def _gait_period(signal: np.ndarray, dt: np.ndarray) -> float:
    """Lag of the first autocorrelation peak of the ankles' vertical difference [s]."""
    x = signal[np.isfinite(signal)]
    if len(x) < 16 or not np.isfinite(dt).any():
        return float("nan")
    x = x - x.mean()
    ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
    if ac[0] <= 0:
        return float("nan")
    ac = ac / ac[0]
    peaks = [k for k in range(2, len(ac) - 1) if ac[k] > ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0.2]
    return float(peaks[0] * np.nanmedian(dt)) if peaks else float("nan")


def metadata_vector(entry: dict[str, Any], out_dir: Path) -> np.ndarray:
    """Log duration [s], log file size [bytes], log frames, frame width and height [pixels], frame
    rate [1/s], sample rate [Hz] and channels of one output file, from its manifest entry and disk."""
    media = (entry.get("media") or {}).get("output") or {}
    video, audio = media.get("video") or {}, media.get("audio") or {}
    path = Path(out_dir) / entry["output"]
    size = path.stat().st_size if path.is_file() else np.nan
    frames = (entry.get("media") or {}).get("frames") or video.get("frames")
    values = [
        np.log1p(media.get("duration_s") or np.nan),
        np.log1p(size),
        np.log1p(frames or np.nan),
        video.get("width", np.nan),
        video.get("height", np.nan),
        _number(video.get("average_rate")),
        audio.get("sample_rate", np.nan),
        audio.get("channels", np.nan),
    ]
    return np.asarray([_number(v) for v in values], dtype=np.float64)


def _number(value: Any) -> float:
    """A float from a number or a ratio string such as ``"2997/100"`` (``nan`` when there is none)."""
    from fractions import Fraction

    try:
        return float(Fraction(value)) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return float("nan")


# ---------------------------------------------------------------------------------------- metrics


class _Linkage(Metric):
    direction = "lower"
    aspect = "privacy"
    words = ""

    def measure(self, probes: Sessions, candidates: Sessions | None = None, *, guesses: np.ndarray | None = None) -> Score:
        """Top-1 linkage of ``probes`` to ``candidates`` (the probes themselves when ``None``)."""
        result = nearest_link(probes, probes if candidates is None else candidates, guesses=guesses, seed=self.seed)
        return score_of(self, result.rate, n=result.trials, **result.to_json(), attack=self.words)

    def measure_study(self, study: StudyMedia) -> list[Score]:
        """This attack's score among those :func:`linkage_scores` computes once for the study."""
        c, inputs = study.context, study.shared("linkage_inputs", SessionInputs)
        run = lambda: linkage_scores(
            c.original_dir, c.anonymized_dir, study.pairs, c.header, voice_attacks=c.voice_attacks, max_seconds=c.max_seconds, inputs=inputs
        )  # noqa: E731
        return [s for s in study.shared("linkage", run) if s.metric == self.name]


class _VoiceLinkage(_Linkage):
    kinds = ("audio", "video")

    def measure_pair(self, media: PairMedia) -> list[Score]:
        measure_voices(media)  # the pair's speaker embeddings, from the sound read once
        return []


_SEED = Param(0, Interval(int, 0, None), "seed of the random guesses")


@register
class VoiceLinkageSameSecret(_VoiceLinkage):
    """Voice linkage of two sessions of one participant within one release (intended: one pseudo-voice per participant)."""

    name = "linkage_voice_same_secret"
    direction = "higher"
    aspect = "utility"
    words = "speaker embeddings of the release's own files (one study secret)"
    params = {"seed": _SEED, "seconds": Param(30.0, Interval(float, 1.0, None), "sound read per file [s]")}


@register
class VoiceLinkageCrossSecret(_VoiceLinkage):
    """Voice linkage across study secrets: a participant's sessions anonymized with different secrets (must be at chance)."""

    name = "linkage_voice_cross_secret"
    words = "speaker embeddings, release against sessions anonymized with another secret"
    params = {"seed": _SEED, "seconds": Param(30.0, Interval(float, 1.0, None), "sound read per file [s]")}


@register
class MotionLinkage(_Linkage):
    """Linkage of sessions from body shape, movement and gait statistics of the derived feature tables."""

    name = "linkage_motion"
    words = "body shape, movement and gait statistics of the feature tables"
    params = {"seed": _SEED}


@register
class MetadataLinkage(_Linkage):
    """Linkage of sessions from durations, file sizes, frame counts and stream parameters."""

    name = "linkage_metadata"
    words = "duration, file size, frame count and stream parameters"
    params = {"seed": _SEED}


@register
class ExternalVoiceLinkage(_VoiceLinkage):
    """Identification of the speaker of each anonymized file from another recording of each participant."""

    name = "linkage_external_voice"
    words = "another recording of each participant against the release"
    params = {"seed": _SEED, "seconds": Param(30.0, Interval(float, 1.0, None), "sound read per file [s]")}


@register
class ExternalFaceLinkage(_Linkage):
    """Identification of the participant in each anonymized file from photos of each participant."""

    name = "linkage_external_face"
    words = "photos of each participant against faces found in the release"
    params = {"seed": _SEED, "frames": Param(4, Interval(int, 1, None), "frames searched per video [frames]")}
    kinds = ("video", "image")

    def prepare(self, media: PairMedia) -> None:
        face_frames(media, frames=self.frames)  # faces of both files, from the pair's one decoding pass

    def measure_pair(self, media: PairMedia) -> list[Score]:
        keep_faces(media, frames=self.frames)
        return []

    def identify(self, photos: Sequence[tuple[str, Path]], release: Sequence[tuple[str, Path]]) -> Score:
        """Name the participant of each release file from ``photos``.

        Parameters
        ----------
        photos : sequence of (participant, image or video path)
            The attacker's external samples (faces found on them form the gallery).
        release : sequence of (participant, path)
            Anonymized files, with the participant each really shows (for scoring only).
        """
        gallery, labels = [], []
        for label, path in photos:
            for vector in face_vectors(path, frames=self.frames):
                gallery.append(vector)
                labels.append(label)
        if len(set(labels)) < 2:
            raise ParameterError(f"{self.name}: the photos show faces of {len(set(labels))} participant(s); at least 2 are needed.")
        candidates = Sessions(np.stack(gallery), labels, [f"photo:{label}" for label in labels])
        probes, labels_p, guesses, found = [], [], [], 0
        for label, path in release:
            faces = face_vectors(path, frames=self.frames)
            found += len(faces)
            if faces:  # the file's face nearest to any photo stands for the file
                distances = [np.min(np.linalg.norm(candidates.vectors - f, axis=1)) for f in faces]
                probes.append(faces[int(np.argmin(distances))])
            else:
                probes.append(np.full(candidates.vectors.shape[1], np.nan))
            guesses.append(not faces)
            labels_p.append(label)
        score = self.measure(Sessions(np.stack(probes), labels_p, [f"release:{i}" for i in range(len(labels_p))]), candidates, guesses=np.asarray(guesses))
        score.detail.update(faces_found=found, files_without_face=int(sum(guesses)))
        return score


# ---------------------------------------------------------------------------------------- studies


def release_sessions(out_dir: Path) -> list[dict[str, Any]]:
    """The ``ok`` entries of a release's manifest, each with ``participant`` (speaker key of its input)."""
    import json

    from avanon.audio.base import speaker_key

    path = Path(out_dir) / "avanon_manifest.json"
    if not path.is_file():
        raise IntegrityError(f"{path}: no run manifest; linkage needs folders written by `avanon run`.")
    entries = json.loads(path.read_text(encoding="utf-8")).get("entries", [])
    return [{**e, "participant": speaker_key(e["input"])} for e in entries if e.get("status") == "ok" and e.get("output")]


def link_releases(first: Path, second: Path, *, kinds: tuple[str, ...] = ("audio",), seconds: float = 30.0, seed: int = 0) -> Score:
    """Voice linkage across two releases (for example two runs with different secrets).

    Each file of ``first`` is linked to the nearest file of ``second`` that comes from another
    original recording (the same input's hash is never a candidate).
    """
    sides = []
    for root in (first, second):
        rows = [e for e in release_sessions(root) if e.get("kind") in kinds]
        vectors = np.stack([voice_vector(Path(root) / e["output"], seconds=seconds) for e in rows]) if rows else np.zeros((0, 256))
        sides.append(Sessions(vectors, [e["participant"] for e in rows], [e.get("input_sha256") or e["input"] for e in rows]))
    return registry.create("metric", "linkage_voice_cross_secret", seed=seed, seconds=seconds).measure(sides[0], sides[1])  # type: ignore[attr-defined]


def linkage_scores(
    original_dir: Path,
    anonymized_dir: Path,
    pairs: Sequence[Any],
    header: dict[str, Any],
    *,
    voice_attacks: bool = True,
    max_seconds: float | None = None,
    inputs: SessionInputs | None = None,
) -> list[Score]:
    """Every linkage attack a study supports (see the module docstring); one :class:`Score` each.

    ``pairs`` are :class:`avanon.evaluate.study.Pair` objects. Voice attacks need at least two
    files with sound of one participant; motion needs feature tables in the manifest (recipe
    ``video.features``); external faces use faces found on the original of each participant's
    *other* files as the attacker's photos. ``inputs`` holds the embeddings a study evaluation
    measured while reading each pair; what it lacks is read from the files.
    """
    seconds = float(max_seconds or 30.0)
    inputs = inputs if inputs is not None else SessionInputs()
    entries = {e["input"]: e for e in release_sessions(anonymized_dir)}
    scores: list[Score] = []
    sound = [p for p in pairs if p.kind in ("audio", "video") and _has_sound(Path(original_dir) / p.input)]
    labels, groups = [p.speaker for p in sound], [p.input for p in sound]
    if voice_attacks and len(sound) >= 2:
        attacker = attacker_voice(header)
        for p in sound:
            if p.input not in inputs.voices:
                audio = read_pair_audio(Path(original_dir) / p.input, Path(anonymized_dir) / p.output)
                inputs.voices[p.input] = session_voices(audio, seconds=seconds, speaker=p.speaker, attacker=attacker)
        side = lambda name: Sessions(np.stack([inputs.voices[p.input][name] for p in sound]), labels, groups)  # noqa: E731
        anon = side("anonymized")
        scores.append(registry.create("metric", "linkage_voice_same_secret", seconds=seconds).measure(anon))  # type: ignore[attr-defined]
        scores.append(registry.create("metric", "linkage_external_voice", seconds=seconds).measure(anon, side("original")))  # type: ignore[attr-defined]
        if attacker is not None:
            scores.append(registry.create("metric", "linkage_voice_cross_secret", seconds=seconds).measure(anon, side("attacker")))  # type: ignore[attr-defined]
    meta_rows = [(p, entries[p.input]) for p in pairs if p.input in entries]
    if len(meta_rows) >= 2:
        meta = Sessions(
            np.stack([metadata_vector(e, Path(anonymized_dir)) for _, e in meta_rows]), [p.speaker for p, _ in meta_rows], [p.input for p, _ in meta_rows]
        )
        scores.append(registry.create("metric", "linkage_metadata").measure(standardize(meta)[0]))  # type: ignore[attr-defined]
    tables = [(p, d["path"]) for p, e in meta_rows for d in e.get("derived") or [] if str(d.get("path", "")).endswith("_features.parquet")]
    if len(tables) >= 2:
        motion = Sessions(
            np.stack([motion_vector(Path(anonymized_dir) / path) for _, path in tables]), [p.speaker for p, _ in tables], [p.input for p, _ in tables]
        )
        scores.append(registry.create("metric", "linkage_motion").measure(standardize(motion)[0]))  # type: ignore[attr-defined]
    visual = [p for p in pairs if p.kind in ("video", "image")]
    if len({p.speaker for p in visual}) >= 2 and len(visual) > len({p.speaker for p in visual}):
        scores.append(_external_faces(original_dir, anonymized_dir, visual, inputs))
    return scores


def _external_faces(original_dir: Path, anonymized_dir: Path, visual: Sequence[Any], inputs: SessionInputs) -> Score:
    """External-photo attack where each participant's other originals play the public photos."""
    metric = registry.create("metric", "linkage_external_face")
    for p in visual:
        if p.input not in inputs.faces:
            paths = (Path(original_dir) / p.input, Path(anonymized_dir) / p.output)
            inputs.faces[p.input] = {side: face_vectors(path, frames=metric.frames) for side, path in zip(SIDES, paths)}  # type: ignore[attr-defined]
    gallery = {p.input: inputs.faces[p.input]["original"] for p in visual}
    vectors, labels, groups = [], [], []
    for p in visual:
        for v in gallery[p.input]:
            vectors.append(v)
            labels.append(p.speaker)
            groups.append(p.input)
    if len(set(labels)) < 2:
        return score_of(metric, float("nan"), note="not computable: faces of fewer than 2 participants found on the originals")
    candidates = Sessions(np.stack(vectors), labels, groups)
    probes, guesses = [], []
    for p in visual:
        faces = inputs.faces[p.input]["anonymized"]
        probes.append(faces[0] if faces else np.full(128, np.nan))
        guesses.append(not faces)
    score = metric.measure(
        Sessions(np.stack(probes), [p.speaker for p in visual], [p.input for p in visual]),
        candidates,  # type: ignore[attr-defined]
        guesses=np.asarray(guesses),
    )
    score.detail["files_without_face"] = int(sum(guesses))
    return score


def _has_sound(path: Path) -> bool:
    from avanon.evaluate.study import _has_audio

    return _has_audio(path)
