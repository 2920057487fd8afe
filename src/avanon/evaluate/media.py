"""What a study evaluation hands its metrics: one value object per file pair, one for the study.

:class:`PairMedia` holds an original file and its anonymized version. Metrics ask it for frame
analyses (:class:`~avanon.evaluate.frames.FrameAnalysis`) before it is decoded; :meth:`PairMedia.decode`
then decodes both files once and feeds them all, and :attr:`PairMedia.audio` reads both sound
tracks once, on first use, for every metric that needs them. :class:`StudyMedia` holds the pairs,
the options of the evaluation (:class:`EvaluationContext`) and the evaluation being filled, and
keeps values that several metrics share (an attack run once for all its scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

from avanon.evaluate.frames import FrameAnalysis, decode_pair

if TYPE_CHECKING:
    from avanon.evaluate.study import Pair, StudyEvaluation

A = TypeVar("A", bound=FrameAnalysis)
T = TypeVar("T")


@dataclass(frozen=True)
class EvaluationContext:
    """The options of one study evaluation, the same for every metric.

    Parameters
    ----------
    original_dir, anonymized_dir : Path
    header : dict
        The run manifest's header (recipe, seed).
    every : int >= 1 [frames]
        Video frames are sampled every ``every`` frames.
    max_seconds : float > 0 [s] or None
        Only the first ``max_seconds`` of each file are evaluated.
    voice_attacks : bool
        Run the attacks that need speaker embeddings.
    transcriber : callable (samples, rate) -> text, optional
        Recognizer for the WER.
    identifiers : tuple of str
        Extra names to look for in metadata.
    speaker_files : tuple of str
        RTTM and ELAN files of the original study (relative paths).
    """

    original_dir: Path
    anonymized_dir: Path
    header: dict[str, Any] = field(default_factory=dict)
    every: int = 10
    max_seconds: float | None = None
    voice_attacks: bool = True
    transcriber: Callable[[np.ndarray, int], str] | None = None
    identifiers: tuple[str, ...] = ()
    speaker_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class AudioPair:
    """The sound of a file pair as mono float32 samples (cut to ``max_seconds``) and their rates [Hz]."""

    original: np.ndarray
    rate: int
    anonymized: np.ndarray
    anonymized_rate: int


def has_audio(path: Path) -> bool:
    """Whether the file has an audio stream (read from the container, nothing decoded)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except av.error.FFmpegError:
        return False


class StudyMedia:
    """The pairs of one study evaluation, its options, and the evaluation the metrics fill.

    Parameters
    ----------
    context : EvaluationContext
    pairs : list of Pair
    evaluation : StudyEvaluation
        Metrics may add report data to it (leak thumbnails, pitch overlays, attack details).
    """

    def __init__(self, context: EvaluationContext, pairs: list[Pair], evaluation: StudyEvaluation) -> None:
        self.context, self.pairs, self.evaluation = context, list(pairs), evaluation
        self._shared: dict[str, Any] = {}

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """The value named ``key``, built by ``build`` on first request (an error is kept and raised again)."""
        if key not in self._shared:
            try:
                self._shared[key] = build()
            except Exception as exc:
                self._shared[key] = _Failed(exc)
        value = self._shared[key]
        if isinstance(value, _Failed):
            raise value.error
        return value


@dataclass
class _Failed:
    error: Exception


class PairMedia:
    """One original file and its anonymized version, decoded once for every metric.

    Parameters
    ----------
    pair : Pair
        Relative paths, kind and speaker from the run manifest.
    study : StudyMedia

    Attributes
    ----------
    record : dict
        The pair's entry of ``metrics.json`` (``input``, ``output``, ``kind``, ``scores``); metrics
        may add plain JSON data under their own name.
    requests : list of str
        Names of the frame analyses asked for so far (in order, repeats included).
    """

    def __init__(self, pair: Pair, study: StudyMedia) -> None:
        self.pair, self.study = pair, study
        self.original = Path(study.context.original_dir) / pair.input
        self.anonymized = Path(study.context.anonymized_dir) / pair.output
        self.record: dict[str, Any] = {"input": pair.input, "output": pair.output, "kind": pair.kind, "scores": {}}
        self.requests: list[str] = []
        self._analyses: dict[str, FrameAnalysis] = {}
        self.decoded = False

    @property
    def context(self) -> EvaluationContext:
        return self.study.context

    @property
    def kind(self) -> str:
        return self.pair.kind

    def analysis(self, key: str, build: Callable[[], A]) -> A:
        """The frame analysis named ``key``, built by ``build`` on first request and fed by :meth:`decode`.

        Metrics that ask for the same ``key`` share one analysis. Asked for after :meth:`decode`,
        an analysis that does not exist yet is refused: it would never see a frame.
        """
        self.requests.append(key)
        if key not in self._analyses:
            if self.decoded:
                raise RuntimeError(f"frame analysis {key!r} asked for after {self.pair.input} was decoded; ask for it in Metric.prepare.")
            self._analyses[key] = build()
        return self._analyses[key]  # type: ignore[return-value]

    def decode(self) -> int:
        """Decode both files once, feeding every analysis asked for; returns the sampled frame pairs (0 when none is asked for)."""
        if self.decoded:
            return 0
        self.decoded = True
        if not self._analyses:
            return 0
        return decode_pair(self.original, self.anonymized, self._analyses.values(), max_time=self.context.max_seconds)

    @cached_property
    def audio(self) -> AudioPair | None:
        """Both sound tracks, read once (``None`` when the original has no sound)."""
        from avanon.evaluate.speech import read_mono

        if self.kind not in ("audio", "video") or not has_audio(self.original):
            return None
        x, rate_x = read_mono(self.original)
        y, rate_y = read_mono(self.anonymized)
        limit = self.context.max_seconds
        if limit is not None:
            x, y = x[: int(limit * rate_x)], y[: int(limit * rate_y)]
        return AudioPair(x, rate_x, y, rate_y)
