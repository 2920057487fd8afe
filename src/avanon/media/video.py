"""Re-encode a video with every frame masked and its audio voice-transformed, timing kept exactly.

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

import queue
import threading
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import av
import cv2
import numpy as np

from avanon.audio.base import VoiceTransform
from avanon.errors import MediaError
from avanon.media.audio import AudioTranscoder, audio_codec_for
from avanon.recipe import Encoder
from avanon.threads import budget, decoder_threads
from avanon.video.faces import FaceMasker

T = TypeVar("T")

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}


@dataclass
class VideoResult:
    frames: int
    repaired_timestamps: int
    audio_samples: int
    masking: dict[str, Any]
    end_s: float = 0.0  # end of the last decoded frame on the container's clock [s]
    audio_samples_in: int = 0  # decoded samples per channel of the audio stream


def video_stream(out: av.container.OutputContainer, vin: av.video.stream.VideoStream, fmt: str, encoder: Encoder) -> Any:
    cc = vin.codec_context
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    codec = "libvpx-vp9" if fmt == "webm" else encoder.codec
    vout = out.add_stream(codec, rate=rate)
    vout.width, vout.height = cc.width, cc.height
    odd = cc.width % 2 or cc.height % 2
    vout.pix_fmt = "yuv444p" if odd and codec == "libx264" else "yuv420p"
    vout.time_base = vin.time_base
    vout.codec_context.time_base = vin.time_base
    vout.codec_context.thread_count = encoder.threads
    vout.codec_context.thread_type = "SLICE"  # x264 frame threading is not byte-reproducible; slices are
    if cc.sample_aspect_ratio:
        vout.codec_context.sample_aspect_ratio = cc.sample_aspect_ratio
    if codec == "libx264":
        vout.options = {"crf": str(encoder.crf), "preset": encoder.preset}
        if encoder.x264_params:
            vout.options["x264-params"] = encoder.x264_params
        if fmt == "avi":  # AVI stores no presentation times: frames must come out in display order
            vout.options["bf"] = "0"
    elif codec.startswith("libvpx"):
        vout.options = {"crf": str(max(encoder.crf, 10) + 12), "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}
    return vout


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """An owned RGB copy of a decoded frame.

    Plain 8-bit 4:2:0 frames (almost all camera video) are converted with OpenCV; the same matrix is
    used on the way back in :func:`from_rgb`, so unmasked pixels round-trip. Other layouts go through
    PyAV's converter.
    """
    if frame.format.name in ("yuv420p", "yuvj420p") and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return np.array(frame.to_ndarray(format="rgb24"), copy=True)


_SLACK = 4096  # zeroed bytes after a frame's pixels: the encoder's SIMD reads past the last row see zeros


def from_rgb(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """A frame for the encoder from an RGB image (inverse of :func:`to_rgb`).

    libx264 reads a little past the last row of a frame; PyAV allocates no slack there, so whatever
    lies after the buffer could change the encoder's decisions and the output bytes from run to run.
    4:2:0 frames are therefore handed over in a buffer followed by zeros.
    """
    h, w = image.shape[:2]
    if pix_fmt == "yuv420p" and w % 2 == 0 and h % 2 == 0:
        yuv = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
        buffer = np.zeros(yuv.size + _SLACK, dtype=np.uint8)
        view = buffer[: yuv.size].reshape(yuv.shape)
        view[:] = yuv
        return av.VideoFrame.from_numpy_buffer(view, format="yuv420p")
    return av.VideoFrame.from_ndarray(image, format="rgb24")


def muxer_options(fmt: str, vin: av.video.stream.VideoStream) -> dict[str, str]:
    options = {}
    if fmt in ("mp4", "mov") and vin.time_base and vin.time_base.numerator == 1:
        options["video_track_timescale"] = str(vin.time_base.denominator)  # keep the input's time base
    if fmt in ("matroska", "webm", "avi"):
        options["avoid_negative_ts"] = "disabled"  # do not shift the whole timeline for the audio encoder's priming
    return options


def transcode_video(src: Path, dst: Path, *, masker_factory: Callable[[int, int, float], FaceMasker], voice: VoiceTransform | None,
                    seed: int, speaker: str, encoder: Encoder, progress: Callable[[int], None] | None = None) -> VideoResult:
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
            result = _run(inp, out, vin, ain, vout, audio, masker, src, progress)
    return result


def _run(inp: Any, out: Any, vin: Any, ain: Any, vout: Any, audio: AudioTranscoder | None, masker: FaceMasker,
         src: Path, progress: Callable[[int], None] | None) -> VideoResult:
    """Decode (ahead, on a background thread, unless this process has one thread); mask, encode and
    mux in this thread, in demux order.

    Every encoder and muxer call happens here, in an order fixed by the input file, so the output
    bytes do not depend on thread timing. The decode queue is bounded (memory stays bounded).
    """
    items = _decoded(inp, vin, ain, audio, src)
    if budget() > 1:
        items = _read_ahead(items, depth=16)

    def encode(item: tuple[np.ndarray, Any]) -> None:
        image, (pts, time_base) = item
        frame = from_rgb(image, vout.pix_fmt)
        frame.pts, frame.time_base = pts, time_base
        out.mux(vout.encode(frame))
        state["written"] += 1

    state = {"last_pts": None, "repaired": 0, "frames": 0, "written": 0}
    step = _frame_step(vin)
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
        frames=state["frames"], repaired_timestamps=state["repaired"],
        audio_samples=audio.samples_out if audio else 0, masking=masker.stats.to_dict(),
        end_s=float((state["last_pts"] + step) * vin.time_base), audio_samples_in=audio.samples_in if audio else 0,
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


def _read_ahead(items: Iterator[T], *, depth: int) -> Iterator[T]:
    """``items``, produced on a background thread up to ``depth`` ahead; its errors are raised here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()
    errors: list[BaseException] = []

    def fill() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consuming thread
            errors.append(exc)
        finally:
            buffer.put(end)

    thread = threading.Thread(target=fill, name="avanon-decode", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not end:
            yield item
        if errors:
            raise errors[0]
    finally:
        stop.set()
        while thread.is_alive():  # unblock the producer if it waits on a full queue
            try:
                buffer.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def _frame_step(vin: Any) -> int:
    rate = vin.average_rate or vin.guessed_rate
    if not rate or not vin.time_base:
        return 1
    return max(1, int(round(1 / (float(rate) * float(vin.time_base)))))
