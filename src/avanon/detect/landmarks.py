"""Face, iris and body landmarks, person masks and the geometry derived from them.

The models are MediaPipe 0.10.14's legacy solutions, whose files ship inside the ``mediapipe`` wheel
(declared below with pinned sha256 values):

- face mesh with attention (``refine_landmarks=True``): 478 points, the last ten on the irises;
- body pose (``model_complexity=1``, the only complexity shipped): 33 points with visibility;
- selfie segmentation (general or landscape): a soft person mask.

Every shared graph object is built lazily, once per process, and guarded by a lock (MediaPipe
graphs are not re-entrant). The shared graphs are static-image graphs: callers crop around one
person at a time (head boxes from the face tracker, person regions from segmentation) and do their
own tracking and smoothing, so one graph serves any number of people. The exception is
:class:`PoseTracker`, a video-mode pose graph owned by one caller for one person, because following
a person from the previous landmarks finds far more people than the detector alone.

Speed: head crops are shrunk to :data:`MESH_INPUT` pixels and frames to :data:`SEGMENT_INPUT`
pixels on their longer side before they are handed to the graphs, which resize them to 192-256
pixels anyway; the copies into the graph are what cost time at 1280 x 720.

Geometry:

- :func:`head_pose`: yaw, pitch and roll [degrees] from six face landmarks and a generic 3-D head
  model with :func:`cv2.solvePnP` (pinhole camera, focal length = frame width).
- :func:`gaze_angles`: gaze direction relative to the head [degrees], from the iris centre's
  position between the eye corners (an eyeball radius of 0.43 eye widths).

Coordinates are pixels of the full frame, ``x`` to the right and ``y`` down.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from avanon.detect.faces import BLAZEFACE_SHORT, POSE_DETECTION, POSE_LANDMARK
from avanon.detect.models import ModelFile
from avanon.detect.mp import mediapipe, pose_graph
from avanon.errors import ModelError

FACE_MESH_GRAPH = ModelFile(
    "face-mesh-graph",
    "mediapipe",
    "modules/face_landmark/face_landmark_front_cpu.binarypb",
    "fa3c092da27d031d54ddd61a29b0e3dd521d53f55fa8898cb0f2b64d79cd6573",
)
FACE_MESH_ATTENTION = ModelFile(
    "face-landmark-with-attention",
    "mediapipe",
    "modules/face_landmark/face_landmark_with_attention.tflite",
    "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4",
)
SELFIE_GRAPH = ModelFile(
    "selfie-segmentation-graph",
    "mediapipe",
    "modules/selfie_segmentation/selfie_segmentation_cpu.binarypb",
    "df9f291eadc2ad77a4a0fabd83d4f2c0c2b4d8626c8f44fb0d14efc2fc81f46d",
)
SELFIE_GENERAL = ModelFile(
    "selfie-segmentation",
    "mediapipe",
    "modules/selfie_segmentation/selfie_segmentation.tflite",
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
)
SELFIE_LANDSCAPE = ModelFile(
    "selfie-segmentation-landscape",
    "mediapipe",
    "modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
)
POSE_GRAPH = ModelFile(
    "pose-landmark-graph",
    "mediapipe",
    "modules/pose_landmark/pose_landmark_cpu.binarypb",
    "90ddc717625a3c1aedfdca124212a36ce595cdbbe46513fd93adca5202d8ff21",
)

FACE_MESH_MODELS = [FACE_MESH_GRAPH, FACE_MESH_ATTENTION, BLAZEFACE_SHORT]
SEGMENTATION_MODELS = [SELFIE_GRAPH, SELFIE_GENERAL, SELFIE_LANDSCAPE]
POSE_MODELS = [POSE_GRAPH, POSE_DETECTION, POSE_LANDMARK]

FACE_POINTS = 478
POSE_POINTS = 33
# Face mesh indices used for head pose and gaze.
NOSE_TIP, CHIN = 1, 152
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291
RIGHT_IRIS, LEFT_IRIS = 468, 473  # iris centres (subject's right eye appears on the image's left)
# A generic head in millimetres (x right, y up, z towards the camera), nose tip at the origin, in the
# proportions the face mesh itself reports for a frontal face (eye corners 86.6 mm apart).
HEAD_MODEL = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip
        (0.0, -82.0, -38.0),  # chin
        (-43.3, 37.0, -48.0),  # right eye outer corner (image left)
        (43.3, 37.0, -48.0),  # left eye outer corner (image right)
        (-34.5, -23.0, -43.0),  # right mouth corner
        (34.5, -23.0, -43.0),  # left mouth corner
    ]
)
HEAD_MODEL_POINTS = (NOSE_TIP, CHIN, RIGHT_EYE_OUTER, LEFT_EYE_OUTER, MOUTH_RIGHT, MOUTH_LEFT)
EYEBALL_RADIUS = 0.43  # eyeball radius in eye widths (about 12 mm for a 28 mm palpebral fissure)
MESH_INPUT = 256  # pixels: longest side of a head crop handed to the face-mesh graph
SEGMENT_INPUT = 512  # pixels: longest side of a frame handed to the segmentation graph

_locks: dict[str, threading.Lock] = {"mesh": threading.Lock(), "pose": threading.Lock(), "segment": threading.Lock()}


def _verify(models: list[ModelFile]) -> None:
    for model in models:
        model.path()


@lru_cache(maxsize=1)
def _face_mesh() -> Any:
    _verify(FACE_MESH_MODELS)
    mp = mediapipe()

    return mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5)


@lru_cache(maxsize=1)
def _pose() -> Any:
    return pose_graph(static=True, detection=0.5)


@lru_cache(maxsize=2)
def _segmenter(landscape: bool) -> Any:
    _verify(SEGMENTATION_MODELS)
    mp = mediapipe()

    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=int(landscape))


def _process(graph: Any, lock: str, image: np.ndarray) -> Any:
    try:
        with _locks[lock]:
            return graph.process(np.ascontiguousarray(image[:, :, :3]))
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError from its graph
        raise ModelError(f"MediaPipe {lock} failed on a {image.shape[1]}x{image.shape[0]} image: {exc}") from exc


def _crop(image: np.ndarray, box: tuple[float, float, float, float], pad: float) -> tuple[np.ndarray, int, int] | None:
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, y0 = max(0, int(box[0] - pad * bw)), max(0, int(box[1] - pad * bh))
    x1, y1 = min(w, int(np.ceil(box[2] + pad * bw))), min(h, int(np.ceil(box[3] + pad * bh)))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return image[y0:y1, x0:x1], x0, y0


def face_landmarks(
    image: np.ndarray, box: tuple[float, float, float, float] | None = None, *, pad: float = 0.1, max_side: int | None = None
) -> np.ndarray | None:
    """The 478 face-mesh points of the most prominent face in ``box`` (or the whole frame).

    Parameters
    ----------
    image : ndarray, shape (height, width, 3), uint8 RGB
    box : (x0, y0, x1, y1) [pixels] or None
        Region to search (a head box); enlarged by ``pad`` of its size on each side.
    pad : float >= 0
        Context added around the box, as a fraction of its size.
    max_side : int > 0 [pixels] or None
        Crops larger than this on their longer side are shrunk before the graph runs (the mesh
        model itself sees a 192 x 192 face, so larger crops only cost copying and resizing);
        None keeps the crop as it is; :data:`MESH_INPUT` is a good value for head boxes.

    Returns
    -------
    ndarray, shape (478, 3) [pixels] or None
        ``x, y`` in frame pixels and ``z`` (depth relative to the face centre, in the same pixel
        scale as ``x``, smaller is nearer the camera); None when no face was found.
    """
    if box is None:
        crop, x0, y0 = image, 0, 0
    else:
        found = _crop(image, box, pad)
        if found is None:
            return None
        crop, x0, y0 = found
    ch, cw = crop.shape[:2]
    if max_side is not None and max(ch, cw) > max_side:
        factor = max_side / max(ch, cw)
        crop = cv2.resize(crop[:, :, :3], (max(1, round(cw * factor)), max(1, round(ch * factor))), interpolation=cv2.INTER_AREA)
    result = _process(_face_mesh(), "mesh", crop)
    if not result.multi_face_landmarks:
        return None
    marks = result.multi_face_landmarks[0].landmark
    points = np.array([(m.x * cw + x0, m.y * ch + y0, m.z * cw) for m in marks], dtype=np.float64)
    return points if len(points) == FACE_POINTS else None


def pose_landmarks(image: np.ndarray, box: tuple[float, float, float, float] | None = None, *, pad: float = 0.0) -> np.ndarray | None:
    """The 33 body-pose points of the most prominent person in ``box`` (or the whole frame).

    Returns
    -------
    ndarray, shape (33, 3) or None
        ``x, y`` [pixels of the frame] and visibility in [0, 1]; None when nobody was found.
    """
    if box is None:
        crop, x0, y0 = image, 0, 0
    else:
        found = _crop(image, box, pad)
        if found is None:
            return None
        crop, x0, y0 = found
    result = _process(_pose(), "pose", crop)
    if result.pose_landmarks is None:
        return None
    ch, cw = crop.shape[:2]
    return np.array([(m.x * cw + x0, m.y * ch + y0, m.visibility) for m in result.pose_landmarks.landmark], dtype=np.float64)


class PoseTracker:
    """Body pose of one person followed through a video, inside a fixed region of the frame.

    The legacy pose solution in video mode (``static_image_mode=False``) runs its person detector
    only until it has a pose and then follows the person from the previous landmarks, which finds
    people that the detector alone misses on most frames (people cut by the frame edge, seated,
    seen from behind). The solution follows one person per graph, so a filter keeps one tracker per
    person, each on its own crop of the frame; the crop must stay put from frame to frame for the
    tracking to hold (see :meth:`follow`).

    Parameters
    ----------
    region : (x0, y0, x1, y1) [pixels]
        The crop of the frame the person is searched and followed in.
    confidence : float in [0, 1]
        Minimum detection and tracking confidence.
    """

    def __init__(self, region: tuple[float, float, float, float], *, confidence: float = 0.5) -> None:
        self.region = region
        self._graph = pose_graph(static=False, detection=confidence, tracking=confidence)

    def follow(self, pose: np.ndarray, *, visibility: float = 0.5, step: float = 0.1) -> None:
        """Translate the crop towards the centre of ``pose`` (its size stays).

        Moves by at most ``step`` of the crop size per call and only when the person is off centre
        by more than that, so the graph keeps tracking (a small shift of the crop looks like a small
        movement of the person).
        """
        extent = torso_box(pose, visibility=visibility)
        if extent is None:
            return
        x0, y0, x1, y1 = self.region
        w, h = x1 - x0, y1 - y0
        dx = (extent[0] + extent[2]) / 2 - (x0 + x1) / 2
        dy = (extent[1] + extent[3]) / 2 - (y0 + y1) / 2
        dx = float(np.clip(dx, -step * w, step * w)) if abs(dx) > step * w else 0.0
        dy = float(np.clip(dy, -step * h, step * h)) if abs(dy) > step * h else 0.0
        if dx or dy:
            self.region = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)

    def restart(self, region: tuple[float, float, float, float]) -> None:
        """Search a new crop from the next frame on; the graph starts again from its detector.

        The next call pays about 0.2 s of model loading, the same as a new tracker.
        """
        self.region = region
        self._graph.reset()

    def __call__(self, image: np.ndarray, *, erase: list[np.ndarray] | None = None, fill: int = 128) -> np.ndarray | None:
        """The (33, 3) pose (x, y [pixels of the frame], visibility) in this frame's region, or None.

        ``erase`` lists polygons [pixels of the frame] painted with ``fill`` in the crop first
        (other people already followed, so the graph does not lock onto them).
        """
        found = _crop(image, self.region, 0.0)
        if found is None:
            return None
        crop, x0, y0 = found
        if erase:
            crop = crop[:, :, :3].copy()
            offset = np.array([x0, y0])
            cv2.fillPoly(crop, [np.round(p - offset).astype(np.int32) for p in erase], (fill, fill, fill))
        try:
            result = self._graph.process(np.ascontiguousarray(crop[:, :, :3]))
        except Exception as exc:  # MediaPipe raises RuntimeError/ValueError from its graph
            raise ModelError(f"MediaPipe pose tracking failed on a {crop.shape[1]}x{crop.shape[0]} crop: {exc}") from exc
        if result.pose_landmarks is None:
            return None
        ch, cw = crop.shape[:2]
        return np.array([(m.x * cw + x0, m.y * ch + y0, m.visibility) for m in result.pose_landmarks.landmark], dtype=np.float64)

    def close(self) -> None:
        """Release the graph."""
        self._graph.close()


def person_mask(image: np.ndarray, *, landscape: bool = True, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Soft person mask of the frame, float32 in [0, 1].

    Parameters
    ----------
    image : ndarray, shape (height, width, 3), uint8 RGB
    landscape : bool
        Use the landscape model (144 x 256 input, faster) rather than the general one (256 x 256).
    shape : (height, width) [pixels] or None
        Size of the returned mask; None returns it at the image's size. The model sees at most
        256 pixels per side, so frames are shrunk to :data:`SEGMENT_INPUT` pixels on their longer
        side before they are handed over, and callers that work on a smaller mask save the
        upscaling too.
    """
    h, w = image.shape[:2]
    out_h, out_w = shape if shape is not None else (h, w)
    small = image[:, :, :3]
    if max(h, w) > SEGMENT_INPUT:
        factor = SEGMENT_INPUT / max(h, w)
        small = cv2.resize(small, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    result = _process(_segmenter(bool(landscape)), "segment", small)
    mask = result.segmentation_mask
    if mask is None:
        return np.zeros((out_h, out_w), np.float32)
    mask = np.asarray(mask, np.float32)
    if mask.shape != (out_h, out_w):
        mask = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def head_pose(points: np.ndarray, *, width: int, height: int) -> tuple[float, float, float]:
    """Yaw, pitch and roll [degrees] of a head from its face-mesh points.

    Parameters
    ----------
    points : ndarray, shape (478, 2 or 3) [pixels]
    width, height : int > 0 [pixels]
        Size of the frame the points were measured on (the camera is a pinhole with focal length
        ``width`` and principal point at the frame centre).

    Returns
    -------
    yaw, pitch, roll : float [degrees]
        Yaw positive when the face turns towards the image's right, pitch positive when it tilts
        up, roll positive when it tilts clockwise in the image; (0, 0, 0) faces the camera.
    """
    image_points = np.ascontiguousarray(points[list(HEAD_MODEL_POINTS), :2], dtype=np.float64)
    focal = float(width)
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    model = HEAD_MODEL * np.array([1.0, -1.0, -1.0])  # to camera axes: y down, z away from the camera
    ok, rvec, _ = cv2.solvePnP(model, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return (float("nan"),) * 3  # type: ignore[return-value]
    rotation, _ = cv2.Rodrigues(rvec)
    # Rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch) in camera axes.
    yaw = np.degrees(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(-yaw), float(-pitch), float(roll)


def _eye_angles(points: np.ndarray, outer: int, inner: int, iris: int) -> tuple[float, float]:
    a, b, c = points[outer, :2], points[inner, :2], points[iris, :2]
    axis = b - a
    width = float(np.hypot(*axis))
    if width < 1e-6:
        return float("nan"), float("nan")
    unit = axis / width
    normal = np.array([-unit[1], unit[0]])
    offset = c - (a + b) / 2
    along = float(offset @ unit) / (EYEBALL_RADIUS * width)
    across = float(offset @ normal) / (EYEBALL_RADIUS * width)
    sign = 1.0 if unit[0] >= 0 else -1.0  # express 'along' as image-right positive
    return float(np.degrees(np.arcsin(np.clip(sign * along, -1, 1)))), float(np.degrees(np.arcsin(np.clip(sign * across, -1, 1))))


def gaze_angles(points: np.ndarray) -> tuple[float, float]:
    """Gaze direction relative to the head [degrees], averaged over both eyes.

    Returns
    -------
    horizontal, vertical : float [degrees]
        Horizontal positive when the irises sit towards the image's right of the eye centres,
        vertical positive when they sit lower (looking down); 0 is straight ahead of the face.
    """
    right = _eye_angles(points, RIGHT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_IRIS)
    left = _eye_angles(points, LEFT_EYE_INNER, LEFT_EYE_OUTER, LEFT_IRIS)
    return float(np.nanmean([right[0], left[0]])), float(np.nanmean([right[1], left[1]]))


def torso_box(points: np.ndarray, *, visibility: float = 0.5) -> tuple[float, float, float, float] | None:
    """Bounding box [pixels] of the visible pose points, or None when fewer than 4 are visible."""
    seen = points[points[:, 2] >= visibility, :2]
    if len(seen) < 4:
        return None
    return float(seen[:, 0].min()), float(seen[:, 1].min()), float(seen[:, 0].max()), float(seen[:, 1].max())
