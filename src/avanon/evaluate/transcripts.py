"""Word error rate of a recognizer on anonymized speech (:mod:`avanon.evaluate.speech`, ``wer``).

Transcripts are compared after Whisper's English text normaliser (lower case, punctuation and filler
words dropped, spelled numbers as digits, British spellings as American) with ``jiwer``. The
reference is a transcript stored beside the original when there is one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avanon.errors import ModelError

Transcriber = Callable[[np.ndarray, int], str]


@lru_cache(maxsize=1)
def _normalizer() -> Callable[[str], str]:
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(f"WER needs whisper-normalizer (Whisper's English text normaliser): {exc}") from None
    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Whisper's English normalisation of a transcript: lower case, no punctuation, numbers as digits."""
    return " ".join(_normalizer()(text).split())


def words(text: str) -> list[str]:
    """The words of a transcript after :func:`normalize_text`."""
    return normalize_text(text).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference length) over normalised words (``jiwer``)."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return len(hyp.split()), 0
    if not hyp:
        return len(ref.split()), len(ref.split())
    out = jiwer.process_words(ref, hyp)
    return int(out.substitutions + out.deletions + out.insertions), int(out.substitutions + out.deletions + out.hits)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate (``nan`` when the reference has no words)."""
    errors, n = word_errors(reference, hypothesis)
    return errors / n if n else float("nan")


def reference_transcript(audio: Path) -> str | None:
    """The reference transcript stored beside an audio file, or ``None``.

    Looked for, in order: ``<stem>.txt`` and ``<stem>.lab`` beside it or in a sibling ``lab/`` or
    ``txt/`` folder, and the line ``<stem> TEXT`` of a LibriSpeech ``*.trans.txt`` in its folder.
    """
    audio = Path(audio)
    folders = (audio.parent, audio.parent.parent / "lab", audio.parent.parent / "txt")
    for folder in folders:
        for suffix in (".txt", ".lab"):
            path = folder / (audio.stem + suffix)
            if path.is_file() and not path.name.endswith(".trans.txt"):
                return path.read_text(encoding="utf-8", errors="replace").strip()
    for path in sorted(audio.parent.glob("*.trans.txt")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, text = line.partition(" ")
            if key == audio.stem:
                return text.strip()
    return None


def default_transcriber() -> Transcriber:
    """The project's offline recognizer (``avanon.audio.transcribe``), as ``f(samples, rate) -> text``."""
    try:
        from avanon.audio import transcribe as module  # type: ignore[attr-defined]
    except ImportError:
        raise ModelError("WER needs the offline recognizer in avanon.audio.transcribe, which is not available.") from None
    for name in ("transcribe_text", "transcribe"):
        fn = getattr(module, name, None)
        if fn is not None:

            def run(samples: np.ndarray, rate: int, _fn: Callable[..., Any] = fn) -> str:
                result = _fn(samples, rate)
                if isinstance(result, str):
                    return result
                if hasattr(result, "text"):  # avanon.audio.transcribe.Transcript
                    text = result.text
                    return text() if callable(text) else str(text)
                return " ".join(getattr(w, "word", str(w)) for w in result)

            return run
    raise ModelError("avanon.audio.transcribe has no transcribe function.")
