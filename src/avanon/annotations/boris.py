"""BORIS tabular exports (CSV or TSV): event lists (START/STOP/POINT rows) and aggregated events.

Two layouts are read, in the older (``Time ... Status``) and newer (``Behavior type`` = START/STOP/
POINT) column sets:

* **events**: optional metadata rows (observation id, media, date, independent variables), then one
  row per event with a ``Time`` column. START and STOP rows of one state event (same observation,
  subject, behaviour and modifiers) become one interval; POINT rows become points.
* **aggregated**: one row per event with ``Start (s)``/``Stop (s)`` and ``Behavior type`` STATE or
  POINT.

Each subject becomes a tier (kind ``event``), the behaviour is the annotation value, and every other
column travels in ``fields`` so that writing gives the same table back.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from avanon.annotations.model import Annotation, AnnotationDocument, MediaLink, Tier
from avanon.annotations.safety import csv_rows, neutralize_cell, read_text
from avanon.errors import MediaError
from avanon.files import write_atomic

MEDIA_COLUMNS = ("Media file path", "Media file", "Media file name", "Image file path")
_PAIR_KEYS = ("Observation id", "Subject", "Behavior", "Modifiers")
_STATUS_COLUMNS = ("Status", "Behavior type")


def delimiter_for(path: Path, text: str) -> str:
    """Tab for ``.tsv`` files and tab-separated text, else comma."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    first = text.split("\n", 1)[0]
    return "\t" if first.count("\t") > first.count(",") else ","


def find_header(rows: list[list[str]]) -> tuple[int, str] | None:
    """Index of the BORIS table header row and the layout (``events`` or ``aggregated``), if any."""
    for index, row in enumerate(rows[:200]):
        cells = {c.strip() for c in row}
        if {"Subject", "Behavior"} <= cells:
            if {"Start (s)", "Stop (s)"} <= cells:
                return index, "aggregated"
            if "Time" in cells and cells & set(_STATUS_COLUMNS):
                return index, "events"
    return None


def read_boris(path: Path) -> AnnotationDocument:
    """Read a BORIS tabular export.

    Raises
    ------
    MediaError
        No BORIS table header, a row with a bad time, a STOP without START or a START never stopped
        (the message names the row, subject and behaviour).
    """
    path = Path(path)
    text = read_text(path)
    delimiter = delimiter_for(path, text)
    rows = csv_rows(text, delimiter=delimiter, source=str(path))
    found = find_header(rows)
    if found is None:
        raise MediaError(f"{path}: not a BORIS export (no header row with Subject, Behavior and Time or Start (s)/Stop (s))")
    head, layout = found
    columns = [c.strip() for c in rows[head]]
    doc = AnnotationDocument(format="boris", source=str(path), media_fields=tuple(c for c in columns if c in MEDIA_COLUMNS))
    preamble = rows[:head]
    media_keys = []
    for i, row in enumerate(preamble):
        for j, cell in enumerate(row[1:], start=1):
            if cell:
                key = f"{i}:{j}"
                doc.header[key] = cell
                if row[0].startswith("Player #"):
                    media_keys.append(key)
    doc.options.update({"delimiter": delimiter, "columns": columns, "layout": layout, "header_media_keys": tuple(media_keys)})
    doc.native = {"preamble": preamble}
    tiers: dict[str, Tier] = {}
    records = [dict(zip(columns, row)) for row in rows[head + 1 :] if any(c.strip() for c in row)]
    start = head + 2
    if layout == "aggregated":
        for offset, rec in enumerate(records):
            number = start + offset
            onset = _time(rec.get("Start (s)", ""), path, number)
            stop = _time(rec.get("Stop (s)", ""), path, number)
            if stop < onset:
                raise MediaError(f"{path}: row {number}: stop {stop} s is before start {onset} s")
            ann = Annotation(onset=onset, offset=stop, value=rec.get("Behavior", ""), id=str(number), fields=_rest(rec))
            _tier(tiers, rec).annotations.append(ann)
    else:
        status_column = next(c for c in _STATUS_COLUMNS if c in columns and (c == "Status" or "Status" not in columns))
        open_events: dict[tuple[str, ...], Annotation] = {}
        for offset, rec in enumerate(records):
            number = start + offset
            time = _time(rec.get("Time", ""), path, number)
            status = rec.get(status_column, "").strip().upper()
            key = tuple(rec.get(k, "") for k in _PAIR_KEYS)
            where = f"subject {rec.get('Subject', '')!r}, behaviour {rec.get('Behavior', '')!r}"
            if status == "POINT":
                _tier(tiers, rec).annotations.append(Annotation(onset=time, offset=time, value=rec.get("Behavior", ""), id=str(number), fields=_rest(rec)))
            elif status == "START":
                if key in open_events:
                    raise MediaError(f"{path}: row {number}: {where} starts again before it stopped")
                ann = Annotation(onset=time, offset=None, value=rec.get("Behavior", ""), id=str(number), fields=_rest(rec))
                open_events[key] = ann
                _tier(tiers, rec).annotations.append(ann)
            elif status == "STOP":
                ann = open_events.pop(key, None)
                if ann is None:
                    raise MediaError(f"{path}: row {number}: {where} stops without a START")
                if time < (ann.onset or 0.0):
                    raise MediaError(f"{path}: row {number}: {where} stops at {time} s, before its start at {ann.onset} s")
                ann.offset = time
                ann.end_fields = _rest(rec)
                ann.end_fields["_row"] = str(number)
            else:
                raise MediaError(f"{path}: row {number}: {status_column} {status!r} is not one of START, STOP, POINT")
        if open_events:
            ann = next(iter(open_events.values()))
            raise MediaError(f"{path}: row {ann.id}: behaviour {ann.value!r} starts at {ann.onset} s and never stops")
    doc.tiers = list(tiers.values())
    seen: list[str] = []
    for _, ann in doc.annotations():
        for f in (ann.fields, ann.end_fields):
            for column in doc.media_fields:
                if f.get(column) and f[column] not in seen:
                    seen.append(f[column])
    for key in media_keys:
        if doc.header[key] not in seen:
            seen.append(doc.header[key])
    doc.media = [MediaLink(path=link) for link in seen]
    return doc


def _tier(tiers: dict[str, Tier], rec: dict[str, str]) -> Tier:
    subject = rec.get("Subject", "")
    if subject not in tiers:
        tiers[subject] = Tier(name=subject, kind="event")
    return tiers[subject]


def _rest(rec: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in rec.items() if k not in ("Subject", "Behavior", "Time", "Start (s)", "Stop (s)")}


def _time(text: str, path: Path, row: int) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise MediaError(f"{path}: row {row}: time {text!r} is not a number of seconds") from exc
    if not math.isfinite(value):
        raise MediaError(f"{path}: row {row}: time {text!r} is not finite")
    return value


def write_boris(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as a BORIS tabular export (atomically) with the columns it was read with."""
    columns: list[str] = doc.options.get("columns") or ["Time", "Subject", "Behavior", "Comment", "Status"]
    layout = doc.options.get("layout", "events")
    preamble = [list(r) for r in (doc.native or {}).get("preamble", [])]
    for key, value in doc.header.items():
        i, j = (int(x) for x in key.split(":"))
        preamble[i][j] = value
    out: list[tuple[float, float, list[str]]] = []
    status_column = "Status" if "Status" in columns else "Behavior type"
    for tier in doc.tiers:
        for ann in tier.annotations:
            if ann.onset is None or ann.offset is None:
                raise MediaError(f"{doc.source}: tier {tier.name!r}: annotation {ann.label()} has no time")
            base = {**ann.fields, "Subject": tier.name, "Behavior": ann.value}
            order = float(ann.id) if ann.id.isdigit() else math.inf
            point = ann.onset == ann.offset and ann.fields.get(status_column, "").upper() in ("POINT", "")
            if layout == "aggregated":
                base.update(
                    {
                        "Start (s)": _fmt(ann.onset),
                        "Stop (s)": _fmt(ann.offset),
                        "Duration (s)": "NA" if point and base.get("Behavior type") == "POINT" else _fmt(ann.offset - ann.onset),
                    }
                )
                base.setdefault("Behavior type", "POINT" if point else "STATE")
                out.append((ann.onset, order, [base.get(c, "") for c in columns]))
            elif point and ann.fields.get(status_column, "POINT").upper() == "POINT" and not ann.end_fields:
                base.update({"Time": _fmt(ann.onset), status_column: "POINT"})
                out.append((ann.onset, order, [base.get(c, "") for c in columns]))
            else:
                start = {**base, "Time": _fmt(ann.onset), status_column: "START"}
                stop = {**(ann.end_fields or ann.fields), "Subject": tier.name, "Behavior": ann.value, "Time": _fmt(ann.offset), status_column: "STOP"}
                end_order = float(ann.end_fields["_row"]) if "_row" in ann.end_fields else math.inf
                out.append((ann.onset, order, [start.get(c, "") for c in columns]))
                out.append((ann.offset, end_order, [stop.get(c, "") for c in columns]))
    if layout == "events":
        out.sort(key=lambda r: (r[0], r[1]))
    else:
        out.sort(key=lambda r: (r[1], r[0]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=doc.options.get("delimiter", ","), lineterminator="\n")
    writer.writerows([neutralize_cell(c) for c in row] for row in preamble)
    writer.writerow([neutralize_cell(c) for c in columns])
    writer.writerows([neutralize_cell(c) for c in r[2]] for r in out)  # no cell runs as a spreadsheet formula
    write_atomic(Path(path), buffer.getvalue().encode("utf-8"))


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f}"
