"""Plain annotation tables (CSV or TSV): one row per annotation with onset, offset and label columns.

Column names are recognised case-insensitively: onset ``onset|start|begin|tmin|start_time``, offset
``offset|end|stop|tmax|end_time`` (or a ``duration`` column), label ``label|value|text|annotation|
transcription|speaker_type``, tier ``tier|speaker|speaker_id``. Times are in seconds, except in columns
named ``*_ms`` and the ChildProject columns ``segment_onset``/``segment_offset``, which are
milliseconds. Every other column travels in ``fields``; writing keeps the columns, their order and
the time unit.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from avanon.annotations.model import REDACTED_TIER, Annotation, AnnotationDocument, Tier
from avanon.annotations.safety import csv_rows, neutralize_cell, read_text
from avanon.errors import MediaError
from avanon.files import write_atomic

ONSET = ("onset", "start", "begin", "tmin", "start_time", "onset_ms", "start_ms", "segment_onset")
OFFSET = ("offset", "end", "stop", "tmax", "end_time", "offset_ms", "end_ms", "segment_offset")
DURATION = ("duration", "duration_ms", "dur")
LABEL = ("label", "value", "text", "annotation", "transcription", "speaker_type")
TIER = ("tier", "speaker", "speaker_id")
_MS_COLUMNS = {"segment_onset", "segment_offset"}


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def table_columns(columns: list[str]) -> dict[str, str | None] | None:
    """The roles of the columns of a plain annotation table, or ``None`` if it is not one."""
    onset = _find(columns, ONSET)
    offset = _find(columns, OFFSET)
    duration = _find(columns, DURATION)
    if onset is None or (offset is None and duration is None):
        return None
    return {"onset": onset, "offset": offset, "duration": duration if offset is None else None, "label": _find(columns, LABEL), "tier": _find(columns, TIER)}


def _unit(column: str) -> float:
    name = column.strip().lower()
    return 1000.0 if name.endswith("_ms") or name in _MS_COLUMNS else 1.0


def read_table(path: Path) -> AnnotationDocument:
    """Read a plain annotation table.

    Raises
    ------
    MediaError
        No onset/offset columns, or a row whose time is not a finite number (naming row and column).
    """
    path = Path(path)
    text = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = (
        "\t"
        if path.suffix.lower() == ".tsv" or first.count("\t") > max(first.count(","), first.count(";"))
        else (";" if first.count(";") > first.count(",") else ",")
    )
    rows = csv_rows(text, delimiter=delimiter, source=str(path))
    if not rows:
        raise MediaError(f"{path}: empty annotation table")
    columns = rows[0]
    roles = table_columns(columns)
    if roles is None:
        raise MediaError(
            f"{path}: no onset and offset (or duration) columns among {columns}; onset names: {', '.join(ONSET)}; offset names: {', '.join(OFFSET)}"
        )
    doc = AnnotationDocument(format="csv", source=str(path), options={"delimiter": delimiter, "columns": columns, "roles": roles})
    tiers: dict[str, Tier] = {}
    time_cols = {roles["onset"], roles["offset"], roles["duration"]} - {None}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise MediaError(f"{path}: row {number}: {len(row)} cells, the header has {len(columns)}")
        rec = dict(zip(columns, row))
        onset = _time(rec, roles["onset"], path, number)
        if roles["offset"] is not None:
            offset = _time(rec, roles["offset"], path, number)
        else:
            offset = onset + _time(rec, roles["duration"], path, number)
        name = rec[roles["tier"]] if roles["tier"] else ""
        if name not in tiers:
            tiers[name] = Tier(name=name, kind="event")
        value = rec[roles["label"]] if roles["label"] else ""
        fields = {k: v for k, v in rec.items() if k not in time_cols and k not in (roles["label"], roles["tier"])}
        tiers[name].annotations.append(Annotation(onset=onset, offset=offset, value=value, id=str(number), fields=fields))
    doc.tiers = list(tiers.values())
    return doc


def _time(rec: dict[str, str], column: str | None, path: Path, row: int) -> float:
    assert column is not None
    text = rec[column].strip()
    try:
        value = float(text) / _unit(column)
    except ValueError as exc:
        raise MediaError(f"{path}: row {row}, column {column!r}: {text!r} is not a number") from exc
    if not math.isfinite(value):
        raise MediaError(f"{path}: row {row}, column {column!r}: {text!r} is not finite")
    return value


def write_table(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as a plain table (atomically) with its original columns and time unit.

    A table without a tier column gets annotations of other tiers (the redaction tier) with the tier
    name in the label, ``"avanon-redacted: reason"``.
    """
    columns: list[str] = list(doc.options.get("columns") or ["onset", "offset", "label", "tier"])
    roles = doc.options.get("roles") or table_columns(columns)
    assert roles is not None
    out: list[tuple[float, float, list[str]]] = []
    single = len(doc.tiers) and roles["tier"] is None
    main = doc.tiers[0].name if doc.tiers else ""
    for tier in doc.tiers:
        for ann in tier.annotations:
            if ann.onset is None or ann.offset is None:
                raise MediaError(f"{doc.source}: tier {tier.name!r}: annotation {ann.label()} has no time")
            rec = dict(ann.fields)
            rec[roles["onset"]] = _fmt(ann.onset, roles["onset"])
            if roles["offset"] is not None:
                rec[roles["offset"]] = _fmt(ann.offset, roles["offset"])
            else:
                rec[roles["duration"]] = _fmt(ann.offset - ann.onset, roles["duration"])
            value = ann.value
            if roles["tier"]:
                rec[roles["tier"]] = tier.name
            elif single and tier.name != main:
                value = f"{tier.name}: {value}" if tier.name == REDACTED_TIER else value
            if roles["label"]:
                rec[roles["label"]] = value
            order = float(ann.id) if ann.id.isdigit() else math.inf
            out.append((order, ann.onset, [rec.get(c, "") for c in columns]))
    out.sort(key=lambda r: (r[0], r[1]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=doc.options.get("delimiter", ","), lineterminator="\n")
    writer.writerow([neutralize_cell(c) for c in columns])
    writer.writerows([neutralize_cell(c) for c in r[2]] for r in out)  # no cell runs as a spreadsheet formula
    write_atomic(Path(path), buffer.getvalue().encode("utf-8"))


def _fmt(seconds: float, column: str | None) -> str:
    assert column is not None
    if _unit(column) != 1.0:
        return str(int(round(seconds * 1000.0)))
    return f"{seconds:.6f}".rstrip("0").rstrip(".") if seconds else "0"
