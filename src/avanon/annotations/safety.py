"""Reading untrusted annotation files safely: size limits, strict decoding, hardened XML.

Annotation files come from many machines and tools; some are broken and a few may be hostile (XML
entity expansion, external entities, absurd nesting). Everything here raises
:class:`~avanon.errors.MediaError` with a message that names the file and the place (line, column or
byte offset), so that one bad file fails alone and the rest of the run goes on.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from avanon.errors import MediaError

MAX_BYTES = 256 * 1024 * 1024
"""Largest annotation file read [bytes] (256 MiB; the largest real ELAN files are a few MiB)."""

MAX_XML_DEPTH = 32
"""Deepest XML element nesting accepted (ELAN documents nest 5 levels)."""

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
)


def read_bytes(path: Path, *, max_bytes: int = MAX_BYTES) -> bytes:
    """Read a whole file, refusing one larger than ``max_bytes`` [bytes]."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"{path}: cannot read annotation file ({exc.strerror})") from exc
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
            f"{source}: line {line}, byte {exc.start}: text is not valid {encoding.upper()} "
            f"(byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from exc


def read_text(path: Path, *, max_bytes: int = MAX_BYTES) -> str:
    """Read and decode a text annotation file (see :func:`decode_text`)."""
    return decode_text(read_bytes(path, max_bytes=max_bytes), str(path))


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
