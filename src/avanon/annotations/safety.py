"""Reading untrusted annotation files safely: size limits, strict decoding, hardened XML.

Annotation files come from many machines and tools; some are broken and a few may be hostile (XML
entity expansion, external entities, absurd nesting). Everything here raises
:class:`~avanon.errors.MediaError` with a message that names the file and the place (line, column or
byte offset), so that one bad file fails alone and the rest of the run goes on.

Tables written back out are safe to open in a spreadsheet: :func:`neutralize_cell` prefixes a cell
that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) with a
single quote, as OWASP recommends for CSV injection; plain numbers such as ``-1.5`` stay numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from avanon.errors import MediaError

MAX_BYTES = 64 * 1024 * 1024
"""Largest annotation or document file read [bytes] (64 MiB; the largest real ELAN files are a few MiB,
and a parsed document takes several times its size in memory)."""

MAX_XML_DEPTH = 32
"""Deepest XML element nesting accepted (ELAN documents nest 5 levels)."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
)


MAX_CELL_CHARS = 1024 * 1024
"""Longest table cell read [characters] (Python's csv module stops at 131,072 unless told)."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection)."""

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def read_bytes(path: Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a whole regular file, refusing one larger than ``max_bytes`` [bytes].

    A FIFO, a device or a socket is refused before it is opened (reading one blocks or never ends).
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise MediaError(f"{path}: cannot read annotation file ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise MediaError(f"{path}: not a regular file (a FIFO, device, socket or folder); only regular files are read")
    size = info.st_size
    if size > max_bytes:
        raise MediaError(f"{path}: annotation file is {size} bytes, larger than the limit of {max_bytes} bytes")
    return path.read_bytes()


def decode_text(data: bytes, source: str) -> str:
    """Decode annotation text: UTF-8 or UTF-16 with a byte-order mark, else strict UTF-8.

    UTF-16 without a byte-order mark is recognised by its zero bytes (Praat writes it both ways).

    Raises
    ------
    MediaError
        Naming the file, the line and the byte offset of the first byte that is not valid UTF-8.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data, encoding, source)
    if len(data) >= 2 and (data[0] == 0 or data[1] == 0):
        return _decode(data, "utf-16-be" if data[0] == 0 else "utf-16-le", source)
    return _decode(data, "utf-8", source)


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MediaError(
            f"{source}: line {line}, byte {exc.start}: text is not valid {encoding.upper()} (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from exc


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """Read and decode a text annotation file (see :func:`decode_text`)."""
    return decode_text(read_bytes(path, max_bytes=max_bytes), str(path))


@contextmanager
def wide_cells() -> Iterator[None]:
    """Let the csv module read cells up to :data:`MAX_CELL_CHARS` characters inside the block."""
    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def table_error(exc: csv.Error, source: str, line: int) -> MediaError:
    """A :class:`MediaError` naming the file, the line and the problem, for a csv module error."""
    message = str(exc)
    if "new-line character" in message:
        message = "a line break (carriage return) inside an unquoted cell; quote the cell or remove the break"
    elif "field larger than field limit" in message:
        message = f"a cell longer than {MAX_CELL_CHARS} characters"
    return MediaError(f"{source}: line {line}: broken table ({message})")


def csv_rows(text: str, *, delimiter: str, source: str) -> list[list[str]]:
    """The rows of a CSV/TSV text, with errors that name the file, the line and the problem.

    Cells may be up to :data:`MAX_CELL_CHARS` characters long. A carriage return inside an unquoted
    cell (a cell edited on an old Mac) or a longer cell raises :class:`MediaError`.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    with wide_cells():
        try:
            return list(reader)
        except csv.Error as exc:
            raise table_error(exc, source, reader.line_num) from None


def neutralize_cell(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: a would-be formula gets a leading single quote.

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with
    ``'`` (OWASP), unless it is a plain number (``-1.5``, ``+3``, ``1e-3``), which stays a number.
    """
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def check_xml(path: Path, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_XML_DEPTH) -> None:
    """Parse ``path`` once with defusedxml and reject anything unsafe or broken.

    Document type declarations, entities (entity expansion) and external references are refused;
    so is nesting deeper than ``max_depth`` and a file over ``max_bytes``. A file that passes can be
    handed to a library parser (pympi) without risk.

    Raises
    ------
    MediaError
        Naming the file, and the line and column for parse errors.
    """
    read_bytes(path, max_bytes=max_bytes)  # size check
    depth = 0
    try:
        for event, _ in iterparse(str(path), events=("start", "end"), forbid_dtd=True, forbid_entities=True, forbid_external=True):
            depth += 1 if event == "start" else -1
            if depth > max_depth:
                raise MediaError(f"{path}: XML nesting deeper than {max_depth} levels; not an annotation document")
    except ParseError as exc:
        line, column = exc.position
        raise MediaError(f"{path}: line {line}, column {column}: broken XML ({_reason(exc)})") from exc
    except DefusedXmlException as exc:
        raise MediaError(f"{path}: refused unsafe XML ({type(exc).__name__}: {exc})") from exc


def _reason(exc: ParseError) -> str:
    text = str(exc)
    return text.split(":")[0] if ":" in text else text
