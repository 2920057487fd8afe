"""Video frames in and out of the encoder, the same way for every path that writes video.

Output formats by extension, the encoder stream set-up (codec, rate, time base, reproducible
threading), the RGB conversions that let unmasked pixels round-trip, muxer options that keep the
input's time base, and a bounded read-ahead for decoding on a background thread. The anonymizing
passes that use them live in :mod:`avanon.video.transcode` (whole file) and
:mod:`avanon.execute.segments` (segments); nothing here knows about masking, voices or recipes.
"""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator, TypeVar

import av
import cv2
import numpy as np

if TYPE_CHECKING:
    from avanon.recipe import Encoder

T = TypeVar("T")

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}


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
