"""Tutorial 3: classroom video where some participants consented to stay visible; background masked.

Uses the demo study's interview video (a real clip with several people when the shared dev
recordings are beside the repository; ``avanon.demo.build_demo_study`` regenerates it). One
person's face, cropped from the first seconds of the clip, plays the consent photo a steward would
collect; a recipe keeps that person visible, masks everyone else's face, and replaces the room
behind the people (``background`` filter) so posters, name tags and windows go too.

Run: ``python docs/tutorials/03_classroom_consent.py [WORK_DIR]`` (``avanon`` on PATH).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from avanon.demo import build_demo_study

SECONDS = 4.0  # the first seconds of the clip keep the tutorial short


def trim(src: Path, dst: Path, seconds: float) -> None:
    """The first ``seconds`` of a video, re-encoded without sound (a classroom camera)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        for i, frame in enumerate(inp.decode(vin)):
            if i >= seconds * float(rate):
                break
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            image.pts, image.time_base = i, 1 / rate
            out.mux(vout.encode(image))
        out.mux(vout.encode(None))


def consent_photo(video: Path, dest: Path) -> None:
    """Crop the largest face dlib finds in the first frames: the consenting participant's photo."""
    import face_recognition
    from PIL import Image

    with av.open(str(video)) as inp:
        for i, frame in enumerate(inp.decode(video=0)):
            image = frame.to_ndarray(format="rgb24")
            faces = face_recognition.face_locations(image, number_of_times_to_upsample=1)
            if faces:
                top, right, bottom, left = max(faces, key=lambda f: (f[2] - f[0]) * (f[1] - f[3]))
                m = (bottom - top) // 2
                crop = image[max(0, top - m) : bottom + m, max(0, left - m) : right + m]
                Image.fromarray(np.ascontiguousarray(crop)).save(dest)
                return
            if i > 60:
                break
    raise SystemExit(f"no face found in {video}: this tutorial needs the demo study built from the dev recordings")


def avanon(*args: str) -> None:
    print("$ avanon " + " ".join(args), flush=True)
    subprocess.run(["avanon", *args], check=True)


def main(work: Path) -> None:
    demo = build_demo_study(work / "demo")
    study = work / "classroom"
    video = study / "sub-01" / "ses-01" / "video" / "sub-01_ses-01_task-class_video.mp4"
    video.parent.mkdir(parents=True)
    trim(next(demo.rglob("*task-interview_video.mp4")), video, SECONDS)

    steward = work / "steward"  # consent photos are personal data: kept by the steward, never released
    steward.mkdir()
    photo = steward / "P01_consent.jpg"
    consent_photo(video, photo)
    recipe = work / "classroom.yaml"
    recipe.write_text(
        "name: classroom\n"
        "extends: default\n"
        "video:\n"
        "  filters:\n"
        f"    - {{name: consent, references: [{json.dumps(str(photo))}], min_matches: 2, every: 5}}\n"
        "    - {name: background, mode: blur, blur: 0.05}\n",
        encoding="utf-8",
    )
    avanon("recipe", "show", str(recipe))
    avanon("run", str(study), "-o", str(work / "out"), "--recipe", str(recipe), "--seed", "2", "--quiet")

    manifest = json.loads((work / "out" / "avanon_manifest.json").read_text(encoding="utf-8"))
    entry = manifest["entries"][0]
    assert entry["status"] == "ok", entry
    print("steps:", [s.get("name", s["step"]) for s in entry["steps"]])
    print("masking:", json.dumps(entry.get("masking", {}), sort_keys=True)[:800])
    avanon("evaluate", str(study), str(work / "out"), "-o", str(work / "report"), "--every", "10", "--no-voice-attacks")
    avanon("methods", str(work / "out"), "--evaluation", str(work / "report"))
    print((work / "out" / "methods" / "methods_short.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
