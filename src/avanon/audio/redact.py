"""Remove spoken personal information: silence, a tone or noise over padded word spans.

:class:`Redactor` turns a transcript (:mod:`avanon.audio.transcribe`) and the findings of
:mod:`avanon.pii.recognizers` into :class:`Redaction` spans, adds spans given by an annotation tier (for
example a tier named ``PII``, passed as ``(start_s, end_s, category)`` triples), and replaces the
audio in every span; the duration never changes. Each word span is padded by ``padding_ms`` on both
sides (word times from the recognizer are approximate), and the replacement fades in and out within
the padding so there are no clicks.

Fail closed: when a roster name is heard in a segment but no timed word carries it, the whole
segment (padded) is redacted.

Results: the redacted samples, the redacted transcript (words inside a span are replaced by
``[CATEGORY]``), and redaction records that hold only time span, category and source, never the words,
so they can go into the manifest. :func:`write_transcript_json` and :func:`write_textgrid` write the
redacted transcript beside the audio.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avanon.audio.transcribe import Segment, Transcript, Word, transcribe
from avanon.errors import MediaError, ParameterError
from avanon.files import write_atomic
from avanon.pii.recognizers import CATEGORIES, Roster, find_pii, unlocated_names
from avanon.registry import Interval, Kind, Method, Options, Param, register

SOURCES = ("transcript", "annotation", "fail-closed")
Span = tuple[float, float, str]


@dataclass(frozen=True)
class Redaction:
    """One redacted time span [s]; ``source`` is one of :data:`SOURCES`."""

    start: float
    end: float
    category: str
    source: str

    def record(self) -> dict[str, Any]:
        """Manifest entry: span, category and source only (never the words)."""
        return {"start_s": round(self.start, 3), "end_s": round(self.end, 3), "category": self.category, "source": self.source}


@dataclass(frozen=True)
class RedactionResult:
    """What :meth:`Redactor.run` returns."""

    samples: np.ndarray
    transcript: Transcript  # redacted
    redactions: tuple[Redaction, ...]

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.redactions]


def _check_spans(spans: Iterable[Span], duration: float) -> list[Span]:
    out = []
    for i, span in enumerate(spans):
        try:
            start, end, category = float(span[0]), float(span[1]), str(span[2])
        except (TypeError, ValueError, IndexError):
            raise ParameterError(f"Annotation span {i} must be (start_s, end_s, category). Got {span!r} instead.") from None
        if not (0.0 <= start <= end) or not np.isfinite(end):
            raise ParameterError(f"Annotation span {i} must have 0 <= start_s <= end_s [s]. Got ({start}, {end}) instead.")
        if start > duration + 1e-6:
            raise ParameterError(f"Annotation span {i} starts at {start:.3f} s, after the end of the audio ({duration:.3f} s).")
        out.append((start, min(end, duration), category))
    return out


def merge(redactions: Sequence[Redaction]) -> list[Redaction]:
    """Merge overlapping spans; a merged span keeps the first category and the strongest source."""
    out: list[Redaction] = []
    for r in sorted(redactions, key=lambda r: (r.start, r.end)):
        if out and r.start <= out[-1].end:
            prev = out[-1]
            source = min(prev.source, r.source, key=lambda s: -SOURCES.index(s))
            category = prev.category if prev.category == r.category else "+".join(sorted({*prev.category.split("+"), *r.category.split("+")}))
            out[-1] = Redaction(prev.start, max(prev.end, r.end), category, source)
        else:
            out.append(r)
    return out


@register
class Redactor(Method):
    """Spoken-PII redaction settings and the one call that applies them (:meth:`run`).

    The recipe names it as ``audio.redact`` (kind ``redaction``); ``avanon run`` then transcribes
    every recording, plans the spans on the original audio and replaces them in the anonymized
    output (see :mod:`avanon.audio.speech`).
    """

    kind = "redaction"
    name = "redact"
    params = {
        "mode": Param("tone", Options(("silence", "tone", "noise")), "what replaces the redacted audio"),
        "padding_ms": Param(150.0, Interval(float, 0.0, 2000.0), "padding added before and after each word span [ms]"),
        "fade_ms": Param(10.0, Interval(float, 0.0, 100.0), "fade in/out inside the padded span [ms]"),
        "tone_hz": Param(1000.0, Interval(float, 50.0, 8000.0), "frequency of the tone [Hz]"),
        "level_db": Param(-20.0, Interval(float, -80.0, 0.0), "RMS level of the tone or noise [dBFS]"),
        "categories": Param(CATEGORIES, Kind((tuple,)), "categories to redact, from " + ", ".join(CATEGORIES)),
        "use_spacy": Param(True, Kind((bool,)), "also use spaCy's entities when its model is installed"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        bad = [c for c in self.categories if c not in CATEGORIES]
        if bad:
            raise ParameterError(f"The 'categories' parameter of Redactor must list only {', '.join(CATEGORIES)}. Got {bad!r} instead.")

    def plan(self, transcript: Transcript, roster: Roster | None = None, annotations: Iterable[Span] = ()) -> list[Redaction]:
        """Padded, merged redaction spans from the transcript, the roster and annotation spans."""
        pad = self.padding_ms / 1000.0
        duration = transcript.duration
        words = transcript.words
        spans = []
        for f in find_pii(transcript, roster, use_spacy=self.use_spacy):
            if f.category in self.categories:
                spans.append(Redaction(max(0.0, words[f.first].start - pad), min(duration, words[f.last].end + pad), f.category, "transcript"))
        if "PERSON" in self.categories:
            for u in unlocated_names(transcript, roster):
                seg = transcript.segments[u.segment]
                spans.append(Redaction(max(0.0, seg.start - pad), min(duration, seg.end + pad), u.category, "fail-closed"))
        for start, end, category in _check_spans(annotations, duration):
            spans.append(Redaction(start, end, category, "annotation"))
        return merge(spans)

    def apply(self, samples: np.ndarray, sample_rate: int, redactions: Sequence[Redaction], *, offset: int = 0) -> np.ndarray:
        """Replace every span of ``samples`` (shape ``(n,)`` or ``(n, channels)``); same shape out.

        ``offset`` is the index of ``samples[0]`` in the whole recording [samples], so a recording
        can be redacted block by block as it streams; the result equals redacting it whole (the
        noise fill excepted, which is random anyway).
        """
        x = np.asarray(samples, dtype=np.float32)
        mono = x.ndim == 1
        y = (x[:, None] if mono else x).copy()
        n = len(y)
        fade = int(self.fade_ms * 1e-3 * sample_rate)
        amp = 10 ** (self.level_db / 20.0)
        for k, r in enumerate(redactions):
            a, b = int(np.floor(r.start * sample_rate)), int(np.ceil(r.end * sample_rate))  # span, in the whole recording
            lo, hi = max(a, offset), min(b, offset + n)
            if hi <= lo:
                continue
            m = b - a
            i = np.arange(lo - a, hi - a)  # positions inside the span
            t = (lo + np.arange(hi - lo)) / sample_rate
            if self.mode == "tone":
                fill = amp * np.sqrt(2) * np.sin(2 * np.pi * self.tone_hz * t)
            elif self.mode == "noise":
                fill = amp * np.random.default_rng((k, lo)).standard_normal(hi - lo)
            else:
                fill = np.zeros(hi - lo)
            f = min(fade, m // 2)
            gain = np.ones(hi - lo)
            if f > 0:  # ramps inside the padded span, so the word itself is fully replaced
                gain = np.minimum(gain, np.minimum((i + 0.5) / f, (m - i - 0.5) / f))
            seg = slice(lo - offset, hi - offset)
            y[seg] = y[seg] * (1 - gain[:, None]) + (fill * gain)[:, None]
        y = y.astype(np.float32)
        return y[:, 0] if mono else y

    def run(
        self,
        samples: np.ndarray,
        sample_rate: int,
        *,
        roster: Roster | None = None,
        annotations: Iterable[Span] = (),
        transcript: Transcript | None = None,
    ) -> RedactionResult:
        """Transcribe (unless a transcript is given), find, and redact; see the module docstring."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim not in (1, 2) or len(x) == 0:
            raise MediaError(f"Redaction needs a non-empty 1-d or 2-d signal. Got shape {x.shape} instead.")
        if transcript is None:
            hot = " ".join(roster.names) if roster and roster.names else None
            transcript = transcribe(x, sample_rate, hotwords=hot)
        plan = self.plan(transcript, roster, annotations)
        return RedactionResult(self.apply(x, sample_rate, plan), redact_transcript(transcript, plan), tuple(plan))


def redact_transcript(transcript: Transcript, redactions: Sequence[Redaction]) -> Transcript:
    """The transcript with every word that overlaps a span (by more than 10 ms) replaced by ``[CATEGORY]``."""

    def hit(start: float, end: float) -> Redaction | None:
        for r in redactions:
            if min(end, r.end) - max(start, r.start) > min(0.01, (end - start) / 2):
                return r
            if end <= start and r.start <= start <= r.end:  # a word the recognizer timed as zero-length
                return r
        return None

    segments = []
    for seg in transcript.segments:
        whole = next((r for r in redactions if r.source == "fail-closed" and r.start <= seg.start and r.end >= seg.end), None)
        words = []
        for w in seg.words:
            r = whole or hit(w.start, w.end)
            words.append(Word(w.start, w.end, f"[{r.category}]", w.probability) if r else w)
        text = f"[{whole.category}]" if whole else " ".join(w.text for w in words)
        segments.append(Segment(seg.start, seg.end, text, tuple(words)))
    return Transcript(tuple(segments), transcript.duration, transcript.language)


def write_transcript_json(path: str | Path, transcript: Transcript, redactions: Sequence[Redaction]) -> Path:
    """Write the (already redacted) transcript with word times and the redaction records."""
    path = Path(path)
    data = transcript.to_dict() | {"redactions": [r.record() for r in redactions]}
    write_atomic(path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
    return path


def write_textgrid(path: str | Path, transcript: Transcript, redactions: Sequence[Redaction]) -> Path:
    """Write a Praat TextGrid with a ``words`` tier (redacted) and a ``redactions`` tier."""
    from praatio import textgrid

    path = Path(path)
    end = max(transcript.duration, max((w.end for w in transcript.words), default=0.0), max((r.end for r in redactions), default=0.0))
    tg = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end)

    def intervals(items: Iterable[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
        out: list[tuple[float, float, str]] = []
        for start, stop, label in sorted(items):
            start = max(start, out[-1][1]) if out else start
            if stop - start > 1e-4:
                out.append((round(start, 4), round(stop, 4), label))
        return out

    tg.addTier(textgrid.IntervalTier("words", intervals((w.start, w.end, w.text) for w in transcript.words), 0.0, end))
    tg.addTier(textgrid.IntervalTier("redactions", intervals((r.start, r.end, r.category) for r in redactions), 0.0, end))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tg.save(str(tmp), format="long_textgrid", includeBlankSpaces=True)
    os.replace(tmp, path)
    return path


def redact_file(
    source: str | Path,
    target: str | Path,
    *,
    redactor: Redactor | None = None,
    roster: Roster | None = None,
    annotations: Iterable[Span] = (),
) -> RedactionResult:
    """Redact one audio file (any format soundfile reads) into ``target`` (WAV/FLAC by suffix).

    Writes ``target`` plus ``<target stem>.transcript.json`` and ``<target stem>.TextGrid`` beside it.
    Refuses to overwrite the source or an existing target.
    """
    import soundfile as sf

    source, target = Path(source), Path(target)
    if target.suffix.lower() not in (".wav", ".flac"):
        raise ParameterError(f"redact_file writes .wav or .flac. Got the target suffix {target.suffix!r} instead.")
    if source.resolve() == target.resolve():
        raise ParameterError(f"redact_file would overwrite its input {source}; choose another target.")
    if target.exists():
        raise ParameterError(f"redact_file refuses to overwrite the existing file {target}.")
    try:
        x, sr = sf.read(source, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError
        raise MediaError(f"Cannot read audio from {source}: {exc}") from None
    result = (redactor or Redactor()).run(x, sr, roster=roster, annotations=annotations)
    fmt = target.suffix[1:].upper()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    sf.write(tmp, result.samples, sr, format=fmt, subtype="PCM_24")
    os.replace(tmp, target)
    write_transcript_json(target.with_name(target.stem + ".transcript.json"), result.transcript, result.redactions)
    write_textgrid(target.with_name(target.stem + ".TextGrid"), result.transcript, result.redactions)
    return result
