"""Collateral benchmark: leaks (independent check), painted shares and OpenPose PCK of face-masking tools.

For every dev video (arm wrestling, basketball, the street/crowd clip, Hamilton) and a set of dev
photos, each tool is run as its own process on a study folder holding copies of them:

- ``default``: ``.venv/bin/avanon run STUDY -o OUT --seed 1`` (``--command`` replaces it; ``{study}``
  and ``{out}`` are filled in);
- ``face-mesh`` and ``skeleton``: the same with ``--recipe face-mesh`` / ``--recipe skeleton``;
- ``deface``: deface 1.5.0 with default settings from ``.venv-deface`` (``make bench`` installs it);
- ``reencode``: a bare libx264 re-encode of each video (PyAV, libx264 defaults), the control: its
  painted shares show the false positives of the painted-mask inference, and its PCK is the
  reference the others are divided by (PCK ratio). Photos are compared with the original itself.

Each output is measured with :func:`avanon.evaluate.collateral.collateral` on every ``--every``-th
frame: residual faces (region test with dlib HOG, YuNet and OpenPose heads, none of which the masking
uses), share of body joints painted, share of painted pixels outside generous head regions, share of
each frame painted (and painted off heads), OpenPose PCK@0.1. Detections on the originals are made
once and shared by all tools. Results: ``benchmarks/results/collateral.json`` and ``collateral.md``;
contact sheets of the worst frames (heads pixelated on the "before" side) go to ``--sheets``
(default ``bench_out/collateral_sheets``, outside version control).

    .venv/bin/python benchmarks/bench_collateral.py                       # --every 30 --max-seconds 3
    .venv/bin/python benchmarks/bench_collateral.py --every 50 --max-seconds 0 --out benchmarks/results/collateral_full_clips.json

The defaults (every 30th frame of the first 3 s of each video, 12 photos, all tools) took 620 s on
the 2 cores shared with other jobs (deface 246 s of it, the avanon recipes 53-115 s each, the
measurements 125 s); whole clips at every 50th frame took 1755 s under a heavier load.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
sys.path.insert(0, str(REPO / "src"))

from avanon.evaluate.collateral import OriginalFrame, collateral  # noqa: E402
from avanon.evaluate.independent import IndependentDetectors  # noqa: E402

VIDEOS = {
    "arm wrestling": "mmaction2_videos/demo/demo.mp4",
    "basketball": "mmaction2_videos/demo/test_video_structuralize.mp4",
    "street (crowd)": "openpose_media/examples/media/video.avi",
    "hamilton": "face_recognition_examples/examples/short_hamilton_clip.mp4",
}
PHOTOS = [
    "deface_example/examples/city.jpg",
    "face_recognition_examples/examples/two_people.jpg",
    "face_recognition_examples/examples/obama.jpg",
    "face_recognition_examples/examples/biden.jpg",
    "face_recognition_examples/examples/alex-lacamoire.png",
    "face_recognition_examples/examples/lin-manuel-miranda.png",
    "openface_cmu_examples/images/examples/longoria-cooper.jpg",
    "openface_cmu_examples/images/examples/lennon-1.jpg",
    "openpose_media/examples/media/COCO_val2014_000000000192.jpg",
    "openpose_media/examples/media/COCO_val2014_000000000241.jpg",
    "openpose_media/examples/media/COCO_val2014_000000000257.jpg",
    "openpose_media/examples/media/COCO_val2014_000000000294.jpg",
]
AVANON = REPO / ".venv/bin/avanon"
DEFACE = REPO / ".venv-deface/bin/deface"
DEFAULT_COMMAND = f"{AVANON} run {{study}} -o {{out}} --seed 1"
TOOLS = ("default", "face-mesh", "skeleton", "deface")
MAIN_JOB_SIZE = 20  # [pixels] "small (down to about 20 px)": the face sizes the main-job issue asks to find


def make_study(root: Path, files: list[str], seconds: float | None = None) -> Path:
    """A study folder holding copies of the dev files, named by their dev path (``/`` -> ``__``).

    With ``seconds``, videos are cut to their first ``seconds`` by copying packets (no re-encode:
    the frames kept are the original's).
    """
    study = root / "study"
    study.mkdir(parents=True)
    for rel in files:
        dst = study / rel.replace("/", "__")
        if seconds is not None and rel in VIDEOS.values():
            try:
                cut(DEV / rel, dst, seconds)
                continue
            except Exception as exc:  # noqa: BLE001 - a container PyAV cannot remux is used whole
                print(f"{rel}: not cut ({exc}); used whole", file=sys.stderr)
        shutil.copyfile(DEV / rel, dst)
    return study


def cut(src: Path, dst: Path, seconds: float) -> None:
    """Copy the packets of every audio and video stream that start before ``seconds``."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = [s for s in inp.streams if s.type in ("video", "audio")]
        mapping = {s.index: out.add_stream_from_template(s) for s in streams}
        # One time origin for all streams (a video track may start later than the audio).
        origin = min(float((s.start_time or 0) * s.time_base) for s in streams)
        for packet in inp.demux(streams):
            if packet.dts is None:
                continue
            if float(packet.dts * packet.time_base) - origin >= seconds:
                continue  # by decoding time: every frame kept has its references
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)


def run_avanon(command: str, study: Path, out: Path, recipe: str | None) -> dict[str, Path]:
    """Run an avanon-like command; map each study file name to its output through the manifest."""
    cmd = shlex.split(command.format(study=shlex.quote(str(study)), out=shlex.quote(str(out))))
    if recipe:
        cmd += ["--recipe", recipe]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if not (out / "avanon_manifest.json").is_file():
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    if done.returncode != 0:  # some files failed: they are reported as "no output"
        print(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-1000:]}", file=sys.stderr)
    manifest = json.loads((out / "avanon_manifest.json").read_text(encoding="utf-8"))
    outputs = {}
    for entry in manifest.get("entries", []):
        if entry.get("output") and entry.get("status") == "ok":
            outputs[Path(entry["input"]).name] = out / entry["output"]
    return outputs


def run_deface(study: Path, out: Path) -> dict[str, Path]:
    """deface on each file of the study (its default settings), one process per file."""
    out.mkdir(parents=True)
    outputs = {}
    for src in sorted(study.iterdir()):
        dst = out / (src.stem + (".mp4" if src.suffix.lower() in (".avi", ".mp4") else src.suffix))
        done = subprocess.run([str(DEFACE), str(src), "-o", str(dst)], capture_output=True, text=True)
        if done.returncode == 0 and dst.is_file():
            outputs[src.name] = dst
        else:
            print(f"deface failed on {src.name}: {done.stderr[-500:]}", file=sys.stderr)
    return outputs


def run_reencode(study: Path, out: Path) -> dict[str, Path]:
    """A bare libx264 re-encode (defaults) of each video; photos map to themselves."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_main import bare_transcode

    out.mkdir(parents=True)
    outputs = {}
    for src in sorted(study.iterdir()):
        if src.suffix.lower() in (".mp4", ".avi"):
            dst = out / (src.stem + ".mp4")
            bare_transcode(src, dst)
            outputs[src.name] = dst
        else:
            outputs[src.name] = src
    return outputs


def pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=30, help="measure every n-th video frame")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="cut each video to its first seconds (packets copied); 0 keeps whole clips")
    parser.add_argument("--tools", nargs="*", default=list(TOOLS), help=f"among {', '.join(TOOLS)} (reencode always runs)")
    parser.add_argument("--command", default=DEFAULT_COMMAND, help="avanon-like command with {study} and {out}")
    parser.add_argument("--only", nargs="*", default=None, help="only dev files whose path contains one of these")
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--sheets", type=Path, default=REPO / "bench_out/collateral_sheets")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/collateral.json")
    args = parser.parse_args()
    args.max_seconds = args.max_seconds or None

    files = [rel for rel in list(VIDEOS.values()) + ([] if args.no_photos else PHOTOS) if (DEV / rel).is_file()]
    if args.only:
        files = [rel for rel in files if any(s in rel for s in args.only)]
    labels = {rel: next((k for k, v in VIDEOS.items() if v == rel), rel.split("/")[-1]) for rel in files}
    work = Path(tempfile.mkdtemp(prefix="avanon-collateral-"))
    started = time.perf_counter()
    results: dict[str, Any] = {"every": args.every, "command": args.command, "tools": {}, "seconds": {}}
    try:
        study = make_study(work, files, args.max_seconds)
        outputs: dict[str, dict[str, Path]] = {}
        for tool in ["reencode"] + [t for t in args.tools if t != "reencode"]:
            t0 = time.perf_counter()
            out = work / f"out-{tool}"
            try:
                if tool == "reencode":
                    outputs[tool] = run_reencode(study, out)
                elif tool == "deface":
                    if not DEFACE.exists():
                        print("deface is not installed (.venv-deface): skipped", file=sys.stderr)
                        continue
                    outputs[tool] = run_deface(study, out)
                else:
                    outputs[tool] = run_avanon(args.command, study, out, None if tool == "default" else tool)
            except RuntimeError as exc:
                print(f"{tool}: FAILED {exc}", file=sys.stderr)
                results["tools"][tool] = {"error": str(exc)}
                continue
            results["seconds"][f"run {tool}"] = round(time.perf_counter() - t0, 1)
            print(f"{tool}: {len(outputs[tool])} outputs in {time.perf_counter() - t0:.0f} s", flush=True)

        detectors = IndependentDetectors()
        t0 = time.perf_counter()
        for rel in files:
            src = study / rel.replace("/", "__")
            cache: dict[int, OriginalFrame] = {}
            for tool, mapping in outputs.items():
                entry = results["tools"].setdefault(tool, {})
                if src.name not in mapping:
                    entry[labels[rel]] = {"error": "no output"}
                    continue
                report = collateral(src, mapping[src.name], every=args.every, max_time=args.max_seconds, cache=cache, detectors=detectors, sheets=3)
                data = report.summary()
                assert report.residual is not None
                data["faces_checked"], data["leaks"] = report.residual.faces_checked, report.residual.leaks
                data["leaks_20px"] = sum(1 for f in report.residual.faces if f.leak and max(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= MAIN_JOB_SIZE)
                data["leak_detail"] = [f.to_json() for f in report.residual.faces if f.leak][:30]
                entry[labels[rel]] = data
                if report.sheets and tool != "reencode":
                    report.write_contact_sheet(args.sheets / Path(tool).stem / f"{src.stem}.png")  # a recipe path as a tool: its stem
            print(f"{labels[rel]}: measured ({time.perf_counter() - t0:.0f} s so far)", flush=True)
        results["seconds"]["measure"] = round(time.perf_counter() - t0, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["seconds"]["total"] = round(time.perf_counter() - started, 1)
    add_ratios(results, labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results, args), encoding="utf-8")
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))
    return 0


def add_ratios(results: dict[str, Any], labels: dict[str, str]) -> None:
    """PCK ratio against the re-encode (videos) or 1 (photos: the original itself), per file; pooled photos."""
    reference = results["tools"].get("reencode", {})
    for _tool, entries in results["tools"].items():
        photos = {"faces_checked": 0, "leaks": 0, "leaks_20px": 0, "joints": 0, "joints_painted_n": 0.0, "pck_n": 0.0, "pck_keypoints": 0,
                  "painted": 0, "off_head": 0, "off_head_max": 0.0, "painted_max": 0.0}  # fmt: skip
        for label, data in list(entries.items()):
            if not isinstance(data, dict) or "pck" not in data:
                continue
            ref = reference.get(label, {}).get("pck")
            is_photo = label not in {v for v in labels.values() if v in ("arm wrestling", "basketball", "street (crowd)", "hamilton")}
            if is_photo:
                ref = 1.0
            data["pck_reference"] = ref
            data["pck_ratio"] = (data["pck"] / ref) if data["pck"] is not None and ref else None
            if is_photo:
                photos["faces_checked"] += data["faces_checked"]
                photos["leaks"] += data["leaks"]
                photos["leaks_20px"] += data.get("leaks_20px", 0)
                photos["joints"] += data["joints"]
                photos["joints_painted_n"] += (data["joints_painted"] or 0.0) * data["joints"]
                photos["pck_n"] += (data["pck"] or 0.0) * data["pck_keypoints"]
                photos["pck_keypoints"] += data["pck_keypoints"]
                photos["painted"] += data["painted_pixels"]
                photos["off_head"] += data["off_head_pixels"]
                photos["off_head_max"] = max(photos["off_head_max"], data["frame_painted_off_head_max"] or 0.0)
                photos["painted_max"] = max(photos["painted_max"], data["frame_painted_max"] or 0.0)
        if photos["faces_checked"] or photos["joints"]:
            entries["photos (pooled)"] = {
                "faces_checked": photos["faces_checked"], "leaks": photos["leaks"], "leaks_20px": photos["leaks_20px"], "joints": photos["joints"],
                "joints_painted": photos["joints_painted_n"] / photos["joints"] if photos["joints"] else None,
                "pck": photos["pck_n"] / photos["pck_keypoints"] if photos["pck_keypoints"] else None,
                "pck_ratio": photos["pck_n"] / photos["pck_keypoints"] if photos["pck_keypoints"] else None,
                "frame_painted_off_head_max": photos["off_head_max"], "frame_painted_max": photos["painted_max"],
                "painted_off_head_of_painted": photos["off_head"] / photos["painted"] if photos["painted"] else None,
            }  # fmt: skip


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "## Collateral of face masking (issue 15)",
        "",
        f"`.venv/bin/python benchmarks/bench_collateral.py --every {args.every}"
        + f" --max-seconds {args.max_seconds or 0:g}`"
        + f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {results['seconds'].get('total', 0):.0f} s in all.",
        "Leaks: region test with dlib HOG, YuNet and OpenPose heads (detectors the masking does not use). "
        "Shares in %: joints = OpenPose elbows/wrists/hips/knees/ankles of the original painted over; "
        "off-head = painted pixels outside generous head regions (of all painted pixels); frame = share of each "
        "frame painted (mean / max); off-head/frame = share of each frame painted outside heads (mean / max). "
        "PCK = OpenPose PCK@0.1 (torso) of the output against the original; ratio = PCK / the re-encode's PCK "
        "(photos: / 1). `reencode` is the control (libx264 defaults, no masking). Leaks >= 20 px: those of faces "
        "whose box is at least 20 pixels (the main-job issue's smallest face).",
        "",
        "| tool | file | leaks / faces | leaks >= 20 px | joints painted % | painted off-head % | frame painted % mean / max "
        "| off-head per frame % mean / max | PCK@0.1 | PCK ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, entries in results["tools"].items():
        if "error" in entries:
            lines.append(f"| {tool} | FAILED | {entries['error'][:80]} | | | | | | | |")
            continue
        for label, d in entries.items():
            if not isinstance(d, dict) or "error" in d:
                continue
            if label != "photos (pooled)" and "/" not in label and label.endswith((".jpg", ".png")):
                continue  # photos are pooled in one row (per photo in the JSON)
            pck_value = "-" if d.get("pck") is None else f"{d['pck']:.3f}"
            ratio = "-" if d.get("pck_ratio") is None else f"{d['pck_ratio']:.3f}"
            lines.append(
                f"| {tool} | {label} | {d['leaks']} / {d['faces_checked']} | {d.get('leaks_20px', '-')} | {pct(d.get('joints_painted'))} "
                f"| {pct(d.get('painted_off_head_of_painted'))} | {pct(d.get('frame_painted_mean'))} / {pct(d.get('frame_painted_max'))} "
                f"| {pct(d.get('frame_painted_off_head_mean'))} / {pct(d.get('frame_painted_off_head_max'))} | {pck_value} | {ratio} |"
            )
    lines += ["", "Seconds: " + ", ".join(f"{k} {v}" for k, v in results["seconds"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
