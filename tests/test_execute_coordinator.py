"""The coordinator: segmented videos mask exactly like one pass, retries, and resume after kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import av
import psutil
import pytest

from avanon.errors import AccessError
from avanon.execute import tasks
from avanon.execute.coordinator import Coordinator, boxes_of, detector_groups
from avanon.execute.executors import InlineExecutor
from avanon.media.video import to_rgb
from avanon.pipeline import Execution, run_study
from avanon.process import FileTask
from avanon.provenance.manifest import sha256_path
from avanon.recipe import parse
from avanon.video.faces import FaceMasker
from execute_support import LIGHT_RECIPE, face_crop, frame_pts, light_recipe, make_video, output_hashes, small_study

TESTS = Path(__file__).resolve().parent
SEGMENT_S = 2.0


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, dev_data: Path) -> Path:
    return small_study(tmp_path_factory.mktemp("study") / "study", dev_data)


@pytest.fixture(scope="module")
def reference(study: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Output hashes of one uninterrupted in-process run."""
    out = tmp_path_factory.mktemp("ref") / "out"
    summary = run_study(study, out, recipe=light_recipe(), execution=Execution(workers=1, segment_seconds=SEGMENT_S))
    assert summary.ok == 5 and not summary.failed
    entry = json.loads((out / "avanon_manifest.json").read_text())["entries"]
    assert [e["segments"]["count"] for e in entry if "segments" in e] == [3]  # long.mp4 was split
    assert not (out / tasks.WORK_DIR).exists()
    return output_hashes(out)


def _unsplit_boxes(path: Path, recipe: Any) -> list[list[tuple[float, ...]]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        masker = FaceMasker(recipe.video, width=s.codec_context.width, height=s.codec_context.height, fps=float(s.average_rate))
        boxes = [b for f in c.decode(s) for _, _, b in masker.push(to_rgb(f))]  # the conversion transcode_video uses
    return boxes + [b for _, _, b in masker.flush()]


def test_segmented_video_masks_the_same_regions_in_the_same_frames(tmp_path: Path, dev_data: Path) -> None:
    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    # the face disappears around the joins at frames 50 and 100: a new track with margins across one,
    # a bridged gap across the other
    video = make_video(study / "long.mp4", seconds=8, face=face_crop(dev_data), hidden=set(range(45, 52)) | set(range(98, 102)))
    recipe = light_recipe()
    entries: list[dict[str, Any]] = []
    with InlineExecutor() as ex:
        coordinator = Coordinator(ex, recipe=recipe, seed=0, segment_seconds=SEGMENT_S, finish=entries.append, keep_work=True)
        coordinator.add(FileTask(study, out, "long.mp4"))
        coordinator.run()
    (entry,) = entries
    assert entry["status"] == "ok" and entry["segments"]["first_frames"] == [0, 50, 100, 150]
    split = boxes_of(out, "long.mp4", 4)
    whole = _unsplit_boxes(video, recipe)
    assert len(split) == len(whole) == 200
    assert [[tuple(b) for b in frame] for frame in split] == whole  # same boxes, same frames, to the last bit
    assert sum(1 for f in whole if len(f) > 1) > 0 and all(whole)  # margins overlap a new track; no frame unmasked
    assert entry["masking"]["frames_masked"] == 200 and entry["masking"]["tracks"] == 2
    assert frame_pts(out / "long.mp4") == frame_pts(video)


def test_stateful_detectors_run_as_one_chain() -> None:
    recipe = parse(LIGHT_RECIPE.replace("every: 1}", "every: 1}\n    - {name: pose-head, every: 2}"), source="t")
    assert detector_groups(recipe) == {"seg": [0], "chain": [1]}


def test_a_task_failing_twice_fails_its_file_with_the_reason(study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tasks.run_file
    calls: dict[str, int] = {}

    def flaky(task: FileTask, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls[task.rel] = calls.get(task.rel, 0) + 1
        if task.rel == "sub-01/session.mp4":
            raise RuntimeError("disk full")
        if task.rel == "sub-00/session.mp4" and calls[task.rel] == 1:
            raise OSError("stale NFS handle")
        return real(task, *args, **kwargs)

    monkeypatch.setattr(tasks, "run_file", flaky)
    events: list[tuple[Any, ...]] = []
    summary = run_study(study, tmp_path / "out", recipe=light_recipe(), on_event=events.append, execution=Execution(workers=1, segment_seconds=0))
    assert calls["sub-01/session.mp4"] == 2 and calls["sub-00/session.mp4"] == 2
    assert "notes.txt" not in calls  # other files are anonymized by the coordinator, which holds the study secret
    assert summary.ok == 4 and [rel for rel, _ in summary.failed] == ["sub-01/session.mp4"]
    assert "task failed twice" in summary.failed[0][1] and "disk full" in summary.failed[0][1]
    assert not (tmp_path / "out" / "sub-01" / "session.mp4").exists()
    assert sum(1 for e in events if e[0] == "retry") == 2


def _run_script(tmp_path: Path, study: Path, out: Path, workers: int) -> Path:
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from execute_support import light_recipe
        from avanon.pipeline import Execution, People, run_study
        if __name__ == "__main__":
            s = run_study({str(study)!r}, {str(out)!r}, recipe=light_recipe(), execution=Execution(workers={workers}, segment_seconds={SEGMENT_S}))
            sys.exit(s.exit_code)
    """)
    )
    return script


def _entries(out: Path) -> int:
    try:
        return len(json.loads((out / "avanon_manifest.json").read_text())["entries"])
    except (OSError, ValueError, KeyError):
        return 0


def test_a_run_killed_at_any_point_resumes_to_identical_outputs(study: Path, reference: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(_run_script(tmp_path, study, out, 2))], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _entries(out) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_at_kill = _entries(out)
    assert 2 <= done_at_kill < 5, "the run must be killed half way"
    psutil.wait_procs(children, timeout=10)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), "workers outlived the coordinator"
    events: list[tuple[Any, ...]] = []
    summary = run_study(study, out, recipe=light_recipe(), on_event=events.append, execution=Execution(workers=1, segment_seconds=SEGMENT_S))
    assert summary.skipped == done_at_kill and summary.ok == 5 - done_at_kill and not summary.failed
    assert output_hashes(out) == reference
    manifest = json.loads((out / "avanon_manifest.json").read_text())
    assert manifest["summary"] == {"ok": 5, "failed": 0}
    assert all(e["output_sha256"] == reference[e["output"]] for e in manifest["entries"])


def test_a_killed_worker_is_replaced_and_its_task_retried(study: Path, reference: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(_run_script(tmp_path, study, out, 2))], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            busy = [c for c in psutil.Process(proc.pid).children() if "resource_tracker" not in " ".join(c.cmdline()) and c.cpu_percent(0.2) > 20]
            victim = busy[0] if busy and _entries(out) >= 1 else None
        assert victim is not None, "no busy worker to kill"
        victim.send_signal(signal.SIGKILL)
        assert proc.wait(120) == 0
    finally:
        proc.kill()
    assert output_hashes(out) == reference
    assert json.loads((out / "avanon_manifest.json").read_text())["summary"] == {"ok": 5, "failed": 0}


def test_resume_refuses_another_segment_length(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_study(study, out, recipe=light_recipe(), execution=Execution(workers=1, segment_seconds=0))
    with pytest.raises(AccessError, match="segment_seconds=0"):
        run_study(study, out, recipe=light_recipe(), execution=Execution(workers=1, segment_seconds=SEGMENT_S))


def test_dask_local_cluster_gives_byte_identical_outputs(study: Path, reference: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run_study(study, out, recipe=light_recipe(), execution=Execution(workers=2, executor="dask-local", segment_seconds=SEGMENT_S))
    assert summary.ok == 5 and not summary.failed
    assert output_hashes(out) == reference
    assert json.loads((out / "avanon_manifest.json").read_text())["execution"] == {"executor": "dask-local", "workers": 2}


class _Interrupted(InlineExecutor):
    """Runs ``budget`` tasks, then stops the run as a kill would (the work folder keeps what was finished)."""

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget
        self.submitted: list[str] = []

    def submit(self, key: str, fn: Any, *args: Any) -> None:
        self.submitted.append(key.split("-")[1])
        super().submit(key, fn, *args)

    def poll(self, timeout: float) -> Any:
        if self.budget == 0:
            raise KeyboardInterrupt
        outcomes, events = super().poll(timeout)
        self.budget -= len(outcomes)
        return outcomes, events


def test_an_interrupted_segmented_video_resumes_from_its_finished_pieces(study: Path, tmp_path: Path) -> None:
    recipe = light_recipe()
    task = FileTask(study, tmp_path / "out", "long.mp4")
    entries: list[dict[str, Any]] = []
    first = _Interrupted(budget=5)  # plan, 3 detections, the audio track: no segment encoded yet
    with pytest.raises(KeyboardInterrupt):
        coordinator = Coordinator(first, recipe=recipe, seed=0, segment_seconds=SEGMENT_S, finish=entries.append)
        coordinator.add(task)
        coordinator.run()
    assert sorted(first.submitted[:5]) == ["audio", "detect", "detect", "detect", "plan"] and not entries
    assert len(list(tasks.work_dir(task).glob("det-seg-*.json"))) == 3
    second = _Interrupted(budget=-1)
    coordinator = Coordinator(second, recipe=recipe, seed=0, segment_seconds=SEGMENT_S, finish=entries.append)
    coordinator.add(task)
    coordinator.run()
    assert sorted(second.submitted) == ["encode", "encode", "encode", "plan", "stitch"]  # no detection, no audio again
    fresh: list[dict[str, Any]] = []
    with InlineExecutor() as ex:
        again = Coordinator(ex, recipe=recipe, seed=0, segment_seconds=SEGMENT_S, finish=fresh.append)
        again.add(FileTask(study, tmp_path / "fresh", "long.mp4"))
        again.run()
    assert entries[0]["output_sha256"] == fresh[0]["output_sha256"]
    assert entries[0]["masking"] == fresh[0]["masking"]


def test_a_segmented_video_keeps_its_feature_tables(tmp_path: Path) -> None:
    """``video.features`` is honoured whether a video is processed whole or in segments (one entry builder)."""
    study = tmp_path / "study"
    study.mkdir()
    make_video(study / "long.mp4", seconds=5.0)
    recipe = light_recipe()
    recipe = recipe.model_copy(update={"video": recipe.video.model_copy(update={"features": True})})
    out = tmp_path / "out"
    summary = run_study(study, out, recipe=recipe, execution=Execution(workers=1, segment_seconds=SEGMENT_S))
    (entry,) = json.loads((out / "avanon_manifest.json").read_text())["entries"]
    assert summary.ok == 1 and entry["segments"]["count"] >= 2
    assert entry["derived"] and all((out / d["path"]).is_file() for d in entry["derived"])


def test_a_stitch_is_retried_once_and_a_wrong_one_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stitched video's entry is made by ``process_file`` as every file's: an unexpected error is
    retried once; stitched frames that do not match the plan fail the file and leave no output."""
    study = tmp_path / "study"
    study.mkdir()
    make_video(study / "long.mp4", seconds=5.0, size=(96, 64))
    real = tasks.stitch
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("stale NFS handle")
        return real(*args, **kwargs)

    monkeypatch.setattr(tasks, "stitch", flaky)
    events: list[tuple[Any, ...]] = []
    summary = run_study(study, tmp_path / "out", recipe=light_recipe(), on_event=events.append, execution=Execution(workers=1, segment_seconds=SEGMENT_S))
    assert summary.ok == 1 and len(calls) == 2 and [e[2] for e in events if e[0] == "retry"] == ["stitch"]
    entry = json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())["entries"][0]
    assert entry["segments"]["count"] >= 2 and entry["output_sha256"] == sha256_path(tmp_path / "out" / "long.mp4")

    monkeypatch.setattr(tasks, "stitch", lambda *args, **kwargs: real(*args, **kwargs) - 1)  # one frame short
    summary = run_study(study, tmp_path / "short", recipe=light_recipe(), execution=Execution(workers=1, segment_seconds=SEGMENT_S))
    assert summary.ok == 0 and "stitched 124 frames, the input has 125" in summary.failed[0][1]
    assert not (tmp_path / "short" / "long.mp4").exists() and not list((tmp_path / "short").rglob("*.partial*"))
