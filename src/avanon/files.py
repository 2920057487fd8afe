"""Files: what kind a file is (the one extension table), one atomic writer and one file hash.

Every module that decides from a file name whether it is a recording, a photo, an annotation or a
text document asks this module, so the run, the release, the evaluation and the annotation readers
agree on it. Suffixes are lower case with the dot; compare them with ``Path(p).suffix.lower()``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm"})
"""Videos avanon anonymizes (decoded with FFmpeg through PyAV)."""
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".ogg", ".oga", ".opus"})
"""Audio recordings avanon anonymizes."""
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
"""Photos avanon anonymizes; other image formats are 'other' files (the recipe's ``other_files`` policy)."""
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES
"""Recordings: probed as time-based media (a release lists their streams and duration)."""
ANNOTATION_SUFFIXES = {".eaf": "elan", ".textgrid": "textgrid", ".rttm": "rttm", ".cha": "chat"}
"""Annotation formats recognised by their suffix alone."""
TABLE_SUFFIXES = frozenset({".csv", ".tsv"})
"""Tables: an annotation table when its header says so, otherwise a text document."""
TEXT_SUFFIXES = frozenset({".txt", ".md", ".json", ".yaml", ".yml", ".xml", ".html", ".htm"}) | TABLE_SUFFIXES
"""Text documents whose content is pseudonymized (see :mod:`avanon.annotations.documents`)."""


def media_kind(path: str | Path) -> str | None:
    """``"video"``, ``"audio"``, ``"image"`` from the extension, or ``None`` for other files."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, flush it to disk, then rename it into place.

    A reader sees either the old file or the complete new one; a failure leaves no temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks of ``chunk`` bytes.

    The one implementation for model pins, manifests, releases, the vault and the export guard.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
