"""Drive the files of a run through an executor: whole-file tasks, segmented videos, retries, progress.

The coordinator owns the run's state; workers own none. For each file it submits tasks to the
executor (:mod:`avanon.execute.executors`) and reacts to their outcomes:

- audio, images, other files and short videos: one ``file`` task (:func:`~avanon.execute.tasks.run_file`);
- videos first get a ``plan`` task, which either processes the file whole or returns its segment
  plan (:mod:`avanon.execute.segments`); a segmented video then gets ``detect`` tasks (one per
  segment for stateless detectors, one ``chain`` over the whole file for stateful ones), an ``audio``
  task, ``encode`` tasks as soon as the tracker has made the boxes of a segment final, and a
  ``stitch`` task. Tracking runs here, in order, over the detections the tasks wrote down.

A task that fails (an exception, or its worker process lost) is submitted again once; a second failure
records the file as ``failed`` with the step and the reason. A segmented file whose frames turn out
not to be the planned ones is processed whole instead. Pieces already present in the file's work
folder from an interrupted run are reused, so a resumed run only does the work that is left.
"""

from __future__ import annotations

import shutil
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from avanon.execute import tasks
from avanon.execute.executors import Event, Executor, Outcome
from avanon.execute.segments import VideoPlan, read_json, write_json
from avanon.process import FileTask
from avanon.recipe import Recipe
from avanon.video.faces import MaskStats, tracker_params
from avanon.video.tracking import CameraMotion, CameraTracker, TrackedFrame

MAX_ATTEMPTS = 2


def detector_groups(recipe: Recipe) -> dict[str, list[int]]:
    """Recipe detector positions split into ``"seg"`` (stateless, run per segment) and ``"chain"`` (stateful).

    A detector is stateful when its class gives each file its own ``session`` (for example the
    video-mode body pose tracker); its state must not be cut at segment joins.
    """
    from avanon.detect.faces import FaceDetector

    groups: dict[str, list[int]] = {"seg": [], "chain": []}
    for pos, step in enumerate(recipe.video.detectors):
        det = step.build("detector")
        stateful = type(det).session is not FaceDetector.session
        groups["chain" if stateful else "seg"].append(pos)
    return {name: positions for name, positions in groups.items() if positions}


@dataclass
class _Job:
    rel: str
    stage: str
    part: str
    fn: str
    args: tuple[Any, ...]
    attempt: int = 1
    units: int = 0  # progress units the job accounts for (non-streaming executors)


@dataclass
class _File:
    task: FileTask
    started: float = field(default_factory=time.perf_counter)
    keys: set[str] = field(default_factory=set)
    done: bool = False
    plan: VideoPlan | None = None
    input_sha256: str = ""
    groups: dict[str, list[int]] = field(default_factory=dict)
    tracker: CameraTracker | None = None
    track_next: int = 0
    boxes: dict[int, list[list[Any]]] = field(default_factory=dict)
    stats: MaskStats = field(default_factory=MaskStats)
    encoded: set[int] = field(default_factory=set)
    audio_samples: int | None = None
    stitching: bool = False
    firsts: list[int] = field(default_factory=list)


class Coordinator:
    """Run a set of files on an executor; ``finish(entry)`` is called once per file with its manifest entry."""

    def __init__(
        self,
        executor: Executor,
        *,
        recipe: Recipe,
        seed: int | None,
        segment_seconds: float,
        finish: Callable[[dict[str, Any]], None],
        on_event: Callable[[Event], None] | None = None,
        keep_work: bool = False,
        voice_seed: int | None = None,
    ):
        self.executor = executor
        # ``seed`` is the public run seed written to the manifest; ``voice_seed`` (from the study
        # secret) keys the pseudo-voices and is only ever handed to workers, never recorded.
        self.voice_seed = voice_seed
        self.keep_work = keep_work  # keep each file's work folder (detections, boxes) for inspection
        self.recipe, self.seed, self.segment_seconds = recipe, seed, segment_seconds
        self.finish, self.on_event = finish, on_event
        self.files: dict[str, _File] = {}
        self.jobs: dict[str, _Job] = {}
        self.groups = detector_groups(recipe)
        self.retries = 0

    # ------------------------------------------------------------------------------ submission
    def add(self, task: FileTask) -> None:
        """Schedule one file."""
        state = _File(task)
        self.files[task.rel] = state
        if task.kind == "video":
            self._submit(state, "plan", "0", "start_video", (task, self.recipe, self.seed, self.segment_seconds, self.voice_seed))
        else:
            self._submit(state, "file", "0", "run_file", (task, self.recipe, self.seed, self.voice_seed))

    def _submit(self, state: _File, stage: str, part: str, fn: str, args: tuple[Any, ...], attempt: int = 1, units: int = 0) -> None:
        key = f"avanon-{stage}-{tasks.file_key(state.task.rel)}-{part}-a{attempt}"
        self.jobs[key] = _Job(state.task.rel, stage, part, fn, args, attempt, units)
        state.keys.add(key)
        self.executor.submit(key, getattr(tasks, fn), *args)

    def _emit(self, event: Event) -> None:
        if self.on_event:
            self.on_event(event)

    # ------------------------------------------------------------------------------------ loop
    def run(self, poll_s: float = 0.2) -> None:
        """Run until every added file has its entry."""
        while any(not f.done for f in self.files.values()):
            outcomes, events = self.executor.poll(poll_s)
            for event in events:
                self._emit(event)
            for outcome in outcomes:
                self._handle(outcome)
            for state in self.files.values():
                if not state.done and state.plan is not None:
                    self._track(state)

    def _handle(self, outcome: Outcome) -> None:
        job = self.jobs.pop(outcome.key, None)
        if job is None:
            return
        state = self.files[job.rel]
        state.keys.discard(outcome.key)
        if state.done:
            return
        if not outcome.ok:
            self._failed(state, job, outcome)
            return
        value = outcome.value
        if job.stage in ("file", "stitch") or (job.stage == "plan" and "entry" in value):
            entry = dict(value["entry"] if job.stage == "plan" else value)
            if entry["status"] == "failed" and "traceback" in entry and job.attempt < MAX_ATTEMPTS:
                self._retry(state, job, entry.get("reason", ""))  # an unexpected error may be transient
                return
            if job.stage == "stitch":  # the whole file's time, not the stitch task's
                entry["seconds"] = round(time.perf_counter() - state.started, 3)
            self._done(state, entry)
        elif job.stage == "plan":
            self._segmented(state, VideoPlan.from_dict(value["plan"]), value["input_sha256"])
        elif job.stage in ("detect", "chain"):
            self._progress(job)
            self._track(state)
        elif job.stage == "encode":
            self._progress(job)
            state.encoded.add(int(job.part))
            self._maybe_stitch(state)
        elif job.stage == "audio":
            state.audio_samples = int(value)
            self._maybe_stitch(state)

    def _failed(self, state: _File, job: _Job, outcome: Outcome) -> None:
        if outcome.error_type == "SegmentMismatch":
            self._whole(state, outcome.error)
        elif job.attempt < MAX_ATTEMPTS:
            self._retry(state, job, outcome.error)
        else:
            task = state.task
            reason = f"{task.src}: the {job.stage} task failed twice (last: {outcome.error})"
            self._done(state, {"input": task.rel, "output": None, "kind": task.kind, "seed": self.seed, "status": "failed", "reason": reason})

    def _retry(self, state: _File, job: _Job, error: str) -> None:
        self.retries += 1
        self._emit(("retry", state.task.rel, job.stage, error))
        self._submit(state, job.stage, job.part, job.fn, job.args, job.attempt + 1, job.units)

    def _whole(self, state: _File, why: str) -> None:
        """Give up segmenting a file and process it in one task."""
        self.executor.cancel(sorted(state.keys))
        for key in state.keys:
            self.jobs.pop(key, None)
        state.keys.clear()
        state.plan = None
        self._emit(("whole", state.task.rel, why))
        shutil.rmtree(tasks.work_dir(state.task), ignore_errors=True)
        self._submit(state, "file", "0", "run_file", (state.task, self.recipe, self.seed, self.voice_seed))

    def _done(self, state: _File, entry: dict[str, Any]) -> None:
        state.done = True
        self.executor.cancel(sorted(state.keys))
        for key in state.keys:
            self.jobs.pop(key, None)
        state.keys.clear()
        state.boxes.clear()
        if not self.keep_work:
            shutil.rmtree(tasks.work_dir(state.task), ignore_errors=True)
        self.finish(entry)

    def _progress(self, job: _Job) -> None:
        """Executors that do not stream tasks' events get progress when a task ends."""
        if not self.executor.streams_events and job.units:
            self._advance(job.rel, job.units)

    # ---------------------------------------------------------------------------- segmented files
    def _segmented(self, state: _File, plan: VideoPlan, input_sha256: str) -> None:
        task = state.task
        state.plan, state.input_sha256, state.groups = plan, input_sha256, self.groups
        state.firsts = [s.first_frame for s in plan.segments]
        state.tracker = CameraTracker(**tracker_params(self.recipe.video, width=plan.width, height=plan.height))
        per_pass = plan.frames
        self._emit(("start", task.rel, per_pass * (len(self.groups) + 1), "frame steps"))
        self._emit(("segments", task.rel, len(plan.segments)))
        pd = plan.to_dict()
        for group, positions in self.groups.items():
            if group == "chain":
                if all(tasks.det_path(task, "chain", s.index).is_file() for s in plan.segments):
                    self._advance(task.rel, per_pass)
                else:
                    self._submit(
                        state, "chain", "all", "detect_segments", (task, self.recipe, pd, [s.index for s in plan.segments], positions, "chain"), units=per_pass
                    )
                continue
            for s in plan.segments:
                if tasks.det_path(task, group, s.index).is_file():
                    self._advance(task.rel, s.frames)
                else:
                    self._submit(state, "detect", str(s.index), "detect_segments", (task, self.recipe, pd, [s.index], positions, group), units=s.frames)
        if plan.has_audio:
            done = tasks.audio_path(task, tasks.output_suffix(task)).with_suffix(".json")
            if done.is_file():
                state.audio_samples = int(read_json(done)["samples"])
            else:
                self._submit(
                    state, "audio", "0", "encode_audio_track", (task, self.recipe, self.voice_seed if self.voice_seed is not None else (self.seed or 0))
                )
        else:
            state.audio_samples = 0
        self._track(state)

    def _advance(self, rel: str, units: int) -> None:
        self._emit(("advance", rel, units))

    def _track(self, state: _File) -> None:
        """Feed every segment whose detections are all written through the tracker, in order."""
        plan, task, tracker = state.plan, state.task, state.tracker
        assert plan is not None and tracker is not None
        while state.track_next < len(plan.segments):
            seg = plan.segments[state.track_next]
            paths = [tasks.det_path(task, group, seg.index) for group in state.groups]
            if not all(p.is_file() for p in paths):
                return
            records = [read_json(p) for p in paths]
            per_group = [r["frames"] for r in records]
            motion = records[0]["motion"]  # the same in every group, but for a segment's first frame
            first_shift, first_cut = self._join(state, seg.index)
            for offset in range(seg.frames):
                found = sorted((d for frames in per_group for d in frames[offset]), key=lambda d: d[0])  # recipe order
                shift = (float(motion[offset][0]), float(motion[offset][1]))
                if offset == 0:
                    shift = first_shift
                    index = seg.first_frame
                    found = [d for d in found if first_cut or self._detectors[d[0]].runs_on(index)]  # what an unsplit pass ran
                detections = [((float(d[1]), float(d[2]), float(d[3]), float(d[4])), str(d[5])) for d in found if d[6]]
                candidates = [((float(d[1]), float(d[2]), float(d[3]), float(d[4])), str(d[5]), float(d[7])) for d in found if not d[6]]
                for frame in tracker.push(seg.first_frame + offset, None, detections, shift, candidates=candidates):
                    self._final(state, frame)
            state.track_next += 1
            if state.track_next == len(plan.segments):
                for frame in tracker.flush():
                    self._final(state, frame)
                state.stats.tracks = tracker.track_count
            if state.done or state.plan is None:
                return

    @property
    def _detectors(self) -> list[Any]:
        """The recipe's detectors (to know which strided ones an unsplit pass ran on a frame)."""
        if not hasattr(self, "_detector_list"):
            self._detector_list = [step.build("detector") for step in self.recipe.video.detectors]
        return self._detector_list

    def _join(self, state: _File, index: int) -> tuple[tuple[float, float], bool]:
        """Camera shift and cut flag of segment ``index``'s first frame, from the previous segment's last frame."""
        plan, task = state.plan, state.task
        assert plan is not None
        if index == 0:
            return (0.0, 0.0), False
        group = next(iter(state.groups))
        try:
            last = np.load(tasks.motion_path(task, group, index - 1, "last"))
            first = np.load(tasks.motion_path(task, group, index, "first"))
        except OSError:
            return (0.0, 0.0), True  # unknown: every detection of the frame is kept (more masking, never less)
        return CameraMotion().compare(last, first, plan.width)

    def _final(self, state: _File, frame: TrackedFrame) -> None:
        """Record the final boxes of one frame; submit a segment's encode once all its frames are final."""
        plan = state.plan
        assert plan is not None
        state.stats.add(frame)
        seg = plan.segments[bisect_right(state.firsts, frame.index) - 1]
        boxes = state.boxes.setdefault(seg.index, [])
        boxes.append([list(b) for b in frame.boxes])
        if len(boxes) < seg.frames:
            return
        del state.boxes[seg.index]
        task = state.task
        write_json(tasks.boxes_path(task, seg.index), boxes)
        if tasks.part_path(task, seg.index, tasks.output_suffix(task)).is_file():
            state.encoded.add(seg.index)
            self._advance(task.rel, seg.frames)
            self._maybe_stitch(state)
        else:
            self._submit(state, "encode", str(seg.index), "encode_segment", (task, self.recipe, plan.to_dict(), seg.index), units=seg.frames)

    def _maybe_stitch(self, state: _File) -> None:
        plan = state.plan
        if plan is None or state.stitching or state.audio_samples is None or len(state.encoded) < len(plan.segments):
            return
        if state.track_next < len(plan.segments):
            return
        state.stitching = True
        args = (state.task, self.recipe, self.seed, plan.to_dict(), state.input_sha256, state.stats.to_dict(), state.audio_samples)
        self._submit(state, "stitch", "0", "stitch_video", args)


def boxes_of(out_root: Path, rel: str, segments: int) -> list[list[list[float]]]:
    """The final per-frame boxes a segmented run wrote for ``rel`` (while its work folder exists)."""
    task = FileTask(out_root, out_root, rel)
    frames: list[list[list[float]]] = []
    for k in range(segments):
        frames.extend(read_json(tasks.boxes_path(task, k)))
    return frames
