"""``--quiet``: what native libraries print on their own goes nowhere; avanon's own messages stay.

TensorFlow Lite ("Created TensorFlow Lite XNNPACK delegate"), absl and glog (MediaPipe's
``W0000 ... inference_feedback_manager``) write straight to file descriptor 2 from C++, where no
Python setting reaches them once the library has loaded. Quiet runs therefore point descriptor 2 at
the null device for the run and give Python's ``sys.stderr`` (failures, errors, tracebacks) a copy
of the terminal's descriptor. Worker processes inherit the null descriptor; their failures come back
to the coordinator as results and are printed here.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

# Deprecation notices that libraries emit about their own dependencies (protobuf under MediaPipe).
THIRD_PARTY = r"(google|mediapipe|tensorflow|absl|pkg_resources|pyworld)(\.|$)"


def _fd_backed(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return False  # replaced already (a test's capture, an embedding program): leave it alone


@contextmanager
def native_output_silenced() -> Iterator[None]:
    """Send writes to descriptor 2 by native code to the null device while Python's ``sys.stderr`` keeps the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    old_stderr = sys.stderr
    swapped = _fd_backed(old_stderr)
    try:
        if swapped:
            sys.stderr = io.TextIOWrapper(
                os.fdopen(os.dup(saved), "wb", buffering=0), encoding=old_stderr.encoding or "utf-8", errors="backslashreplace", line_buffering=True
            )
        os.dup2(null, 2)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=THIRD_PARTY)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
        if swapped:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = old_stderr
