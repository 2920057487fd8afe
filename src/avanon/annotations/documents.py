"""Other study files (participant tables, notes, consent lists): anonymize them or refuse them.

:func:`anonymize_other` is what the pipeline runs for a file that is neither media nor an annotation
file. It uses the same :class:`~avanon.annotations.pseudonymize.TextAnonymizer` as annotations, so a
participant gets the same pseudonym in a participants table as in the ELAN tiers and the voice
pipeline, and personal data gets the same placeholders (``[EMAIL]``, ``[PHONE]``, ``[DATE]``,
``[ADDRESS]``, ``[PLACE]``, ``[ID_NUMBER]``).

============================  =================================================================
file                          what is done
============================  =================================================================
.csv .tsv                     header-aware: columns named like a person (``name``,
                              ``first_name``, ``last_name``, ...) become pseudonyms whole, and
                              their values are also replaced wherever else they occur; columns
                              ``birthdate``/``dob``/``email``/``phone``/``address`` (and
                              variants) become placeholders whole; every other cell is free text
.json                         keys kept; values of the keys above replaced whole, every other
                              string is free text; numbers, booleans and nulls kept
.yaml .yml                    line by line: ``key: value`` lines with the keys above replaced
                              whole, the rest free text (comments and layout kept)
.txt .md .xml .html, other    free text, line by line; any file that decodes as UTF-8, UTF-16 or
text                          plain Latin-1 text is treated so, and written in its own encoding
.xlsx                         every cell as in a table (first row = header), formulas kept;
                              written without document properties (creator, last modified by,
                              title, ...), custom properties or cell comments, with fixed dates
.pdf .docx .zip, binary       refused: :class:`~avanon.errors.MediaError` naming the file (a file
                              that cannot be checked must not be copied through)
============================  =================================================================
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from avanon.annotations.pseudonymize import Namer, TextAnonymizer
from avanon.annotations.safety import MAX_BYTES, neutralize_cell, table_error, wide_cells
from avanon.errors import MediaError
from avanon.files import write_atomic

PERSON_COLUMNS = (
    "name",
    "first_name",
    "firstname",
    "given_name",
    "last_name",
    "lastname",
    "surname",
    "family_name",
    "full_name",
    "participant_name",
    "child_name",
    "parent_name",
    "mother_name",
    "father_name",
    "guardian",
    "guardian_name",
)
PLACEHOLDER_COLUMNS = {
    "DATE": ("birthdate", "birth_date", "date_of_birth", "dob", "birthday"),
    "EMAIL": ("email", "e_mail", "mail", "email_address"),
    "PHONE": ("phone", "telephone", "tel", "mobile", "phone_number"),
    "ADDRESS": ("address", "street", "street_address", "home_address", "postcode", "zip", "zip_code", "postal_code"),
}
_BINARY = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP container (docx, odt, zip, ...)"),
    (b"\xd0\xcf\x11\xe0", "an OLE document (doc, xls, msg)"),
    (b"{\\rtf", "an RTF document"),
)
_KEY_LINE = re.compile(r"^(\s*-?\s*)([\"']?)([A-Za-z][\w -]*?)\2(\s*:\s+)(.*?)(\s*)$")


def _column_rule(name: str) -> str | None:
    """``PERSON``, a placeholder label, or ``None`` for a free-text column."""
    key = re.sub(r"[\s.-]+", "_", name.strip().lower())
    if key in PERSON_COLUMNS:
        return "PERSON"
    return next((label for label, names in PLACEHOLDER_COLUMNS.items() if key in names), None)


class _Cells:
    """Replaces one value given its column rule; counts whole-column replacements."""

    def __init__(self, anonymizer: TextAnonymizer) -> None:
        self.anonymizer = anonymizer

    def value(self, rule: str | None, value: str) -> str:
        if not value.strip():
            return value
        if rule == "PERSON":
            return self.anonymizer.person(value)
        if rule is not None:
            self.anonymizer.counts[rule] += 1
            return f"[{rule}]"
        return self.anonymizer.text(value)

    def learn(self, names: list[str]) -> None:
        """Replace the names of a person column wherever else they occur (notes, other columns)."""
        lookup = self.anonymizer._lookup
        self.anonymizer.add_names({n.strip(): lookup.get(n.strip().casefold(), n.strip().casefold()) for n in names if n.strip()})


def anonymize_other(
    src: Path, dst: Path, *, secret: bytes, roster: Sequence[str] | Mapping[str, str] | None = None, namer: Namer | None = None
) -> dict[str, int]:
    """Write an anonymized copy of a non-media study file, or refuse it.

    Parameters
    ----------
    src : Path
        The input file (never modified).
    dst : Path
        Where to write the anonymized copy (atomically: temporary name, then rename).
    secret : bytes
        The study secret (pseudonyms are keyed by it; same as for annotations and voices).
    roster : sequence of str or mapping of str to str, optional
        Names to pseudonymize, optionally mapped to speaker keys.
    namer : callable, optional
        Pseudonym function; defaults to :func:`avanon.studykeys.pseudonym`.

    Returns
    -------
    dict of str to int
        Replacements made: ``names``, ``participants``, ``EMAIL``, ``PHONE``, ``DATE``, ``ADDRESS``,
        ``PLACE``, ``ID_NUMBER`` (only those above zero).

    Raises
    ------
    MediaError
        A binary format that cannot be checked (PDF, Word, ZIP, an unknown binary), a file larger
        than :data:`MAX_BYTES`, a broken JSON or spreadsheet; the message names the file.
    """
    src, dst = Path(src), Path(dst)
    anonymizer = TextAnonymizer(secret, roster, namer=namer)
    cells = _Cells(anonymizer)
    size = src.stat().st_size
    if size > MAX_BYTES:
        raise MediaError(
            f"{src}: {size} bytes, larger than the {MAX_BYTES} bytes avanon checks for personal information; split it or leave it out of the study folder"
        )
    suffix = src.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        write_atomic(dst, _xlsx(src, cells))
    else:
        data = src.read_bytes()
        text, encoding, bom = _decode(data, src)
        handler = _HANDLERS.get(suffix, _plain)
        out = handler(text, cells, src)
        write_atomic(dst, bom + out.encode(encoding))
    return {k: v for k, v in anonymizer.counts.items() if v}


def _decode(data: bytes, src: Path) -> tuple[str, str, bytes]:
    """Text, the encoding to write it back in, and the byte-order mark to put first."""
    for magic, what in _BINARY:
        if data.startswith(magic):
            raise MediaError(
                f"{src}: {what}; avanon cannot check it for personal information, so it is not "
                "copied (convert it to text, or copy it deliberately with the recipe's switch)"
            )
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding, src), encoding, bom
    if len(data) >= 2 and data.count(0) > len(data) // 4:
        encoding = "utf-16-be" if data[0] == 0 else "utf-16-le"
        return _strict(data, encoding, src), encoding, b""
    try:
        text = data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    controls = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r\f") or 0x7F <= ord(c) < 0xA0)
    if controls > max(0, len(text) // 1000):
        raise MediaError(
            f"{src}: binary data ({controls} control bytes) in an unknown format; avanon cannot check it for personal information, so it is not copied"
        )
    return text, encoding, b""


def _strict(data: bytes, encoding: str, src: Path) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise MediaError(f"{src}: byte {exc.start}: not valid {encoding.upper()} text") from exc


def _plain(text: str, cells: _Cells, src: Path) -> str:
    return "".join(cells.anonymizer.text(line) for line in text.splitlines(keepends=True))


def _table(text: str, cells: _Cells, src: Path) -> str:
    """A CSV/TSV table; rows that do not change keep their bytes (quoting, line endings).

    Cells a spreadsheet would run as formulas are neutralized (:func:`neutralize_cell`).
    """
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    delimiter = "\t" if src.suffix.lower() == ".tsv" or lines[0].count("\t") > lines[0].count(",") else ","
    reader = csv.reader(iter(lines), delimiter=delimiter)
    rows: list[tuple[list[str], str]] = []
    consumed = 0
    with wide_cells():
        try:
            for row in reader:
                rows.append((row, "".join(lines[consumed : reader.line_num])))
                consumed = reader.line_num
        except csv.Error as exc:
            raise table_error(exc, str(src), reader.line_num) from None
    if not rows:
        return text
    rules = [_column_rule(c) for c in rows[0][0]]
    cells.learn([row[i] for row, _ in rows[1:] for i, rule in enumerate(rules) if rule == "PERSON" and i < len(row)])
    out = []
    for number, (row, raw) in enumerate(rows):
        new = [v if number == 0 else cells.value(rules[i] if i < len(rules) else None, v) for i, v in enumerate(row)]
        new = [neutralize_cell(v) for v in new]
        if new == row:
            out.append(raw)
            continue
        ending = raw[len(raw.rstrip("\r\n")) :]
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter=delimiter, lineterminator=ending).writerow(new)
        out.append(buffer.getvalue())
    return "".join(out)


def _json(text: str, cells: _Cells, src: Path) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MediaError(f"{src}: line {exc.lineno}, column {exc.colno}: broken JSON ({exc.msg})") from exc
    names: list[str] = []

    def collect(node: Any, rule: str | None = None) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                collect(value, _column_rule(str(key)))
        elif isinstance(node, list):
            for item in node:
                collect(item, rule)
        elif isinstance(node, str) and rule == "PERSON":
            names.append(node)

    def walk(node: Any, rule: str | None = None) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, _column_rule(str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, rule) for item in node]
        if isinstance(node, str):
            return cells.value(rule, node)
        return node

    collect(data)
    cells.learn(names)
    indent = 2 if "\n" in text.strip() else None
    return json.dumps(walk(data), ensure_ascii=False, indent=indent) + ("\n" if text.endswith("\n") else "")


def _yaml(text: str, cells: _Cells, src: Path) -> str:
    lines = text.splitlines(keepends=True)
    matches = [_KEY_LINE.match(line.rstrip("\r\n")) for line in lines]
    cells.learn([m.group(5).strip("\"'") for m in matches if m and _column_rule(m.group(3)) == "PERSON"])
    out = []
    for line, match in zip(lines, matches):
        ending = line[len(line.rstrip("\r\n")) :]
        rule = _column_rule(match.group(3)) if match else None
        if match and rule is not None and not match.group(5).startswith("#"):
            value = match.group(5)
            quote = value[0] if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1 else ""
            inner = value[1:-1] if quote else value
            new = quote + cells.value(rule, inner) + quote
            out.append(match.group(1) + match.group(2) + match.group(3) + match.group(2) + match.group(4) + new + match.group(6) + ending)
        else:
            out.append(cells.anonymizer.text(line))
    return "".join(out)


def _xlsx(src: Path, cells: _Cells) -> bytes:
    try:
        from openpyxl import load_workbook
        from openpyxl.packaging.core import DocumentProperties
        from openpyxl.packaging.custom import CustomPropertyList
    except ImportError as exc:
        raise MediaError(f"{src}: reading spreadsheets needs openpyxl (pip install openpyxl); the file cannot be checked, so it is not copied") from exc
    try:
        book = load_workbook(src)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and XML errors for broken files
        raise MediaError(f"{src}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows())
        if not rows:
            continue
        rules = [_column_rule(str(c.value)) if isinstance(c.value, str) else None for c in rows[0]]
        cells.learn([str(row[i].value) for row in rows[1:] for i, rule in enumerate(rules) if rule == "PERSON" and i < len(row) and row[i].value is not None])
        for row in rows:
            for cell in row:
                cell.comment = None
        for row in rows[1:]:
            for i, cell in enumerate(row):
                rule = rules[i] if i < len(rules) else None
                if cell.value is None:
                    continue
                if isinstance(cell.value, str):  # a formula too: its text may hold names, and it is kept as text
                    _set_text(cell, cells.value(rule, cell.value))
                elif rule is not None:  # a date of birth stored as a date, a phone number as a number
                    _set_text(cell, cells.value(rule, str(cell.value)))
        for cell in rows[0]:
            if isinstance(cell.value, str):
                _set_text(cell, cells.anonymizer.text(cell.value))
    book.properties = DocumentProperties(creator="")
    book.properties.lastModifiedBy = None
    book.custom_doc_props = CustomPropertyList()
    buffer = io.BytesIO()
    book.save(buffer)
    return _fixed_times(buffer.getvalue())


_EPOCH = "1980-01-01T00:00:00Z"
_W3CDTF = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _set_text(cell: Any, value: str) -> None:
    """Store ``value`` in a spreadsheet cell as text, never as a formula (a formula becomes ``'=...``)."""
    cell.value = neutralize_cell(value)
    cell.data_type = "s"


def _fixed_times(data: bytes) -> bytes:
    """The workbook with fixed zip entry times and document dates, so that the same input gives the same bytes.

    openpyxl stamps the time of saving into ``docProps/core.xml`` and every zip entry; a timestamp
    would also tell when the study was processed.
    """
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _W3CDTF.sub(lambda m: m.group(1) + _EPOCH.encode() + m.group(3), content)
            target.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


_HANDLERS: dict[str, Callable[[str, _Cells, Path], str]] = {
    ".csv": _table,
    ".tsv": _table,
    ".json": _json,
    ".yaml": _yaml,
    ".yml": _yaml,
}
