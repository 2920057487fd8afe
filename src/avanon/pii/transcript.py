"""Transcripts as data: segments and words with times, independent of the recognizer that made them.

:mod:`avanon.audio.transcribe` produces them from audio (Whisper); the PII recognizers
(:mod:`avanon.pii.recognizers`), redaction and the annotation writers read them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the input."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Segment:
    """One recognised segment (roughly a phrase) and its words."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Transcript:
    """Segments of one recording, with the duration and language used."""

    segments: tuple[Segment, ...]
    duration: float
    language: str = "en"

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    def to_dict(self) -> dict[str, Any]:
        return {"duration": self.duration, "language": self.language, "segments": [asdict(s) for s in self.segments]}


def transcript_from_dict(data: dict[str, Any]) -> Transcript:
    """Inverse of :meth:`Transcript.to_dict`."""
    segs = tuple(Segment(s["start"], s["end"], s["text"], tuple(Word(**w) for w in s.get("words", ()))) for s in data.get("segments", ()))
    return Transcript(segments=segs, duration=float(data["duration"]), language=data.get("language", "en"))
