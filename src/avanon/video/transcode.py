"""The whole-file pass of the video pipeline: re-encode a video with every frame masked and its audio voice-transformed, timing kept exactly.

One pass over the input: packets are demuxed in file order; video frames go through the face masker
(which holds a bounded tracking window) and are encoded with their original presentation timestamps
and the input's time base, so a frame at time ``t`` in the input is at ``t`` in the output, with the
same frame count, size, start time and duration; audio frames go through the voice stream and are
encoded with the same sample rate, layout and sample count, starting at the same time. Nothing else is
copied: container, stream and frame metadata (titles, comments, creation time, GPS, device serials),
subtitle, data and attachment streams are all dropped.

Decoding runs ahead on a background thread while this thread detects, masks, encodes and muxes (in
a process with a one-thread budget, such as one of several workers, it runs in this thread); the
queue between them is bounded, so memory stays bounded by the tracking window.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

from avanon.audio.base import VoiceTransform
from avanon.errors import MediaError
from avanon.media.audio import AudioTranscoder, audio_codec_for
from avanon.media.video import OUTPUT_FORMATS, frame_step, from_rgb, muxer_options, read_ahead, to_rgb, video_stream
from avanon.recipe import Encoder
from avanon.threads import budget, decoder_threads
from avanon.video.faces import FaceMasker


@dataclass
class VideoResult:
    frames: int
    repaired_timestamps: int
    audio_samples: int
    masking: dict[str, Any]
    end_s: float = 0.0  # end of the last decoded frame on the container's clock [s]
    audio_samples_in: int = 0  # decoded samples per channel of the audio stream


def transcode_video(
    src: Path,
    dst: Path,
    *,
    masker_factory: Callable[[int, int, float], FaceMasker],
    voice: VoiceTransform | None,
    seed: int,
    speaker: str,
    encoder: Encoder,
    progress: Callable[[int], None] | None = None,
) -> VideoResult:
    """Anonymize ``src`` into ``dst`` (a temporary path chosen by the caller); see the module docstring."""
    fmt = OUTPUT_FORMATS.get(dst.suffix.lower()) or OUTPUT_FORMATS.get(src.suffix.lower(), "mp4")
    try:
        inp = av.open(str(src), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"{src}: cannot be opened ({exc}).") from None
    with inp:
        if not inp.streams.video:
            raise MediaError(f"{src}: no video stream.")
        vin = inp.streams.video[0]
        vin.thread_type = "SLICE"  # frame-threaded decoding gave non-reproducible frames in tests
        vin.codec_context.thread_count = decoder_threads()
        ain = inp.streams.audio[0] if inp.streams.audio else None
        cc = vin.codec_context
        masker = masker_factory(cc.width, cc.height, float(vin.average_rate or vin.guessed_rate or 25))
        with av.open(str(dst), "w", format=fmt, options=muxer_options(fmt, vin)) as out:
            vout = video_stream(out, vin, fmt, encoder)
            audio = None
            if ain is not None:
                codec = audio_codec_for(fmt, ain.codec_context.name)
                audio = AudioTranscoder(out, ain, codec=codec, voice=voice, seed=seed, speaker=speaker, path=src)
            result = _run(_Streams(inp, out, vin, ain, vout), audio, masker, src, progress)
    return result


@dataclass(frozen=True)
class _Streams:
    """The open containers and streams of one pass: input, output, video in, audio in (or None), video out."""

    inp: Any
    out: Any
    vin: Any
    ain: Any
    vout: Any


def _run(streams: _Streams, audio: AudioTranscoder | None, masker: FaceMasker, src: Path, progress: Callable[[int], None] | None) -> VideoResult:
    """Decode (ahead, on a background thread, unless this process has one thread); mask, encode and
    mux in this thread, in demux order.

    Every encoder and muxer call happens here, in an order fixed by the input file, so the output
    bytes do not depend on thread timing. The decode queue is bounded (memory stays bounded).
    """
    inp, out, vin, ain, vout = streams.inp, streams.out, streams.vin, streams.ain, streams.vout
    items = _decoded(inp, vin, ain, audio, src)
    if budget() > 1:
        items = read_ahead(items, depth=16)

    def encode(item: tuple[np.ndarray, Any]) -> None:
        image, (pts, time_base) = item
        frame = from_rgb(image, vout.pix_fmt)
        frame.pts, frame.time_base = pts, time_base
        out.mux(vout.encode(frame))
        state["written"] += 1

    state = {"last_pts": None, "repaired": 0, "frames": 0, "written": 0}
    step = frame_step(vin)
    constant_rate = inp.format.name == "avi"  # AVI has no timestamps: frame k is shown at start + k / rate
    with closing(items):
        for kind, frame in items:
            if kind == "a":
                assert audio is not None
                out.mux(audio.push_samples(*frame))
                continue
            pts, last = frame.pts, state["last_pts"]
            if constant_rate and last is not None:
                pts = last + step
            elif pts is None or (last is not None and pts <= last):
                pts = (last + step) if last is not None else 0
                state["repaired"] += 1
            state["last_pts"] = pts
            image = to_rgb(frame)  # an owned copy: nothing the decoder does later can change it
            for masked, payload, _ in masker.push(image, (pts, vin.time_base)):
                encode((masked, payload))
            state["frames"] += 1
            if progress:
                progress(1)
    for masked, payload, _ in masker.flush():
        encode((masked, payload))
    out.mux(vout.encode(None))
    if audio is not None:
        out.mux(audio.flush())
    if state["frames"] == 0:
        raise MediaError(f"{src}: the video stream has no decodable frames.")
    if state["written"] != state["frames"]:
        raise MediaError(f"{src}: {state['frames']} frames decoded but {state['written']} encoded.")
    return VideoResult(
        frames=state["frames"],
        repaired_timestamps=state["repaired"],
        audio_samples=audio.samples_out if audio else 0,
        masking=masker.stats.to_dict(),
        end_s=float((state["last_pts"] + step) * vin.time_base),
        audio_samples_in=audio.samples_in if audio else 0,
    )


def _decoded(inp: Any, vin: Any, ain: Any, audio: AudioTranscoder | None, src: Path) -> Iterator[tuple[str, Any]]:
    """``("v", frame)`` and ``("a", samples)`` in demux order; a decoding error names the file."""
    try:
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            for frame in packet.decode():
                if packet.stream is vin:
                    yield "v", frame
                elif audio is not None:
                    yield "a", audio.unpack(frame)
    except av.error.FFmpegError as exc:
        raise MediaError(f"{src}: decoding failed ({exc}); the file is corrupt or truncated.") from None
