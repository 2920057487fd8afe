"""How many threads one avanon process may use for its own parallel work.

A lone run uses the machine: each face detector that releases the GIL (all built-in ones) runs on
its own thread while the main thread decodes, tracks, masks and encodes, and video decoders use
FFmpeg's threads. When several worker processes share the machine
(``avanon run --workers N``, a Dask LocalCluster of single-threaded workers), each worker gets
``cores // N`` threads and with one thread runs every detector inline and decodes in its own
thread (no read-ahead, one FFmpeg thread), so N workers do not start 2N busy threads on N cores.
The executors set :data:`ENV` in their workers; results never depend on it (detections are the
same whether they run inline or on a thread, and the encoder's thread count is fixed by the
recipe), so outputs stay byte-identical.
"""

from __future__ import annotations

import os

ENV = "AVANON_THREADS"


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def budget() -> int:
    """Threads this process may keep busy: ``$AVANON_THREADS`` when set, else every core."""
    value = os.environ.get(ENV, "").strip()
    if value.isdigit() and int(value) >= 1:
        return int(value)
    return cores()


def per_worker(workers: int) -> int:
    """The budget of each of ``workers`` processes sharing this machine."""
    return max(1, cores() // max(1, workers))


def decoder_threads() -> int:
    """Threads for a video decoder: 1 under a one-thread budget, else 0 (FFmpeg's choice).

    Decoders give the same pixels whatever their thread count, so this never changes an output.
    """
    return 1 if budget() == 1 else 0
