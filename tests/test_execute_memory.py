"""Worker memory: every task ends by releasing the allocator's free pages, whatever the task did."""

from __future__ import annotations

import pytest

from avanon.execute import memory


def test_run_task_returns_the_value_and_releases_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append("release"))
    assert memory.run_task(lambda x, *, emit=None: (x * 2, emit), 21, emit="e") == (42, "e")
    assert calls == ["release"]


def test_run_task_releases_memory_when_the_task_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append("release"))

    def fail() -> None:
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        memory.run_task(fail)
    assert calls == ["release"]


def test_release_returns_freed_heap_pages_to_the_system() -> None:
    import psutil

    assert memory._libc() is not None, "the project runs on Linux with glibc"
    proc = psutil.Process()
    blocks = [bytearray(64 * 1024) for _ in range(3000)]  # 190 MB of heap blocks below the mmap threshold
    for i in range(0, len(blocks), 2):
        blocks[i] = None  # type: ignore[call-overload] - half freed, interleaved: the heap top stays in use
    before = proc.memory_info().rss
    memory.release()
    after = proc.memory_info().rss
    del blocks
    assert before - after > 50 * 2**20, (before, after)
