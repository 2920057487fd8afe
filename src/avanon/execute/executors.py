"""Where tasks run: in the calling process, on local worker processes, or on a Dask cluster.

Every executor offers the same small interface to the coordinator (:class:`Executor`): ``submit`` a
task under a unique key, ``poll`` for finished tasks (:class:`Outcome`) and progress events, ``close``.
A task is a module-level function called as ``fn(*args, emit=...)``.

- :class:`InlineExecutor` runs tasks one by one in the calling process (``--workers 1``).
- :class:`ProcessExecutor` keeps ``workers`` spawned processes, each fed one task at a time over its
  own pipe. A worker that dies (killed, out of memory, a crash in a native library) fails only the
  task it was running, with the exit signal as the reason, and is replaced. Workers die with their
  coordinator (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread elsewhere), so a killed run
  leaves no process behind that could still write into the output folder.
- :class:`DaskExecutor` submits tasks to a Dask ``distributed`` scheduler: a ``LocalCluster`` of
  single-threaded worker processes (``dask-local``) or a running cluster (``dask``). The scheduler
  moves tasks off lost workers; the task keys (``avanon-<step>-...``) group them in the Dask
  dashboard's progress and task-stream views.

Both pool executors hand tasks out in the order they were submitted, as workers become free (Dask
gets no more tasks than its workers have threads), so the coordinator's order (largest files
first) decides which worker is left with the last, short tasks.

In worker processes (local or Dask) every task runs through :func:`avanon.execute.memory.run_task`,
which keeps a long-lived worker's memory flat across segments.
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

from avanon.errors import ParameterError
from avanon.execute.memory import run_task
from avanon.threads import ENV, per_worker

Event = tuple[Any, ...]
EXECUTORS = ("local", "dask-local", "dask")


@dataclass(frozen=True)
class Outcome:
    """A finished task: its value, or why it failed (``error_type`` is the exception's class name)."""

    key: str
    ok: bool
    value: Any = None
    error: str = ""
    error_type: str = ""


class Executor:
    """Base class; see the module docstring."""

    name = "executor"
    streams_events = False  # whether tasks' progress events reach the coordinator while they run

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> tuple[list[Outcome], list[Event]]:
        """Wait up to ``timeout`` [s] for finished tasks; return them and the progress events received."""
        raise NotImplementedError

    def cancel(self, keys: list[str]) -> None:
        """Forget tasks whose results are no longer wanted (best effort)."""

    def describe(self) -> dict[str, Any]:
        """What the manifest records about where the run executed."""
        return {"executor": self.name}

    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _failure(key: str, exc: BaseException) -> Outcome:
    return Outcome(key, False, error=f"{type(exc).__name__}: {exc}", error_type=type(exc).__name__)


class InlineExecutor(Executor):
    """Run each task in the calling process when polled."""

    name = "local"
    streams_events = True

    def __init__(self) -> None:
        self._queue: deque[tuple[str, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._cancelled: set[str] = set()

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.append((key, fn, args))

    def cancel(self, keys: list[str]) -> None:
        self._cancelled.update(keys)

    def poll(self, timeout: float) -> tuple[list[Outcome], list[Event]]:
        events: list[Event] = []
        while self._queue:
            key, fn, args = self._queue.popleft()
            if key in self._cancelled:
                continue
            try:
                return [Outcome(key, True, fn(*args, emit=events.append))], events
            except Exception as exc:  # noqa: BLE001 - reported as the task's failure
                return [_failure(key, exc)], events
        return [], events

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": 1}


# --------------------------------------------------------------------------------- local processes
def _die_with_parent(parent: int) -> None:
    """Make this worker exit when the coordinator process ``parent`` dies, however it dies."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="avanon-parent-watch").start()


def _worker_main(conn: Connection, parent: int, threads: int = 0) -> None:
    """Loop of a worker process: receive a task, run it, send events and the outcome back."""
    _die_with_parent(parent)
    if threads:
        os.environ[ENV] = str(threads)  # this worker's share of the cores (avanon.threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            conn.send(message)

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, fn, args = message
        try:
            value = run_task(fn, *args, emit=lambda event: send(("event", event)))
            send(("done", Outcome(key, True, value)))
        except Exception as exc:  # noqa: BLE001
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            send(("done", Outcome(key, False, error=detail, error_type=type(exc).__name__)))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    task: tuple[str, Callable[..., Any], tuple[Any, ...]] | None = None


class ProcessExecutor(Executor):
    """``workers`` spawned worker processes on this machine (see the module docstring)."""

    name = "local"
    streams_events = True

    def __init__(self, workers: int):
        if workers < 1:
            raise ParameterError(f"The 'workers' option must be an int >= 1. Got {workers} instead.")
        self._ctx = mp.get_context("spawn")  # no fork: model runtimes and threads do not survive fork safely
        self._queue: deque[tuple[str, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._cancelled: set[str] = set()
        self.count = workers
        self.workers = [self._start() for _ in range(workers)]
        self.restarts = 0

    def _start(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        threads = per_worker(self.count)
        process = self._ctx.Process(target=_worker_main, args=(child, os.getpid(), threads), daemon=True, name="avanon-worker")
        process.start()
        child.close()
        return _Worker(process, parent)

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.append((key, fn, args))

    def cancel(self, keys: list[str]) -> None:
        self._cancelled.update(keys)

    def _dispatch(self) -> None:
        for worker in self.workers:
            while worker.task is None and self._queue:
                task = self._queue.popleft()
                if task[0] in self._cancelled:
                    continue
                try:
                    worker.conn.send(task)
                    worker.task = task
                except (OSError, EOFError):
                    self._queue.appendleft(task)  # this worker died; _reap replaces it
                    break

    def poll(self, timeout: float) -> tuple[list[Outcome], list[Event]]:
        self._dispatch()
        busy = [w for w in self.workers if w.task is not None]
        if not busy:
            return [], []
        waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waitables, timeout))
        outcomes: list[Outcome] = []
        events: list[Event] = []
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                self._read(worker, outcomes, events)
        self._dispatch()
        return [o for o in outcomes if o.key not in self._cancelled], events

    def _read(self, worker: _Worker, outcomes: list[Outcome], events: list[Event]) -> None:
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "event":
                    events.append(payload)
                else:
                    outcomes.append(payload)
                    worker.task = None
        except (EOFError, OSError, ValueError):
            pass  # the worker died mid-message; handled below
        if not worker.process.is_alive() and worker.task is not None:
            worker.process.join(timeout=1)
            code = worker.process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            outcomes.append(Outcome(worker.task[0], False, error=f"worker process {worker.process.pid} {how}", error_type="WorkerLost"))
            self._replace(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.conn.close()
        fresh = self._start()
        worker.process, worker.conn, worker.task = fresh.process, fresh.conn, None
        self.restarts += 1

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "workers": len(self.workers)}

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except (OSError, EOFError, ValueError):
                pass
        deadline = time.monotonic() + 5
        for worker in self.workers:
            if worker.task is not None:
                worker.process.kill()  # still busy: its result is no longer wanted
            worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=2)
            worker.conn.close()


# --------------------------------------------------------------------------------------------- Dask
class DaskExecutor(Executor):
    """Tasks on a Dask cluster: a new ``LocalCluster`` (``scheduler=None``) or a running scheduler's address."""

    streams_events = False

    def __init__(self, *, workers: int = 1, scheduler: str | None = None):
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is part of the pinned install
            raise ParameterError(f"The Dask executors need the 'distributed' package ({exc}).") from None
        self.cluster = None
        if scheduler is None:
            if workers < 1:
                raise ParameterError(f"The 'workers' option must be an int >= 1. Got {workers} instead.")
            self.name = "dask-local"
            # a lost worker fails its task at once; the coordinator retries it once, then fails the file.
            # Dask's nannies set MALLOC_TRIM_THRESHOLD_ in their workers, which fixes glibc's mmap
            # threshold: every frame-sized block is then mapped and unmapped on its own, 10-15 %
            # more CPU per frame here (avanon.execute.memory trims after each task instead). The
            # workers' statistical profiler (every thread's stack every 10 ms, holding the GIL) is off:
            # the dashboard keeps its progress and task-stream views. The nannies get their own copy
            # of these settings: they shallow-copy the global one, whose nested values the ``with``
            # restores on exit, and a worker they restart later would run with Dask's defaults.
            with dask.config.set(
                {
                    "distributed.scheduler.allowed-failures": 0,
                    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                    "distributed.worker.profile.enabled": False,
                }
            ):
                self.cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=40,
                    env={ENV: str(per_worker(workers))},
                    config=copy.deepcopy(dask.config.config),
                )
            self.client = Client(self.cluster)
        else:
            self.name = "dask"
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ParameterError(f"Cannot reach the Dask scheduler at {scheduler!r} ({exc}); give its tcp://host:port.") from None
        self._futures: dict[Any, str] = {}
        # Tasks wait here until a worker thread is free. Handed to the scheduler all at once, they are
        # spread over the workers as they arrive (independent tasks are not queued by Dask), and a
        # worker can be left running its share of long files while another idles.
        self._queue: deque[tuple[str, Callable[..., Any], tuple[Any, ...]]] = deque()

    @property
    def dashboard(self) -> str | None:
        return getattr(self.client, "dashboard_link", None)

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.append((key, fn, args))  # handed out by the next poll: one scheduler call per poll, not per task

    def _dispatch(self) -> None:
        if not self._queue:
            return
        free = max(1, sum(self.client.nthreads().values())) - len(self._futures)
        while free > 0 and self._queue:
            key, fn, args = self._queue.popleft()
            future = self.client.submit(run_task, fn, *args, key=key, pure=False, retries=0)
            self._futures[future] = key
            free -= 1

    def cancel(self, keys: list[str]) -> None:
        wanted = set(keys)
        self._queue = deque(task for task in self._queue if task[0] not in wanted)
        for future, key in list(self._futures.items()):
            if key in wanted:
                future.cancel()
                del self._futures[future]

    def poll(self, timeout: float) -> tuple[list[Outcome], list[Event]]:
        from distributed import wait as dask_wait

        self._dispatch()
        if not self._futures:
            return [], []
        try:
            done, _ = dask_wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return [], []
        outcomes = []
        for future in done:
            key = self._futures.pop(future)
            if future.status == "finished":
                outcomes.append(Outcome(key, True, future.result()))
            else:
                exc = future.exception()
                outcomes.append(_failure(key, exc) if exc is not None else Outcome(key, False, error=f"task {future.status}"))
        self._dispatch()
        return outcomes, []

    def describe(self) -> dict[str, Any]:
        info = self.client.scheduler_info()
        return {"executor": self.name, "workers": len(info.get("workers", {}))}

    def close(self) -> None:
        self._queue.clear()
        for future in list(self._futures):
            future.cancel()
        self._futures.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_options(name: str, *, workers: int, scheduler: str | None = None) -> None:
    """Refuse an unknown executor or options that do not go with it (before any work starts)."""
    if name not in EXECUTORS:
        raise ParameterError(f"The 'executor' option must be one of {', '.join(EXECUTORS)}. Got {name!r} instead.")
    if name == "dask" and not scheduler:
        raise ParameterError("The 'dask' executor needs the scheduler address (--scheduler tcp://host:8786).")
    if name != "dask" and scheduler:
        raise ParameterError(f"The 'scheduler' option is only used with --executor dask, not {name!r}.")
    if workers < 1:
        raise ParameterError(f"The 'workers' option must be an int >= 1. Got {workers} instead.")


def make_executor(name: str, *, workers: int, scheduler: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`); see :func:`check_options`."""
    check_options(name, workers=workers, scheduler=scheduler)
    if name == "dask":
        return DaskExecutor(scheduler=scheduler)
    if name == "dask-local":
        return DaskExecutor(workers=workers)
    return InlineExecutor() if workers == 1 else ProcessExecutor(workers)
