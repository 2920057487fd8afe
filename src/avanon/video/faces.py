"""Mask every face in a stream of frames: detectors -> tracker -> obfuscation.

:class:`FaceMasker` is built from the recipe's video section once per file. Frames go in with
:meth:`FaceMasker.push` in display order and come out, masked, a tracking window later; the
decision for each frame is recorded (number of boxes, which detectors fired) for the manifest.
A detector that raises makes the file fail (fail closed): no frame leaves unmasked because a model
broke.

Tracking follows the camera (:class:`~avanon.video.tracking.CameraTracker`: the boxes of a
still-camera tracker and of one following the shift measured by
:class:`~avanon.video.tracking.CameraMotion`), which lets the strided detectors run less often on a
panning, hand-held camera.
Strided detectors also run on the first frame of a new shot (a cut, as the motion estimate sees
it), so the faces of a new shot are not left to the margins until the next strided run, and on the
last frame of the stream: a face that appears (or comes out from behind someone) after the last
strided run is otherwise covered by no later detection and its margin, and stays visible in the
final frames.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avanon.detect.faces import SMALL_FACE, Detection, FaceDetector
from avanon.detect.models import ModelFile
from avanon.errors import ModelError
from avanon.recipe import VideoSection
from avanon.threads import budget
from avanon.video.filters import VideoFilter
from avanon.video.obfuscate import Obfuscation
from avanon.video.tracking import Box, CameraMotion, CameraTracker, FaceTracker, Shift, TrackedFrame, repeats_confirm, small_box


@dataclass
class MaskStats:
    """What the masker did to one file (no identifying content: counts and positions only)."""

    frames: int = 0
    frames_masked: int = 0
    max_boxes: int = 0
    tracks: int = 0
    detections: dict[str, int] = field(default_factory=dict)
    filters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, frame: TrackedFrame) -> None:
        """Count one final frame's boxes and the detections behind them."""
        self.frames += 1
        self.frames_masked += bool(frame.boxes)
        self.max_boxes = max(self.max_boxes, len(frame.boxes))
        for source, n in frame.sources.items():
            self.detections[source] = self.detections.get(source, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frames_masked": self.frames_masked,
            "max_boxes_per_frame": self.max_boxes,
            "tracks": self.tracks,
            "detections": dict(sorted(self.detections.items())),
            **({"filters": self.filters} if self.filters else {}),
        }


def build_detectors(section: VideoSection) -> list[FaceDetector]:
    """Fresh per-file detectors from the recipe (heavy models are shared per process)."""
    detectors = []
    for step in section.detectors:
        det = step.build("detector")
        assert isinstance(det, FaceDetector)
        detectors.append(det.session())
    return detectors


def build_filters(section: VideoSection, *, width: int, height: int, fps: float) -> list[VideoFilter]:
    """Per-file whole-frame filters from the recipe."""
    filters = []
    for step in section.filters:
        filt = step.build("video")
        assert isinstance(filt, VideoFilter)
        filters.append(filt.session(width=width, height=height, fps=fps))
    return filters


def tracker_params(section: VideoSection, *, width: int, height: int) -> dict[str, Any]:
    """Keyword arguments of :class:`~avanon.video.tracking.FaceTracker` (and ``CameraTracker``) for a recipe:
    its tracking section, and the largest size below which its detectors take no second look (``SMALL_FACE``
    when none says)."""
    t = section.tracking
    built = [step.build("detector") for step in section.detectors]
    small = max((float(d.small) for d in built if hasattr(d, "small")), default=SMALL_FACE)
    return {"width": width, "height": height, "max_gap": t.max_gap, "margin": t.margin, "expand": t.expand, "match_iou": t.match_iou, "small": small}


def models_used(section: VideoSection) -> list[ModelFile]:
    """Model files the recipe's detectors and filters load."""
    out: list[ModelFile] = []
    for step in section.detectors:
        det = step.build("detector")
        assert isinstance(det, FaceDetector)
        out.extend(det.models())
    for step in section.filters:
        filt = step.build("video")
        assert isinstance(filt, VideoFilter)
        out.extend(filt.models())
    return out


def run_detector(detector: FaceDetector, image: np.ndarray, **kwargs: Any) -> list[Detection]:
    try:
        return detector.detect(image, **kwargs)
    except ModelError:
        raise
    except Exception as exc:  # any failure of a model makes the file fail, never pass a frame through
        raise ModelError(f"detector {detector.name!r} failed: {type(exc).__name__}: {exc}") from exc


def split(detections: list[Detection]) -> tuple[list[tuple[Box, str]], list[tuple[Box, str, float]]]:
    """``(box, source)`` of the verified detections, and ``(box, source, score)`` of the unverified candidates (for the tracker)."""
    found = [(d.box, d.source) for d in detections if d.verified]
    return found, [(d.box, d.source, d.score) for d in detections if not d.verified]


IN_FLIGHT = 6  # at least: a strided CenterFace run overlaps the next frames' main-thread work


class FaceMasker:
    """Streaming face masking for one video (see module docstring)."""

    def __init__(self, section: VideoSection, *, width: int, height: int, fps: float = 25.0):
        self.detectors = build_detectors(section)
        self.filters = build_filters(section, width=width, height=height, fps=fps)
        obfuscation = section.obfuscation.build("obfuscation")
        assert isinstance(obfuscation, Obfuscation)
        self.obfuscation = obfuscation
        self.tracker = CameraTracker(**tracker_params(section, width=width, height=height))
        self.motion = CameraMotion()
        self.stats = MaskStats()
        self._index = 0
        # Detectors that release the GIL (ONNX Runtime, MediaPipe) run on their own threads, a few
        # frames ahead of the tracker, each in frame order (a stateful detector sees the frames as an
        # inline one does); the results do not depend on timing, so the output stays byte-reproducible.
        # With a one-thread budget (several workers share the cores, avanon.threads) they run inline.
        self._background = [d for d in self.detectors if d.background] if budget() > 1 else []
        self._executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"avanon-{d.name}") for d in self._background]

        # frames held while a background run works: one stride of the sparsest background detector
        self._in_flight = max([IN_FLIGHT] + [int(getattr(d, "every", 1)) for d in self._background])
        self._waiting: deque[tuple[int, np.ndarray, Any, list[Detection], list[Future], Shift]] = deque()
        self._last_cut = False  # whether the latest frame pushed (always the last one waiting) was a cut

    def push(self, image: np.ndarray, payload: Any = None) -> list[tuple[np.ndarray, Any, list[Box]]]:
        """Add the next RGB frame; return ``(masked image, payload, boxes)`` for frames now final."""
        index = self._index
        self._index += 1
        shift = self.motion.update(image)
        cut = self.motion.cut  # a new shot: strided detectors run on its first frame too
        self._last_cut = cut
        futures = [pool.submit(run_detector, d, image) for d, pool in zip(self._background, self._executors) if cut or d.runs_on(index)]
        detections: list[Detection] = []
        # the main thread's detectors; background-capable ones last, so detections keep one order either way
        inline = [d for d in self.detectors if not d.background] + [d for d in self.detectors if d.background and d not in self._background]
        for det in inline:
            if cut or det.runs_on(index):
                detections.extend(run_detector(det, image))
        self._waiting.append((index, image, payload, detections, futures, shift))
        out: list[tuple[np.ndarray, Any, list[Box]]] = []
        while len(self._waiting) > self._in_flight:  # frames in flight while the background detector works
            out += self._track(*self._waiting.popleft())
        return out

    def _track(
        self, index: int, image: np.ndarray, payload: Any, detections: list[Detection], futures: list[Future], shift: Shift
    ) -> list[tuple[np.ndarray, Any, list[Box]]]:
        for fut in futures:
            detections.extend(fut.result())  # re-raises a detector failure
        found, candidates = split(detections)
        return [self._finish(f) for f in self.tracker.push(index, (image, payload), found, shift, candidates=candidates)]

    def flush(self) -> list[tuple[np.ndarray, Any, list[Box]]]:
        """Masked remaining frames at the end of the stream; releases per-file detector state."""
        out: list[tuple[np.ndarray, Any, list[Box]]] = []
        try:
            self._detect_last()
            while self._waiting:
                out += self._track(*self._waiting.popleft())
        finally:
            for pool in self._executors:
                pool.shutdown(wait=True)
        out += [self._finish(f) for f in self.tracker.flush()]
        for det in self.detectors:
            det.close()
        for filt in self.filters:
            self.stats.filters[filt.name] = filt.stats()
            filt.close()
        self.stats.tracks = self.tracker.track_count
        return out

    def _detect_last(self) -> None:
        """Run the strided detectors that skipped the stream's last frame on it (see the module docstring)."""
        if not self._waiting or self._last_cut:  # nothing pushed, or every detector ran on it (a cut)
            return
        index, image, _, detections, futures, _ = self._waiting[-1]  # frames are held: the last one waits
        pools = dict(zip(map(id, self._background), self._executors))
        for det in self.detectors:
            if det.runs_on(index):
                continue
            if id(det) in pools:  # on its own thread, after the frames it is still working on
                futures.append(pools[id(det)].submit(run_detector, det, image))
            else:
                detections.extend(run_detector(det, image))

    def _finish(self, frame: TrackedFrame) -> tuple[np.ndarray, Any, list[Box]]:
        image, payload = frame.payload
        boxes = frame.boxes
        for filt in self.filters:
            image, boxes = filt.apply(image, boxes, index=frame.index)
        self.obfuscation.apply(image, boxes)
        self.stats.add(frame)
        return image, payload, boxes


def mask_image(section: VideoSection, image: np.ndarray) -> tuple[np.ndarray, MaskStats]:
    """Mask a still photo: every detector runs once; boxes are enlarged as for video."""
    h, w = image.shape[:2]
    tracker = FaceTracker(**{**tracker_params(section, width=w, height=h), "max_gap": 0, "margin": 0})
    detections: list[Detection] = []
    for det in build_detectors(section):
        kwargs = {"static": True} if det.name == "pose-head" else {}
        detections.extend(run_detector(det, image, **kwargs))
        det.close()
    found, candidates = split(detections)
    # a photo has no time in which repeats could confirm a candidate too small for a second look: masked (fail closed)
    unconfirmable = [small_box(box, tracker.small) and repeats_confirm(source) for box, source, _ in candidates]
    found += [(box, source) for (box, source, _), masked in zip(candidates, unconfirmable) if masked]
    candidates = [c for c, masked in zip(candidates, unconfirmable) if not masked]
    (frame,) = tracker.push(0, None, found, candidates=candidates) + tracker.flush()
    boxes = frame.boxes
    for filt in build_filters(section, width=w, height=h, fps=0.0):
        image, boxes = filt.apply(image, boxes, index=0)
        filt.close()
    obfuscation = section.obfuscation.build("obfuscation")
    assert isinstance(obfuscation, Obfuscation)
    obfuscation.apply(image, boxes)
    stats = MaskStats(frames=1, frames_masked=int(bool(frame.boxes)), max_boxes=len(frame.boxes), tracks=tracker.track_count, detections=dict(frame.sources))
    return image, stats
