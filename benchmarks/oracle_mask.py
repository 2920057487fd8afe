"""An oracle face mask: paint exactly the faces the evaluation's own detectors find, nothing else.

Used as a lower bound on what hiding faces costs body-pose estimation, whatever finds them:
``bench_collateral.py --command '.venv/bin/python benchmarks/oracle_mask.py {study} {out} --every 15'``.
On every ``--every``-th frame (the frames bench_collateral measures with the same ``--every``) each
face or head box of dlib HOG, YuNet and the OpenPose head points (:mod:`avanon.evaluate.independent`,
the detectors of the leak check) is filled with a black ellipse inscribed in it, no margin; the other
frames pass unchanged. Every video is re-encoded with libx264 defaults like the re-encode control;
photos are painted the same way. A manifest in avanon's format maps inputs to outputs.

This is not an anonymizer (it leaves every face the evaluation's detectors miss, and every frame it
does not measure): it answers "if a mask hid exactly the faces the evaluation sees, and no pixel
more, what would the joints-painted share and the OpenPose PCK be?".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from avanon.evaluate.independent import IndependentDetectors  # noqa: E402
from bench_main import bare_transcode  # noqa: E402


def paint(frame: np.ndarray, run: IndependentDetectors, fill: str = "black") -> np.ndarray:
    """``frame`` (RGB) with an ellipse inscribed in every face or head box the detectors find, filled
    black or (``fill="mean"``) with the mean colour of the pixels it covers."""
    faces, _ = run(frame)
    out = frame.copy()
    for d in faces:
        x0, y0, x1, y1 = d.box
        centre = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
        axes = (max(1, int(round((x1 - x0) / 2))), max(1, int(round((y1 - y0) / 2))))
        region = np.zeros(frame.shape[:2], np.uint8)
        cv2.ellipse(region, centre, axes, 0, 0, 360, 1, -1)
        colour = frame[region > 0].mean(axis=0) if fill == "mean" and region.any() else np.zeros(3)
        out[region > 0] = colour.astype(np.uint8)
    return out


def mask_video(src: Path, dst: Path, run: IndependentDetectors, every: int, fill: str) -> None:
    """The re-encode control's transcode, with every ``every``-th frame painted."""

    def edit(index: int, frame: av.VideoFrame) -> av.VideoFrame:
        if index % every:
            return frame
        painted = av.VideoFrame.from_ndarray(paint(frame.to_ndarray(format="rgb24"), run, fill), format="rgb24")
        painted.pts, painted.time_base = frame.pts, frame.time_base
        return painted

    bare_transcode(src, dst, edit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--every", type=int, default=15, help="paint every n-th video frame (those bench_collateral measures)")
    parser.add_argument("--fill", choices=("black", "mean"), default="black", help="black, or the mean colour of the face")
    args, _ = parser.parse_known_args()  # bench_collateral may append --recipe
    run = IndependentDetectors()
    args.out.mkdir(parents=True)
    entries = []
    for src in sorted(args.study.iterdir()):
        if src.suffix.lower() in (".mp4", ".avi"):
            dst = args.out / (src.stem + ".mp4")
            mask_video(src, dst, run, args.every, args.fill)
        else:
            dst = args.out / src.name
            image = cv2.cvtColor(cv2.imread(str(src)), cv2.COLOR_BGR2RGB)
            cv2.imwrite(str(dst), cv2.cvtColor(paint(image, run, args.fill), cv2.COLOR_RGB2BGR))
        entries.append({"input": src.name, "output": dst.name, "status": "ok"})
    (args.out / "avanon_manifest.json").write_text(json.dumps({"entries": entries}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
