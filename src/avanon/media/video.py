"""The one frame loop of the video pipeline, and the encoder set-up every path that writes video shares.

A video is anonymized one *segment* at a time: :func:`encode_range` decodes the frames of a
:class:`Segment`, hands each to a masker and encodes what comes back with the input's presentation
timestamps. A whole file is the one-segment case (:meth:`Segment.whole`): its audio is carried in
the same pass and broken timestamps are repaired; the segments of a long recording
(:mod:`avanon.execute.segments`) are decoded from their keyframes and checked against their plan.
Detection reads frames through the same decoder (:func:`decode_range`).

Here also: the output container (from the input's demuxer, not its name), the encoder stream set-up
(codec, rate, time base, reproducible threading), the RGB conversions that let unmasked pixels
round-trip, muxer options that keep the input's time base, and a bounded read-ahead for decoding on
a background thread. Nothing here knows about faces, voices or recipes: the masker and the voice
come in as objects.
"""

from __future__ import annotations

import queue
import threading
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, TypeVar

import av
import cv2
import numpy as np

from avanon.errors import MediaError
from avanon.media.audio import AudioTranscoder, audio_codec_for
from avanon.threads import budget, decoder_threads

if TYPE_CHECKING:
    from avanon.audio.base import VoiceTransform
    from avanon.recipe import Encoder

T = TypeVar("T")

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}
FORMAT_SUFFIXES = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "avi": ".avi", "webm": ".webm"}
# FFmpeg demuxer name -> the output formats that keep its container; the first is used when the file's
# extension names none of them (an MP4 named .avi stays MP4: re-muxed as AVI its timing would change)
CONTAINER_FAMILIES = {"mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "mov"), "matroska,webm": ("matroska", "webm"), "avi": ("avi",)}
READ_AHEAD = 16  # decoded frames queued between the decoding thread and the masker


def output_format(name: str | Path, demuxer: str) -> str:
    """The container format an anonymized video is written in.

    Parameters
    ----------
    name : str or Path
        The input's file name; its extension picks between formats of one container family (MP4 or
        QuickTime, Matroska or WebM).
    demuxer : str
        The FFmpeg demuxer that read the input (``MediaInfo.format``): the container it really is.
    """
    by_name = OUTPUT_FORMATS.get(Path(name).suffix.lower())
    family = CONTAINER_FAMILIES.get(demuxer)
    if family is None:
        return by_name or "mp4"
    return by_name if by_name in family else family[0]


def format_for(src: Path, name: str | Path) -> str:
    """:func:`output_format` of the video ``src`` (opened to read its container), for an output called ``name``."""
    with open_input(src) as inp:
        return output_format(name, inp.format.name)


def output_name(name: str, fmt: str) -> str:
    """``name`` with the extension of format ``fmt`` (kept when it already names ``fmt``)."""
    path = Path(name)
    if OUTPUT_FORMATS.get(path.suffix.lower()) == fmt:
        return name
    return path.with_suffix(FORMAT_SUFFIXES[fmt]).as_posix()


@dataclass(frozen=True)
class Segment:
    """Frames ``[first_frame, first_frame + frames)`` of a video, shown from ``start_pts`` to before ``end_pts``.

    Timestamps are in the video stream's time base; ``end_pts`` is ``None`` for the last segment.
    ``frames`` is ``None`` for a whole file (:meth:`whole`): every frame that decodes, timestamps repaired.
    """

    index: int
    start_pts: int
    end_pts: int | None
    first_frame: int
    frames: int | None

    @classmethod
    def whole(cls) -> "Segment":
        """The one segment of a video processed whole."""
        return cls(0, -(2**62), None, 0, None)

    @property
    def is_whole(self) -> bool:
        return self.frames is None

    def holds(self, pts: int) -> bool:
        """Whether a frame shown at ``pts`` belongs to this segment."""
        return pts >= self.start_pts and (self.end_pts is None or pts < self.end_pts)


class SegmentMismatch(MediaError):
    """The decoded frames of a segment are not the ones planned (the file is then processed whole)."""


class Masker(Protocol):
    """What :func:`encode_range` hands frames to: it may hold some back, in order, until it can mask them."""

    def push(self, image: np.ndarray, payload: Any = None) -> list[tuple[np.ndarray, Any, Any]]: ...

    def flush(self) -> list[tuple[np.ndarray, Any, Any]]: ...


@dataclass(frozen=True)
class Output:
    """Where a range is encoded: the file (a temporary name), its container format and the recipe's encoder settings."""

    path: Path
    fmt: str
    encoder: "Encoder"


@dataclass(frozen=True)
class Voice:
    """The voice transform of the audio carried in a whole-file pass (``voice=None`` re-encodes it unchanged)."""

    voice: "VoiceTransform | None"
    seed: int
    speaker: str


@dataclass
class VideoResult:
    """What one pass (or a stitched set of segments) wrote."""

    frames: int
    repaired_timestamps: int
    audio_samples: int
    masking: dict[str, Any] = field(default_factory=dict)
    end_s: float = 0.0  # end of the last decoded frame on the container's clock [s]
    audio_samples_in: int = 0  # decoded samples per channel of the audio stream


def open_input(src: Path) -> av.container.InputContainer:
    try:
        return av.open(str(src), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise MediaError(f"{src}: cannot be opened ({exc}).") from None


def _video_in(inp: av.container.InputContainer, src: Path) -> Any:
    if not inp.streams.video:
        raise MediaError(f"{src}: no video stream.")
    vin = inp.streams.video[0]
    vin.thread_type = "SLICE"  # frame-threaded decoding gave non-reproducible frames in tests
    vin.codec_context.thread_count = decoder_threads()
    return vin


def decode_range(src: Path, segment: Segment) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(frame index, pts, RGB image)`` for the frames of ``segment``, decoded as :func:`encode_range` decodes them.

    Raises :class:`SegmentMismatch` if a planned segment's frames are not exactly the planned ones.
    """
    with open_input(src) as inp:
        vin = _video_in(inp, src)
        for _, item in _decoded(inp, src, segment, vin, None, None):
            index, pts, image, _ = item
            yield index, pts, image


def encode_range(
    src: Path,
    out: Output,
    segment: Segment,
    *,
    masker: Callable[[int, int, float], Masker],
    voice: Voice | None = None,
    progress: Callable[[int], None] | None = None,
) -> VideoResult:
    """Decode the frames of ``segment``, mask them and encode them into ``out`` with their input timestamps.

    Parameters
    ----------
    src : Path
        The input video (never modified).
    out : Output
        The file written (a temporary name chosen by the caller), its format and encoder settings.
    segment : Segment
        The frames to process; :meth:`Segment.whole` for the whole file.
    masker : callable (width [px], height [px], rate [frames/s]) -> Masker
        Builds the masker of this range once the stream is open.
    voice : Voice, optional
        Carry the first audio stream, voice-transformed, in the same pass (whole files); ``None``
        writes video only (the segments of a long recording, whose audio is encoded in one piece).
    progress : callable, optional
        Called with 1 per decoded frame.

    Returns
    -------
    VideoResult
        Frames decoded and written, timestamps repaired, audio samples in and out. ``masking`` is
        left empty: the caller's masker holds those statistics.

    Decoding runs ahead on a background thread while this thread masks, encodes and muxes (with a
    one-thread budget, such as one of several workers, it runs in this thread); every encoder and
    muxer call happens here, in an order fixed by the input file, so the output bytes do not depend
    on thread timing, and the queue between the threads is bounded. Nothing but the masked frames
    and the audio is written: container, stream and frame metadata, subtitle, data and attachment
    streams are dropped.
    """
    with open_input(src) as inp:
        vin = _video_in(inp, src)
        ain = inp.streams.audio[0] if voice is not None and inp.streams.audio else None
        cc = vin.codec_context
        mask = masker(cc.width, cc.height, float(vin.average_rate or vin.guessed_rate or 25))
        with av.open(str(out.path), "w", format=out.fmt, options=muxer_options(out.fmt, vin)) as container:
            vout = video_stream(container, vin, out.fmt, out.encoder)
            audio = None
            if ain is not None and voice is not None:
                codec = audio_codec_for(out.fmt, ain.codec_context.name)
                audio = AudioTranscoder(container, ain, codec=codec, voice=voice.voice, seed=voice.seed, speaker=voice.speaker, path=src)
            items = _decoded(inp, src, segment, vin, ain, audio)
            if budget() > 1:
                items = read_ahead(items, depth=READ_AHEAD)
            return _encode(items, _Pass(container, vin, vout, audio, mask, src), progress)


@dataclass(frozen=True)
class _Pass:
    """The open output, streams and masker of one :func:`encode_range` call."""

    container: Any
    vin: Any
    vout: Any
    audio: AudioTranscoder | None
    masker: Masker
    src: Path


def _encode(items: Iterator[tuple[str, Any]], p: _Pass, progress: Callable[[int], None] | None) -> VideoResult:
    """Mask, encode and mux the decoded ``items`` in order; flush everything at the end."""
    written = frames = repaired = 0
    last_pts = None
    time_base = p.vin.time_base

    def encode(masked: list[tuple[np.ndarray, Any, Any]]) -> int:
        for image, pts, _ in masked:
            frame = from_rgb(image, p.vout.pix_fmt)
            frame.pts, frame.time_base = pts, time_base
            p.container.mux(p.vout.encode(frame))
        return len(masked)

    with closing(items):
        for kind, item in items:
            if kind == "a":
                assert p.audio is not None
                p.container.mux(p.audio.push_samples(*item))
                continue
            _, last_pts, image, fixed = item
            repaired += fixed
            frames += 1
            written += encode(p.masker.push(image, last_pts))
            if progress:
                progress(1)
    written += encode(p.masker.flush())
    p.container.mux(p.vout.encode(None))
    if p.audio is not None:
        p.container.mux(p.audio.flush())
    if frames == 0:
        raise MediaError(f"{p.src}: the video stream has no decodable frames.")
    if written != frames:
        raise MediaError(f"{p.src}: {frames} frames decoded but {written} encoded.")
    return VideoResult(
        frames=frames,
        repaired_timestamps=repaired,
        audio_samples=p.audio.samples_out if p.audio else 0,
        end_s=float((last_pts + frame_step(p.vin)) * time_base),
        audio_samples_in=p.audio.samples_in if p.audio else 0,
    )


def _decoded(inp: Any, src: Path, segment: Segment, vin: Any, ain: Any, audio: AudioTranscoder | None) -> Iterator[tuple[str, Any]]:
    """``("v", (index, pts, RGB image, repaired))`` in display order and ``("a", samples)``, in demux order.

    A whole file's frames keep their timestamps unless these are missing or not increasing (then the
    previous one plus a frame step, counted as repaired); AVI stores none, so its frame ``k`` is shown
    at ``start + k / rate``. A planned segment is decoded from the keyframe before it and must give
    exactly its planned frames with increasing timestamps (else :class:`SegmentMismatch`). A decoding
    error names the file.
    """
    whole = segment.is_whole
    if not whole and segment.index > 0:
        inp.seek(segment.start_pts, stream=vin, backward=True, any_frame=False)
    step = frame_step(vin)
    constant_rate = whole and inp.format.name == "avi"
    index, last = segment.first_frame, None
    try:
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            for frame in packet.decode():
                if packet.stream is not vin:
                    assert audio is not None
                    yield "a", audio.unpack(frame)
                    continue
                pts, fixed = frame.pts, False
                if whole:
                    if constant_rate and last is not None:
                        pts = last + step
                    elif pts is None or (last is not None and pts <= last):
                        pts, fixed = (last + step) if last is not None else 0, True
                else:
                    if pts is None:
                        raise SegmentMismatch(f"{src}: a decoded frame has no timestamp.")
                    if pts < segment.start_pts:
                        continue  # the seek landed on an earlier keyframe
                    if not segment.holds(pts):
                        return _check_count(src, segment, index)
                    if last is not None and pts <= last:
                        raise SegmentMismatch(f"{src}: frames are not decoded in display order at pts {pts}.")
                last = pts
                yield "v", (index, int(pts), to_rgb(frame), fixed)  # an owned copy: nothing the decoder does later can change it
                index += 1
    except av.error.FFmpegError as exc:
        raise MediaError(f"{src}: decoding failed ({exc}); the file is corrupt or truncated.") from None
    _check_count(src, segment, index)


def _check_count(src: Path, segment: Segment, index: int) -> None:
    if segment.frames is not None and index - segment.first_frame != segment.frames:
        raise SegmentMismatch(f"{src}: segment {segment.index} decoded {index - segment.first_frame} frames, planned {segment.frames}.")


def video_stream(out: av.container.OutputContainer, vin: av.video.stream.VideoStream, fmt: str, encoder: "Encoder") -> Any:
    """The output video stream for ``vin``'s frames in format ``fmt``, set up from the recipe's encoder."""
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


def read_ahead(items: Iterator[T], *, depth: int) -> Iterator[T]:
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


def frame_step(vin: Any) -> int:
    """Ticks of the stream's time base between two frames at its average rate (1 when unknown)."""
    rate = vin.average_rate or vin.guessed_rate
    if not rate or not vin.time_base:
        return 1
    return max(1, int(round(1 / (float(rate) * float(vin.time_base)))))
