"""What the linkage attacks (:mod:`avanon.evaluate.linkage`) read from each file of a study.

The attacks compare whole sessions, but what they read of each session comes from one file pair:
speaker embeddings of its sound and dlib face embeddings of a few of its frames. In a study
evaluation these are measured while the pair is read for every other metric (its sound once,
its frames in its one decoding pass) and kept in :class:`SessionInputs` until the attacks run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avanon.evaluate.frames import SIDES, FrameAnalysis, FramePair, is_image, load_image, video_frames
from avanon.evaluate.media import AudioPair

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia

EMBEDDING_SIZE = 256  # speaker embeddings of the linkage attacks (resemblyzer)


@dataclass
class SessionInputs:
    """Per original file (relative path): its speaker embeddings and its face embeddings.

    ``voices[input]`` maps ``"anonymized"``, ``"original"`` and, where the recipe has a voice
    transform, ``"attacker"`` (the original anonymized by the attacker with another secret) to a
    speaker embedding; ``faces[input]`` maps ``"original"`` and ``"anonymized"`` to face embeddings.
    """

    voices: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    faces: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)


def voice_embedding(samples: np.ndarray, rate: int, *, seconds: float = 30.0, voice: Any = None, seed: int = 0, speaker: str = "") -> np.ndarray:
    """Speaker embedding of the first ``seconds`` [s] of a sound, optionally after the voice transform ``voice``.

    A sound under 0.1 s gives a vector of ``nan`` (nothing to link).
    """
    from avanon.evaluate import asv

    samples = samples[: int(seconds * rate)]
    if len(samples) < rate // 10:
        return np.full(EMBEDDING_SIZE, np.nan)
    if voice is not None:
        samples = voice.apply(samples, rate, seed=seed, speaker=speaker)
    return asv.embed(samples, rate).astype(np.float64)


def spread(count: int, frames: int) -> list[int]:
    """Indices of up to ``frames`` frames spread evenly over ``count`` frames, from the first."""
    return list(range(0, count, max(1, count // frames)))[:frames]


def frame_count(path: Path, *, max_time: float | None = None) -> int:
    """Frames of a video (from its packets, nothing decoded), those before ``max_time`` [s] only when given."""
    from avanon.evaluate.video import frame_times

    times = frame_times(path).times
    return int(len(times) if max_time is None else np.sum(times < max_time))


def face_embeddings(image: np.ndarray, detect: Any) -> list[np.ndarray]:
    """dlib face embeddings of every face ``detect`` finds on an RGB image."""
    from avanon.evaluate.reid import face_embedding

    return [face_embedding(image, det.box) for det in detect(image)]


def _hog() -> Any:
    from avanon.evaluate.faces import _DlibHog

    return _DlibHog(upsample=None, threshold=0.0)


def face_vectors(path: Path, *, frames: int = 4) -> list[np.ndarray]:
    """dlib face embeddings of every face dlib's HOG detector finds on up to ``frames`` frames spread over a file."""
    detect = _hog()
    if is_image(Path(path)):
        return face_embeddings(load_image(Path(path)), detect)
    wanted, found = set(spread(frame_count(path), frames)), []
    for index, (_, frame, _) in enumerate(video_frames(Path(path))):
        if index in wanted:
            found += face_embeddings(frame.to_ndarray(format="rgb24"), detect)
    return found


class FaceFrames(FrameAnalysis):
    """:func:`face_vectors` of both files of a pair, from the pair's one decoding pass.

    Parameters
    ----------
    original, anonymized : Path
    frames : int >= 1
        Frames searched per file, spread over the part of it that is decoded.
    max_time : float > 0 [s] or None
        Where the decoding stops.
    """

    def __init__(self, original: Path, anonymized: Path, *, frames: int = 4, max_time: float | None = None) -> None:
        self.detect = _hog()
        self.vectors: dict[str, list[np.ndarray]] = {side: [] for side in SIDES}
        self.image = is_image(Path(original))
        self.every, self.all_frames = (1, False) if self.image else (0, True)
        paths = dict(zip(SIDES, (original, anonymized)))
        self.wanted = {} if self.image else {side: set(spread(frame_count(paths[side], max_time=max_time), frames)) for side in SIDES}
        self.seen = {side: 0 for side in SIDES}

    def add(self, pair: FramePair) -> None:  # a still image: one pair
        if pair.anonymized is not None:
            self.vectors["original"] += face_embeddings(pair.original, self.detect)
            self.vectors["anonymized"] += face_embeddings(pair.anonymized, self.detect)

    def add_frame(self, side: str, time: float, frame: Any) -> None:
        index, self.seen[side] = self.seen[side], self.seen[side] + 1
        if index in self.wanted[side]:
            self.vectors[side] += face_embeddings(frame.to_ndarray(format="rgb24"), self.detect)


def attacker_voice(header: dict[str, Any]) -> tuple[Any, int] | None:
    """The recipe's voice transform and the attacker's own seed (the study's plus an offset), or ``None`` without one."""
    from avanon import registry
    from avanon.evaluate.linkage import ATTACKER_SEED_OFFSET

    step = (header.get("recipe") or {}).get("audio", {}).get("voice")
    if not step:
        return None
    voice = registry.create("voice", step["name"], **{k: v for k, v in step.items() if k != "name"})
    return voice, int(header.get("seed") or 0) + ATTACKER_SEED_OFFSET


def session_voices(audio: AudioPair, *, seconds: float, speaker: str, attacker: tuple[Any, int] | None = None) -> dict[str, np.ndarray]:
    """The speaker embeddings of one pair's sound the voice linkage attacks compare (see :class:`SessionInputs`)."""
    vectors = {
        "anonymized": voice_embedding(audio.anonymized, audio.anonymized_rate, seconds=seconds),
        "original": voice_embedding(audio.original, audio.rate, seconds=seconds),
    }
    if attacker is not None:
        voice, seed = attacker
        vectors["attacker"] = voice_embedding(audio.original, audio.rate, seconds=seconds, voice=voice, seed=seed, speaker=speaker)
    return vectors


def read_pair_audio(original: Path, anonymized: Path) -> AudioPair:
    """Both sound tracks of a pair, read from the files (outside a study)."""
    from avanon.evaluate.speech import read_mono

    return AudioPair(*read_mono(original), *read_mono(anonymized))


def measure_voices(media: PairMedia) -> None:
    """Keep the pair's speaker embeddings for the voice linkage attacks (once per pair, from the sound read once)."""
    context, inputs = media.context, media.study.shared("linkage_inputs", SessionInputs)
    audio = media.audio if context.voice_attacks else None
    if audio is None or media.pair.input in inputs.voices:
        return
    attacker = media.study.shared("linkage_attacker", lambda: attacker_voice(context.header))
    inputs.voices[media.pair.input] = session_voices(audio, seconds=float(context.max_seconds or 30.0), speaker=media.pair.speaker, attacker=attacker)


def face_frames(media: PairMedia, *, frames: int) -> FaceFrames:
    """The pair's :class:`FaceFrames` analysis (asked for in ``prepare``, read in ``measure_pair``)."""
    build = lambda: FaceFrames(media.original, media.anonymized, frames=frames, max_time=media.context.max_seconds)  # noqa: E731
    return media.analysis(f"linkage_faces:{frames}", build)


def keep_faces(media: PairMedia, *, frames: int) -> None:
    """Keep the face embeddings of the pair's decoding pass for the external-photo attack."""
    inputs = media.study.shared("linkage_inputs", SessionInputs)
    inputs.faces[media.pair.input] = face_frames(media, frames=frames).vectors
