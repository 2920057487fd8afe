"""Benchmark the video modes (face mesh, background, skeleton, silhouette) on the dev clips.

For each clip (trimmed to its first seconds, see ``SECONDS``) and each mode's built-in recipe, the
full pipeline (decode, detectors, tracking, filter, obfuscation, libx264 encode) runs through
:func:`avanon.video.transcode.transcode_video` and is timed; the filters' own time is measured inside
the same run (filter-only fps = frames / seconds spent in the filters). On the outputs:

- leaked faces: :func:`avanon.evaluate.faces.residual_faces` (SSIM >= 0.6 of the central 60 % of
  each face or head found on the original by independent detectors);
- PCK@0.05 of body keypoints of every person found on the original
  (:func:`avanon.evaluate.video.compare_pose`: people found by face seeds and repeated frame-wide
  pose searches, each measured on its own crop of both videos), seeded (the scored value: the
  landmark model on the output in the region tracked on the original, median over ``--views``
  shifted crops, 9 by default) and detector-found (MediaPipe's
  face-keyed person detector must find the person on the output), with the people per sampled frame
  found on the original, found again by the detector and tracked again by the seeded model; body
  modes excluded from the target;
- the measurement floor: the trimmed clip re-encoded with the recipes' encoder settings and no
  masking (row ``re-encode``);
- a diagnosis table per clip and mode: seeded PCK@0.05 per joint group, seeded PCK at 0.1 and 0.2
  torso, the median torso size [pixels], the share of scored joints whose
  own 9x9 pixel patch the mode changed (mean |grey difference| > 30, e.g. covered by a face box),
  and the PCK of those joints and of the untouched ones;
- recipes with a face-mesh filter: median absolute difference of head yaw, pitch and gaze [degrees] measured with
  MediaPipe face mesh on original and output frames at the same time (the output is searched
  around the face found on the original, so both are the same person), over the sampled frames
  where the original has a mesh; and the same on the dev face photos;
- people per frame each mode handled (the filter's own counts).

Run: ``.venv/bin/python benchmarks/bench_video_modes.py [--seconds 2] [--every 5] [--views 9] [--clips ...] [--modes ...]``
(a mode is a built-in recipe name or a recipe file in the repository folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from avanon import recipe as recipes
from avanon.detect import landmarks as lm
from avanon.evaluate.faces import paired_frames, residual_faces
from avanon.evaluate.video import BODY_JOINTS, Person, PoseComparison, compare_pose, reference_people
from avanon.video.faces import FaceMasker
from avanon.video.transcode import transcode_video

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
CLIPS = {
    "openpose 1280x720 crowd": "openpose_media/examples/media/video.avi",
    "arm wrestling 340x256": "mmaction2_videos/demo/demo.mp4",
    "basketball": "mmaction2_videos/demo/test_video_structuralize.mp4",
    "hamilton 640x360 faces": "face_recognition_examples/examples/short_hamilton_clip.mp4",
}
MODES = ("re-encode", "default", "face-mesh", "background", "skeleton", "silhouette")
JOINT_GROUPS = {  # MediaPipe pose indices per group, left and right
    "shoulders": (11, 12),
    "elbows": (13, 14),
    "wrists": (15, 16),
    "hands": (17, 18, 19, 20, 21, 22),
    "hips": (23, 24),
    "knees": (25, 26),
    "ankles": (27, 28),
    "feet": (29, 30, 31, 32),
}
SECONDS = {  # trimmed length per clip [s], so the whole run stays near ten minutes on 2 cores
    "openpose 1280x720 crowd": 1.0,
    "arm wrestling 340x256": 3.0,
    "basketball": 2.0,
    "hamilton 640x360 faces": 2.0,
}


def trim(src: Path, dst: Path, seconds: float, *, crf: int = 10, preset: str = "veryfast") -> int:
    """Re-encode the first ``seconds`` of the video stream (near-lossless by default) into ``dst``; returns frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": str(crf), "preset": preset}
        n, first = 0, None
        for frame in inp.decode(vin):
            t = float(frame.time or 0.0)
            first = t if first is None else first
            if t - first >= seconds:
                break
            out.mux(vout.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
            n += 1
        out.mux(vout.encode(None))
    return n


class TimedMasker(FaceMasker):
    """A :class:`FaceMasker` that also times its filters (the filter-only cost per frame)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.filter_seconds = 0.0
        for filt in self.filters:
            filt.apply = self._timed(filt.apply)  # type: ignore[method-assign]

    def _timed(self, apply):  # type: ignore[no-untyped-def]
        def run(image, boxes, *, index):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return apply(image, boxes, index=index)
            finally:
                self.filter_seconds += time.perf_counter() - start

        return run


def angles(original: Path, output: Path, every: int) -> tuple[float, float, float, str]:
    """Median |difference| of yaw, pitch and gaze [degrees] over frames where both meshes are found.

    The mesh is found on the original frame (its most prominent face); on the output it is searched
    only around that face, so both measurements are of the same person.
    """
    dy, dp, dg = [], [], []
    tried = 0
    for pair in paired_frames(original, output, every=every):
        if pair.anonymized is None:
            continue
        a = lm.face_landmarks(pair.original)
        if a is None:
            continue
        tried += 1
        box = (*a[:, :2].min(axis=0), *a[:, :2].max(axis=0))
        b = lm.face_landmarks(pair.anonymized, box, pad=0.3)
        if b is None:
            continue
        h, w = pair.original.shape[:2]
        ya, pa, _ = lm.head_pose(a, width=w, height=h)
        yb, pb, _ = lm.head_pose(b, width=w, height=h)
        ga, gb = lm.gaze_angles(a), lm.gaze_angles(b)
        dy.append(abs(ya - yb))
        dp.append(abs(pa - pb))
        dg.append(float(np.hypot(ga[0] - gb[0], ga[1] - gb[1])))
    med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    return med(dy), med(dp), med(dg), f"{len(dy)}/{tried}"


PHOTOS = sorted(
    [
        *(DEV / "face_recognition_examples/examples").glob("*.png"),
        *(DEV / "face_recognition_examples/examples").glob("*.jpg"),
        *(DEV / "openface_cmu_examples").rglob("*.jpg"),
    ]
)


def photo_angles() -> tuple[int, int, list[float], list[float], list[float]]:
    """Face mesh on the dev face photos: yaw, pitch and gaze differences [degrees] per photo.

    Each photo goes through :func:`avanon.video.faces.mask_image` with the face-mesh recipe; the
    mesh is measured on the original (most prominent face) and searched on the output around it.
    Returns (photos, photos with a mesh on both, |d yaw|, |d pitch|, |d gaze|).
    """
    from avanon.evaluate.faces import load_image
    from avanon.video.faces import mask_image

    section = recipes.load("face-mesh").video
    dy, dp, dg = [], [], []
    tried = 0
    for path in PHOTOS:
        image = load_image(path)
        a = lm.face_landmarks(image)
        if a is None:
            continue
        tried += 1
        out, _ = mask_image(section, image.copy())
        box = (*a[:, :2].min(axis=0), *a[:, :2].max(axis=0))
        b = lm.face_landmarks(out, box, pad=0.3)
        if b is None:
            continue
        h, w = image.shape[:2]
        ya, pa, _ = lm.head_pose(a, width=w, height=h)
        yb, pb, _ = lm.head_pose(b, width=w, height=h)
        ga, gb = lm.gaze_angles(a), lm.gaze_angles(b)
        dy.append(abs(ya - yb))
        dp.append(abs(pa - pb))
        dg.append(float(np.hypot(ga[0] - gb[0], ga[1] - gb[1])))
    return tried, len(dy), dy, dp, dg


def diagnose(src: Path, dst: Path, pose: PoseComparison, reference: dict[int, list[Person]], every: int, alpha: float = 0.05) -> dict[str, float]:
    """Seeded PCK per joint group, and whether the joints the mode painted over are the ones that fail.

    A scored joint is *painted* when the mean |grey difference| of the 9x9 patch around its original
    position exceeds 30 between original and output. Rows are walked in :func:`compare_pose`'s order.
    """
    pairs = pose.seeded
    distance = np.linalg.norm(pairs.reference - pairs.test, axis=2) / pairs.torso[:, None]
    correct = np.where(np.isfinite(distance), distance <= alpha, False)
    scored = pairs.visible & np.isfinite(np.linalg.norm(pairs.reference, axis=2))
    scored[:, : BODY_JOINTS[0]] = False
    painted = np.zeros_like(scored)
    row = 0
    for pair in paired_frames(src, dst, every=every):
        for person in reference.get(pair.index, []):
            if pair.anonymized is not None and pair.anonymized.shape == pair.original.shape:
                a = pair.original.astype(np.float32).mean(axis=2)
                b = pair.anonymized.astype(np.float32).mean(axis=2)
                for j in BODY_JOINTS:
                    if scored[row, j]:
                        x, y = (int(round(v)) for v in person.seeded[j])
                        pa, pb = a[max(0, y - 4) : y + 5, max(0, x - 4) : x + 5], b[max(0, y - 4) : y + 5, max(0, x - 4) : x + 5]
                        painted[row, j] = pa.size > 0 and float(np.abs(pa - pb).mean()) > 30
            row += 1
    share = lambda m: float(correct[m].mean()) if m.any() else float("nan")  # noqa: E731
    out = {name: share(scored & np.isin(np.arange(33), joints)[None, :]) for name, joints in JOINT_GROUPS.items()}
    out["PCK@0.1"], out["PCK@0.2"] = pairs.score(0.1)[0], pairs.score(0.2)[0]
    out["torso px median"] = float(np.nanmedian(pairs.torso)) if np.isfinite(pairs.torso).any() else float("nan")
    out["painted share"] = float(painted[scored].mean()) if scored.any() else float("nan")
    out["PCK painted"], out["PCK untouched"] = share(scored & painted), share(scored & ~painted)
    return out


def people(masker: FaceMasker) -> tuple[object, object]:
    """Max and mean people per frame the mode handled (faces masked for the plain recipes)."""
    stats = masker.stats.to_dict()
    filt = next(iter(stats.get("filters", {}).values()), None)
    if filt is None:
        return stats["max_boxes_per_frame"], "-"
    if "heads_rendered_per_frame_max" in filt:
        return filt["heads_rendered_per_frame_max"], filt["heads_rendered_per_frame_mean"]
    return filt["people_per_frame_max"], filt["people_per_frame_mean"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="*", default=None, help="length of each trimmed clip [s] (one value, or one per clip)")
    parser.add_argument("--every", type=int, default=5, help="evaluate every n-th frame")
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), help="clip labels to run")
    parser.add_argument("--modes", nargs="*", default=list(MODES), help="recipes to run")
    parser.add_argument(
        "--views",
        type=int,
        default=9,
        help="shifted crops per seeded pose measurement, median taken (avanon.evaluate.video._SeededPose; 1 = the single view of the earlier tables)",
    )
    args = parser.parse_args()
    seconds = args.seconds or [SECONDS[label] for label in args.clips]
    if len(seconds) == 1:
        seconds = seconds * len(args.clips)
    rows, diagnoses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, length in zip(args.clips, seconds):
            src = Path(tmp) / f"clip{args.clips.index(label)}.mp4"
            n = trim(DEV / CLIPS[label], src, length)
            reference = reference_people(src, every=args.every, views=args.views)  # the original's people, once per clip
            for mode in args.modes:
                dst = Path(tmp) / f"clip{args.clips.index(label)}_{mode}.mp4"
                maskers: list[TimedMasker] = []
                start = time.perf_counter()
                if mode == "re-encode":  # the floor: the recipes' encoder, no masking
                    trim(src, dst, float("inf"), crf=18, preset="superfast")
                else:
                    recipe = recipes.load(mode)

                    def factory(w: int, h: int, f: float) -> FaceMasker:
                        maskers.append(TimedMasker(recipe.video, width=w, height=h, fps=f))
                        return maskers[-1]

                    transcode_video(src, dst, masker_factory=factory, voice=None, seed=0, speaker="bench", encoder=recipe.video.encoder)
                wall = time.perf_counter() - start
                filter_fps = n / maskers[0].filter_seconds if maskers and maskers[0].filter_seconds else float("nan")
                leaks = residual_faces(src, dst, every=args.every)
                pose = compare_pose(src, dst, every=args.every, reference=reference, views=args.views)
                pck = pose.score(0.05)[0] if pose.frames else float("nan")
                detector_pck = pose.detector_score(0.05)[0] if pose.frames else float("nan")
                found = pose.people_per_frame
                pose_people = (
                    f"{found.max() if found.size else 0} / {found.mean() if found.size else 0:.2f} / "
                    f"{pose.matched_per_frame.mean() if found.size else 0:.2f} / {pose.tracked_per_frame.mean() if found.size else 0:.2f}"
                )
                yaw = pitch = gaze = float("nan")
                paired = "-"
                if mode != "re-encode" and any(step.name == "face-mesh" for step in recipes.load(mode).video.filters):
                    yaw, pitch, gaze, paired = angles(src, dst, args.every)
                top, mean = people(maskers[0]) if maskers else ("-", "-")
                rows.append(
                    (
                        label,
                        mode,
                        n,
                        n / wall,
                        filter_fps,
                        leaks.leaks,
                        leaks.faces_checked,
                        pck,
                        detector_pck,
                        f"{pose.frames - pose.unseeded}/{pose.frames}",
                        pose_people,
                        yaw,
                        pitch,
                        gaze,
                        paired,
                        top,
                        mean,
                    )
                )
                print("\t".join(str(v) if not isinstance(v, float) else f"{v:.3g}" for v in rows[-1]), flush=True)
                diagnoses.append((label, mode, *diagnose(src, dst, pose, reference, args.every).values()))
    if "face-mesh" in args.modes:
        tried, both, dy, dp, dg = photo_angles()
        med = lambda v: f"{np.median(v):.3g}" if v else "nan"  # noqa: E731
        print(f"\nface mesh on {tried} dev face photos: mesh found again on {both}; median |d yaw| {med(dy)}, |d pitch| {med(dp)}, |d gaze| {med(dg)} degrees")
    header = (
        "clip",
        "mode",
        "frames",
        "pipeline fps",
        "filter-only fps",
        "leaks",
        "faces checked",
        "PCK@0.05 seeded",
        "PCK@0.05 detector",
        "person rows seeded/all",
        "PCK people/frame max / mean / found again / tracked again",
        "|d yaw| med",
        "|d pitch| med",
        "|d gaze| med",
        "mesh pairs/original meshes",
        "people/frame max",
        "people/frame mean",
    )
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) if not isinstance(v, float) else f"{v:.3g}" for v in row) + " |")
    header = ("clip", "mode", *(f"PCK {g}" for g in JOINT_GROUPS), "PCK@0.1", "PCK@0.2", "torso px median", "painted share", "PCK painted", "PCK untouched")
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in diagnoses:
        print("| " + " | ".join(str(v) if not isinstance(v, float) else f"{v:.2f}" for v in row) + " |")


if __name__ == "__main__":
    main()
