"""Running a study at scale: executors, segmented long videos, retries and resume.

- :mod:`avanon.execute.executors`: where tasks run (this process, local worker processes, Dask).
- :mod:`avanon.execute.coordinator`: the state of a run; turns files into tasks and outcomes into
  manifest entries; tracks segmented videos in order.
- :mod:`avanon.execute.tasks`: the work units themselves (plain functions run on workers).
- :mod:`avanon.execute.segments`: keyframe planning, range decoding, per-segment encoding, stitching.

:func:`avanon.pipeline.run_study` is the entry point; see ``docs/scaling.md``.
"""

from avanon.execute.executors import EXECUTORS, make_executor

__all__ = ["EXECUTORS", "make_executor"]
