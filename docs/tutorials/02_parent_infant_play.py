"""Tutorial 2: parent-infant play video with ELAN coding: face mesh, features, aligned annotations, release.

Uses the demo study's play video (two people at a table when the shared dev recordings are beside the
repository; ``avanon.demo.build_demo_study`` regenerates it) and writes an ELAN file as a coder would:
behaviour codes on a ``CHI`` and a ``MOT`` tier and a free-text ``notes`` tier that mentions the
child's name. The ``face-mesh`` recipe replaces faces by a rendering of their landmarks (gaze, head
orientation and expressions stay), writes per-frame features of the original (body keypoints, face
landmarks, head pose, gaze, motion energy) beside the output, carries the ELAN file with names
pseudonymized and its alignment checked; then the release is frozen and verified.

Run: ``python docs/tutorials/02_parent_infant_play.py [WORK_DIR]`` (``avanon`` on PATH).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from avanon.demo import build_demo_study

SECONDS = 3.0
CODES = [  # (tier, start ms, end ms, value)
    ("CHI", 200, 1400, "reach"),
    ("CHI", 1600, 2800, "gaze_toy"),
    ("MOT", 0, 1000, "show_toy"),
    ("MOT", 1200, 2600, "smile"),
    ("notes", 300, 2500, "Emma reaches for the red block; mother praises her"),
]


def trim(src: Path, dst: Path, seconds: float) -> None:
    """The first ``seconds`` of the demo video with its sound (stream copy, cut at a keyframe)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        for packet in inp.demux(*[inp.streams[i] for i in streams]):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base > seconds:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def write_elan(path: Path, media: Path) -> None:
    import pympi

    eaf = pympi.Elan.Eaf(author="coder RA")
    eaf.add_linked_file(media.name, relpath=media.name, mimetype="video/mp4")
    for tier, *_ in CODES:
        if tier not in eaf.get_tier_names():
            eaf.add_tier(tier)
    for tier, start, end, value in CODES:
        eaf.add_annotation(tier, start, end, value)
    eaf.remove_tier("default")
    eaf.to_file(str(path))


def avanon(*args: str) -> None:
    print("$ avanon " + " ".join(args), flush=True)
    subprocess.run(["avanon", *args], check=True)


def main(work: Path) -> None:
    demo = build_demo_study(work / "demo")
    study = work / "play"
    video = study / "sub-02" / "ses-01" / "video" / "sub-02_ses-01_task-play_video.mp4"
    video.parent.mkdir(parents=True)
    trim(next(demo.rglob("*task-play_video.mp4")), video, SECONDS)
    write_elan(video.with_suffix(".eaf"), video)
    roster = work / "roster.txt"
    roster.write_text("Emma\n", encoding="utf-8")
    recipe = work / "play.yaml"
    recipe.write_text("name: play\nextends: face-mesh\nvideo:\n  features: true\n", encoding="utf-8")

    out = work / "out"
    avanon("run", str(study), "-o", str(out), "--recipe", str(recipe), "--roster", str(roster), "--seed", "4", "--quiet")
    manifest = json.loads((out / "avanon_manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["entries"]:
        assert entry["status"] == "ok", entry
        print(entry["input"], "->", entry["output"], [s.get("name", s["step"]) for s in entry.get("steps", [])])
    features = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if "_features" in p.name or "_motion" in p.name)
    print("derived features:", features)
    assert any(p.endswith("_features.parquet") for p in features) and any(p.endswith("_motion.tsv") for p in features)
    eaf = next(out.rglob("*.eaf")).read_text(encoding="utf-8")
    assert "Emma" not in eaf and "reach" in eaf and "gaze_toy" in eaf  # the name pseudonymized, the codes kept
    print("carried ELAN notes tier:", [line.strip() for line in eaf.splitlines() if "<ANNOTATION_VALUE>" in line][-1])

    avanon("methods", str(out))
    avanon("release", str(out), "--notes", "play sessions, face mesh, features")
    avanon("verify", str(out))
    print((out / "DATA_DICTIONARY.md").read_text(encoding="utf-8")[:1500])


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
