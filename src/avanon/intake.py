"""Which study files a run may open: checked before any file is read, each refusal naming the file and why.

A study folder can hold things that must never reach a reader or a worker. Each is refused here,
alone, as that file's failure, and the rest of the run goes on:

- a symbolic link (not followed: it may point outside the study, or at a FIFO);
- anything else that is not a regular file: a FIFO, a character or block device, a socket (opening one
  blocks forever or reads without end); only ``lstat`` is called, nothing is opened;
- a name that is not valid UTF-8 (the manifest, the work folders and most tools need text names),
  or that holds control characters (a line break splits a log line, an escape drives a terminal);
- a name component longer than :data:`MAX_NAME_BYTES` bytes: the temporary and derived names an
  output is written under (``.NAME.avanon-partial.wav``, ``NAME_transcript.TextGrid``) must fit
  the file system's 255-byte limit;
- a name avanon reserves for its own files in the output root: the run manifest
  (``avanon_manifest.json`` and its temporary names), the work folder ``.avanon-work/`` and the
  temporary names of outputs (``*.avanon-partial*``); a study file there would be overwritten or
  deleted by the run;
- a photo whose header declares more pixels than the limit (:func:`avanon.media.probe.check_image`),
  so a small file cannot expand into gigabytes when decoded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from avanon.errors import MediaError
from avanon.execute.tasks import WORK_DIR
from avanon.media.probe import DEFAULT_LIMITS, Limits, check_image, media_kind
from avanon.provenance.manifest import MANIFEST_NAME

PARTIAL_MARK = ".avanon-partial"
MAX_NAME_BYTES = 200  # per path component; leaves room for ".NAME.avanon-partial" and "NAME_transcript.TextGrid.XXXXXXXX.part"

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def shown_name(rel: str) -> str:
    """``rel`` as printable text: a byte that is not UTF-8 (kept by Python as a surrogate) or a control
    character (which could drive a terminal: ``\x1b[2J``) is written ``%FF``."""
    return "".join(f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else f"%{ord(c):02X}" if _control(c) else c for c in rel)


def _control(char: str) -> bool:
    return ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0


def refusal(study: Path, rel: str, *, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why the study file ``rel`` must not be processed, or ``None`` if it may be.

    The reason is one sentence without the file name (the caller prefixes it).

    Parameters
    ----------
    study : Path
        The study root.
    rel : str
        POSIX path relative to ``study``, as :func:`avanon.pipeline.plan` lists it.
    limits : Limits
        Resource limits; ``limits.max_pixels`` bounds a photo's declared width x height.
    """
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 text; rename the file (UTF-8 names only)."
    if any(_control(c) for c in rel):
        return "the file name holds control characters (line breaks, tabs, terminal escapes); rename the file."
    parts = rel.split("/")
    reserved = _reserved(parts)
    if reserved:
        return reserved
    for part in parts:
        size = len(part.encode("utf-8"))
        if size > MAX_NAME_BYTES:
            return (
                f"a name component is {size} bytes long; at most {MAX_NAME_BYTES} bytes are allowed (the temporary "
                "and derived output names must fit the file system's 255-byte limit); shorten it."
            )
    path = study / rel
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"cannot be examined ({exc.strerror or exc})."
    if stat.S_ISLNK(info.st_mode):
        return "symbolic link not followed (copy the file into the study instead)."
    for test, what in _SPECIAL:
        if test(info.st_mode):
            return f"is {what}, not a regular file; only regular files are read."
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file; only regular files are read."
    if media_kind(rel) == "image":
        try:
            check_image(path, limits=limits)
        except MediaError as exc:
            return str(exc).removeprefix(f"{path}: ")
    return None


def _reserved(parts: list[str]) -> str | None:
    """Why a path is reserved for avanon's own files in the output root, or ``None``."""
    if parts[0] == WORK_DIR:
        return f"the folder name {WORK_DIR}/ is reserved for avanon's work files in the output (it is deleted at the end of a run); rename the folder."
    if len(parts) == 1 and (parts[0] == MANIFEST_NAME or parts[0].startswith(f".{MANIFEST_NAME}.")):
        return f"the name {MANIFEST_NAME} is reserved at the top of the study for avanon's run manifest in the output; rename the file."
    if any(PARTIAL_MARK in part for part in parts):
        return f"names containing {PARTIAL_MARK!r} are reserved for avanon's temporary outputs (which are deleted); rename the file."
    return None


__all__ = ["MANIFEST_NAME", "MAX_NAME_BYTES", "PARTIAL_MARK", "WORK_DIR", "refusal", "shown_name"]
