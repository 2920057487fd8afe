"""Which annotation format a file is in, and one read/write entry point for all of them.

========  ======================  ==============================================
format    suffixes                recognised by
========  ======================  ==============================================
elan      .eaf                    suffix
textgrid  .TextGrid (any case)    suffix
rttm      .rttm                   suffix
chat      .cha                    suffix (CHILDES CHAT transcripts)
boris     .csv .tsv               a BORIS table header (Subject, Behavior, Time/Status or Start (s)/Stop (s))
csv       .csv .tsv               onset and offset (or duration) columns in the first row
========  ======================  ==============================================

Tables without either header (sensor logs, participant lists) are not annotations: the pipeline
treats them as ordinary files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from avanon.annotations.boris import find_header, read_boris, write_boris
from avanon.annotations.chat import read_chat, write_chat
from avanon.annotations.elan import read_elan, write_elan
from avanon.annotations.model import AnnotationDocument
from avanon.annotations.rttm import read_rttm, write_rttm
from avanon.annotations.safety import decode_text
from avanon.annotations.table import read_table, table_columns, write_table
from avanon.annotations.textgrid import read_textgrid, write_textgrid
from avanon.errors import AvanonError, MediaError, ParameterError
from avanon.files import ANNOTATION_SUFFIXES as _SUFFIXES
from avanon.files import TABLE_SUFFIXES as _TABLES

FORMATS = ("elan", "textgrid", "rttm", "chat", "boris", "csv")
READERS: dict[str, Callable[[Path], AnnotationDocument]] = {
    "elan": read_elan,
    "textgrid": read_textgrid,
    "rttm": read_rttm,
    "chat": read_chat,
    "boris": read_boris,
    "csv": read_table,
}
WRITERS: dict[str, Callable[[AnnotationDocument, Path], None]] = {
    "elan": write_elan,
    "textgrid": write_textgrid,
    "rttm": write_rttm,
    "chat": write_chat,
    "boris": write_boris,
    "csv": write_table,
}
_SNIFF_BYTES = 64 * 1024


def detect_format(path: Path) -> str | None:
    """The annotation format of ``path``, or ``None`` if it is not an annotation file avanon reads.

    Only the suffix and, for tables, the first 64 KiB are looked at; a table whose head cannot be
    decoded is not an annotation.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix not in _TABLES or not path.is_file():
        return None
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    try:
        text = decode_text(head, str(path))
    except MediaError:
        try:  # the cut may split a multi-byte character
            text = decode_text(head[:-4], str(path))
        except MediaError:
            return None
    lines = text.splitlines()[:-1] if len(head) == _SNIFF_BYTES else text.splitlines()
    if not lines:
        return None
    delimiter = "\t" if suffix == ".tsv" or lines[0].count("\t") > lines[0].count(",") else ","
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))
    if find_header(rows) is not None:
        return "boris"
    for separator in (delimiter, ";"):
        table = list(csv.reader(io.StringIO("\n".join(lines[:50])), delimiter=separator))
        roles = table_columns(table[0])
        if roles is not None and _numeric_times(table, roles):
            return "csv"
    return None


def _numeric_times(table: list[list[str]], roles: dict[str, str | None]) -> bool:
    """True if the time columns of the first data rows hold plain numbers (not clock times)."""
    header = table[0]
    columns = [header.index(c) for c in (roles["onset"], roles["offset"], roles["duration"]) if c is not None]
    rows = [r for r in table[1:] if len(r) == len(header)]
    for row in rows:
        for index in columns:
            try:
                float(row[index])
            except ValueError:
                return False
    return True


def is_annotation(path: Path) -> bool:
    """True if ``path`` is an annotation file avanon can read (see :func:`detect_format`)."""
    return detect_format(path) is not None


def read_annotations(path: Path, *, format: str | None = None) -> AnnotationDocument:
    """Read an annotation file into the common model.

    Parameters
    ----------
    path : Path
    format : str, optional
        One of :data:`FORMATS`; detected from the file when omitted.

    Raises
    ------
    MediaError
        The file is not an annotation file, or is broken (any error of a reader is turned into
        one); the message names the file and the place.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt is None:
        raise MediaError(f"{path}: not an annotation file avanon reads (ELAN .eaf, Praat .TextGrid, .rttm, CHAT .cha, BORIS or onset/offset .csv/.tsv)")
    if fmt not in READERS:
        raise ParameterError(f"The 'format' parameter must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    try:
        return READERS[fmt](path)
    except AvanonError:
        raise
    except (OSError, ValueError, LookupError, TypeError, RecursionError, csv.Error) as exc:  # a reader tripped on a broken file
        raise MediaError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {exc})") from None


def write_annotations(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` to ``path`` in its own format, atomically (temporary name, then rename)."""
    if doc.format not in WRITERS:
        raise ParameterError(f"The 'format' of a document must be one of {', '.join(FORMATS)}. Got {doc.format!r} instead.")
    WRITERS[doc.format](doc, Path(path))
