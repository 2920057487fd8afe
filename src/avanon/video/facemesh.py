"""Face mesh: replace each head by a rendering of its face landmarks on a neutral fill.

For every head box the tracker hands over, MediaPipe face mesh with attention (478 points, irises
included) runs on the box. The whole box is then painted with a neutral colour and the mesh is drawn
on it: shaded triangles of a grey mannequin face, light eye openings with dark irises, darker lips
and brows. Gaze direction, head orientation, blinks and the geometry of expressions stay visible;
skin, hair, facial texture and everything else inside the box are gone.

Temporal behaviour:

- landmarks are smoothed per person with a One Euro filter (Casiez et al., CHI 2012), which removes
  jitter at rest and follows fast movement with little lag;
- when the mesh is lost the last mesh is kept for up to ``hold`` frames, moved and scaled with the
  head box; after that the box is handed back to the recipe's obfuscation (a solid fill), so the real
  face never reappears, it only changes from mesh to fill;
- boxes of one head are grouped (:func:`merge_heads`) and the mesh is searched once per group, on
  the frame as it came (never on a head already rendered);
- boxes smaller than ``min_size`` pixels are handed back too (a mesh on a tiny face is noise);
- a head whose last search found no mesh is searched again after ``retry`` frames, then after
  twice as long with each further miss, up to ``backoff`` frames;
- at most ``budget`` searches run per frame (heads holding a mesh first, then the largest), so a
  crowd of small or turned-away heads costs a bounded time per frame; a head left over is
  obfuscated on that frame and searched on a later one.

Cost: a mesh search is about 2 ms when no face is found and 5-8 ms when one is (crops are shrunk
to 256 pixels first); drawing a mesh is about 5 ms per head.

Privacy note: the mesh keeps the face's proportions, which carry some identity information; the
rendering removes appearance (texture, colour, hair), not geometry. Use a body or solid mode where
geometry must go as well.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from avanon.detect import landmarks as lm
from avanon.detect.models import ModelFile
from avanon.detect.mp import mediapipe
from avanon.registry import Interval, Kind, Options, Param, register
from avanon.video.filters import Box, VideoFilter
from avanon.video.headtracks import HeadTracks


# ------------------------------------------------------------------------------------- mesh topology
@lru_cache(maxsize=1)
def _topology() -> dict[str, Any]:
    """Triangles of the tesselation and the index lists of the face parts drawn on top."""
    fmc = mediapipe().solutions.face_mesh_connections

    edges = np.array(sorted(fmc.FACEMESH_TESSELATION))
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(int(a), set()).add(int(b))
        neighbours.setdefault(int(b), set()).add(int(a))
    triangles = sorted({tuple(sorted((a, b, c))) for a in neighbours for b in neighbours[a] for c in neighbours[a] & neighbours[b]})

    def loop(connections: frozenset) -> np.ndarray:
        """Order the edges of a closed contour into a polygon."""
        nxt: dict[int, list[int]] = {}
        for a, b in connections:
            nxt.setdefault(a, []).append(b)
            nxt.setdefault(b, []).append(a)
        start = min(nxt)
        order, prev, cur = [start], None, start
        while True:
            options = [n for n in nxt[cur] if n != prev]
            if not options or options[0] == start or len(order) > len(nxt):
                break
            prev, cur = cur, options[0]
            order.append(cur)
        return np.array(order)

    lips_outer = {(a, b) for a, b in fmc.FACEMESH_LIPS}
    return {
        "triangles": np.array(triangles, dtype=np.int32),
        "right_eye": loop(fmc.FACEMESH_RIGHT_EYE),
        "left_eye": loop(fmc.FACEMESH_LEFT_EYE),
        "lips": np.array(sorted(lips_outer), dtype=np.int32),
        "brows": np.array(sorted(fmc.FACEMESH_LEFT_EYEBROW | fmc.FACEMESH_RIGHT_EYEBROW), dtype=np.int32),
        "oval": np.array(sorted(fmc.FACEMESH_FACE_OVAL), dtype=np.int32),
    }


# ------------------------------------------------------------------------------------------ drawing
# Grey levels of the rendered eye and the drawn iris radius over the iris landmarks' radius. Chosen
# on the Hamilton clip (faces 40-100 pixels) by gaze re-measured on the rendering: brighter or darker
# eyes, larger or smaller irises, and anti-aliased eye openings all moved gaze further.
EYE_WHITE, IRIS, PUPIL = 235, 60, 15
IRIS_SCALE = 1.0
# Eyelids, drawn as on a real eye: a dark lash line along the upper lid and a faint lower lid. With
# the same thin dark outline around the whole opening, the face-mesh model re-found the irises
# lower against the eye corners than they were drawn (a vertical gaze bias of +4.5 degrees on the
# Hamilton clip, 5.9 degrees median error); with these lids the bias is about +1.3 degrees and the
# median error 3.6 degrees (66 frames, the original's own landmarks rendered and measured again).
UPPER_LID = {"right_eye": (33, 246, 161, 160, 159, 158, 157, 173, 133), "left_eye": (263, 466, 388, 387, 386, 385, 384, 398, 362)}
LOWER_LID = {"right_eye": (33, 7, 163, 144, 145, 153, 154, 155, 133), "left_eye": (263, 249, 390, 373, 374, 380, 381, 382, 362)}
UPPER_LID_DARK, UPPER_LID_WIDTH, LOWER_LID_DARK = 0.2, 2, 0.8  # grey as a fraction of ``tone``; width [pixels]


def render_face(canvas: np.ndarray, points: np.ndarray, *, style: str = "shaded", tone: int = 225, shading: float = 0.1, edges: int = 0) -> None:
    """Draw a face mesh onto ``canvas`` in place.

    Parameters
    ----------
    canvas : ndarray, shape (h, w, 3), uint8 RGB, C-contiguous
    points : ndarray, shape (478, 3) [pixels of ``canvas``]
        Face-mesh points (``z`` in the same pixel scale, smaller is nearer).
    style : {"shaded", "wire"}
        ``shaded`` draws a grey mannequin face lit from the camera; ``wire`` draws the mesh edges only.
    tone : int in [0, 255]
        Brightness of a surface facing the camera. Brighter renderings are further from the real
        face for the region test of :mod:`avanon.evaluate.faces` (a close-up head on the
        arm-wrestling clip: SSIM 0.76 at 140, 0.61 at 200, 0.55 at 225, 0.51 at 250; 0.6 is a
        leak) but re-measure gaze less well (median over the dev photos 3.3, 3.7 and 4.3 degrees
        at 200, 225 and 250); the filter uses 225.
    shading : float in [0, 1]
        Darkening of surfaces turned away from the camera (0 = flat). Stronger shading makes the
        rendering look more like the real face to the region test (its shading follows the real
        face's lighting): on the 60 dev photos the largest SSIM of a rendered face is 0.606 at 0.3
        (a leak), 0.574 at 0.15, 0.556 at 0.1 and 0.533 flat, where the mesh is no longer found
        again on one of 18 photos. The filter uses 0.1: median gaze error 3.3 degrees on the photos
        (3.7 at 0.3) and 3.5 on 8 s of the Hamilton clip (3.5 at 0.3); benchmarks/results/leaks.md.
    edges : int in [0, 255]
        Draw the mesh edges this much darker than ``tone`` (0 = no edges).
    """
    topo = _topology()
    shift = 4  # sub-pixel precision for OpenCV drawing
    scale = float(1 << shift)
    xy = np.round(points[:, :2] * scale).astype(np.int32)
    if style == "shaded":
        tri = topo["triangles"]
        p = points[tri]  # (n, 3, 3)
        normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        length = np.linalg.norm(normal, axis=1) + 1e-9
        light = np.abs(normal[:, 2]) / length  # 1 facing the camera, 0 edge-on
        shade = (tone * (1.0 - shading + shading * light)).astype(int)
        order = np.argsort(-p[:, :, 2].mean(axis=1))  # far to near
        for k in order:
            c = int(shade[k])
            cv2.fillConvexPoly(canvas, xy[tri[k]], (c, c, c), lineType=cv2.LINE_AA, shift=shift)
        if edges:
            lines = [xy[e] for e in tri[:, [0, 1]]] + [xy[e] for e in tri[:, [1, 2]]]
            cv2.polylines(canvas, lines, False, (tone - edges,) * 3, 1, cv2.LINE_AA, shift)
        dark = (int(tone * 0.35),) * 3
        for eye, iris_centre, ring in (("right_eye", 468, range(469, 473)), ("left_eye", 473, range(474, 478))):
            opening = np.zeros(canvas.shape[:2], np.uint8)
            cv2.fillPoly(opening, [xy[topo[eye]]], 255, lineType=cv2.LINE_8, shift=shift)
            eye_layer = np.full_like(canvas, EYE_WHITE)
            radius = float(np.mean(np.linalg.norm(points[list(ring), :2] - points[iris_centre, :2], axis=1)))
            centre = tuple(int(v) for v in xy[iris_centre])
            cv2.circle(eye_layer, centre, max(1, int(round(radius * IRIS_SCALE * scale))), (IRIS,) * 3, -1, cv2.LINE_AA, shift)
            cv2.circle(eye_layer, centre, max(1, int(round(radius * 0.45 * scale))), (PUPIL,) * 3, -1, cv2.LINE_AA, shift)
            inside = opening > 0  # the iris is seen only through the eye opening (blinks stay visible)
            canvas[inside] = eye_layer[inside]
            cv2.polylines(canvas, [xy[list(LOWER_LID[eye])]], False, (int(tone * LOWER_LID_DARK),) * 3, 1, cv2.LINE_AA, shift)
            cv2.polylines(canvas, [xy[list(UPPER_LID[eye])]], False, (int(tone * UPPER_LID_DARK),) * 3, UPPER_LID_WIDTH, cv2.LINE_AA, shift)
        segments = [xy[e] for e in topo["lips"]]
        cv2.polylines(canvas, segments, False, (int(tone * 0.45),) * 3, 1, cv2.LINE_AA, shift)
        cv2.polylines(canvas, [xy[e] for e in topo["brows"]], False, dark, 2, cv2.LINE_AA, shift)
    else:
        edges = [xy[e] for e in topo["triangles"][:, [0, 1]]] + [xy[e] for e in topo["triangles"][:, [1, 2]]]
        cv2.polylines(canvas, edges, False, (tone,) * 3, 1, cv2.LINE_AA, shift)
        for ring in (range(469, 473), range(474, 478)):
            cv2.polylines(canvas, [xy[list(ring)]], True, (255, 255, 255), 1, cv2.LINE_AA, shift)


def merge_heads(boxes: list[Box], *, overlap: float = 0.6) -> list[tuple[Box, list[Box]]]:
    """Group boxes of one head: (union box, member boxes) per group, largest first.

    The face tracker can hand over several boxes for one head (two detectors, a gap-filled box
    beside a fresh one, trailing margins). A box joins the group of the first larger box whose
    area covers at least ``overlap`` of it; the mesh is searched once per group, on the union.
    The overlaps of all pairs are computed at once (3 ms instead of 7 ms pair by pair for 110
    boxes on the loaded 2-core machine).
    """
    if not boxes:
        return []
    order = sorted(range(len(boxes)), key=lambda k: -(boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1]))
    b = np.asarray([boxes[k] for k in order], dtype=np.float64)
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    area = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    covered = iw * ih >= overlap * area[:, None]  # covered[i, j]: box j covers enough of box i
    covered &= np.tri(len(b), k=-1, dtype=bool)  # only larger (earlier) boxes lead
    leaders: list[int] = []
    leading = np.zeros(len(b), bool)
    members: dict[int, list[int]] = {}
    for i, anyone in enumerate(covered.any(axis=1).tolist()):
        joined = np.flatnonzero(covered[i] & leading) if anyone else ()
        if len(joined):
            members[int(joined[0])].append(i)
        else:
            leaders.append(i)
            leading[i] = True
            members[i] = [i]
    groups: list[tuple[Box, list[Box]]] = []
    for j in leaders:
        rows = b[members[j]]
        union = (float(rows[:, 0].min()), float(rows[:, 1].min()), float(rows[:, 2].max()), float(rows[:, 3].max()))
        groups.append((union if len(rows) > 1 else boxes[order[j]], [boxes[order[i]] for i in members[j]]))
    return groups


class OneEuro:
    """One Euro filter over arrays (Casiez, Roussel and Vogel, CHI 2012).

    Parameters
    ----------
    rate : float > 0 [Hz]
        Frame rate of the signal.
    min_cutoff : float > 0 [Hz]
        Cut-off frequency at rest (lower = smoother, more lag).
    beta : float >= 0 [1/pixel]
        How fast the cut-off rises with speed (higher = less lag on fast movement).
    d_cutoff : float > 0 [Hz]
        Cut-off for the speed estimate.
    """

    def __init__(self, *, rate: float, min_cutoff: float = 1.0, beta: float = 0.02, d_cutoff: float = 1.0) -> None:
        self.dt = 1.0 / rate
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.value is None or self.speed is None:
            self.value, self.speed = x.copy(), np.zeros_like(x)
            return x
        speed = (x - self.value) / self.dt
        a = self._alpha(self.d_cutoff)
        self.speed = a * speed + (1 - a) * self.speed
        alpha = self._alpha(self.min_cutoff + self.beta * np.abs(self.speed))
        self.value = alpha * x + (1 - alpha) * self.value
        return self.value


# ------------------------------------------------------------------------------------------- filter
@register
class FaceMesh(VideoFilter):
    """Replace each head box by its face mesh on a neutral fill (see module docstring)."""

    name = "face-mesh"
    params = {
        "fill": Param((0, 0, 0), Kind((tuple,), length=3), "RGB fill of the head box around the mesh, 0-255 each"),
        "style": Param("shaded", Options(("shaded", "wire")), "grey mannequin face or mesh edges only"),
        "tone": Param(225, Interval(int, 0, 255), "grey level of mesh surfaces facing the camera, 0-255"),
        "shading": Param(0.1, Interval(float, 0.0, 1.0), "darkening of surfaces turned away from the camera (0 = flat)"),
        "edges": Param(0, Interval(int, 0, 200), "draw the mesh edges this many grey levels darker than the surface (0 = none)"),
        "min_size": Param(32, Interval(int, 8, 4096), "smallest head box rendered as a mesh [pixels]; smaller ones are obfuscated"),
        "hold": Param(4, Interval(int, 0, 50), "frames the last mesh is kept when the mesh is lost [frames]"),
        "retry": Param(2, Interval(int, 1, 50), "frames between mesh searches on a head where none was found [frames]"),
        "candidates": Param(2, Interval(int, 1, 50), "most boxes of one head searched for its mesh per frame"),
        "backoff": Param(
            8,
            Interval(int, 1, 200),
            "longest wait between searches on a head where the last searches all failed; the wait doubles from retry with each miss [frames]",
        ),
        "budget": Param(
            8,
            Interval(int, 1, 1000),
            "most mesh searches per frame; heads holding a mesh go first, then the largest; heads left over wait for a later frame (obfuscated meanwhile)",
        ),
        "min_cutoff": Param(1.5, Interval(float, 0.01, 30.0), "One Euro cut-off at rest [Hz]"),
        "beta": Param(0.05, Interval(float, 0.0, 10.0), "One Euro speed coefficient [1/pixel]"),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracks = HeadTracks()
        self._rate = 25.0
        self._counts: list[int] = []
        self._fallbacks = 0
        self._searches = 0
        self._left = 0

    def session(self, *, width: int, height: int, fps: float) -> "FaceMesh":
        fresh = FaceMesh(**self.get_params())
        fresh._rate = fps if fps and fps > 0 else 25.0
        return fresh

    def models(self) -> list[ModelFile]:
        return list(lm.FACE_MESH_MODELS)

    def apply(self, image: np.ndarray, boxes: list[Box], *, index: int) -> tuple[np.ndarray, list[Box]]:
        h, w = image.shape[:2]
        rest: list[Box] = []
        rendered = 0
        source = image  # meshes are searched on the frame as it came, never on a rendered head
        heads = merge_heads(boxes)
        self._left = self.budget  # mesh searches this frame may still make
        pairs = list(zip(heads, self._tracks.update([g[0] for g in heads], index)))
        # heads holding a mesh keep it first, then the largest heads (most likely to yield one)
        order = sorted(
            range(len(pairs)),
            key=lambda k: (pairs[k][1].state.get("seen") != index - 1, -(pairs[k][0][0][2] - pairs[k][0][0][0]) * (pairs[k][0][0][3] - pairs[k][0][0][1])),
        )
        for (head, members), track in (pairs[k] for k in order):
            x0, y0 = max(0, int(np.floor(head[0]))), max(0, int(np.floor(head[1])))
            x1, y1 = min(w, int(np.ceil(head[2]))), min(h, int(np.ceil(head[3])))
            if x1 - x0 < self.min_size or y1 - y0 < self.min_size:
                rest.extend(members)
                continue
            points = self._points(source, head, self._candidates(head, members, track.state, index), track.state, index)
            if points is None:
                rest.extend(members)
                self._fallbacks += 1
                continue
            if source is image:
                source = image.copy()
            canvas = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
            canvas[:] = tuple(int(c) for c in self.fill)
            render_face(canvas, points - np.array([x0, y0, 0.0]), style=self.style, tone=self.tone, shading=self.shading, edges=self.edges)
            image[y0:y1, x0:x1] = canvas  # the union of the group's boxes: every member is covered
            rendered += 1
        self._counts.append(rendered)
        return image, rest

    def _candidates(self, head: Box, members: list[Box], state: dict[str, Any], index: int) -> list[Box]:
        """Boxes the mesh is searched in, best first (at most ``candidates`` of the members).

        A head with a mesh in the last ``hold`` frames is searched first around that mesh (its
        extent grown by a quarter, moved with the head box): the crop the face-mesh model itself
        would track with. Then the members from the tightest (the face fills more of them than of
        the union); in crowds a head can have 20 boxes, and searching them all is what costs.
        """
        tight = sorted((m for m in members if min(m[2] - m[0], m[3] - m[1]) >= self.min_size), key=lambda m: (m[2] - m[0]) * (m[3] - m[1]))
        boxes = (tight or [head])[: self.candidates]
        last = state.get("points")
        if last is not None and index - state.get("seen", -(10**9)) <= self.hold:
            (x0, y0), (x1, y1) = last[:, :2].min(axis=0), last[:, :2].max(axis=0)
            old = state["box"]
            dx, dy = (head[0] + head[2] - old[0] - old[2]) / 2, (head[1] + head[3] - old[1] - old[3]) / 2
            grow = 0.25 * max(x1 - x0, y1 - y0)
            boxes = [(x0 - grow + dx, y0 - grow + dy, x1 + grow + dx, y1 + grow + dy), *boxes]
        return boxes

    def _points(self, image: np.ndarray, head: Box, candidates: list[Box], state: dict[str, Any], index: int) -> np.ndarray | None:
        """Smoothed landmarks of this head's face, the held mesh, or None.

        The mesh is searched in each of ``candidates`` (boxes of this head, tightest first) until
        one holds a face. A head where the last search found no mesh (the back of a head, a face
        too small or too blurred) is searched again after ``retry`` frames, and after twice as
        long with each further miss, up to ``backoff`` frames; in between its box goes to the
        obfuscation (or keeps the held mesh), which is the safe side and saves most of the cost in
        crowds, where most heads never yield a mesh.
        """
        found = None
        wait = min(self.retry * 2 ** max(state.get("misses", 1) - 1, 0), max(self.backoff, self.retry))
        due = index - state.get("missed", -(10**9)) >= wait or state.get("seen") == index - 1
        if due and self._left > 0:
            for box in candidates:
                if self._left <= 0:
                    break
                self._left -= 1
                self._searches += 1
                found = lm.face_landmarks(image, box, pad=0.0, max_side=lm.MESH_INPUT)
                if found is not None:
                    cx, cy = found[:, 0].mean(), found[:, 1].mean()
                    if not (box[0] <= cx <= box[2] and box[1] <= cy <= box[3]):
                        found = None  # a neighbour's face seen through the box edge
                if found is not None:
                    break
            if found is None:
                state["missed"], state["misses"] = index, state.get("misses", 0) + 1
            else:
                state["misses"] = 0
        if found is None:
            last = state.get("points")
            if last is None or index - state.get("seen", -(10**9)) > self.hold:
                state.pop("smoother", None)
                return None
            old = state["box"]  # move and scale the held mesh with the head box
            sx = (head[2] - head[0]) / max(old[2] - old[0], 1e-6)
            sy = (head[3] - head[1]) / max(old[3] - old[1], 1e-6)
            moved = last.copy()
            moved[:, 0] = head[0] + (last[:, 0] - old[0]) * sx
            moved[:, 1] = head[1] + (last[:, 1] - old[1]) * sy
            moved[:, 2] = last[:, 2] * sx
            return moved
        smoother = state.get("smoother")
        if smoother is None:
            smoother = state["smoother"] = OneEuro(rate=self._rate, min_cutoff=self.min_cutoff, beta=self.beta)
        points = smoother(found)
        state.update(points=points, box=head, seen=index)
        return points

    def stats(self) -> dict[str, Any]:
        counts = np.array(self._counts or [0])
        return {
            "frames": len(self._counts),
            "heads_rendered_per_frame_max": int(counts.max()),
            "heads_rendered_per_frame_mean": round(float(counts.mean()), 3),
            "fallbacks_to_obfuscation": self._fallbacks,
            "mesh_searches": self._searches,
        }
