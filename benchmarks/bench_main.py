"""Main-job benchmark: ``avanon run`` against deface 1.5.0 and a bare PyAV transcode, plus McAdams speed.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_main.py``). For each clip it times, in
the same session and on the same machine:

- a bare decode + libx264 encode of the clip with PyAV (libx264 defaults: preset medium, crf 23), run as
  its own process (``bench_main.py --bare SRC DST``), so it pays the start-up an avanon run pays;
- ``deface`` 1.5.0 with default settings (installed in its own environment, ``.venv-deface``);
- ``avanon run STUDY -o OUT`` with the default recipe and default flags (the command users type) on a
  study folder holding only that clip;
- optionally ``avanon run`` with a second recipe (``--baseline-recipe``, e.g. an earlier default), so a
  change is judged against its baseline measured in the same session;

then counts residual faces (the acceptance test of the main-job issue, every 5th frame) on the deface
and avanon outputs, and measures McAdams on one core against real time. Each command runs
``--repeat`` times, the commands interleaved round by round so that load from other jobs on the
machine falls on all of them alike; the tables give medians. Results go to
``benchmarks/results/main.md``; whatever follows a ``<!-- notes -->`` line in that file is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
SPEED_CLIP = "openpose video.avi (1280x720, 205 frames)"  # the clip the speed targets name
CLIPS = {
    SPEED_CLIP: DEV / "openpose_media/examples/media/video.avi",
    "short_hamilton_clip.mp4 (640x360, 275 frames)": DEV / "face_recognition_examples/examples/short_hamilton_clip.mp4",
}
AVANON = [str(REPO / ".venv/bin/avanon")]
DEFACE = REPO / ".venv-deface/bin/deface"


def output_of(out: Path, clip: Path) -> Path:
    """The output of ``clip`` in ``out`` (its container can rename it: an MP4 named .avi comes out as .mp4)."""
    found = sorted(out.glob(clip.stem + ".*"))
    if not found:
        raise SystemExit(f"no output of {clip.name} in {out}")
    return found[0]


def bare_transcode(src: Path, dst: Path, edit: Callable[[int, av.VideoFrame], av.VideoFrame] | None = None) -> None:
    """Decode every frame and encode it again with libx264 defaults (the floor any anonymizer pays);
    ``edit(index, frame)``, when given, replaces each frame before it is encoded."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        for index, frame in enumerate(inp.decode(vin)):
            if edit is not None:
                frame = edit(index, frame)
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vout.encode(frame))
        out.mux(vout.encode(None))


NOTES_MARK = "<!-- notes -->"
# The default recipe's video settings before the speed work of 2026-11-26 (``--baseline-recipe previous-default``).
PREVIOUS_DEFAULT = """name: previous-default
extends: default
video:
  detectors:
    - {name: blazeface, threshold: 0.3, model: full, tiles: 1, every: 1}
    - {name: centerface, threshold: 0.1, scale: 1.0, every: 4}
    - {name: pose-head, threshold: 0.3, every: 3, tracking: false}
  encoder: {codec: libx264, crf: 18, preset: veryfast, threads: 2}
"""


def timed(fn) -> tuple[float, float]:
    """Wall-clock seconds of ``fn()`` and the CPU seconds (user + system) of the child processes it ran."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    fn()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def leaks(original: Path, anonymized: Path) -> str:
    from avanon.evaluate.faces import residual_faces

    r = residual_faces(original, anonymized, every=5)
    return f"{r.leaks} / {r.faces_checked}"


def mcadams_speed() -> tuple[float, float]:
    """Real-time factor of McAdams on one core (60 s of VCC2016 speech at 16 kHz)."""
    from avanon.audio.mcadams import McAdams
    from avanon.media.audio import read_audio

    files = sorted((DEV / "sprocket_vcc2016").rglob("*.wav"))[:20]
    signal = np.concatenate([read_audio(f)[0][:, 0] for f in files])
    rate = 16000
    signal = np.tile(signal, int(np.ceil(60 * rate / len(signal))))[: 60 * rate]
    voice = McAdams(alpha=0.8)
    t = time.process_time()
    voice.apply(signal, rate)
    cpu = time.process_time() - t
    return len(signal) / rate / cpu, len(signal) / rate


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":  # the floor, as its own process
        bare_transcode(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (medians are reported)")
    parser.add_argument("--skip-deface", action="store_true")
    parser.add_argument("--deface-repeat", type=int, default=None, help="runs of deface (default: --repeat); it is the slowest command")
    parser.add_argument("--baseline-recipe", default=None, help="also time avanon with this recipe (name, YAML path, or previous-default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/main.md")
    args = parser.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="avanon-bench-"))
    baseline = args.baseline_recipe
    if baseline == "previous-default":
        baseline = str(work / "previous-default.yaml")
        Path(baseline).write_text(PREVIOUS_DEFAULT, encoding="utf-8")
    try:
        for label, clip in CLIPS.items():
            if not clip.is_file():
                print(f"missing {clip}; skipped", file=sys.stderr)
                continue
            study = work / "study"
            shutil.rmtree(study, ignore_errors=True)
            study.mkdir()
            shutil.copyfile(clip, study / clip.name)

            def avanon(out: Path, recipe: str) -> None:
                shutil.rmtree(out, ignore_errors=True)
                run(AVANON + ["run", str(study), "-o", str(out), "--quiet", "--recipe", recipe])

            deface_out = work / f"deface{clip.suffix if clip.suffix != '.avi' else '.mp4'}"
            commands = {
                "bare": lambda: run([sys.executable, __file__, "--bare", str(clip), str(work / "bare.mp4")]),
                "avanon": lambda: avanon(work / "out", "default"),
            }
            if args.baseline_recipe:
                commands["baseline"] = lambda: avanon(work / "out-baseline", baseline)
            if not args.skip_deface and DEFACE.exists():
                commands["deface"] = lambda: run([str(DEFACE), str(clip), "-o", str(deface_out)])
            walls: dict[str, list[float]] = {k: [] for k in commands}
            cpus: dict[str, list[float]] = {k: [] for k in commands}
            deface_runs = args.repeat if args.deface_repeat is None else args.deface_repeat
            for round_ in range(args.repeat):  # interleaved: load from other jobs falls on every command alike
                for name, fn in commands.items():
                    if name == "deface" and round_ >= deface_runs:
                        continue
                    wall, cpu = timed(fn)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
            row = {name: median(values) for name, values in walls.items()}
            row["label"] = label
            row["avanon_cpu"] = median(cpus["avanon"])
            row["avanon_leaks"] = leaks(clip, output_of(work / "out", clip))
            row["deface_leaks"] = leaks(clip, deface_out) if "deface" in commands else "-"
            if "baseline" in commands:
                row["baseline_cpu"] = median(cpus["baseline"])
                row["baseline_leaks"] = leaks(clip, output_of(work / "out-baseline", clip))
            rows.append(row)
            print(row, flush=True)
        rtf, seconds = mcadams_speed()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    nan = float("nan")
    lines = [
        "## Main job: `avanon run` vs deface 1.5.0 vs bare transcode",
        "",
        f"Command: `make bench` (`.venv/bin/python benchmarks/bench_main.py --repeat {args.repeat}"
        + (f" --baseline-recipe {args.baseline_recipe}" if args.baseline_recipe else "")
        + (f" --deface-repeat {args.deface_repeat}" if args.deface_repeat is not None else "")
        + f"`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}. "
        f"Times are wall-clock seconds, medians of {args.repeat} runs of each command"
        + (f" ({args.deface_repeat} of deface)" if args.deface_repeat is not None else "")
        + ", interleaved round by round; "
        "leaks = faces/heads found on the original by independent detectors that are still recognisable (SSIM >= 0.6), every 5th frame.",
        "",
        "| clip | bare transcode s | deface s | avanon s (CPU s) | avanon / bare | deface / avanon | deface leaks | avanon leaks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        deface = r.get("deface", nan)
        lines.append(
            f"| {r['label']} | {r['bare']:.1f} | {deface:.1f} | {r['avanon']:.1f} ({r['avanon_cpu']:.1f}) | {r['avanon'] / r['bare']:.2f} | "
            f"{deface / r['avanon']:.2f} | {r['deface_leaks']} | {r['avanon_leaks']} |"
        )
    if args.baseline_recipe:
        lines += [
            "",
            f"Baseline recipe `{args.baseline_recipe}`, same session:",
            "",
            "| clip | baseline s (CPU s) | default s (CPU s) | baseline / default | baseline / bare | deface / baseline | baseline leaks |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['label']} | {r['baseline']:.1f} ({r['baseline_cpu']:.1f}) | {r['avanon']:.1f} ({r['avanon_cpu']:.1f}) | "
                f"{r['baseline'] / r['avanon']:.2f} | {r['baseline'] / r['bare']:.2f} | {r.get('deface', nan) / r['baseline']:.2f} | {r['baseline_leaks']} |"
            )
    lines += ["", f"McAdams (alpha 0.8, LPC 20) on one core: {rtf:.0f}x faster than real time ({seconds:.0f} s of 16 kHz speech).", ""]
    lines += ["Targets from the main-job issue:", ""]
    for r in rows:
        speedup, over_bare, ol = r.get("deface", nan) / r["avanon"], r["avanon"] / r["bare"], r["avanon_leaks"]
        leak = f"no leaked face: {'met' if ol.startswith('0 /') else 'NOT met'} ({ol})"
        if r["label"] != SPEED_CLIP:  # the issue sets the speed targets on the 720p clip; the rest is reported
            lines.append(
                f"- {r['label']}: {leak}; speed (targets set on the 720p clip, reported only): "
                f"{speedup:.2f}x faster than deface, {over_bare:.2f}x the bare transcode."
            )
            continue
        lines.append(
            f"- {r['label']}: at least 3x faster than deface: {'met' if speedup >= 3 else 'NOT met'} "
            f"({speedup:.2f}x); at most 2x the bare transcode: {'met' if over_bare <= 2 else 'NOT met'} "
            f"({over_bare:.2f}x); {leak}."
        )
    lines += [f"- McAdams at least 50x faster than real time on one core: {'met' if rtf >= 50 else 'NOT met'} ({rtf:.0f}x).", ""]
    notes = ""
    if args.out.is_file():
        previous = args.out.read_text(encoding="utf-8")
        if NOTES_MARK in previous:
            notes = previous[previous.index(NOTES_MARK) :]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n" + (notes or f"{NOTES_MARK}\n"), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
