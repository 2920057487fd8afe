"""Keep a long-lived worker's memory flat across thousands of tasks.

A worker decodes, masks and encodes frame after frame, segment after segment. With glibc's default
allocator settings, freeing a large block (a decoded 720p frame is 2.7 MB) raises the threshold above
which blocks are mapped on their own, so later frames come from the heap instead and the heap's
high-water mark creeps up with every segment a worker has run. :func:`configure` fixes that
threshold once per process, and :func:`release` (after each task) collects garbage and returns the
heap's free pages to the system. Neither changes any result; on other platforms both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import lru_cache
from typing import Any, Callable

M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024  # [bytes] blocks from this size up are mapped on their own and unmapped when freed
TRIM_THRESHOLD = 4 * 1024 * 1024  # [bytes] free memory at the heap's top above this is returned at once


@lru_cache(maxsize=1)
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # glibc only (musl has neither)
    except (OSError, AttributeError):
        return None
    return libc


@lru_cache(maxsize=1)
def configure() -> bool:
    """Fix this process's allocator thresholds (once); returns whether the allocator took them."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release() -> None:
    """Collect garbage and hand the allocator's free pages back to the system."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def run_task(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one task in a long-lived worker: allocator configured before, memory released after."""
    configure()
    try:
        return fn(*args, **kwargs)
    finally:
        release()
