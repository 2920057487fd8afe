"""Audio decoding to float arrays, streaming voice transforms, and encoding back.

Audio is handled as float32 arrays of shape ``(n_samples, n_channels)``. :class:`AudioTranscoder`
takes decoded PyAV frames of one stream, runs them through a voice stream and encodes the result
with the same sample rate, channel layout and number of samples. It is used for audio files and for
the audio tracks of videos (muxed back in sync: output timestamps start where the input's did).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from avanon.errors import MediaError

if TYPE_CHECKING:  # types only: media/ does not import audio/ at run time (audio/ builds on media/)
    from avanon.audio.base import VoiceStream, VoiceTransform

# Output codec per container format, and per input codec for formats that hold several.
CONTAINER_AUDIO_CODEC = {
    "mp4": "aac",
    "mov": "aac",
    "matroska": "aac",
    "avi": "libmp3lame",
    "webm": "libopus",
    "ipod": "aac",
    "mp3": "libmp3lame",
    "ogg": "libvorbis",
    "flac": "flac",
}
LOSSLESS = {"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_u8", "pcm_s16be", "flac"}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def audio_codec_for(container_format: str, input_codec: str) -> str:
    """The encoder for an output container given the input codec (lossless stays lossless)."""
    if container_format == "wav":
        return input_codec if input_codec.startswith("pcm_") else "pcm_s16le"
    if container_format == "ogg" and input_codec == "opus":
        return "libopus"
    if container_format == "ogg" and input_codec == "flac":
        return "flac"
    return CONTAINER_AUDIO_CODEC.get(container_format, "aac")


def to_float(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as float32 ``(n, channels)``."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        arr = arr.T
    else:
        arr = arr.reshape(-1, channels)
    kind = frame.format.name.rstrip("p")
    if kind in ("flt", "dbl"):
        return arr.astype(np.float32, copy=False)
    scale = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9.223372036854776e18}.get(kind)
    if kind == "u8":
        return (arr.astype(np.float32) - 128.0) / 128.0
    if scale is None:
        raise MediaError(f"unsupported decoded sample format {frame.format.name!r}")
    return arr.astype(np.float32) / scale


class AudioTranscoder:
    """Voice-transform one decoded audio stream into an output stream of the same shape."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        in_stream: av.audio.stream.AudioStream,
        *,
        codec: str,
        voice: VoiceTransform | None,
        seed: int,
        speaker: str,
        path: Path,
    ):
        cc = in_stream.codec_context
        self.path = path
        self.rate = int(cc.sample_rate)
        self.layout = cc.layout.name
        self.channels = len(cc.layout.channels)
        if codec == "libopus" and self.rate not in OPUS_RATES:
            codec = "libvorbis"
        self.stream = out.add_stream(codec, rate=self.rate, layout=self.layout)
        if codec in ("pcm_s24le", "pcm_s32le") or (codec == "flac" and cc.format and cc.format.name.startswith("s32")):
            self.stream.codec_context.format = "s32"
        if codec == "libmp3lame":
            self.stream.codec_context.bit_rate = max(int(cc.bit_rate or 0), 128000)
        elif codec in ("aac", "libopus", "libvorbis"):
            self.stream.codec_context.bit_rate = max(int(cc.bit_rate or 0), 128000 if self.channels > 1 else 96000)
        self.stream.time_base = Fraction(1, self.rate)
        self.voice: VoiceStream | None = voice.stream(self.rate, self.channels, seed=seed, speaker=speaker) if voice else None
        self.fifo = av.AudioFifo()
        self.start_pts: int | None = None
        self.samples_in = 0
        self.samples_out = 0
        self._out_format: str | None = None

    def push(self, frame: av.AudioFrame) -> list[av.Packet]:
        """Transform and encode one decoded frame; returns packets to mux."""
        return self.push_samples(*self.unpack(frame))

    def unpack(self, frame: av.AudioFrame) -> tuple[np.ndarray, float | None]:
        """An owned float32 copy of a decoded frame's samples and its start time [s] (any thread)."""
        if frame.sample_rate != self.rate or len(frame.layout.channels) != self.channels:
            raise MediaError(f"{self.path}: audio changes sample rate or channel count mid-stream, which is not supported.")
        start = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base is not None else None
        return np.array(to_float(frame), dtype=np.float32, copy=True), start

    def push_samples(self, samples: np.ndarray, start_s: float | None) -> list[av.Packet]:
        """Transform and encode samples from :meth:`unpack`; returns packets to mux."""
        if self.start_pts is None:
            self.start_pts = int(round(start_s * self.rate)) if start_s is not None else 0
        self.samples_in += len(samples)
        out = self.voice.process(samples) if self.voice else samples
        return self._encode(out)

    def flush(self) -> list[av.Packet]:
        """Encode what is left, then flush the encoder."""
        packets: list[av.Packet] = []
        if self.voice is not None:
            packets += self._encode(self.voice.flush())
        packets += self._drain(final=True)
        packets += list(self.stream.encode(None))
        if self.samples_out != self.samples_in:
            raise MediaError(f"{self.path}: audio length changed ({self.samples_in} samples in, {self.samples_out} out).")
        return packets

    def _encode(self, samples: np.ndarray) -> list[av.Packet]:
        if len(samples) == 0:
            return []
        samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T), format="fltp", layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = None  # timestamps are assigned when frames leave the FIFO
        self.fifo.write(frame)
        return self._drain(final=False)

    def _drain(self, final: bool) -> list[av.Packet]:
        cc = self.stream.codec_context
        size = cc.frame_size or 4096
        packets: list[av.Packet] = []
        while self.fifo.samples >= size or (final and self.fifo.samples > 0):
            frame = self.fifo.read(min(size, self.fifo.samples) if final else size)
            frame.pts = (self.start_pts or 0) + self.samples_out
            frame.time_base = Fraction(1, self.rate)
            self.samples_out += frame.samples
            packets += list(self.stream.encode(frame))
        return packets


def read_audio(path: str | Path, *, rate: int | None = None, mono: bool = False) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of a file to float32 ``(n, channels)`` and its sample rate.

    ``rate`` and ``mono`` resample and down-mix while decoding (PyAV's resampler, as a stream), so a
    long recording needs memory for the converted samples only (64 kB per second at 16 kHz mono).
    """
    path = Path(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio stream.")
            stream = container.streams.audio[0]
            native = int(stream.codec_context.sample_rate)
            if rate is None and not mono:
                parts = [to_float(f) for f in container.decode(stream)]
            else:
                layout = "mono" if mono else stream.codec_context.layout.name
                resampler = av.AudioResampler(format="flt", layout=layout, rate=rate or native)
                parts = [to_float(out) for f in container.decode(stream) for out in resampler.resample(f)]
                parts += [to_float(out) for out in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode audio ({exc}).") from None
    if not parts or not sum(len(p) for p in parts):
        raise MediaError(f"{path}: audio stream has no samples.")
    return np.concatenate(parts, axis=0), rate or native
