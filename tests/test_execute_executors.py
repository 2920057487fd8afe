"""Executors: inline, local worker processes (worker loss, dying with the coordinator, model caching), Dask."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from avanon.errors import ParameterError
from avanon.execute.executors import InlineExecutor, Outcome, ProcessExecutor, make_executor
from avanon.execute.tasks import run_file, worker_info
from avanon.process import FileTask
from execute_support import boom, die, light_recipe, make_video, pid, span, square, worker_settings

TESTS = Path(__file__).resolve().parent


def _collect(executor, n: int, timeout: float = 60.0) -> tuple[dict[str, Outcome], list]:  # noqa: ANN001
    outcomes: dict[str, Outcome] = {}
    events: list = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < n and time.monotonic() < deadline:
        done, evs = executor.poll(0.2)
        events += evs
        outcomes.update({o.key: o for o in done})
    return outcomes, events


def test_inline_executor_runs_tasks_and_reports_failures() -> None:
    ex = InlineExecutor()
    ex.submit("a", square, 3)
    ex.submit("b", boom)
    ex.submit("c", square, 4)
    ex.cancel(["c"])
    outcomes, events = _collect(ex, 2)
    assert outcomes["a"].ok and outcomes["a"].value == 9
    assert not outcomes["b"].ok and outcomes["b"].error_type == "RuntimeError" and "boom" in outcomes["b"].error
    assert "c" not in outcomes and ("advance", "x", 1) in events


def test_a_lost_worker_fails_only_its_task_and_is_replaced() -> None:
    with ProcessExecutor(2) as ex:
        before = set(ex.pids())
        ex.submit("dies", die)
        for i in range(4):
            ex.submit(f"sq{i}", square, i)
        outcomes, events = _collect(ex, 5)
        assert not outcomes["dies"].ok and outcomes["dies"].error_type == "WorkerLost"
        assert "killed by signal 9" in outcomes["dies"].error
        assert [outcomes[f"sq{i}"].value for i in range(4)] == [0, 1, 4, 9]
        assert ex.restarts == 1 and len(set(ex.pids()) - before) == 1
        ex.submit("after", square, 5)
        assert _collect(ex, 1)[0]["after"].value == 25
        assert ("advance", "x", 1) in events


def test_task_exceptions_come_back_with_their_type() -> None:
    with ProcessExecutor(1) as ex:
        ex.submit("b", boom)
        outcome = _collect(ex, 1)[0]["b"]
    assert not outcome.ok and outcome.error_type == "RuntimeError" and "boom in a task" in outcome.error


def test_workers_die_with_a_killed_coordinator(tmp_path: Path) -> None:
    script = tmp_path / "coordinator.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(TESTS)!r})
        from avanon.execute.executors import ProcessExecutor
        if __name__ == "__main__":
            ex = ProcessExecutor(2)
            print(" ".join(map(str, ex.pids())), flush=True)
            time.sleep(60)
    """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
    finally:
        proc.kill()


def _alive(p: int) -> bool:
    try:
        return psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_models_load_once_per_worker_process(tmp_path: Path, dev_data: Path) -> None:
    from execute_support import face_crop

    study, out = tmp_path / "study", tmp_path / "out"
    study.mkdir()
    for i in range(3):
        make_video(study / f"v{i}.mp4", seconds=0.6, size=(96, 64), face=face_crop(dev_data, 32), audio=False)
    recipe = light_recipe()
    with ProcessExecutor(1) as ex:
        for i in range(3):
            ex.submit(f"v{i}", run_file, FileTask(study, out, f"v{i}.mp4"), recipe, 0)
        ex.submit("info", worker_info)
        outcomes, _ = _collect(ex, 4)
        worker_pids = ex.pids()
    assert all(outcomes[f"v{i}"].value["status"] == "ok" for i in range(3))
    info = outcomes["info"].value
    assert info["pid"] in worker_pids and info["pid"] != os.getpid()
    assert info["model_loads"]["blazeface"] == 1  # three files, one model load


def test_make_executor_checks_its_options() -> None:
    with pytest.raises(ParameterError, match="must be one of local, dask-local, dask. Got 'spark'"):
        make_executor("spark", workers=2)
    with pytest.raises(ParameterError, match="needs the scheduler address"):
        make_executor("dask", workers=2)
    with pytest.raises(ParameterError, match="only used with --executor dask"):
        make_executor("local", workers=2, scheduler="tcp://localhost:8786")
    with pytest.raises(ParameterError, match=">= 1. Got 0"):
        make_executor("local", workers=0)
    assert isinstance(make_executor("local", workers=1), InlineExecutor)


def test_dask_local_cluster_runs_tasks_on_separate_single_threaded_workers() -> None:
    with make_executor("dask-local", workers=2) as ex:
        assert ex.describe() == {"executor": "dask-local", "workers": 2}
        ex.submit("avanon-die", die)
        outcomes, _ = _collect(ex, 1)
        ex.client.wait_for_workers(2, timeout=30)  # the nanny replaces the killed worker
        for i in range(4):
            ex.submit(f"avanon-square-{i}", square, i)
        ex.submit("avanon-boom", boom)
        ex.submit("avanon-settings", worker_settings)
        outcomes.update(_collect(ex, 6)[0])
        pids = set(ex.client.run(pid).values())
        settings = list(ex.client.run(worker_settings).values())  # the restarted worker's too
        for i in range(6):
            ex.submit(f"avanon-span-{i}", span, 1.0 if i == 0 else 0.2)  # one long task, then short ones
        spans = [outcome.value for _, outcome in sorted(_collect(ex, 6)[0].items(), key=lambda kv: int(kv[0].rsplit("-", 1)[1]))]
        for i in range(4):  # two run at once; the two still held back are cancelled before they start
            ex.submit(f"avanon-held-{i}", span, 0.3)
        ex.cancel(["avanon-held-2", "avanon-held-3"])
        held = _collect(ex, 4, timeout=2.0)[0]
    # no fixed glibc thresholds (every frame would be mapped on its own) and no 10 ms profiler
    assert outcomes["avanon-settings"].value == {"MALLOC_TRIM_THRESHOLD_": None, "profile": False}
    assert settings == [{"MALLOC_TRIM_THRESHOLD_": None, "profile": False}] * 2
    assert [outcomes[f"avanon-square-{i}"].value for i in range(4)] == [0, 1, 4, 9]
    assert not outcomes["avanon-boom"].ok and outcomes["avanon-boom"].error_type == "RuntimeError"
    assert not outcomes["avanon-die"].ok and outcomes["avanon-die"].error_type == "KilledWorker"  # handed back at once
    assert len(pids) == 2
    # handed out in submission order as workers become free: never more tasks running than workers
    assert sorted(held) == ["avanon-held-0", "avanon-held-1"]
    for k, (start, _) in enumerate(spans):
        assert sum(s <= start < e for s, e in spans) <= 2
        assert sum(e <= start + 0.05 for _, e in spans[:k]) >= k - 1  # every earlier task but one has ended
