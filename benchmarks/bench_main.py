"""Main-job benchmark: ``avanon run`` against deface 1.5.0 and a bare PyAV transcode, plus McAdams speed.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/bench_main.py``). For each clip it times, in
the same session and on the same machine:

- a bare decode + libx264 encode of the clip with PyAV (libx264 defaults: preset medium, crf 23);
- ``deface`` 1.5.0 with default settings (installed in its own environment, ``.venv-deface``);
- ``avanon run`` with the default recipe on a study folder holding only that clip (one worker);

then counts residual faces (the acceptance test of the main-job issue, every 5th frame) on the deface
and avanon outputs, and measures McAdams on one core against real time. Results go to
``benchmarks/results/main.md`` (median of ``--repeat`` runs for the fast commands).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
CLIPS = {
    "openpose video.avi (1280x720, 205 frames)": DEV / "openpose_media/examples/media/video.avi",
    "short_hamilton_clip.mp4 (640x360, 275 frames)": DEV / "face_recognition_examples/examples/short_hamilton_clip.mp4",
}
AVANON = [str(REPO / ".venv/bin/avanon")]
DEFACE = REPO / ".venv-deface/bin/deface"


def bare_transcode(src: Path, dst: Path) -> None:
    """Decode every frame and encode it again with libx264 defaults (the floor any anonymizer pays)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream("libx264", rate=vin.average_rate or 25)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        for frame in inp.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vout.encode(frame))
        out.mux(vout.encode(None))


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-deface", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/main.md")
    args = parser.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="avanon-bench-"))
    try:
        for label, clip in CLIPS.items():
            if not clip.is_file():
                print(f"missing {clip}; skipped", file=sys.stderr)
                continue
            bare = timed(lambda: bare_transcode(clip, work / "bare.mp4"), args.repeat)
            study = work / "study"
            shutil.rmtree(study, ignore_errors=True)
            study.mkdir()
            shutil.copyfile(clip, study / clip.name)

            def ours() -> None:
                shutil.rmtree(work / "out", ignore_errors=True)
                run(AVANON + ["run", str(study), "-o", str(work / "out"), "--workers", "1", "--quiet"])

            t_ours = timed(ours, args.repeat)
            ours_leaks = leaks(clip, work / "out" / clip.name)
            t_deface, deface_leaks = float("nan"), "-"
            if not args.skip_deface and DEFACE.exists():
                out = work / f"deface{clip.suffix if clip.suffix != '.avi' else '.mp4'}"
                t = time.perf_counter()
                run([str(DEFACE), str(clip), "-o", str(out)])
                t_deface = time.perf_counter() - t
                deface_leaks = leaks(clip, out)
            rows.append((label, bare, t_deface, t_ours, deface_leaks, ours_leaks))
            print(rows[-1], flush=True)
        rtf, seconds = mcadams_speed()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "## Main job: `avanon run` vs deface 1.5.0 vs bare transcode",
        "",
        f"Command: `make bench` (`.venv/bin/python benchmarks/bench_main.py --repeat {args.repeat}`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}. "
        "Times are wall-clock seconds, medians of the repeats for bare and avanon (deface once); "
        "leaks = faces/heads found on the original by independent detectors that are still recognisable (SSIM >= 0.6), every 5th frame.",
        "",
        "| clip | bare transcode s | deface s | avanon s | avanon / bare | deface / avanon | deface leaks | avanon leaks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, bare, t_deface, t_ours, dl, ol in rows:
        lines.append(f"| {label} | {bare:.1f} | {t_deface:.1f} | {t_ours:.1f} | {t_ours / bare:.2f} | {t_deface / t_ours:.2f} | {dl} | {ol} |")
    lines += ["", f"McAdams (alpha 0.8, LPC 20) on one core: {rtf:.0f}x faster than real time ({seconds:.0f} s of 16 kHz speech).", ""]
    lines += ["Targets from the main-job issue:", ""]
    for label, bare, t_deface, t_ours, dl, ol in rows:
        lines.append(f"- {label}: at least 3x faster than deface: {'met' if t_deface / t_ours >= 3 else 'NOT met'} "
                     f"({t_deface / t_ours:.2f}x); at most 2x the bare transcode: {'met' if t_ours / bare <= 2 else 'NOT met'} "
                     f"({t_ours / bare:.2f}x); no leaked face: {'met' if ol.startswith('0 /') else 'NOT met'} ({ol}).")
    lines += [f"- McAdams at least 50x faster than real time on one core: {'met' if rtf >= 50 else 'NOT met'} ({rtf:.0f}x).", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
