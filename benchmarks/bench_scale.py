"""Scaling benchmarks: workers, Dask, bounded memory on long recordings, resume after kill -9.

Run ``.venv/bin/python benchmarks/bench_scale.py [--only scaling,memory,resume] [--long-minutes 30]``.
Prints markdown tables (copied into benchmarks/results/scale.md). The dev recordings are read from
``../shared/data/dev``; the long recording is generated in a temporary folder (the 720p dev clip
looped by remuxing its packets, no re-encoding) and deleted afterwards.

Every ratio compares runs made one after the other in the same invocation: other programs share
this machine's two cores, so absolute times from different invocations are not comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import av
import psutil

from avanon import recipe as recipes
from avanon.pipeline import run_study

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "dev"
CLIP_720P = DEV / "openpose_media/examples/media/video.avi"
SCALING_VIDEOS = [  # dev videos of similar length (frames), so two workers can share them evenly
    "face_recognition_examples/examples/short_hamilton_clip.mp4",
    "mmaction2_videos/demo/demo.mp4",
    "mmaction2_videos/demo/test_video_structuralize.mp4",
    "mmaction2_videos/tests/data/test.mp4",
    "openpose_media/examples/media/video.avi",
    "mmaction2_videos/tools/data/skeleton/S001C001P001R001A001_rgb.avi",
]
# The memory benchmark keeps the pipeline complete (detect, track, mask, encode, audio, stitch) but
# uses one fast detector so a long 720p recording is processed in minutes on two cores.
MEMORY_RECIPE = """
name: bench-memory
video:
  detectors:
    - {name: blazeface, threshold: 0.3, model: full, tiles: 1, every: 2}
  tracking: {max_gap: 12, margin: 8, expand: 0.4, match_iou: 0.1}
  obfuscation: {name: solid}
  encoder: {codec: libx264, crf: 18, preset: veryfast, threads: 1}
audio:
  voice: {name: mcadams, alpha: 0.8}
"""


def frames_of(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


def make_study(root: Path, rels: list[str], copies: int = 1) -> int:
    """Copy dev videos (each ``copies`` times, as different participants) into a temporary study (never
    into the repository); returns their frame count."""
    total = 0
    for k in range(copies):
        for i, rel in enumerate(rels):
            dst = root / f"sub-{k * len(rels) + i:02d}" / Path(rel).name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DEV / rel, dst)
            total += frames_of(dst)
    return total


def loop_video(src: Path, dst: Path, seconds: float) -> int:
    """``src`` repeated by remuxing its packets (no re-encoding) until at least ``seconds`` long; returns frames."""
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        n = sum(1 for p in inp.demux(vin) if p.size)
        loop_s = n / vin.average_rate
    loops = max(1, math.ceil(seconds / float(loop_s)))
    with av.open(str(src)) as template, av.open(str(dst), "w") as out:
        vin, ain = template.streams.video[0], (template.streams.audio[0] if template.streams.audio else None)
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream_from_template(ain) if ain is not None else None
        for k in range(loops):
            with av.open(str(src)) as inp:
                v = inp.streams.video[0]
                for p in inp.demux():
                    if not p.size:
                        continue
                    s = p.stream
                    if s is not v and (p.pts + (p.duration or 0)) * s.time_base > loop_s:
                        continue  # audio running past the video's end would overlap the next loop
                    offset = int(round(k * loop_s / s.time_base))
                    p.pts = None if p.pts is None else p.pts + offset
                    p.dts = None if p.dts is None else p.dts + offset
                    p.stream = vout if s is v else aout
                    out.mux(p)
    return loops * n


class PeakMemory:
    """Sample the resident memory of this process and of every child process, every ``every_s`` seconds."""

    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.children: dict[int, int] = {}
        self.coordinator = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.coordinator = max(self.coordinator, me.memory_info().rss)
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                except psutil.Error:
                    continue
                self.children[child.pid] = max(self.children.get(child.pid, 0), rss)
            time.sleep(self.every_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def worker_peak(self) -> int:
        big = [v for v in self.children.values() if v > 100 * 2**20]  # workers with models loaded
        return max(big, default=0)


def _cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (workers are joined when a run ends)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def timed_run(study: Path, out: Path, recipe: recipes.Recipe, **kwargs: Any) -> tuple[float, float]:
    """Run a study; returns (wall seconds, CPU seconds of the coordinator and its workers)."""
    started, cpu = time.perf_counter(), _cpu_seconds()
    summary = run_study(study, out, recipe=recipe, **kwargs)
    if summary.failed:
        raise RuntimeError(f"benchmark run failed: {summary.failed}")
    return time.perf_counter() - started, _cpu_seconds() - cpu


# ------------------------------------------------------------------------------------------ scaling
def bench_scaling(tmp: Path, repeat: int, copies: int = 1) -> str:
    """1 vs 2 workers. Each worker of a 2-worker run has a 1-thread budget (avanon.threads); a lone worker
    runs its detectors on their own threads by default, so it is measured both ways: with a 1-thread
    budget (the scaling baseline: same per-worker work) and by default (the end-to-end speed-up).
    ``copies`` > 1 puts each video in the study that many times (a longer run: fixed start-up costs
    such as Dask's scheduler and worker processes weigh less)."""
    from avanon.threads import ENV

    study = tmp / "scaling-study"
    frames = make_study(study, SCALING_VIDEOS, copies)
    recipe = recipes.load("default")
    configs = [("local", 1, "1"), ("local", 1, ""), ("local", 2, ""), ("dask-local", 2, "")]
    runs: dict[tuple[str, int, str], list[tuple[float, float, float]]] = {c: [] for c in configs}
    for r in range(repeat):
        for executor, workers, threads in configs:
            out = tmp / f"scaling-{executor}-{workers}-{threads or 'all'}-{r}"
            load = os.getloadavg()[0]
            if threads:
                os.environ[ENV] = threads
            try:
                wall, cpu = timed_run(study, out, recipe, workers=workers, executor=executor)
            finally:
                os.environ.pop(ENV, None)
            runs[(executor, workers, threads)].append((wall, cpu, load))
            shutil.rmtree(out)
    single = min(runs[("local", 1, "1")])
    lone = min(runs[("local", 1, "")])
    lines = [
        f"{len(SCALING_VIDEOS)} dev videos x {copies}, {frames} frames, recipe `default`; best of {repeat}",
        "",
        "| executor | workers | threads per worker | wall [s] | frames/s | throughput vs 1 single-threaded worker "
        "| vs 1 worker (default threads) | CPU [s] | CPU ms/frame | cores used (CPU/wall) | load average at start |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (executor, workers, threads), rs in runs.items():
        wall, cpu, load = min(rs)
        budget = threads or ("2 (detector threads)" if workers == 1 else "1")
        lines.append(
            f"| {executor} | {workers} | {budget} | {wall:.1f} | {frames / wall:.2f} | {single[0] / wall:.2f}x | "
            f"{lone[0] / wall:.2f}x | {cpu:.0f} | {1000 * cpu / frames:.0f} | {cpu / wall:.2f} | {load:.1f} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- memory
def bench_memory(tmp: Path, long_minutes: float, segment_seconds: float) -> str:
    recipe = recipes.parse(MEMORY_RECIPE, source="bench")
    rows = []
    for minutes in (1.0, long_minutes):
        study = tmp / f"memory-{minutes:g}min"
        study.mkdir()
        frames = loop_video(CLIP_720P, study / "long.mp4", minutes * 60)
        out = tmp / f"memory-out-{minutes:g}"
        with PeakMemory() as peak:
            t, _ = timed_run(study, out, recipe, workers=2, segment_seconds=segment_seconds)
        entry = json.loads((out / "avanon_manifest.json").read_text())["entries"][0]
        segments = entry.get("segments", {}).get("count", 1)
        rows.append((minutes, frames, segments, t, peak.worker_peak, peak.coordinator))
        shutil.rmtree(out)
        shutil.rmtree(study)
    base = rows[0][4]
    lines = [
        f"720p dev clip (1280x720, 50 fps) looped; recipe `bench-memory` (BlazeFace every 2nd frame, full pipeline); "
        f"2 local workers; segment_seconds={segment_seconds:g}",
        "",
        "| recording | frames | segments | wall [s] | frames/s | peak worker RSS [MiB] | vs 1 min | coordinator peak RSS [MiB] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for minutes, frames, segments, t, worker, coord in rows:
        lines.append(
            f"| {minutes:g} min | {frames} | {segments} | {t:.0f} | {frames / t:.1f} | {worker / 2**20:.0f} | {worker / base:.3f} | {coord / 2**20:.0f} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- resume
_RUNNER = """
import sys
from avanon import recipe
from avanon.pipeline import Execution, People, run_study
if __name__ == "__main__":
    s = run_study(sys.argv[1], sys.argv[2], recipe=recipe.load("default"), seed=7, execution=Execution(workers=2))  # one study secret for both output roots
    sys.exit(s.exit_code)
"""


def _entries(out: Path) -> int:
    try:
        return len(json.loads((out / "avanon_manifest.json").read_text())["entries"])
    except (OSError, ValueError, KeyError):
        return 0


def bench_resume(tmp: Path) -> str:
    study = tmp / "resume-study"
    make_study(study, SCALING_VIDEOS)
    files = len(SCALING_VIDEOS)
    script = tmp / "runner.py"
    script.write_text(textwrap.dedent(_RUNNER))

    def run(out: Path) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, str(script), str(study), str(out)], check=True, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started

    full = run(tmp / "resume-full")
    out = tmp / "resume-killed"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script), str(study), str(out)], stderr=subprocess.DEVNULL)
    while _entries(out) < files // 2 and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_after = time.perf_counter() - started
    done = _entries(out)
    resumed = run(out)
    hashes = {e["input"]: e["output_sha256"] for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    reference = {e["input"]: e["output_sha256"] for e in json.loads((tmp / "resume-full" / "avanon_manifest.json").read_text())["entries"]}
    lines = [
        f"{files} dev videos, recipe `default`, 2 local workers, each run a fresh process (model loading included)",
        "",
        "| run | wall [s] | files processed |",
        "|---|---|---|",
        f"| uninterrupted | {full:.1f} | {files} |",
        f"| killed (SIGKILL of the coordinator) once {done} files were in the manifest | {killed_after:.1f} | {done} |",
        f"| resumed | {resumed:.1f} | {files - done} |",
        "",
        f"resume / uninterrupted = {resumed / full:.2f}; outputs identical to the uninterrupted run: {hashes == reference}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="scaling,memory,resume", help="comma-separated: scaling, memory, resume")
    parser.add_argument("--long-minutes", type=float, default=30.0, help="length of the long synthetic recording [min]")
    parser.add_argument("--segment-seconds", type=float, default=300.0, help="segment length for the memory benchmark [s]")
    parser.add_argument("--repeat", type=int, default=1, help="repetitions of each scaling configuration (best is kept)")
    parser.add_argument("--copies", type=int, default=1, help="times each scaling video is in the study")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="avanon-bench-scale-") as folder:
        tmp = Path(folder)
        print(f"machine: {psutil.cpu_count()} cores, load average {psutil.getloadavg()[0]:.1f} at start\n")
        if "scaling" in wanted:
            print("## Scaling\n\n" + bench_scaling(tmp, args.repeat, args.copies) + "\n", flush=True)
        if "memory" in wanted:
            print("## Memory on a long recording\n\n" + bench_memory(tmp, args.long_minutes, args.segment_seconds) + "\n", flush=True)
        if "resume" in wanted:
            print("## Resume after kill -9\n\n" + bench_resume(tmp) + "\n", flush=True)


if __name__ == "__main__":
    main()
