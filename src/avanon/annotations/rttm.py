"""RTTM (Rich Transcription Time Marked) files: one segment per line, ten space-separated fields.

``TYPE FILE CHANNEL ONSET DURATION ORTHO STYPE NAME CONF SLAT`` with times in seconds. Each
``(TYPE, NAME)`` pair becomes a tier (named ``NAME`` for ``SPEAKER`` lines, ``TYPE:NAME`` otherwise);
the file id, channel and the other fields travel in each annotation's ``fields``. The file id names
the recording, so it is a media link (``kind="stem"``) and is rewritten to the output name. The
redaction tier is written as ``NOSCORE`` lines, the RTTM way of saying "do not score this stretch".
"""

from __future__ import annotations

import math
from pathlib import Path

from avanon.annotations.model import REDACTED_TIER, Annotation, AnnotationDocument, MediaLink, Tier
from avanon.annotations.safety import read_text
from avanon.errors import MediaError
from avanon.files import write_atomic

FIELDS = ("type", "file", "channel", "onset", "duration", "ortho", "stype", "name", "conf", "slat")
TYPES = ("SEGMENT", "NOSCORE", "NO_RT_METADATA", "LEXEME", "NON-LEX", "NON-SPEECH", "FILLER", "IP", "EDIT", "SU", "CB", "A/P", "SPEAKER", "SPKR-INFO")
_NA = "<NA>"


def read_rttm(path: Path) -> AnnotationDocument:
    """Read an RTTM file; comment lines (``;;``) and blank lines are skipped.

    Raises
    ------
    MediaError
        Naming the line for a wrong number of fields, an unknown type, or a non-numeric, negative or
        non-finite onset or duration.
    """
    path = Path(path)
    doc = AnnotationDocument(format="rttm", source=str(path), media_fields=("file",))
    tiers: dict[tuple[str, str], Tier] = {}
    files: list[str] = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split()
        if len(parts) < 9 or len(parts) > 10:
            raise MediaError(f"{path}: line {number}: expected 10 space-separated RTTM fields, found {len(parts)}")
        parts += [_NA] * (10 - len(parts))
        row = dict(zip(FIELDS, parts))
        if row["type"] not in TYPES:
            raise MediaError(f"{path}: line {number}: unknown RTTM type {row['type']!r}; allowed: {', '.join(TYPES)}")
        onset = _time(row["onset"], path, number, "onset")
        duration = _time(row["duration"], path, number, "duration") if row["duration"] != _NA else 0.0
        key = (row["type"], row["name"])
        if key not in tiers:
            name = row["name"] if row["type"] == "SPEAKER" else f"{row['type']}:{row['name']}"
            tiers[key] = Tier(name=name, kind="interval", attributes={"type": row["type"]})
        value = row["ortho"] if row["ortho"] != _NA else ""
        fields = {k: row[k] for k in ("file", "channel", "stype", "conf", "slat")}
        fields["_speaker"] = row["name"]
        fields["_line"] = str(number)
        tiers[key].annotations.append(Annotation(onset=onset, offset=onset + duration, value=value, fields=fields))
        if row["file"] not in files:
            files.append(row["file"])
    doc.tiers = list(tiers.values())
    doc.media = [MediaLink(path=f, kind="stem") for f in files]
    return doc


def _time(text: str, path: Path, line: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise MediaError(f"{path}: line {line}: {field} {text!r} is not a number of seconds") from exc
    if not math.isfinite(value) or value < 0:
        raise MediaError(f"{path}: line {line}: {field} {text!r} must be a finite number of seconds >= 0")
    return value


def write_rttm(doc: AnnotationDocument, path: Path) -> None:
    """Write ``doc`` as RTTM (atomically), lines in their original order, new ones sorted by onset."""
    default_file = next((m.path for m in doc.media if m.role == "media"), Path(path).stem)
    rows: list[tuple[float, float, str]] = []
    for tier in doc.tiers:
        rtype = tier.attributes.get("type", "NOSCORE" if tier.name == REDACTED_TIER else "SPEAKER")
        for ann in tier.annotations:
            if ann.onset is None or ann.offset is None:
                raise MediaError(f"{doc.source}: tier {tier.name!r}: annotation {ann.label()} has no time")
            f = ann.fields
            name = tier.name if rtype == "SPEAKER" else f.get("_speaker", _NA)
            line = " ".join(
                [
                    rtype,
                    f.get("file", default_file),
                    f.get("channel", "1"),
                    _fmt(ann.onset),
                    _fmt(ann.offset - ann.onset),
                    _field(ann.value),
                    f.get("stype", _NA),
                    _field(name),
                    f.get("conf", _NA),
                    f.get("slat", _NA),
                ]
            )
            rows.append((float(f.get("_line", math.inf)), ann.onset, line))
    rows.sort(key=lambda r: (r[0], r[1]))
    write_atomic(Path(path), ("\n".join(r[2] for r in rows) + "\n").encode("utf-8"))


def _fmt(seconds: float) -> str:
    return f"{seconds:.6f}".rstrip("0").rstrip(".") if seconds else "0"


def _field(text: str) -> str:
    text = "_".join(text.split())
    return text or _NA
