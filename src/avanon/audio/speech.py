"""The speech work of one recording: who speaks when, and which spans are redacted.

``avanon run`` plans a recording's speech before its audio streams through the voice transform:

- **speaker turns** come from the annotation files paired with the recording (an RTTM file, the
  speaker tiers of an ELAN file or of a TextGrid; :func:`speaker_turns`), so that each speaker of a
  conversation gets their own pseudo-voice (:class:`~avanon.audio.turns.TurnStream`);
- **redactions** come from annotation tiers that mark personal information (a tier named ``PII``;
  :func:`tier_spans`) and, when the recipe has an ``audio.redact`` step, from a transcript of the
  original audio (:func:`plan_redactions`: Whisper word times, roster names, PII recognizers).

:class:`PlannedVoice` joins both: its stream converts each speaker's turns with that speaker's
pseudo-voice and then replaces every redacted span of the converted audio (silence, tone or
noise), block by block as the recording streams, so the duration is unchanged and nothing of a
redacted word survives in the output. Transcription works on a 16 kHz mono copy decoded as a stream
(:func:`decode_for_asr`), so a one-hour recording needs about 230 MB, not the full-rate signal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avanon.audio.base import VoiceStream, VoiceTransform
from avanon.audio.redact import Redaction, Redactor, Span, redact_transcript, write_textgrid, write_transcript_json
from avanon.audio.turns import Turn, TurnStream
from avanon.detect.models import ModelFile
from avanon.errors import MediaError

ASR_RATE = 16000
PII_TIERS = ("pii", "redact", "redaction", "redactions", "personal")
SPEAKER_CODE = re.compile(r"^[A-Z]{2,3}[0-9]?$")  # ACLEW/CHAT speaker codes: CHI, MOT, FA1, MA2, UC1, EE1


@dataclass(frozen=True)
class SpeechPlan:
    """What is known about a recording's speech before it is converted.

    Attributes
    ----------
    turns : tuple of (float, float, str)
        Speaker turns ``(start [s], end [s], speaker key)`` in input time; empty: one speaker.
    spans : tuple of (float, float, str)
        Spans to redact given by annotation tiers, ``(start [s], end [s], category)``.
    sources : tuple of str
        The annotation files (relative to the study root) the turns and spans were read from.
    names : tuple of str
        Roster names to listen for when transcribing (never recorded).
    speaker : str
        The recording's speaker key from a speaker mapping file; empty: from its path
        (:func:`avanon.audio.base.speaker_key`). Never recorded (a mapping may hold real names).
    """

    turns: tuple[Turn, ...] = ()
    spans: tuple[Span, ...] = ()
    sources: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    speaker: str = ""

    def __bool__(self) -> bool:
        return bool(self.turns or self.spans)


class _Passthrough:
    """A voice stream that changes nothing (the recipe has no voice step)."""

    def process(self, block: np.ndarray) -> np.ndarray:
        return block

    def flush(self) -> np.ndarray:
        return np.zeros((0, 1), dtype=np.float32)


class RedactStream:
    """Redact spans of the output of another voice stream, as it streams.

    Parameters
    ----------
    inner : VoiceStream
    redactor : Redactor
        How spans are filled (mode, fades, level).
    redactions : sequence of Redaction
        Spans in seconds of the recording.
    sample_rate : int > 0 [Hz]
    """

    def __init__(self, inner: VoiceStream, redactor: Redactor, redactions: Sequence[Redaction], sample_rate: int) -> None:
        self.inner, self.redactor, self.redactions, self.rate = inner, redactor, tuple(redactions), int(sample_rate)
        self.position = 0  # samples emitted so far

    def _redact(self, block: np.ndarray) -> np.ndarray:
        if len(block) == 0:
            return block
        out = self.redactor.apply(block, self.rate, self.redactions, offset=self.position)
        self.position += len(block)
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        return self._redact(self.inner.process(block))

    def flush(self) -> np.ndarray:
        tail = self.inner.flush()
        return self._redact(tail) if len(tail) else tail


class ChannelStream:
    """One voice stream per channel, each channel its own speaker (``<key>/ch1``, ``<key>/ch2``, ...).

    For recordings with one speaker per channel (an interview with one microphone each), so each
    speaker gets their own pseudo-voice and the channels stay distinguishable.
    """

    def __init__(self, voice: VoiceTransform, sample_rate: int, channels: int, *, seed: int, speaker: str) -> None:
        self.streams = [voice.stream(sample_rate, 1, seed=seed, speaker=f"{speaker}/ch{k + 1}") for k in range(channels)]
        self.pending = [np.zeros((0, 1), dtype=np.float32) for _ in range(channels)]

    def _join(self) -> np.ndarray:
        n = min(len(p) for p in self.pending)
        out = np.concatenate([p[:n] for p in self.pending], axis=1)
        self.pending = [p[n:] for p in self.pending]
        return out.astype(np.float32, copy=False)

    def process(self, block: np.ndarray) -> np.ndarray:
        for k, stream in enumerate(self.streams):
            self.pending[k] = np.concatenate([self.pending[k], stream.process(block[:, k : k + 1])])
        return self._join()

    def flush(self) -> np.ndarray:
        for k, stream in enumerate(self.streams):
            self.pending[k] = np.concatenate([self.pending[k], stream.flush()])
        return self._join()


class PlannedVoice:
    """A voice source for the transcoders: per-speaker pseudo-voices, then redaction.

    It has the ``stream`` method of :class:`~avanon.audio.base.VoiceTransform`, so it is passed
    wherever a voice transform is.

    Parameters
    ----------
    voice : VoiceTransform or None
        The recipe's voice step; ``None`` keeps the voices (only redaction applies).
    turns : sequence of (float, float, str)
        Speaker turns; each speaker key gets its own voice, samples outside every turn take the
        recording's own speaker key.
    redactions : sequence of Redaction
    redactor : Redactor or None
        Needed when ``redactions`` is not empty.
    channel_speakers : bool
        Each channel of a multi-channel recording is its own speaker (:class:`ChannelStream`);
        speaker turns, if any, take precedence.
    """

    def __init__(
        self,
        voice: VoiceTransform | None,
        turns: Sequence[Turn] = (),
        redactions: Sequence[Redaction] = (),
        redactor: Redactor | None = None,
        *,
        channel_speakers: bool = False,
    ) -> None:
        if redactions and redactor is None:
            raise ValueError("PlannedVoice needs a redactor when there are redactions")
        self.voice, self.turns, self.redactions, self.redactor = voice, tuple(turns), tuple(redactions), redactor
        self.channel_speakers = channel_speakers

    def stream(self, sample_rate: int, channels: int, *, seed: int, speaker: str) -> VoiceStream:
        inner: VoiceStream
        if self.voice is None:
            inner = _Passthrough()
        elif self.channel_speakers and channels > 1 and not self.turns:
            inner = ChannelStream(self.voice, sample_rate, channels, seed=seed, speaker=speaker)
        elif self.turns:
            inner = TurnStream(self.voice, sample_rate, channels, seed=seed, turns=self.turns, default=speaker)
        else:
            inner = self.voice.stream(sample_rate, channels, seed=seed, speaker=speaker)
        if self.redactions:
            assert self.redactor is not None
            return RedactStream(inner, self.redactor, self.redactions, sample_rate)
        return inner


def decode_for_asr(path: str | Path) -> tuple[np.ndarray, float]:
    """The first audio stream of ``path`` as 16 kHz mono float32, and its duration [s].

    Decoded and resampled as a stream (:func:`avanon.media.audio.read_audio`), so memory is 64 kB
    per second of audio.
    """
    from avanon.media.audio import read_audio

    try:
        samples, _ = read_audio(path, rate=ASR_RATE, mono=True)
    except MediaError as exc:
        raise MediaError(f"{exc} (needed to transcribe it for redaction)") from None
    return samples[:, 0], len(samples) / ASR_RATE


@dataclass(frozen=True)
class RedactionPlan:
    """Spans to redact in one recording, and the redacted transcript they came from."""

    redactions: tuple[Redaction, ...]
    transcript: Any  # avanon.audio.transcribe.Transcript (redacted), or None when nothing was transcribed
    recognizers: tuple[str, ...] = ()  # PII recognizers that ran over the transcript (see pii.recognizers_used)
    models: tuple[ModelFile, ...] = ()  # model files used to plan (Whisper, spaCy)

    def records(self) -> list[dict[str, Any]]:
        return [r.record() for r in self.redactions]


def speech_models(voice: VoiceTransform | None, plan: RedactionPlan | None) -> list[dict[str, str]]:
    """Manifest records of the model files the speech work of one recording used (voice, Whisper, spaCy)."""
    files = [*(voice.models() if voice is not None else ()), *(plan.models if plan is not None else ())]
    unique = {m.name: m for m in files}
    return [m.record() for m in unique.values()]


def plan_redactions(
    path: str | Path, redactor: Redactor, *, transcribe: bool, roster: Iterable[str] | None = None, spans: Sequence[Span] = ()
) -> RedactionPlan:
    """Plan the redactions of one recording from its transcript (if ``transcribe``) and tier spans.

    Parameters
    ----------
    path : Path
        The original recording (audio file or video with an audio track).
    redactor : Redactor
    transcribe : bool
        Transcribe the audio (Whisper) and find spoken personal information in it.
    roster : iterable of str, optional
        Participant names to listen for (also used as recognizer hot words).
    spans : sequence of (float, float, str)
        Spans from annotation tiers, in seconds of the recording.
    """
    from avanon.pii.recognizers import SPACY_MODELS, Roster, recognizers_used

    names = tuple(n for n in (roster or ()) if n.strip())
    people = Roster(names=list(names)) if names else None
    if not transcribe:
        from avanon.audio.transcribe import Transcript

        duration = max((e for _, e, _ in spans), default=0.0)
        empty = Transcript(segments=(), duration=duration)
        return RedactionPlan(tuple(redactor.plan(empty, None, spans)), None)
    from avanon.audio.transcribe import WHISPER_TINY_EN, Transcript
    from avanon.audio.transcribe import transcribe as run_asr

    samples, duration = decode_for_asr(path)
    hot = " ".join(names) if names else None
    transcript = run_asr(samples, ASR_RATE, hotwords=hot) if len(samples) else Transcript(segments=(), duration=duration)
    transcript = Transcript(transcript.segments, duration, transcript.language)
    plan = tuple(redactor.plan(transcript, people, spans))
    recognizers = tuple(recognizers_used(use_spacy=redactor.use_spacy))
    models = (*WHISPER_TINY_EN, *(SPACY_MODELS if "spacy" in recognizers else ()))
    return RedactionPlan(plan, redact_transcript(transcript, plan), recognizers, models)


def write_redaction_files(out_media: Path, plan: RedactionPlan) -> list[Path]:
    """Write the redacted transcript beside an output: ``<stem>_transcript.json`` and ``.TextGrid``."""
    if plan.transcript is None:
        return []
    stem = out_media.stem
    json_path = out_media.with_name(f"{stem}_transcript.json")
    grid_path = out_media.with_name(f"{stem}_transcript.TextGrid")
    return [write_transcript_json(json_path, plan.transcript, plan.redactions), write_textgrid(grid_path, plan.transcript, plan.redactions)]


# ----------------------------------------------------------------------------------------------
# Reading turns and spans from paired annotation documents


def tier_spans(doc: Any, names: Iterable[str] = PII_TIERS) -> list[Span]:
    """Spans of the tiers of ``doc`` named like ``names`` (case-insensitive), as ``(start, end, category)``.

    Every timed annotation of such a tier is redacted, whatever its label; the category is the label
    in capitals when it is one word (``NAME``, ``PLACE``), else ``ANNOTATED``.
    """
    wanted = {n.casefold() for n in names}
    spans: list[Span] = []
    for tier in doc.tiers:
        if tier.name.strip().casefold() not in wanted:
            continue
        for a in tier.annotations:
            if a.onset is None or a.offset is None or a.offset <= a.onset:
                continue
            label = (a.value or "").strip()
            if not label and doc.format == "textgrid":  # TextGrid tiers fill the gaps with empty intervals
                continue
            category = label.upper() if re.fullmatch(r"[A-Za-z_]{2,20}", label) else "ANNOTATED"
            spans.append((float(a.onset), float(a.offset), category))
    return spans


def speaker_turns(doc: Any, *, recording_key: str, roster: Mapping[str, str] | None = None) -> list[Turn]:
    """Speaker turns of ``doc`` with speaker keys, or ``[]`` when it names no speakers.

    Which tiers are speakers: every tier of an RTTM file; in ELAN, the independent tiers (no parent)
    that have a ``PARTICIPANT`` or whose name is a speaker code (``CHI``, ``MOT``, ``FA1``); in a
    TextGrid, interval tiers named by a speaker code or a roster name. The key of a speaker is the
    roster's key for a roster name (``PARTICIPANT`` or tier name), else ``<recording key>/<code>``,
    so the same code of the same participant's recordings keeps one voice and the annotation
    pseudonyms (``TextAnonymizer.person``) match the voice pseudonyms.
    """
    lookup = {k.casefold(): v for k, v in (roster or {}).items()}

    def key(label: str) -> str:
        label = label.strip()
        return lookup.get(label.casefold()) or f"{recording_key}/{label}"

    turns: list[Turn] = []
    for tier in doc.tiers:
        if tier.kind != "interval":
            continue
        participant = tier.attributes.get("PARTICIPANT", "").strip()
        name = tier.name.strip()
        if name.casefold() in PII_TIERS:
            continue
        if doc.format == "rttm":
            speaker = key(name)
        elif doc.format == "elan":
            if tier.attributes.get("PARENT_REF"):
                continue
            if participant:
                speaker = lookup.get(participant.casefold()) or participant.casefold()
            elif SPEAKER_CODE.match(name):
                speaker = key(name)
            else:
                continue
        elif doc.format in ("textgrid", "chat"):
            if SPEAKER_CODE.match(name) or name.casefold() in lookup:
                speaker = key(name)
            else:
                continue
        else:
            continue
        for a in tier.annotations:
            if doc.format == "textgrid" and not (a.value or "").strip():
                continue
            if a.onset is not None and a.offset is not None and a.offset > a.onset >= 0:
                turns.append((float(a.onset), float(a.offset), speaker))
    return sorted(turns)


def plans_for_study(
    study: Path, annotation_rels: Iterable[str], media_rels: Iterable[str], *, roster: Sequence[str] | None = None, recording_key: Any = None
) -> dict[str, SpeechPlan]:
    """The speech plan of every recording that has paired annotations (relative path -> plan).

    Each annotation file is paired with the study's audio and video files as ``avanon run`` pairs it
    for carrying (mapping file, media link, name); a file paired with exactly one recording gives it
    its speaker turns (:func:`speaker_turns`) and PII tier spans (:func:`tier_spans`). A file that
    cannot be read gives nothing here; carrying it fails later with the reason.

    Parameters
    ----------
    recording_key : callable, optional
        Relative path -> the recording's speaker key (default :func:`avanon.audio.base.speaker_key`).
    """
    from avanon.annotations import read_annotations
    from avanon.annotations.pairing import pair_media
    from avanon.audio.base import speaker_key
    from avanon.errors import AvanonError

    key_of = recording_key or speaker_key
    media = list(media_rels)
    lookup = {name: name.strip().casefold() for name in (roster or ()) if name.strip()}
    turns: dict[str, list[Turn]] = {}
    spans: dict[str, list[Span]] = {}
    sources: dict[str, list[str]] = {}
    for rel in annotation_rels:
        try:
            doc = read_annotations(Path(study) / rel)
        except AvanonError:
            continue
        pairing = pair_media(rel, doc, media)
        if len(pairing.media) != 1:
            continue
        target = pairing.media[0]
        found_turns = speaker_turns(doc, recording_key=key_of(target), roster=lookup)
        found_spans = tier_spans(doc)
        if found_turns or found_spans:
            turns.setdefault(target, []).extend(found_turns)
            spans.setdefault(target, []).extend(found_spans)
            sources.setdefault(target, []).append(rel)
    names = tuple(lookup)
    return {m: SpeechPlan(tuple(sorted(turns.get(m, []))), tuple(sorted(spans.get(m, []))), tuple(sources[m]), names) for m in sources}
