"""Benchmark the video modes (face mesh, background, skeleton, silhouette) on the dev clips.

For each clip (trimmed to its first ``--seconds`` seconds) and each mode's built-in recipe, the full
pipeline (decode, detectors, tracking, filter, obfuscation, libx264 encode) runs through
:func:`avanon.media.video.transcode_video` and is timed; the filter's own cost per frame is timed
separately on the same frames. On the outputs:

- leaked faces: :func:`avanon.evaluate.faces.residual_faces` (SSIM >= 0.6 of the central 60 % of
  each face or head found on the original by independent detectors);
- PCK@0.05 of body keypoints (:func:`avanon.evaluate.video.compare_pose`), body modes excluded from
  the target;
- face mesh only: median absolute difference of head yaw, pitch and gaze [degrees] measured with
  MediaPipe face mesh on original and output frames at the same time;
- people per frame each mode handled (the filter's own counts).

Run: ``.venv/bin/python benchmarks/bench_video_modes.py [--seconds 2] [--every 5]``
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
from avanon.evaluate.video import compare_pose
from avanon.media.video import transcode_video
from avanon.video.faces import FaceMasker, build_filters

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
CLIPS = {
    "openpose 1280x720 crowd": "openpose_media/examples/media/video.avi",
    "arm wrestling 340x256": "mmaction2_videos/demo/demo.mp4",
    "basketball": "mmaction2_videos/demo/test_video_structuralize.mp4",
    "hamilton 640x360 faces": "face_recognition_examples/examples/short_hamilton_clip.mp4",
}
MODES = ("default", "face-mesh", "background", "skeleton", "silhouette")


def trim(src: Path, dst: Path, seconds: float) -> int:
    """Re-encode the first ``seconds`` of the video stream (near-lossless) into ``dst``; returns frames."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": "10", "preset": "veryfast"}
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


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def filter_cost(name: str, frames: list[np.ndarray], fps: float) -> tuple[float, dict]:
    """Per-frame seconds of the mode's filters alone, fed the tracker's boxes of the full pipeline."""
    recipe = recipes.load(name)
    h, w = frames[0].shape[:2]
    filters = build_filters(recipe.video, width=w, height=h, fps=fps)
    # the tracker's boxes for these frames: the same detectors and tracking, without filters
    plain = FaceMasker(recipes.load("default").video.model_copy(update={"detectors": recipe.video.detectors}), width=w, height=h, fps=fps)
    tracked = [b for _, _, b in (sum((plain.push(f.copy()) for f in frames), []) + plain.flush())]
    if not filters:
        return 0.0, {}
    start = time.perf_counter()
    for k, (image, boxes) in enumerate(zip(frames, tracked)):
        for filt in filters:
            image, boxes = filt.apply(image.copy(), list(boxes), index=k)
    cost = (time.perf_counter() - start) / len(frames)
    return cost, {f.name: f.stats() for f in filters}


def angles(original: Path, output: Path, every: int) -> tuple[float, float, float, int]:
    """Median |difference| of yaw, pitch and gaze [degrees] over frames where both meshes are found."""
    dy, dp, dg = [], [], []
    for pair in paired_frames(original, output, every=every):
        if pair.anonymized is None:
            continue
        a, b = lm.face_landmarks(pair.original), lm.face_landmarks(pair.anonymized)
        if a is None or b is None:
            continue
        h, w = pair.original.shape[:2]
        ya, pa, _ = lm.head_pose(a, width=w, height=h)
        yb, pb, _ = lm.head_pose(b, width=w, height=h)
        ga, gb = lm.gaze_angles(a), lm.gaze_angles(b)
        dy.append(abs(ya - yb))
        dp.append(abs(pa - pb))
        dg.append(float(np.hypot(ga[0] - gb[0], ga[1] - gb[1])))
    med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    return med(dy), med(dp), med(dg), len(dy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each trimmed clip [s]")
    parser.add_argument("--every", type=int, default=5, help="evaluate every n-th frame")
    parser.add_argument("--clips", nargs="*", default=list(CLIPS), help="clip labels to run")
    parser.add_argument("--modes", nargs="*", default=list(MODES), help="recipes to run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.clips:
            src = Path(tmp) / f"{abs(hash(label))}.mp4"
            n = trim(DEV / CLIPS[label], src, args.seconds)
            with av.open(str(src)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            frames = frames_of(src)
            for mode in args.modes:
                recipe = recipes.load(mode)
                dst = Path(tmp) / f"{abs(hash(label))}_{mode}.mp4"
                start = time.perf_counter()
                transcode_video(src, dst, masker_factory=lambda w, h, f: FaceMasker(recipe.video, width=w, height=h, fps=f),
                                voice=None, seed=0, speaker="bench", encoder=recipe.video.encoder)
                wall = time.perf_counter() - start
                cost, stats = filter_cost(mode, frames, fps)
                leaks = residual_faces(src, dst, every=args.every)
                pose = compare_pose(src, dst, every=args.every)
                pck = pose.score(0.05)[0] if pose.frames else float("nan")
                yaw = pitch = gaze = float("nan")
                paired = 0
                if mode == "face-mesh":
                    yaw, pitch, gaze, paired = angles(src, dst, args.every)
                people = next(iter(stats.values()), {})
                per_frame = people.get("people_per_frame_max", people.get("heads_rendered_per_frame_max", "-"))
                per_mean = people.get("people_per_frame_mean", people.get("heads_rendered_per_frame_mean", "-"))
                rows.append((label, mode, n, n / wall, (1 / cost) if cost else float("nan"), leaks.leaks, leaks.faces_checked,
                             pck, pose.frames, yaw, pitch, gaze, paired, per_frame, per_mean))
                print("\t".join(str(v) if not isinstance(v, float) else f"{v:.3g}" for v in rows[-1]), flush=True)
    header = ("clip", "mode", "frames", "pipeline fps", "filter-only fps", "leaks", "faces checked", "PCK@0.05", "pose frames",
              "|d yaw| med", "|d pitch| med", "|d gaze| med", "mesh pairs", "people/frame max", "people/frame mean")
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) if not isinstance(v, float) else f"{v:.3g}" for v in row) + " |")


if __name__ == "__main__":
    main()
