"""Helpers for the execute tests: synthetic videos (with a real face moving across them) and small studies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from avanon import recipe as recipes

LIGHT_RECIPE = """
name: light-test
seed: 3
video:
  detectors:
    - {name: blazeface, threshold: 0.3, model: full, tiles: 1, every: 1}
  tracking: {max_gap: 6, margin: 4, expand: 0.4, match_iou: 0.1}
  obfuscation: {name: solid}
  encoder: {codec: libx264, crf: 23, preset: veryfast, threads: 1}
audio:
  voice: {name: mcadams, alpha: 0.8}
"""


def light_recipe() -> recipes.Recipe:
    """One fast detector, short tracking window, single-threaded encoder: a quick but complete recipe."""
    return recipes.parse(LIGHT_RECIPE, source="test recipe")


def face_crop(dev_data: Path, size: int = 96) -> np.ndarray:
    """A real face photo from the dev recordings, square, ``size`` pixels."""
    with Image.open(dev_data / "openface_cmu_examples/images/examples/lennon-1.jpg") as img:
        return np.array(img.convert("RGB").resize((size, size)))


def make_video(
    path: Path,
    *,
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    gop: int = 25,
    face: np.ndarray | None = None,
    hidden: set[int] = frozenset(),
    audio: bool = True,
    preset: str = "veryfast",
) -> Path:
    """An H.264 (with B-frames) video with keyframes every ``gop`` frames and optional AAC audio.

    ``face`` is pasted moving left and right on every frame not in ``hidden``.
    """
    w, h = size
    n = int(seconds * fps)
    rng = np.random.default_rng(5)
    background = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "preset": preset}
        a = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        t = 0
        for i in range(n):
            img = background.copy()
            if face is not None and i not in hidden:
                fs = face.shape[0]
                x = int((w - fs) * (0.5 + 0.5 * np.sin(i / 20)))
                y = (h - fs) // 2
                img[y : y + fs, x : x + fs] = face
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
            while a is not None and t < (i + 1) * 16000 // fps:
                s = (0.3 * np.sin(2 * np.pi * 180 * np.arange(t, t + 640) / 16000)).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(s, format="flt", layout="mono")
                af.sample_rate, af.pts = 16000, t
                out.mux(a.encode(af))
                t += 640
        out.mux(v.encode(None))
        if a is not None:
            out.mux(a.encode(None))
    return path


def frame_pts(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [f.pts for f in c.decode(video=0)]


def square(x: int, *, emit=None) -> int:  # noqa: ANN001 - a task for executor tests
    if emit is not None:
        emit(("advance", "x", 1))
    return x * x


def die(*, emit=None) -> None:  # noqa: ANN001 - a task whose worker process is killed
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def boom(*, emit=None) -> None:  # noqa: ANN001
    raise RuntimeError("boom in a task")


def span(seconds: float, *, emit=None) -> tuple[float, float]:  # noqa: ANN001 - when a task ran
    import time

    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def pid(*, emit=None) -> int:  # noqa: ANN001
    import os

    return os.getpid()


def small_study(root: Path, dev_data: Path, *, videos: int = 3, long_video: bool = True) -> Path:
    """A study of short face videos, one long (segmentable) video, an audio-only file and a text file."""
    face = face_crop(dev_data, 48)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(videos):
        (root / f"sub-{i:02d}").mkdir(exist_ok=True)
        make_video(root / f"sub-{i:02d}" / "session.mp4", seconds=2, size=(160, 120), face=face, hidden={10 + i})
    if long_video:
        make_video(root / "long.mp4", seconds=6, size=(160, 120), face=face, hidden=set(range(48, 53)))
    (root / "notes.txt").write_text("participant notes\n", encoding="utf-8")
    return root


def output_hashes(out: Path) -> dict[str, str]:
    """sha256 of every file under an output root except the manifest."""
    import hashlib

    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "avanon_manifest.json"
    }


def worker_settings(*, emit: Any = None) -> dict[str, Any]:
    """What a worker process runs with: the allocator variable Dask's nannies set, and the profiler."""
    import dask

    return {"MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"), "profile": dask.config.get("distributed.worker.profile.enabled")}
