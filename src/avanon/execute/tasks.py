"""The work units executors run on worker processes: whole files, and the steps of a segmented video.

Every task is a plain module-level function with picklable arguments (it runs in a local worker
process or on a Dask worker) and an ``emit`` keyword for progress events (``None`` where the
executor does not stream them). Tasks write only under the output root: finished outputs are renamed
into place, intermediate pieces of a segmented video live in ``OUT/.avanon-work/<file key>/`` and are
each written under a temporary name and renamed, so that a killed task leaves nothing half-written
that a resumed run would trust.

Heavy models are not loaded here: detectors keep them in per-process caches
(:mod:`avanon.detect.faces`), so a worker process loads each model once, whatever the number of
files and segments it runs; :func:`worker_info` reports those caches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np

from avanon.errors import MediaError
from avanon.execute.segments import BoxPainter, SegmentMismatch, VideoPlan, plan_video, read_json, stitch, write_json
from avanon.media.probe import probe
from avanon.media.video import Output, Segment, VideoResult, Voice, decode_range, encode_range, format_for, muxer_options
from avanon.process import FileTask, Handler, Written, plan_voice, process_file, recording_speaker, speech_details, transcode_audio, video_entry
from avanon.provenance.manifest import sha256_path
from avanon.recipe import Recipe

Emit = Callable[[tuple[Any, ...]], None] | None
WORK_DIR = ".avanon-work"


def file_key(rel: str) -> str:
    """A short stable name for a file's work folder (no part of its path, which may identify someone)."""
    return hashlib.sha256(rel.encode("utf-8")).hexdigest()[:20]


def work_dir(task: FileTask) -> Path:
    """``OUT/.avanon-work/<file key>``: intermediate pieces of one file."""
    return task.out_root / WORK_DIR / file_key(task.rel)


class _Ticker:
    """Batch per-frame progress into a few events a second."""

    def __init__(self, emit: Emit, rel: str, every_s: float = 0.25):
        self.emit, self.rel, self.every_s = emit, rel, every_s
        self.pending = 0
        self.last = time.monotonic()

    def __call__(self, n: int) -> None:
        if self.emit is None:
            return
        self.pending += n
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.flush()
            self.last = now

    def flush(self) -> None:
        if self.emit is not None and self.pending:
            self.emit(("advance", self.rel, self.pending))
        self.pending = 0


def _work_units(task: FileTask) -> tuple[int, str]:
    """How progress is counted for a file: frames for video, samples for audio, 1 otherwise."""
    try:
        info = probe(task.src) if task.kind in ("video", "audio") else None
    except Exception:
        return 1, "file"
    if task.kind == "video" and info and info.video:
        return max(1, info.video.frames or int(info.duration_s * 25)), "frames"
    if task.kind == "audio" and info and info.audio:
        return max(1, int(info.duration_s * info.audio.sample_rate)), "samples"
    return 1, "file"


# ------------------------------------------------------------------------------------------ whole files
def run_file(
    task: FileTask, recipe: Recipe, seed: int | None, voice_seed: int | None = None, *, emit: Emit = None, written: Written | None = None
) -> dict[str, Any]:
    """Anonymize one file; returns its manifest entry (``ok`` or ``failed`` with the reason).

    A video is processed whole: the one-segment run of the video pipeline. ``written`` makes the
    output another way (:func:`stitch_video`). The file is written in a private staging folder (one
    per attempt) and renamed into place, so an attempt that is still running somewhere after its
    coordinator died can never interleave its bytes with a retry's.
    """
    if emit is not None:
        total, unit = _work_units(task)
        emit(("start", task.rel, total, unit))
    staging_root = task.out_root / WORK_DIR / file_key(task.rel) / f"attempt-{uuid.uuid4().hex}"
    staged = dataclasses.replace(task, out_root=staging_root)
    ticker = _Ticker(emit, task.rel)
    try:
        entry = process_file(staged, recipe, seed, progress=ticker, voice_seed=voice_seed, written=written)
        ticker.flush()
        if entry["status"] == "ok":
            task.dst.parent.mkdir(parents=True, exist_ok=True)
            for derived in entry.get("derived", []):  # feature tables and transcripts written beside the output
                staged_path = staging_root / derived["path"]
                if staged_path.exists():  # (a segmented video's transcripts were written in place by its audio task)
                    target = task.out_root / derived["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged_path, target)
            os.replace(staged.dst, task.dst)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    return entry


def start_video(
    task: FileTask, recipe: Recipe, seed: int | None, segment_seconds: float, voice_seed: int | None = None, *, emit: Emit = None
) -> dict[str, Any]:
    """Plan a video: ``{"entry": ...}`` when it was processed whole, else ``{"plan": ..., "input_sha256": ...}``.

    A video is split only if it is at least two segments long, its recipe has no whole-frame filters
    (they keep per-file state) and its timestamps allow clean cuts (see :func:`plan_video`).
    """
    plan = None
    if not recipe.video.filters and os.access(task.src, os.R_OK):
        try:
            plan = plan_video(task.src, segment_seconds=segment_seconds)
        except MediaError:
            plan = None  # processed whole, which records the reason
    if plan is None:
        return {"entry": run_file(task, recipe, seed, voice_seed, emit=emit)}
    input_sha = sha256_path(task.src)
    folder = work_dir(task)
    identity = {"input_sha256": input_sha, "recipe_sha256": recipe.sha256(), "seed": seed, "segment_seconds": segment_seconds, "plan": plan.to_dict()}
    marker = folder / "plan.json"
    if not (marker.is_file() and read_json(marker) == identity):
        shutil.rmtree(folder, ignore_errors=True)  # pieces of another input, recipe or plan
        folder.mkdir(parents=True, exist_ok=True)
        write_json(marker, identity)
    return {"plan": plan.to_dict(), "input_sha256": input_sha}


# ------------------------------------------------------------------------------------- segment pieces
def det_path(task: FileTask, group: str, index: int) -> Path:
    return work_dir(task) / f"det-{group}-{index:05d}.json"


def boxes_path(task: FileTask, index: int) -> Path:
    return work_dir(task) / f"boxes-{index:05d}.json"


def part_path(task: FileTask, index: int, fmt_suffix: str) -> Path:
    return work_dir(task) / f"part-{index:05d}{fmt_suffix}"


def audio_path(task: FileTask, fmt_suffix: str) -> Path:
    return work_dir(task) / f"audio{fmt_suffix}"


def output_suffix(task: FileTask) -> str:
    return task.dst.suffix.lower() or ".mp4"


def detect_segments(
    task: FileTask, recipe: Recipe, plan: dict[str, Any], indices: list[int], positions: list[int], group: str, *, emit: Emit = None
) -> list[int]:
    """Run the recipe detectors at ``positions`` over segments ``indices`` (in order, one detector session).

    Writes one ``det-<group>-<k>.json`` per segment: for every frame, the list of
    ``[position, x0, y0, x1, y1, source, verified, score]`` detections. A chain of several segments keeps each stateful
    detector's state across them exactly as an unsplit pass does. Returns the segment indices done.
    """
    from avanon.video.faces import run_detector  # fail-closed wrapper shared with FaceMasker
    from avanon.video.tracking import CameraMotion

    vp = VideoPlan.from_dict(plan)
    detectors = []
    for pos in positions:
        det = recipe.video.detectors[pos].build("detector")
        detectors.append((pos, det.session()))  # type: ignore[attr-defined]
    ticker = _Ticker(emit, task.rel)
    motion = CameraMotion()
    previous = None  # reduced previous frame: a chain carries it across its consecutive segments
    try:
        for k in indices:
            segment = vp.segments[k]
            frames: list[list[list[Any]]] = []
            shifts: list[list[float]] = []
            first = None
            for index, _, image in decode_range(task.src, segment):  # decoded as the encode step decodes
                small = motion.reduce(image)
                shift, cut = motion.compare(previous, small, image.shape[1])
                if previous is None and index > 0:  # a segment decoded alone: its first frame's shift is unknown here;
                    cut = True  # every detector runs, the coordinator keeps what an unsplit pass would
                found: list[list[Any]] = []
                for pos, det in detectors:
                    if cut or det.runs_on(index):
                        found.extend([pos, *d.box, d.source, d.verified, d.score] for d in run_detector(det, image))
                frames.append(found)
                shifts.append([shift[0], shift[1], float(cut)])
                first = small if first is None else first
                previous = small
                ticker(1)
            if first is not None and previous is not None:
                np.save(motion_path(task, group, k, "first"), first)
                np.save(motion_path(task, group, k, "last"), previous)
            write_json(det_path(task, group, k), {"frames": frames, "motion": shifts})
            if group != "chain":
                previous = None
    finally:
        for _, det in detectors:
            det.close()
        ticker.flush()
    return indices


def motion_path(task: FileTask, group: str, index: int, which: str) -> Path:
    """The reduced first or last frame of a segment (camera motion across segment joins)."""
    return work_dir(task) / f"motion-{group}-{index:05d}-{which}.npy"


def encode_segment(task: FileTask, recipe: Recipe, plan: dict[str, Any], index: int, *, emit: Emit = None) -> int:
    """Paint the tracked boxes of segment ``index`` and encode it into ``part-<index>``; returns its frame count.

    The frame loop is the one a video processed whole goes through; only the masker differs.
    """
    vp = VideoPlan.from_dict(plan)
    segment: Segment = vp.segments[index]
    boxes = [[tuple(b) for b in frame] for frame in read_json(boxes_path(task, index))]
    obfuscation = recipe.video.obfuscation.build("obfuscation")
    final = part_path(task, index, output_suffix(task))
    tmp = final.with_name(f".{final.stem}.partial{final.suffix}")
    ticker = _Ticker(emit, task.rel)
    try:
        out = Output(path=tmp, fmt=format_for(task.src, task.dst), encoder=recipe.video.encoder)
        painter = BoxPainter(boxes, obfuscation.apply)  # type: ignore[attr-defined]
        result = encode_range(task.src, out, segment, masker=lambda *_: painter, progress=ticker)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        ticker.flush()
    return result.frames


def encode_audio_track(task: FileTask, recipe: Recipe, voice_seed: int, *, emit: Emit = None) -> int:
    """Voice-transform the whole audio track of a segmented video into ``audio.<ext>``; returns its sample count."""
    final = audio_path(task, output_suffix(task))
    tmp = final.with_name(f".{final.stem}.partial{final.suffix}")
    try:
        voice, plan = plan_voice(task, recipe)
        voiced = Voice(voice, voice_seed, recording_speaker(task))  # type: ignore[arg-type]
        samples = transcode_audio(task.src, tmp, fmt=format_for(task.src, task.dst), voice=voiced).samples_out
        os.replace(tmp, final)
        speech = speech_details(task, recipe, plan)  # redaction records and the transcripts beside the output
        write_json(final.with_suffix(".json"), {"samples": samples, "speech": speech})  # written last: marks the track complete
    finally:
        tmp.unlink(missing_ok=True)
    return samples


def stitch_video(
    task: FileTask, recipe: Recipe, seed: int | None, plan: dict[str, Any], input_sha256: str, masking: dict[str, Any], audio_samples: int, *, emit: Emit = None
) -> dict[str, Any]:
    """Remux the encoded segments and the audio into the output file; returns the manifest entry.

    The entry is made by :func:`avanon.process.process_file`, as every file's is.
    """
    vp = VideoPlan.from_dict(plan)
    written = VideoResult(frames=vp.frames, repaired_timestamps=0, audio_samples=audio_samples, masking=masking)
    return run_file(task, recipe, seed, written=Written(_stitcher(task, vp, written), input_sha256=input_sha256))


def _stitcher(task: FileTask, vp: VideoPlan, result: VideoResult) -> Handler:
    """The handler that writes ``task``'s output from its encoded segments and audio (see :func:`stitch_video`)."""

    def handler(staged: FileTask, tmp: Path, recipe: Recipe, seed: int, progress: Any) -> dict[str, Any]:
        suffix = output_suffix(task)
        fmt = format_for(task.src, task.dst)
        parts = [part_path(task, s.index, suffix) for s in vp.segments]
        audio = audio_path(task, suffix) if vp.has_audio else None
        with av.open(str(task.src), metadata_errors="ignore") as inp:
            options = muxer_options(fmt, inp.streams.video[0])
        packets = stitch(parts, audio, tmp, fmt=fmt, muxer_options=options)
        if packets != vp.frames:
            raise MediaError(f"{task.src}: stitched {packets} frames, the input has {vp.frames}.")
        speech = read_json(audio.with_suffix(".json")).get("speech", {}) if audio is not None else {}
        details = video_entry(staged, recipe, probe(task.src), tmp, result, speech=speech)
        return details | {"segments": {"count": len(vp.segments), "first_frames": [s.first_frame for s in vp.segments]}}

    return handler


def is_mismatch(exc: BaseException) -> bool:
    """Whether a task failed because the file cannot be cut as planned (then it is processed whole)."""
    return isinstance(exc, SegmentMismatch)


# ---------------------------------------------------------------------------------------------- worker
def worker_info(*, emit: Emit = None) -> dict[str, Any]:
    """This worker process's id and how many times each cached model was built in it."""
    from avanon.detect import faces

    loads = {}
    for name in dir(faces):
        cached = getattr(faces, name)
        if callable(cached) and hasattr(cached, "cache_info"):
            loads[name.lstrip("_")] = cached.cache_info().misses
    return {"pid": os.getpid(), "model_loads": loads}
